# -*- test-case-name: tests.integration.test_imp -*-
"""``flux-imp exec|run|kill|version``: the commands of the IMP.

Runs as root through the sudoers rule of :mod:`flux_imp.install` (the
caller is sudo's ``SUDO_UID``); the prefix of its files is baked into
the installed launcher.  Synchronous, stdlib only.  Every refusal is one
line ``flux-imp: Fatal: MESSAGE`` and exit status 1 (126/127 when the
shell cannot be executed).

The IMP that runs a job stays its parent (forwarding signals) and is a
child subreaper: the tasks a dying shell leaves behind are re-parented
to it, not to init, so that they stay its descendants.  Once the shell
has exited it SIGKILLs what is left of its tree; ``flux-imp kill``
signals that whole tree (the job's processes, as flux's IMP signals the
job's cgroup), not only the shell's process group.
"""

import ctypes
import fnmatch
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time

from flux_imp.conf import (ImpError, Paths, load_imp_config,
                           load_sign_table)

__all__ = ["main", "Caller"]

#: signals the exec/run parent forwards to its child
FORWARD = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCONT,
           signal.SIGALRM, signal.SIGUSR2, signal.SIGWINCH)
SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
#: prctl(2) option: orphaned descendants are re-parented to this process
PR_SET_CHILD_SUBREAPER = 36
#: how long the IMP goes on killing what its shell left behind
SWEEP_SECONDS = 10


class Caller:
    """Who runs the IMP: ``uid``, ``name``, and whether it is privileged
    (euid 0: started by sudo, or by root itself)."""

    def __init__(self, environ):
        self.privileged = os.geteuid() == 0
        uid = os.getuid()
        if self.privileged and uid == 0 and environ.get("SUDO_UID"):
            uid = int(environ["SUDO_UID"])
        self.uid = uid
        try:
            self.name = pwd.getpwuid(uid).pw_name
        except KeyError:
            raise ImpError(f"unable to look up user {uid}") from None


def _verify(paths, signed, caller):
    from fluxd.security.sign import SignError, sign_config_from_table, verify
    try:
        config = sign_config_from_table(load_sign_table(paths))
    except (SignError, ImpError) as exc:
        raise ImpError(f"exec: Error loading security context: {exc}") \
            from None
    try:
        payload, userid, mechanism = verify(signed, config)
    except SignError as exc:
        raise ImpError(f"exec: signature validation failed: {exc}") \
            from None
    if mechanism == "none" and userid != caller.uid:
        raise ImpError("exec: signature validation failed: sign-none-verify:"
                       f" header userid={userid} is not the caller's"
                       f" ({caller.uid})")
    return userid


def _read_input(environ, caller):
    helper = environ.get("FLUX_IMP_EXEC_HELPER")
    if helper is None:
        text = sys.stdin.buffer.read()
    else:
        if not helper:
            raise ImpError("exec: FLUX_IMP_EXEC_HELPER is empty")
        try:
            pw = pwd.getpwuid(caller.uid)
            proc = subprocess.run(
                ["/bin/sh", "-c", helper], stdin=subprocess.DEVNULL,
                capture_output=True, timeout=60, cwd="/",
                env={"PATH": SAFE_PATH, **{k: v for k, v in environ.items()
                                           if k.startswith("FLUX_")}},
                user=caller.uid, group=pw.pw_gid, extra_groups=[])
        except (OSError, subprocess.SubprocessError) as exc:
            raise ImpError(f"exec: failed to invoke helper: {helper}:"
                           f" {exc}") from None
        if proc.returncode != 0:
            raise ImpError(f"exec: helper {helper} failed with"
                           f" status=0x{(proc.returncode & 0xff) << 8:04x}")
        text = proc.stdout
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImpError(f"exec: invalid json input: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("J"), str):
        raise ImpError("exec: invalid json input: object with a string J"
                       " expected")
    return obj["J"]


def _switch_user(user):
    """Become ``user`` for good (the child, before exec)."""
    os.initgroups(user.pw_name, user.pw_gid)
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    try:
        os.setuid(0)
    except PermissionError:
        return
    os._exit(1)     # privileges could be regained: never exec


def _record(paths, caller, child):
    os.makedirs(paths.statedir, mode=0o700, exist_ok=True)
    path = os.path.join(paths.statedir, str(os.getpid()))
    with open(path, "w") as f:
        json.dump({"caller": caller.uid, "child": child,
                   "parent": os.getppid()}, f)
    return path


def descendants(root):
    """The pids of every live descendant of ``root`` (from /proc; zombies
    are left out)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] == b"Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for kid in children.get(todo.pop(), ()):
            found.append(kid)
            todo.append(kid)
    return found


def _is_imp(pid):
    """True when ``pid`` is a running IMP (as its record says)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"flux-imp" in f.read()
    except OSError:
        return False


def _signal_all(pids, signum):
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _sweep():
    """SIGKILL and reap what is left of this IMP's tree (tasks whose
    shell ended or was killed), until nothing is left."""
    deadline = time.monotonic() + SWEEP_SECONDS
    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        left = descendants(os.getpid())
        if not left or time.monotonic() > deadline:
            return
        _signal_all(left, signal.SIGKILL)
        time.sleep(0.01)


def _subreaper():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1,
                                                0, 0, 0)
    except (OSError, AttributeError):
        pass        # not Linux: leftovers go to init, as before


