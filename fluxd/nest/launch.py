# -*- test-case-name: tests.integration.test_nested -*-
"""``flux broker [-S ATTR=VAL] [-c PATH] [INITIAL-PROGRAM [ARGS...]]``: one
broker of a nested instance, started as a task of a job.

``flux batch`` and ``flux alloc`` submit jobs whose command is ``flux
broker``, one task per node (the ``per-resource`` shell option).  Each
task:

1. reads the job's R and jobspec from the enclosing instance
   (``job-info.lookup`` at ``FLUX_URI``, job ``FLUX_JOB_ID``) and its
   ``instance-level``;
2. makes a temporary directory for the job under ``FLUX_JOB_TMPDIR``
   (everything it writes goes there and is removed at exit), writes the
   jobspec's ``files`` into it and replaces ``{{tmpdir}}`` in its
   arguments with its path;
3. generates its own TLS key and certificate, reserves a TCP port, and
   exchanges ``address:port`` and certificate with every other broker
   through the job shell's PMI (:mod:`fluxd.nest.pmi`);
4. writes the ``[bootstrap]`` table (one host per rank), the trusted
   certificates (``tbon.peer-certs``: exactly those exchanged), and a
   config whose ``[resource] path`` is the job's R renumbered from rank 0
   (merged with the ``conf.json`` file ``flux batch --conf`` adds), and
   forks ``twistd -n fluxd`` with the attributes ``instance-level``
   (parent's + 1), ``jobid``, ``parent-uri`` and ``parent-kvs-namespace``;
5. on rank 0: waits for the instance to reach RUN, posts the job memo
   ``{"uri": LOCAL-URI}`` to the enclosing job manager (tolerating a job
   manager without ``job-manager.memo``), runs the initial program
   (default: ``$SHELL``) with ``FLUX_URI`` set to the new instance,
   then stops the instance and exits with the program's status; other
   ranks wait for their broker to stop with the instance.

SIGTERM, SIGINT, SIGHUP and SIGALRM reaching rank 0's task go to the
initial program (to the broker while there is none yet); when the
program is gone, the instance stops.  A follower rank leaves its broker
to the instance's shutdown (rank 0 ends the instance's jobs first) and
stops it itself only :data:`FOLLOWER_GRACE` seconds after a signal.  A
broker dies with its task (``PR_SET_PDEATHSIG``).
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
from fluxd.cli.cmd_start import (
    ForkedBroker, _preimport, broker_argv, reserve_ports, wait_for_run)
from fluxd.errors import FluxError, InvalidArgument, NoSuchService
from fluxd.nest.pmi import PMIClient, PMIError, exchange

__all__ = ["NestedBroker", "main", "overlay_address", "stage_files"]

#: signals passed on to the initial program and the broker
FORWARD = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM)
#: seconds a stopping broker gets before SIGKILL
STOP_TIMEOUT = 60.0
#: seconds a signalled follower waits for the instance's shutdown
FOLLOWER_GRACE = 10.0
_PMI_VARS = ("PMI_FD", "PMI_RANK", "PMI_SIZE", "PMI_SPAWNED")


def overlay_address():
    """The IPv4 address peers on other nodes reach this node at: that of
    the interface of the default route (no packet is sent), else the
    loopback address."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))     # TEST-NET-1: never routed to
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def stage_files(jobspec, tmpdir):
    """Write ``attributes.system.files`` (RFC 37 file objects) of
    ``jobspec`` into ``tmpdir``; returns the names written."""
    import base64
    files = (jobspec.get("attributes", {}).get("system", {})
             .get("files") or {})
    written = []
    for name, ref in files.items():
        if "/" in name or name in ("", ".", "..") or not isinstance(ref,
                                                                    dict):
            raise InvalidArgument(f"jobspec file {name!r} is not a plain"
                                  " file name")
        data = ref.get("data", "")
        raw = base64.b64decode(data) if ref.get("encoding") == "base64" \
            else str(data).encode("utf-8")
        path = os.path.join(tmpdir, name)
        with open(path, "wb") as f:
            f.write(raw)
        os.chmod(path, int(ref.get("mode", 0o600)) & 0o777)
        written.append(name)
    return written


