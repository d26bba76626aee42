# -*- test-case-name: tests.unit.imp.test_api -*-
"""How a caller (the exec service) drives the IMP: command lines and input.

The exec service runs the IMP as a child process through the launcher
``[exec] imp`` names (``PREFIX/libexec/flux/flux-imp``, see
:mod:`flux_imp.install`), with its own process machinery; this module
only builds what it passes:

- :func:`exec_argv` + :func:`exec_input`: start a job shell as the job's
  user: the IMP reads the input on stdin (or runs
  ``FLUX_IMP_EXEC_HELPER`` for it), checks J and execs the shell as the
  user who signed it; it stays the shell's parent, forwards SIGTERM,
  SIGINT, SIGHUP, SIGCONT, SIGALRM, SIGUSR2 and SIGWINCH to it, turns
  SIGUSR1 into SIGKILL of the shell's process group, and exits with the
  shell's status (126/127: the shell could not be executed; 1 with one
  ``flux-imp: Fatal:`` line on stderr: refused).
- :func:`kill_argv`: signal the process group of a job shell the IMP
  started for this caller; the PID may be that of the process the caller
  started (the launcher's sudo), of the IMP or of the shell.
- :func:`run_argv`: run ``[run.NAME] path`` as root (prolog, epilog,
  housekeeping) with ``FLUX_JOB_ID``, ``FLUX_JOB_USERID`` and the
  ``allowed-environment`` variables of the caller's environment.
"""

import json

__all__ = ["exec_argv", "exec_input", "kill_argv", "run_argv",
           "EXIT_REFUSED", "EXIT_CANNOT_EXECUTE", "EXIT_NOT_FOUND"]

#: the IMP refused (one ``flux-imp: Fatal: ...`` line on stderr)
EXIT_REFUSED = 1
#: the shell exists but could not be executed
EXIT_CANNOT_EXECUTE = 126
#: the shell could not be found
EXIT_NOT_FOUND = 127


def exec_argv(imp, shell, *args):
    """``[imp, "exec", shell, *args]``: the job shell ``shell`` (it must be
    in ``[exec] allowed-shells``) with its arguments (the job id)."""
    if not args:
        raise ValueError("flux-imp exec needs at least one shell argument")
    return [imp, "exec", shell, *[str(a) for a in args]]


def exec_input(signed, options=None):
    """The IMP's stdin for ``exec``: ``{"J": signed, "options"?: {...}}``
    as bytes."""
    obj = {"J": signed}
    if options:
        obj["options"] = options
    return json.dumps(obj, separators=(",", ":")).encode()


def kill_argv(imp, signum, pid):
    """``[imp, "kill", SIGNUM, PID]``."""
    return [imp, "kill", str(int(signum)), str(int(pid))]


def run_argv(imp, name):
    """``[imp, "run", NAME]``."""
    return [imp, "run", name]