def _spawn(argv, become, env, paths, caller):
    """Fork ``argv`` in its own session (as ``become``, or as is),
    forward signals to it, wait, and return the IMP's exit status."""
    gate_r, gate_w = os.pipe()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK,
                                      set(FORWARD) | {signal.SIGUSR1})
    _subreaper()
    child = os.fork()
    if child == 0:
        try:
            os.close(gate_w)
            os.read(gate_r, 1)      # the parent has recorded the job
            # a session of its own: the broker's signals and terminal
            # are not the job's (its shell outlives a broker restart)
            os.setsid()
            if become is not None:
                _switch_user(become)
            os.chdir("/")
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            os.execve(argv[0], argv, env)
        except OSError as exc:
            code = 126 if isinstance(exc, PermissionError) else 127
            sys.stderr.write(f"flux-imp: Fatal: {argv[0]}: {exc.strerror}\n")
            os._exit(code)
        finally:
            os._exit(127)
    os.close(gate_r)
    record = None
    try:
        try:
            if caller.privileged:
                record = _record(paths, caller, child)
        except OSError as exc:
            os.kill(child, signal.SIGKILL)
            os.close(gate_w)
            os.waitpid(child, 0)
            raise ImpError(f"cannot record the job: {exc}") from None
        for signum in FORWARD:
            signal.signal(signum, lambda s, f: _forward(child, s))
        signal.signal(signal.SIGUSR1,
                      lambda s, f: _forward(child, signal.SIGKILL, group=True))
        os.close(gate_w)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        _, status = os.waitpid(child, 0)
        _sweep()
    finally:
        if record is not None:
            os.unlink(record)
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return 128 + signum
    return os.waitstatus_to_exitcode(status)


def _forward(child, signum, group=False):
    try:
        (os.killpg if group else os.kill)(child, signum)
    except ProcessLookupError:
        pass


def cmd_exec(args, paths, caller, environ):
    """``flux-imp exec SHELL ARG...``: run SHELL as the user who signed J."""
    if len(args) < 2:
        raise ImpError("exec: missing arguments to exec subcommand")
    config = load_imp_config(paths)["exec"]
    if caller.name not in config["allowed-users"]:
        raise ImpError(f"exec: user {caller.name} not in allowed-users list")
    signed = _read_input(environ, caller)
    userid = _verify(paths, signed, caller)
    try:
        user = pwd.getpwuid(userid)
    except KeyError:
        raise ImpError(f"exec: userid {userid} is invalid on"
                       f" {socket.gethostname()}") from None
    if user.pw_uid == 0:
        raise ImpError("exec: switching to user root not supported")
    shell = args[0]
    if shell not in config["allowed-shells"]:
        raise ImpError("exec: shell not in allowed-shells list")
    become = user
    if not caller.privileged:
        if not config["allow-unprivileged-exec"]:
            raise ImpError("exec: IMP not installed setuid, operation"
                           " disabled.")
        sys.stderr.write("flux-imp: Warning: Running without privilege,"
                         " userid switching not available\n")
        become = None
    session = None
    if config["pam-support"]:
        from flux_imp.pam import PamSession
        session = PamSession(user.pw_name, paths.pam_confdir)
    try:
        return _spawn(list(args), become, dict(environ), paths, caller)
    finally:
        if session is not None:
            session.close()


