"""Session-wide fixtures for the whole suite.

Job shells run in their own sessions and outlive their broker on purpose
(running jobs survive a broker restart), so a test that fails or hangs
before its teardown can leave a shell server, its shells and their tasks
behind.  At the end of the session every shell server this session started
that is still alive is killed with all its descendants, so that a red run
leaves nothing running on the machine.  "This session's" is told by a token
in the environment the brokers (and so their shell servers) inherit: the
servers of another test run or of an instance started by hand at the same
time are left alone.
"""

import os
import signal
import uuid

import pytest

_SERVER = b"flux_shell.server"
_TOKEN_NAME = "FLUXD_TEST_SESSION"


def _processes():
    """``{pid: (ppid, cmdline)}`` of every process readable in /proc."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: split after it
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        found[int(name)] = (ppid, cmdline)
    return found


def _environ(pid):
    """The environment block of ``pid`` (empty once it is gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _marked(pids, token):
    """Those of ``pids`` whose environment holds the session ``token``."""
    mark = f"{_TOKEN_NAME}={token}".encode() + b"\0"
    return {pid for pid in pids if mark in _environ(pid) + b"\0"}


def _is_instance(cmdline):
    """A broker (``twistd ... fluxd``) or a ``flux start``, told by its
    arguments (a checkout's path may well hold "fluxd")."""
    argv = cmdline.split(b"\0")
    names = [os.path.basename(arg) for arg in argv]
    if b"twistd" in names and b"fluxd" in argv:
        return True
    return any(name == b"flux" and nxt == b"start"
               for name, nxt in zip(names, argv[1:]))


def instances(token):
    """The pids of the brokers and ``flux start`` processes that the
    session with ``token`` started and that still run."""
    return _marked({pid for pid, (_, cmdline) in _processes().items()
                    if _is_instance(cmdline)}, token)


def shell_servers(token=None):
    """The pids of the running shell servers (only those whose environment
    holds ``token`` when it is given)."""
    pids = {pid for pid, (_, cmdline) in _processes().items()
            if _SERVER in cmdline}
    if token is None:
        return pids
    return _marked(pids, token)


def kill_trees(roots):
    """SIGKILL every process in ``roots`` and all their descendants (the
    tree is read before anything is killed, while parents are known)."""
    table = _processes()
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    doomed, todo = set(), [pid for pid in roots if pid in table]
    while todo:
        pid = todo.pop()
        if pid not in doomed:
            doomed.add(pid)
            todo.extend(children.get(pid, ()))
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    return doomed


@pytest.fixture(scope="session", autouse=True)
def no_shells_left_behind():
    """Kill the instances (brokers, ``flux start``) and the shell servers
    (with their shells and tasks) that the session started and left
    running, e.g. when a test's ``subprocess.run(timeout=...)`` killed
    only the ``flux start`` it ran."""
    token = uuid.uuid4().hex
    os.environ[_TOKEN_NAME] = token
    yield
    kill_trees(instances(token) | shell_servers(token))
