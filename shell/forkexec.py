# -*- test-case-name: tests.unit.exec.test_shell_plugins -*-
"""Start a task by ``fork`` + ``exec`` (a task with ``task.exec``
plugins, which run in the task's own process just before ``exec``; the
job shell starts the others with ``posix_spawn``).

The child takes the shell's process group (or, with ``task.setsid``, a
session of its own), its standard streams, default signal dispositions
and an empty signal mask, runs the plugins, then ``execvpe``.  An
``exec`` failure (errno) or a plugin's error comes back to the shell
through a close-on-exec pipe: nothing read means the task runs.
"""

import os
import signal

from flux_shell import plugins as P

__all__ = ["fork_exec"]


def fork_exec(shell, task, actions, forwarded):
    """Start ``task`` by fork + exec, running the ``task.exec`` plugins
    in the child (``actions``: posix_spawn file actions; ``forwarded``:
    the signals reset to their default); a failure there comes back
    through a pipe.  :returns: the task's pid.

    :raises OSError: exec failed; :raises PluginError: a plugin did.
    """
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        _child(shell, task, actions, forwarded, err_w)
    os.close(err_w)
    try:
        if not task.setsid:
            os.setpgid(pid, shell.pgid or pid)
    except OSError:
        pass          # the child did it, or already exec'd
    chunks = []
    while True:
        data = os.read(err_r, 4096)
        if not data:
            break
        chunks.append(data)
    os.close(err_r)
    if not chunks:
        return pid
    os.waitpid(pid, 0)
    kind, _, text = b"".join(chunks).decode(errors="replace").partition(":")
    if kind == "errno":
        errno = int(text)
        raise OSError(errno, os.strerror(errno))
    raise P.PluginError(text)


def _child(shell, task, actions, forwarded, err_w):
    try:
        if task.setsid:
            os.setsid()
        else:
            os.setpgid(0, shell.pgid or 0)
        for action in actions:
            if action[0] == os.POSIX_SPAWN_DUP2:
                os.dup2(action[1], action[2])
            else:
                os.close(action[1])
        signal.set_wakeup_fd(-1)
        for signum in tuple(forwarded) + (signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        shell.plugins.call("task.exec", task)
        os.execvpe(task.argv[0], task.argv, task.env)
    except OSError as exc:
        os.write(err_w, f"errno:{exc.errno or 5}".encode())
    except P.PluginError as exc:
        os.write(err_w, f"plugin:{exc}".encode())
    except BaseException as exc:
        os.write(err_w, f"plugin:{type(exc).__name__}: {exc}".encode())
    finally:
        os._exit(127)
