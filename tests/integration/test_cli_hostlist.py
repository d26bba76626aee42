"""Real-process checks of ``flux hostlist``: pipes, errors, stdin timeout."""

import os
import subprocess
import sys

from fluxd.testing.cli import flux_executable, run_flux_process


def test_stdin_pipe_and_args():
    result = run_flux_process(["hostlist"], stdin="foo1\nfoo2\nfoo3\n")
    assert (result.rc, result.out, result.err) == (0, "foo[1-3]\n", "")
    result = run_flux_process(["hostlist", "-S", "host2", "host1", "host3",
                               "host1"])
    assert (result.rc, result.out, result.err) == (0, "host[1,1-3]\n", "")
    result = run_flux_process(["hostlist", "-X", "host[1-3]", "host[2-5]",
                               "host[3-10]"])
    assert (result.rc, result.out) == (0, "host[1,3,6-10]\n")
    result = run_flux_process(["hostlist", "-e", "-d", "\\n", "-"],
                              stdin="x[8-10]")
    assert (result.rc, result.out) == (0, "x8\nx9\nx10\n")


def test_errors_are_one_line_without_traceback():
    for argv, stdin in ((["hostlist", "foo[1-"], ""),
                        (["hostlist"], "bar[\n"),
                        (["hostlist", "-n", "10", "foo[1-10]"], ""),
                        (["hostlist", "-n", "x", "foo[1-10]"], ""),
                        (["hostlist", "local"], ""),
                        (["hostlist", "f1"], "")):
        result = run_flux_process(argv, stdin=stdin)
        assert result.rc == 1, argv
        assert result.out == "", argv
        assert result.err.startswith("flux-hostlist: "), result.err
        assert result.err.count("\n") == 1, result.err
        assert "Traceback" not in result.err
    quiet = run_flux_process(["hostlist", "-q", "-m", "a1", "a1"])
    assert (quiet.rc, quiet.out, quiet.err) == (1, "", "")


def test_stdin_timeout():
    env = dict(os.environ, FLUX_HOSTLIST_STDIN_TIMEOUT="0.2")
    # stdin stays open with nothing written: flux gives up after the timeout
    proc = subprocess.Popen([flux_executable(), "hostlist"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        proc.wait(timeout=30)
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()
    assert proc.returncode == 1
    assert out == b""
    assert err == b"flux-hostlist: timeout after 0.2s waiting for stdin\n"


def test_hostlist_does_not_import_twisted():
    code = ("import sys; from fluxd.cli.main import dispatch;"
            " rc = dispatch(['hostlist', '-c', 'x[0-1048575]']);"
            " print('twisted' in sys.modules, rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout == "1048576\nFalse 0\n", proc.stderr