def cmd_run(args, paths, caller, environ):
    """``flux-imp run NAME``: run ``[run.NAME] path`` as root."""
    if not args or not args[0]:
        raise ImpError("run: nothing to run")
    name = args[0]
    entry = load_imp_config(paths)["run"].get(name)
    if entry is None:
        raise ImpError(f"run: {name}: no configuration found")
    path = entry["path"]
    if not path or not path.startswith("/"):
        raise ImpError(f"run: {name}: path is missing or invalid")
    if caller.name not in entry["allowed-users"]:
        raise ImpError("run: permission denied")
    if not caller.privileged:
        raise ImpError("run: must be run as root (through the sudoers rule)")
    from flux_imp.conf import check_secure
    check_secure(path)
    env = {k: v for k, v in environ.items()
           if k in ("FLUX_JOB_ID", "FLUX_JOB_USERID")
           or any(fnmatch.fnmatchcase(k, pat)
                  for pat in entry["allowed-environment"])}
    root = pwd.getpwuid(0)
    env.update(FLUX_OWNER_USERID=str(caller.uid), HOME=root.pw_dir,
               USER=root.pw_name, PATH=SAFE_PATH)
    return _spawn([path], None, env, paths, caller)


def cmd_kill(args, paths, caller, environ):
    """``flux-imp kill SIGNAL PID``: signal every process of a job an IMP
    started for the caller (PID: that IMP's, its parent's (sudo) or the
    shell's): the shell and all its descendants."""
    if len(args) != 2:
        raise ImpError("kill: usage: flux-imp kill SIGNAL PID")
    try:
        signum, pid = int(args[0]), int(args[1])
        signal.Signals(signum)
    except ValueError:
        raise ImpError(f"kill: invalid signal or pid: {' '.join(args)}") \
            from None
    if not caller.privileged:
        raise ImpError("kill: must be run as root (through the sudoers rule)")
    config = load_imp_config(paths)["exec"]
    if caller.name not in config["allowed-users"]:
        raise ImpError(f"kill: user {caller.name} not in allowed-users list")
    for entry in sorted(os.listdir(paths.statedir)
                        if os.path.isdir(paths.statedir) else ()):
        try:
            with open(os.path.join(paths.statedir, entry)) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if pid in (int(entry), record["child"], record["parent"]) \
                and record["caller"] == caller.uid:
            if not _is_imp(int(entry)):
                # the IMP was killed before removing its record, and
                # its pid may be another process's now
                raise ImpError(f"kill: {pid}: job has ended")
            targets = descendants(int(entry))
            if not targets:
                raise ImpError(f"kill: {pid}: job has ended")
            _signal_all(targets, signum)
            return 0
    raise ImpError(f"kill: {pid}: not a job started by flux-imp for"
                   f" {caller.name}")


COMMANDS = {"exec": cmd_exec, "run": cmd_run, "kill": cmd_kill}


def main(argv=None, prefix="/", environ=None):
    """Run one IMP command.

    :param prefix: the installation prefix (baked into the launcher).
    :returns: the exit status.
    """
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    if not argv or argv[0] in ("-h", "--help"):
        sys.stderr.write("Usage: flux-imp exec|run|kill|version ...\n")
        return 0 if argv else 1
    if argv[0] == "version":
        from flux_imp import __version__
        sys.stdout.write(f"flux-imp v{__version__}\n")
        return 0
    command = COMMANDS.get(argv[0])
    try:
        if command is None:
            raise ImpError(f"Unknown IMP command: {argv[0]}")
        return command(argv[1:], Paths(prefix), Caller(environ), environ)
    except ImpError as exc:
        sys.stderr.write(f"flux-imp: Fatal: {exc}\n")
        return exc.code
