# -*- test-case-name: tests.integration.test_broker_local -*-
"""Run a real ``twistd -n fluxd`` broker as a child process, for tests.

The broker logs to stdout; :meth:`BrokerProcess.start` reads that stream
until the broker says it is ready, so tests wait for an event, not a
sleep.  :meth:`BrokerProcess.flux` runs the installed ``flux`` command
against it.
"""

import os
import signal
import subprocess
import sys
import threading
import time

from fluxd.testing.cli import Result, flux_executable

READY = "broker ready"


def twistd_executable():
    """The ``twistd`` script of the running interpreter's environment."""
    return os.path.join(os.path.dirname(sys.executable), "twistd")


class BrokerProcess:
    """One broker process in ``workdir``.

    :param workdir: a private directory (the rundir lives below it).
    :param config_path: a config file or directory, or None.
    :param attrs: extra ``-S`` attributes.
    :param user: a ``pwd`` entry to run the broker as (root only), or
        None: as the caller.
    """

    def __init__(self, workdir, config_path=None, attrs=None, env=None,
                 initial_program=None, user=None):
        self.workdir = str(workdir)
        self.config_path = config_path
        self.attrs = dict(attrs or {})
        self.attrs.setdefault("rundir", os.path.join(self.workdir, "run"))
        self.attrs.setdefault("local-uri",
                              f"local://{self.attrs['rundir']}/local")
        self.uri = self.attrs["local-uri"]
        self.env = dict(os.environ if env is None else env)
        self.initial_program = list(initial_program or [])
        self.popen_kw = {} if user is None else {
            "user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self.proc = None
        self.output = []
        self._cond = threading.Condition()
        self._reader = None
        self._eof = False

    def command(self):
        """The argv that starts this broker."""
        argv = [twistd_executable(), "-n", "--pidfile=", "--logfile=-",
                "fluxd"]
        if self.config_path:
            argv.append(f"--config-path={self.config_path}")
        argv += [f"-S{k}={v}" for k, v in self.attrs.items()]
        if self.initial_program:
            argv += ["--", *self.initial_program]
        return argv

    def start(self, timeout=30, wait=True):
        """Start the broker and wait until it is ready.

        Calling it again after :meth:`stop` or :meth:`kill` restarts the
        broker with the same directories (and statedir, if set).

        :param wait: wait for the ready line (False: return at once, e.g.
            for a broker expected to fail its start).
        :raises RuntimeError: if it exits or is not ready within ``timeout``.
        """
        self.output = []
        self._eof = False
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=self.workdir, env=self.env, **self.popen_kw)
        # Read the log continuously: a broker whose stdout pipe fills up
        # would block on its next log line.
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if wait:
            self.wait_for(READY, timeout)
        return self

    def _read_log(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self._cond:
                self.output.append(raw.decode("utf-8", "replace"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_for(self, text, timeout=30, start=0):
        """Wait until a log line (from index ``start`` on) contains ``text``.

        :returns: the line.
        :raises RuntimeError: when the broker exits or time runs out first.
        """
        deadline = time.monotonic() + timeout
        seen = start
        with self._cond:
            while True:
                for line in self.output[seen:]:
                    if text in line:
                        return line
                seen = len(self.output)
                if self._eof:
                    raise RuntimeError(f"broker exited before {text!r}:\n"
                                       + "".join(self.output))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"broker not {text!r} in {timeout}s:\n"
                                       + "".join(self.output))
                self._cond.wait(remaining)

    def flux(self, *argv, stdin="", env=None, timeout=60):
        """Run ``flux ARGV`` against this broker; returns a Result."""
        full_env = dict(self.env if env is None else env)
        full_env["FLUX_URI"] = self.uri
        proc = subprocess.run([flux_executable(), *argv], input=stdin.encode(),
                              capture_output=True, env=full_env,
                              timeout=timeout)
        return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                      proc.stderr.decode("utf-8", "replace"))

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal the broker and wait for it to exit; returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._reader is not None:
            self._reader.join(timeout)
        return self.proc.returncode

    def wait(self, timeout=30):
        """Wait for the broker to exit by itself; returns its exit code.

        :raises subprocess.TimeoutExpired: when it is still running.
        """
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        return code

    def kill(self):
        """SIGKILL the broker (a crash: no clean stop); returns its code."""
        return self.stop(signal.SIGKILL)

    @property
    def log_text(self):
        """Everything the broker wrote so far."""
        with self._cond:
            return "".join(self.output)
