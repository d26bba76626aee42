"""A broker run by hand in a terminal (``twistd -n --pidfile= fluxd ...``).

The broker runs on a real pseudo-terminal, stdout and stderr both on it,
as in an administrator's shell, with an initial program so that it stops
by itself; every line it prints is read back from the terminal.
"""

import os
import pty
import select
import subprocess
import time

from fluxd.testing.broker import twistd_executable


def run_on_terminal(tmp_path, *attrs, timeout=60):
    """Run a broker with stdout and stderr on one new terminal.

    :returns: ``(exit code, text printed on the terminal)``.
    """
    rundir = tmp_path / "run"
    argv = [twistd_executable(), "-n", "--pidfile=", "fluxd",
            f"-Srundir={rundir}", f"-Slocal-uri=local://{rundir}/local",
            *attrs, "--", "flux", "getattr", "rank"]
    master, slave = pty.openpty()
    env = dict(os.environ,
               PATH=os.path.dirname(twistd_executable()) + os.pathsep
               + os.environ.get("PATH", ""))
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave,
                                stderr=slave, cwd=tmp_path, env=env)
        os.close(slave)
        slave = None
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [],
                                        deadline - time.monotonic())
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        try:
            code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_each_line_printed_once(tmp_path):
    """Even with every info line wanted on stderr, each appears once."""
    code, text = run_on_terminal(tmp_path, "-Slog-stderr-level=6")
    assert code == 0, text
    assert text.count("quorum-full: quorum->run") == 1, text
    assert text.count("broker ready: rank 0 size 1") == 1, text


def test_stderr_apart_gets_flux_lines(tmp_path):
    """With stderr elsewhere, the broker still writes its own lines there
    (the terminal keeps twistd's)."""
    rundir = tmp_path / "run"
    argv = [twistd_executable(), "-n", "--pidfile=", "fluxd",
            f"-Srundir={rundir}", f"-Slocal-uri=local://{rundir}/local",
            "-Slog-stderr-level=6", "-Slog-stderr-mode=local", "--", "true"]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, cwd=tmp_path,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "broker.info[0]: quorum-full: quorum->run " in proc.stderr
    assert "[fluxd.lifecycle.Lifecycle#info] quorum-full" in proc.stdout
