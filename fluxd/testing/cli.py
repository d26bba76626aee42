# -*- test-case-name: tests.unit.cli.test_main -*-
"""Run the ``flux`` command in-process or as a real process, for tests.

:func:`run_flux` drives :func:`fluxd.cli.main.dispatch` with redirected
standard streams: fast enough for table-driven unit tests.
:func:`run_flux_process` runs the installed ``flux`` console script as a
child process, for the integration tests that must prove the real thing.
"""

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """What one ``flux`` invocation did."""

    rc: int
    out: str
    err: str


class _Stdin(io.TextIOWrapper):
    """A text stdin that also offers ``.buffer`` like the real one."""


def run_flux(argv, stdin=""):
    """Run ``flux ARGV...`` in this process.

    :param argv: the arguments after ``flux``.
    :param stdin: text fed to standard input.
    :returns: a :class:`Result`.
    """
    from fluxd.cli.main import dispatch
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = _Stdin(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8")
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                rc = dispatch(list(argv))
            except SystemExit as exc:  # argparse usage errors and --help
                code = exc.code
                rc = code if isinstance(code, int) else (0 if code is None else 1)
                if isinstance(code, str):
                    err.write(code + "\n")
    finally:
        sys.stdin = old_stdin
    return Result(rc, out.getvalue(), err.getvalue())


def flux_executable():
    """The path of the installed ``flux`` console script next to Python."""
    candidate = os.path.join(os.path.dirname(sys.executable), "flux")
    if not os.path.exists(candidate):
        raise RuntimeError(f"flux is not installed next to {sys.executable};"
                           " run ./dev setup")
    return candidate


def run_flux_process(argv, stdin="", env=None, timeout=60):
    """Run the installed ``flux`` as a child process.

    :returns: a :class:`Result`.
    """
    proc = subprocess.run([flux_executable(), *argv], input=stdin.encode(),
                          capture_output=True, env=env, timeout=timeout)
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                  proc.stderr.decode("utf-8", "replace"))