class _Interrupted(Exception):
    """A signal reached the task before its broker was started."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _substitute(text, values):
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


class NestedBroker:
    """One broker of a nested instance and, on rank 0, its initial
    program (see the module docstring).

    :param args: the parsed ``flux broker`` arguments.
    :param environ: the task's environment.
    """

    def __init__(self, args, environ):
        self.args = args
        self.environ = dict(environ)
        self.tmpdir = None
        self.broker = None
        self.program = None
        self.reserved = []
        self.rank, self.size = 0, 1
        self.signalled = None
        self.forking = False
        self.pmi = None

    def warn(self, text):
        sys.stderr.write(f"flux-broker: {text}\n")
        sys.stderr.flush()

    # -- the enclosing instance -----------------------------------------

    def parent(self):
        """``(uri, jobid, f58, jobspec, R, level)`` of the enclosing job."""
        from fluxd.client.sync import Flux
        from fluxd.formats import fluid
        uri = self.environ.get("FLUX_URI")
        label = self.environ.get("FLUX_JOB_ID")
        if not uri or not label:
            raise InvalidArgument("FLUX_URI and FLUX_JOB_ID are not set:"
                                  " flux broker runs as a job's task (see"
                                  " flux batch, flux alloc)")
        try:
            jobid = fluid.decode(label)
        except FluxError:
            raise InvalidArgument(f"FLUX_JOB_ID={label}: not a job id") \
                from None
        with Flux(uri) as h:
            info = h.rpc("job-info.lookup", {"id": jobid, "flags": 1,
                                             "keys": ["jobspec", "R"]})
            level = int(h.rpc("attr.get",
                              {"name": "instance-level"})["value"])
        return uri, jobid, label, info["jobspec"], info["R"], level

    # -- set-up -----------------------------------------------------------

    def _config(self, tmpdir, jobspec, R):
        """The config directory: R, ``conf.json``, the user's ``-c``."""
        from fluxd.formats.rv1 import Rv1
        import tomli_w
        inner = Rv1.decode(R).remap()
        rpath = os.path.join(tmpdir, "R.json")
        with open(rpath, "w") as f:
            f.write(inner.dumps())
        conf = {}
        if os.path.exists(os.path.join(tmpdir, "conf.json")):
            with open(os.path.join(tmpdir, "conf.json")) as f:
                try:
                    conf = json.load(f)
                except ValueError as exc:
                    raise InvalidArgument(f"conf.json: {exc}") from None
            if not isinstance(conf, dict):
                raise InvalidArgument("conf.json: not a JSON object")
        resource = conf.setdefault("resource", {})
        resource.update(path=rpath, noverify=True)
        confdir = os.path.join(tmpdir, "conf.d")
        os.mkdir(confdir)
        if self.args.config_path:
            src = os.path.abspath(self.args.config_path)
            names = [src] if os.path.isfile(src) else [
                os.path.join(src, n) for n in sorted(os.listdir(src))
                if n.endswith(".toml")]
            for path in names:
                shutil.copy(path, confdir)
        with open(os.path.join(confdir, "zz-nested.toml"), "wb") as f:
            tomli_w.dump(conf, f)
        return confdir, inner

    def _hostnames(self, inner):
        try:
            names = list(inner.nodelist())
        except FluxError:
            names = []
        if len(names) != self.size or len(set(names)) != self.size:
            names = [f"nest-{r}" for r in range(self.size)]
        return names

    def _bootstrap(self, tmpdir, hostnames):
        """Certificate, PMI exchange, bootstrap table; returns the
        ``--bootstrap`` path and the trusted certificates' path."""
        from fluxd.security.keys import keygen
        import tomli_w
        cert_path = os.path.join(tmpdir, "cert.pem")
        cert = keygen(cert_path, name="flux")
        address = overlay_address()
        sock = socket.socket()
        try:
            sock.bind((address, 0))
        except OSError:
            sock.close()
            address = "127.0.0.1"
            sock = reserve_ports(1)[0]
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.reserved.append(sock)
        port = sock.getsockname()[1]
        cards = exchange(self.pmi, address, port, cert.cert_pem)
        peers = os.path.join(tmpdir, "peers.pem")
        with open(peers, "wb") as f:
            for _, _, pem in cards:
                f.write(pem)
        hosts = [{"host": name, "bind": f"tcp://{h}:{p}",
                  "connect": f"tcp://{h}:{p}"}
                 for name, (h, p, _) in zip(hostnames, cards)]
        path = os.path.join(tmpdir, "bootstrap.toml")
        with open(path, "wb") as f:
            tomli_w.dump({"bootstrap": {"curve_cert": cert_path,
                                        "hosts": hosts}}, f)
        return path, peers

    def prepare(self):
        """Everything up to the broker's argv (see the module docstring)."""
        uri, jobid, label, jobspec, R, level = self.parent()
        self.jobid, self.parent_uri = jobid, uri
        pmi_env = all(v in self.environ for v in _PMI_VARS[:3])
        self.pmi = PMIClient.from_environ(self.environ) if pmi_env else None
        if self.pmi is not None:
            self.pmi.init()
            self.rank, self.size = self.pmi.rank, self.pmi.size
        base = self.environ.get("FLUX_JOB_TMPDIR") or None
        if base and not os.path.isdir(base):
            base = None
        self.tmpdir = tempfile.mkdtemp(prefix=f"flux-nest-{jobid}-{self.rank}-",
                                       dir=base)
        stage_files(jobspec, self.tmpdir)
        values = {"tmpdir": self.tmpdir, "jobid": label, "id": label}
        self.command = [_substitute(a, values) for a in self.args.command]
        confdir, inner = self._config(self.tmpdir, jobspec, R)
        hostnames = self._hostnames(inner)
        extra = [f"--config-path={confdir}"]
        rundir = os.path.join(self.tmpdir, "rundir")
        os.mkdir(rundir, 0o700)
        attrs = {"rundir": rundir, "local-uri": f"local://{rundir}/local",
                 "statedir": rundir, "hostname": hostnames[self.rank],
                 "instance-level": str(level + 1), "jobid": label,
                 "parent-uri": uri}
        if self.environ.get("FLUX_KVS_NAMESPACE"):
            attrs["parent-kvs-namespace"] = self.environ["FLUX_KVS_NAMESPACE"]
        if self.size > 1:
            bootstrap, peers = self._bootstrap(self.tmpdir, hostnames)
            extra.append(f"--bootstrap={bootstrap}")
            attrs.update({"tbon.topo": "kary:32", "tbon.peer-certs": peers})
        if self.pmi is not None:
            self.pmi.finalize()
        attrs.update(self._user_attrs(values))
        self.uri = attrs["local-uri"]
        self.rundir = rundir
        return broker_argv(rundir, extra, attrs)

    def _user_attrs(self, values):
        from fluxd._attr_table import parse_setattr
        attrs = {}
        for item in self.args.setattr:
            item = _substitute(item, values)
            parse_setattr([item])
            name, sep, value = item.partition("=")
            if name == "content.dump" and value and self.rank == 0:
                value = os.path.abspath(value)
            elif name == "content.dump":
                continue
            attrs[name] = value if sep else None
        return attrs

    # -- running ------------------------------------------------------------

    def _forward(self, signum, frame):
        if self.signalled is None:
            self.signalled = time.monotonic()
        if self.broker is None and not self.forking:
            raise _Interrupted(signum)      # still preparing: give up
        if self.rank != 0:
            return
        proc = self.program if self.program is not None else self.broker
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signum)
            except ProcessLookupError:
                pass

    def wait_follower(self):
        """Wait for this follower's broker to stop with the instance, or
        :data:`FOLLOWER_GRACE` seconds after a signal; returns the
        broker's exit code (0 then)."""
        while True:
            try:
                rc = self.broker.wait(1.0)
                return rc if rc >= 0 else 128 - rc
            except subprocess.TimeoutExpired:
                pass
            if self.signalled is not None and \
                    time.monotonic() - self.signalled > FOLLOWER_GRACE:
                return 0

    def _child_env(self):
        env = {k: v for k, v in self.environ.items()
               if k not in _PMI_VARS and k != "FLUX_KVS_NAMESPACE"}
        env.pop("FLUX_URI", None)
        return env

    def _log_tail(self, lines=20):
        try:
            with open(os.path.join(self.rundir, "broker.log")) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def _check_alive(self):
        """Raise when the broker exited while starting: one line, with
        its log's last line (a config error is on stderr already)."""
        if self.broker.poll() is not None:
            last = self._log_tail(1).strip()
            raise FluxError(f"the broker exited with status"
                            f" {self.broker.returncode}"
                            + (f": {last}" if last else ""))

    def post_memo(self):
        """Tell the enclosing job manager where this instance listens."""
        from fluxd.client.sync import Flux
        try:
            with Flux(self.parent_uri) as h:
                h.rpc("job-manager.memo", {"id": self.jobid,
                                           "volatile": False,
                                           "memo": {"uri": self.uri}})
        except NoSuchService:
            self.warn("job-manager.memo is not available in the enclosing"
                      " instance: no uri memo posted")

    def shutdown(self):
        """Ask rank 0 to stop the instance as ``flux shutdown`` does (its
        jobs end first); returns False when it cannot be asked."""
        from fluxd.client.sync import Flux
        try:
            with Flux(self.uri) as h:
                for _ in h.stream("shutdown.start", {"loglevel": 4,
                                                     "background": True}):
                    pass
        except FluxError as exc:
            self.warn(f"shutdown: {exc}")
            return False
        return True

    def run(self):
        """Start the broker; on rank 0 run the initial program.

        :returns: the exit code.
        """
        for signum in FORWARD:
            signal.signal(signum, self._forward)
        try:
            argv = self.prepare()
            self.forking = True
            _preimport()
            sys.stdout.flush()
            sys.stderr.flush()
            self.broker = ForkedBroker(argv, self._child_env(),
                                       close=self.reserved,
                                       die_with_parent=True)
            if self.rank != 0:
                return self.wait_follower()
            wait_for_run(self.uri, self._check_alive, self._log_tail)
            self.post_memo()
            return self.run_program()
        except _Interrupted as exc:
            self._abort(f"interrupted by signal {exc.signum}")
            return 128 + exc.signum
        except PMIError as exc:
            self._abort(str(exc))
            raise FluxError(str(exc)) from None
        except (FluxError, OSError) as exc:
            self._abort(str(exc))
            raise
        finally:
            self.stop()

    def _abort(self, message):
        """End the job through PMI when the exchange did not finish (the
        other ranks would wait at its barrier for ever)."""
        if self.pmi is not None and not self.pmi.closed:
            try:
                self.pmi.abort(1, message)
            except (PMIError, OSError):
                pass

    def run_program(self):
        """The initial program's exit code (128+N when killed by N)."""
        command = self.command or [self.environ.get("SHELL", "/bin/sh")]
        from fluxd.cli._nest import flux_path
        # like flux start: this installation's flux is the one found first
        bindir = os.path.dirname(flux_path())
        env = dict(self._child_env(), FLUX_URI=self.uri,
                   PATH=bindir + os.pathsep
                   + (self.environ.get("PATH") or os.defpath))
        try:
            self.program = subprocess.Popen(command, env=env)
        except OSError as exc:
            self.warn(f"{command[0]}: {exc.strerror}")
            return 127 if isinstance(exc, FileNotFoundError) else 126
        rc = self.program.wait()
        return rc if rc >= 0 else 128 - rc

    def stop(self):
        """Stop this rank's broker (rank 0 stops the instance), remove the
        temporary directory."""
        for sock in self.reserved:
            sock.close()
        self.reserved = []
        if self.broker is not None:
            if self.broker.poll() is None and not (self.rank == 0
                                                   and self.shutdown()):
                self.broker.send_signal(signal.SIGTERM)
            try:
                self.broker.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.broker.kill()
                self.broker.wait()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def main(argv):
    """``flux broker``."""
    parser = OneLineParser(prog="flux-broker")
    parser.add_argument("-S", "--setattr", action="append", default=[],
                        metavar="ATTR=VAL", help="set broker attribute")
    parser.add_argument("-c", "--config-path", metavar="PATH")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    return NestedBroker(args, os.environ).run()
