# -*- test-case-name: tests.unit.cli.test_cmd_start -*-
"""``flux start``: run a local Flux instance, run a command in it, stop it.

With no ``--test-size`` one broker of this host runs; with
``--test-size=N``, N brokers run on this host and join over loopback TLS
with a certificate made for the run.  Each broker is a real
``twistd -n fluxd`` process given a generated ``[bootstrap]`` table
(``--bootstrap``; fake host names from ``--test-hosts``, or
``HOST-0``...) and the user's ``--config-path`` as it is (a ``flux
config reload`` reads the files again).  CMD (default: an interactive
shell) runs with FLUX_URI set to rank 0; when it exits the instance is
stopped and ``flux start`` exits with CMD's status.

Broker options go after ``-o``, comma-separated as flux-core splits them:
``-o,-Sname=value,-Sflag,--config-path=DIR``.

The instance directory (certificate, bootstrap table, per-rank rundirs
and logs, ``brokers.json`` with each broker's pid and argv) is removed at
exit; CMD sees its path in ``FLUXD_START_DIR``.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from fluxd.cli._oneline import OneLineParser
from fluxd.errors import InvalidArgument, NotConnected, TimedOut

#: how long to wait for the instance to come up before giving up
START_TIMEOUT = 60.0


def reserve_ports(n):
    """Reserve ``n`` distinct TCP ports on the loopback interface.

    Choosing a free port, closing it and letting a broker bind it later is
    a race: meanwhile another program's ``bind(0)`` or an outgoing
    connection's source port may take it, and the instance never forms.
    So each port stays bound (not listening) for the instance's lifetime:
    bound without ``SO_REUSEADDR``, so that the kernel gives this port to
    no other socket, then marked ``SO_REUSEADDR``, so that the broker's
    own listening socket (Twisted sets the option) may bind it too, also
    when a broker restarts.

    :returns: the list of bound sockets; close them when the instance
        stops.
    """
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


def split_broker_opts(opts):
    """The broker arguments of ``-o OPTS`` options, split at commas as
    flux-core's flux-start does (``-o,-Sa=1,-Sb`` is ``-Sa=1 -Sb``).

    :returns: ``(config_path, setattr_items)``; ``config_path`` is None
        when no ``--config-path``/``-c`` was given.
    :raises fluxd.errors.InvalidArgument: for an option ``twistd fluxd``
        does not have.
    """
    words = [word for opt in opts for word in opt.split(",") if word]
    config_path, items = None, []
    i = 0
    while i < len(words):
        word = words[i]
        takes = {"-S": "setattr", "--setattr": "setattr",
                 "-c": "config-path", "--config-path": "config-path"}
        if word in takes:
            if i + 1 == len(words):
                raise InvalidArgument(f"-o: broker option {word} needs a"
                                      " value")
            kind, value = takes[word], words[i + 1]
            i += 2
        elif word.startswith("--setattr="):
            kind, value = "setattr", word[len("--setattr="):]
            i += 1
        elif word.startswith("--config-path="):
            kind, value = "config-path", word[len("--config-path="):]
            i += 1
        elif word.startswith("-S") or word.startswith("-c"):
            kind = "setattr" if word[1] == "S" else "config-path"
            value = word[2:]
            i += 1
        else:
            raise InvalidArgument(f"-o: unsupported broker option {word}")
        if kind == "setattr":
            items.append(value)
        else:
            config_path = value
    return config_path, items


def _hostnames(args, size):
    if args.test_hosts:
        from fluxd.formats.hostlist import Hostlist
        hosts = list(Hostlist(args.test_hosts))
        if len(hosts) < size:
            raise InvalidArgument(f"--test-hosts={args.test_hosts} names"
                                  f" {len(hosts)} hosts, need {size}")
        if len(set(hosts[:size])) != size:
            raise InvalidArgument("--test-hosts must name distinct hosts")
        return hosts[:size]
    short = socket.gethostname().split(".")[0]
    return [short] if size == 1 else [f"{short}-{r}" for r in range(size)]


class ForkedBroker:
    """A broker forked from this (pre-imported) process: a Popen look-alike.

    Every broker would otherwise spend most of its start-up importing
    Twisted and fluxd; forking after one import lets N brokers share that
    work and its memory pages (copy-on-write).
    """

    def __init__(self, argv, env, close=(), die_with_parent=False):
        self.args = argv
        self.returncode = None
        pid = os.fork()
        if pid == 0:
            self._child(argv, env, close, die_with_parent)
        self.pid = pid

    @staticmethod
    def _child(argv, env, close, die_with_parent=False):
        code = 1
        try:
            if die_with_parent:     # prctl(PR_SET_PDEATHSIG, SIGKILL)
                import ctypes
                ctypes.CDLL(None).prctl(1, signal.SIGKILL)
            for sock in close:  # the parent's, not the broker's
                sock.close()
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.setsid()
            os.environ.clear()
            os.environ.update(env)
            sys.argv = list(argv)
            from twisted.scripts.twistd import run
            run()
            code = 0
        except SystemExit as exc:
            if isinstance(exc.code, str):
                sys.stderr.write(exc.code + "\n")
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)

    def _reap(self, flags):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, flags)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self):
        return self._reap(os.WNOHANG)

    def wait(self, timeout=None):
        if timeout is None:
            return self._reap(0)
        deadline = time.monotonic() + timeout
        delay = 0.005
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        return self.returncode

    def send_signal(self, sig):
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)


def _preimport():
    """Import what every broker needs once, before forking them."""
    import twisted.scripts.twistd  # noqa: F401
    import fluxd.broker  # noqa: F401
    import fluxd.overlay.setup  # noqa: F401
    import fluxd.overlay.tls  # noqa: F401
    import fluxd.tap  # noqa: F401


def broker_argv(rundir, extra, attrs):
    """The ``twistd -n fluxd`` argv of one broker logging to
    ``RUNDIR/broker.log``, with options ``extra`` and ``-S`` attributes
    ``attrs`` (``{name: value}``, None for a bare ``-Sname``)."""
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    argv = [twistd, "-n", "--pidfile=", f"--logfile={rundir}/broker.log",
            "fluxd", *extra]
    argv += [f"-S{k}" if v is None else f"-S{k}={v}"
             for k, v in attrs.items()]
    return argv


def wait_for_run(uri, check_alive, log_tail, timeout=START_TIMEOUT):
    """Wait until the broker at ``uri`` is in RUN, i.e. ``broker.quorum``
    is online.

    Only the socket's appearance is polled (briefly, with back-off);
    then ``state-machine.wait`` answers when the broker reaches RUN.

    :param check_alive: called while waiting; raises when a broker died.
    :param log_tail: returns the broker log's last lines (for errors).
    :raises NotConnected: when the broker is not up in ``timeout``.
    """
    from fluxd.client.sync import Flux
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        check_alive()
        try:
            h = Flux(uri)
            break
        except NotConnected:
            pass
        if time.monotonic() > deadline:
            raise NotConnected("instance did not start in time:\n"
                               + log_tail())
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)
    with h:
        token = h.send("state-machine.wait", {}, nodeid=0)
        while True:
            try:
                h.wait(token, timeout=0.5)
                return
            except TimedOut:
                check_alive()
                if time.monotonic() > deadline:
                    raise NotConnected("instance did not start in time:\n"
                                       + log_tail()) from None


class Instance:
    """The broker processes of one ``flux start``."""

    def __init__(self, args):
        self.args = args
        self.size = args.test_size or 1
        self.dir = tempfile.mkdtemp(prefix="flux-start-")
        self.procs = []
        self.reserved = []  # sockets holding the brokers' ports until stop
        self.hosts = _hostnames(args, self.size)

    def warn(self, text):
        sys.stderr.write(f"flux-start: warning: {text}\n")

    def prepare(self):
        """Write the certificate and bootstrap table; return the per-rank
        argv.

        The brokers read the user's config path itself (so that ``flux
        config reload`` sees the files as they are now); a test instance's
        ``[bootstrap]`` comes from a file of its own (``--bootstrap``).
        """
        from fluxd.config import load_config
        from fluxd.security.keys import keygen
        import tomli_w
        config_path, user_attrs = self._broker_args()
        extra = []
        if config_path:
            config_path = os.path.abspath(config_path)
            config = load_config(config_path)
            extra.append(f"--config-path={config_path}")
            if config.is_set("bootstrap"):
                self.warn(f"ignoring [bootstrap] in {config_path}: a test"
                          " instance makes its own")
                if self.size == 1:
                    user_attrs.setdefault("broker.boot-method", "single")
        if self.size > 1:
            cert = os.path.join(self.dir, "cluster.pem")
            keygen(cert, name="flux")
            self.reserved = reserve_ports(self.size)
            ports = [s.getsockname()[1] for s in self.reserved]
            hosts = [{"host": h, "bind": f"tcp://127.0.0.1:{p}",
                      "connect": f"tcp://127.0.0.1:{p}"}
                     for h, p in zip(self.hosts, ports)]
            bootstrap = os.path.join(self.dir, "bootstrap.toml")
            with open(bootstrap, "wb") as f:
                tomli_w.dump({"bootstrap": {"curve_cert": cert,
                                            "hosts": hosts}}, f)
            extra.append(f"--bootstrap={bootstrap}")
        argvs = []
        for rank in range(self.size):
            rundir = os.path.join(self.dir, f"rank-{rank}")
            os.mkdir(rundir)
            attrs = {"rundir": rundir, "local-uri": f"local://{rundir}/local",
                     "hostname": self.hosts[rank]}
            if self.size > 1:
                attrs["tbon.topo"] = "kary:32"
            attrs.update(user_attrs)
            argvs.append(broker_argv(rundir, extra, attrs))
        return argvs

    def _broker_args(self):
        """The config path and ``{name: value or None}`` attributes from
        ``-c``, ``-S`` and ``-o``; a bare ``-Sname`` has the value None."""
        config_path, items = split_broker_opts(self.args.broker_opts)
        if config_path and self.args.config_path and \
                os.path.abspath(config_path) != \
                os.path.abspath(self.args.config_path):
            raise InvalidArgument(f"-o,--config-path={config_path} conflicts"
                                  f" with --config-path={self.args.config_path}")
        from fluxd._attr_table import parse_setattr
        attrs = {}
        for item in list(self.args.setattr) + items:
            parse_setattr([item])  # refused here in one line, not by a broker
            name, sep, value = item.partition("=")
            attrs[name] = value if sep else None
        return config_path or self.args.config_path, attrs

    def start(self, argvs):
        env = dict(os.environ)
        env.pop("FLUX_URI", None)
        _preimport()
        sys.stdout.flush()
        sys.stderr.flush()
        for argv in argvs:
            self.procs.append(ForkedBroker(argv, env, close=self.reserved))
        with open(os.path.join(self.dir, "brokers.json"), "w") as f:
            json.dump([{"rank": r, "pid": p.pid, "argv": a}
                       for r, (p, a) in enumerate(zip(self.procs, argvs))], f)

    @property
    def uri(self):
        return f"local://{self.dir}/rank-0/local"

    def release_ports(self):
        """Let go of the reserved ports (the brokers hold their own)."""
        for sock in self.reserved:
            sock.close()
        self.reserved = []

    def wait_ready(self):
        """Wait until rank 0 is in RUN (see :func:`wait_for_run`)."""
        wait_for_run(self.uri, self._check_alive, lambda: self.log_tail(0))

    def _check_alive(self):
        for rank, proc in enumerate(self.procs):
            if proc.poll() is not None:
                tail = self.log_tail(rank)
                raise NotConnected(f"broker rank {rank} exited with"
                                   f" {proc.returncode}"
                                   + (f":\n{tail}" if tail else ""))

    def log_tail(self, rank, lines=20):
        path = os.path.join(self.dir, f"rank-{rank}", "broker.log")
        try:
            with open(path) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """Stop every broker (children first), then remove the directory."""
        self.release_ports()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    parser = OneLineParser(prog="flux-start")
    parser.add_argument("-o", "--broker-opts", action="append", default=[],
                        metavar="OPTS", help="comma-separated broker options")
    parser.add_argument("-S", "--setattr", action="append", default=[],
                        metavar="ATTR=VAL", help="set broker attribute")
    parser.add_argument("-s", "--test-size", type=int, default=None,
                        metavar="N")
    parser.add_argument("--test-hosts", metavar="HOSTLIST")
    parser.add_argument("-c", "--config-path", metavar="PATH")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.test_size is not None and args.test_size < 1:
        raise InvalidArgument("--test-size must be >= 1")
    inst = Instance(args)
    try:
        inst.start(inst.prepare())
        inst.wait_ready()
        command = args.command or [os.environ.get("SHELL", "/bin/sh")]
        # like flux, make this installation's flux the one CMD finds first
        bindir = os.path.dirname(os.path.abspath(sys.argv[0])) \
            if os.path.basename(sys.argv[0]) == "flux" \
            else os.path.dirname(sys.executable)
        env = dict(os.environ, FLUX_URI=inst.uri, FLUXD_START_DIR=inst.dir,
                   PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
        try:
            rc = subprocess.call(command, env=env)
        except FileNotFoundError:
            raise InvalidArgument(f"{command[0]}: command not found") from None
        return rc if rc >= 0 else 128 - rc
    finally:
        inst.stop()
