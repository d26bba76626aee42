"""Tasks on a pty (``-o pty``), and interactive jobs (``-o
pty.interactive``) driven by a test through a real terminal: ``flux
run`` and ``flux job attach`` run on the slave side of a pty made with
python's pty module, the test types on its master side."""

import fcntl
import os
import pty
import select
import struct
import termios
import time

from fluxd.testing.cli import flux_executable


class Terminal:
    """A command on a terminal of its own (30 rows, 100 columns)."""

    def __init__(self, argv, cwd):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(cwd)
            os.execv(argv[0], argv)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", 30, 100, 0, 0))
        self.buf = b""

    def expect(self, text, timeout=30):
        """Read until ``text`` shows up (bytes); fails after timeout."""
        end = time.monotonic() + timeout
        while text not in self.buf:
            left = end - time.monotonic()
            assert left > 0, f"{text!r} not in {self.buf!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    data = b""
                assert data, f"{text!r} not in {self.buf!r} (EOF)"
                self.buf += data
        cut = self.buf.index(text) + len(text)
        seen, self.buf = self.buf[:cut], self.buf[cut:]
        return seen

    def type(self, text):
        os.write(self.fd, text)

    def wait(self):
        """The command's exit code; the rest of its output in buf."""
        while True:
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                break
            if not data:
                break
            self.buf += data
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_interactive_run_through_a_terminal(tmp_path):
    flux = flux_executable()
    term = Terminal([flux, "start", "--test-size=1", flux, "run", "-o",
                     "pty.interactive", "sh"], tmp_path)
    try:
        term.expect(b"# " if os.getuid() == 0 else b"$ ")
        term.type(b"echo hi $((1+2)); tty; stty size\n")
        term.expect(b"hi 3\r\n")
        term.expect(b"/dev/pts/")
        # the client sent its terminal's size to the job's
        term.expect(b"30 100\r\n")
        # Ctrl-C reaches the job's foreground process through its terminal
        term.type(b"sleep 60; echo slept\n")
        time.sleep(0.5)
        term.type(b"\x03")
        term.type(b"echo after-$((6*7))\n")
        seen = term.expect(b"after-42", timeout=20)
        assert b"\r\nslept" not in seen      # sleep was interrupted
        term.type(b"exit 7\n")
        code = term.wait()
    finally:
        if term.fd is not None:
            try:
                os.kill(term.pid, 9)
                os.waitpid(term.pid, 0)
            except OSError:
                pass
    assert code == 7, term.buf
    assert b"flux-job: task(s) exited with exit code 7" in term.buf


def test_interactive_job_attach(tmp_path):
    flux = flux_executable()
    script = (f"id=$({flux} submit -o pty.interactive sh -c"
              " 'read line; echo got-$line; exit 3');"
              f" {flux} job attach $id")
    term = Terminal([flux, "start", "--test-size=1", "sh", "-c", script],
                    tmp_path)
    try:
        term.type(b"typed\n")
        term.expect(b"got-typed\r\n")
        code = term.wait()
    finally:
        try:
            os.kill(term.pid, 9)
            os.waitpid(term.pid, 0)
        except OSError:
            pass
    assert code == 3, term.buf


def test_tasks_on_ptys_captured(broker):
    result = broker.flux("run", "-o", "pty", "-n2", "-l", "sh", "-c",
                         "test -t 0 && test -t 1 && test -t 2 && tty;"
                         " echo to-stderr >&2")
    assert result.rc == 0, result
    lines = sorted(result.out.replace("\r", "").splitlines())
    ttys = [line for line in lines if "/dev/pts/" in line]
    assert [line[:12] for line in ttys] == ["0: /dev/pts/", "1: /dev/pts/"]
    # stderr goes through the terminal too: it is the task's stdout
    assert sorted(set(lines) - set(ttys)) == ["0: to-stderr",
                                              "1: to-stderr"]
    assert result.err == ""
    result = broker.flux("run", "-o", "pty.ranks=1", "-n2", "-l", "sh",
                         "-c", "tty || true")
    assert sorted(result.out.replace("\r", "").splitlines())[0] \
        == "0: not a tty"
    result = broker.flux("run", "-o", "pty.bogus", "true")
    assert result.rc == 1
    assert "pty: unknown option pty.bogus" in result.err


def test_pty_and_shell_order_requests_refuse_bad_input(broker):
    from fluxd.client.sync import Flux
    from fluxd.errors import NotFound, ProtocolError
    f58 = broker.flux("submit", "--flags=waitable", "-o",
                      "pty.interactive", "sh", "-c", "read x; exit 0"
                      ).out.strip()
    jobid = int(broker.flux("job", "id", "--to=dec", f58).out)
    broker.flux("job", "wait-event", str(jobid), "start")
    with Flux(broker.uri) as h:
        for topic, payload in (
                ("job-exec.pty-resize", {"id": jobid, "rows": 0, "cols": 5}),
                ("job-exec.pty-resize", {"id": jobid, "rows": "a"}),
                ("job-exec.pty-write", {"id": jobid, "data": 5}),
                ("job-exec.shell-order", {"id": jobid,
                                          "order": {"op": "kill"}}),
                ("job-exec.shell-order", {"id": jobid, "order": []})):
            try:
                h.rpc(topic, payload)
            except ProtocolError as exc:
                assert str(exc).startswith(topic + ": expected")
            else:
                raise AssertionError(f"{topic} {payload} was accepted")
        for topic in ("job-exec.pty-write", "job-exec.pty-resize"):
            try:
                h.rpc(topic, {"id": 12345, "data": "", "rows": 1, "cols": 1})
            except NotFound as exc:
                assert "job 12345 is not running job shells" in str(exc)
            else:
                raise AssertionError(f"{topic} of no job was accepted")
        # the job is still fine: a keystroke ends it
        h.rpc("job-exec.pty-write", {"id": jobid, "data": "eAo="})
    assert broker.flux("job", "wait", str(jobid)).rc == 0
