"""Session-wide fixtures for the whole suite.

Job shells run in their own sessions and outlive their broker on purpose
(running jobs survive a broker restart), so a test that fails or hangs
before its teardown can leave a shell server, its shells and their tasks
behind.  At the end of the session every shell server started during it
that is still alive is killed with all its descendants, so that a red run
leaves nothing running on the machine.
"""

import os
import signal

import pytest

_SERVER = b"flux_shell.server"


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


def shell_servers():
    """The pids of the running shell servers."""
    return {pid for pid, (_, cmdline) in _processes().items()
            if _SERVER in cmdline}


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
    """Kill the shell servers (and their shells and tasks) that the
    session started and left running."""
    before = shell_servers()
    yield
    kill_trees(shell_servers() - before)
