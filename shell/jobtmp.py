# -*- test-case-name: tests.unit.exec.test_shell_worker -*-
"""``FLUX_JOB_TMPDIR``: a job's private temporary directory on a node.

As flux's shell does, each job shell makes ``$TMPDIR/jobtmp-RANK-JOBID``
(mode 0700) before its tasks start and removes it when it exits.  On a
journaled filesystem (ext4, xfs) a ``mkdir`` and an ``rmdir`` each
allocate or free an inode and a directory block and wait on the journal
while other shells do the same: about 0.2 ms of CPU a job together, and
several ms of wall time a job with 8 shells at once
(``bench/shellserver.py``), all on the job's way to its ``exit``.

A process that runs the next job's shell too (:mod:`flux_shell.worker`,
after :func:`keep_spares`) keeps its last job's directory instead when
the job left it as it was made (an empty directory of this user, mode
0700): it is renamed ``jobtmp-spare-PID`` beside it, and renamed to the
next job's name when that job's directory is in the same place.  Two
renames only rewrite directory entries.  Anything else left there
(files, another mode) and the directory goes as before.  The spares go
when the process ends (:func:`drop_spares`), or when the shell server
reaps a process that could not (killed: :func:`remove_spare_of`, in
the directories its jobs used); a process killed with its server leaves
its empty spare behind, as a killed shell leaves its job's directory.
"""

import os
import shutil
import stat

__all__ = ["make", "remove", "keep_spares", "drop_spares", "where",
           "remove_spare_of"]

#: {directory: spare in it} in a process that keeps them, else None
_spares = None


def keep_spares():
    """From now on keep an unused job directory for the next job."""
    global _spares
    if _spares is None:
        _spares = {}


def drop_spares():
    """Remove the spares kept, and keep no more."""
    global _spares
    spares, _spares = _spares or {}, None
    for path in spares.values():
        try:
            os.rmdir(path)
        except OSError:
            pass


def make(path):
    """Make the job directory ``path`` (mode 0700), from a spare in the
    same directory when there is one.  :raises OSError: as ``mkdir``
    (``FileExistsError``: ``path`` is there already; a spare takes the
    place of an empty directory)."""
    spare = _spares.pop(os.path.dirname(path), None) if _spares else None
    if spare is not None:
        try:
            os.rename(spare, path)
            return
        except OSError:             # gone, or the name is taken
            try:
                os.rmdir(spare)
            except OSError:
                pass
    os.mkdir(path, 0o700)


def remove(path):
    """Remove the job directory ``path`` and what is left in it, or keep
    it as the spare of its directory (see the module's docstring)."""
    if _spares is not None:
        where = os.path.dirname(path)
        if where not in _spares and _as_made(path):
            spare = _spare(where, os.getpid())
            try:
                os.rename(path, spare)
                _spares[where] = spare
                return
            except OSError:
                pass
    try:
        os.rmdir(path)          # most jobs leave it empty: one call
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def where(env):
    """The directory of the job directories of a job whose environment
    is ``env`` (``$TMPDIR``, else ``/tmp``)."""
    base = env.get("TMPDIR") if isinstance(env, dict) else None
    return os.path.dirname(f"{str(base or '/tmp').rstrip('/')}/x")


def remove_spare_of(directory, pid):
    """Remove the spare the process ``pid``, now gone, kept in
    ``directory``, if it left one (the shell server, on reaping it)."""
    try:
        os.rmdir(_spare(directory, pid))
    except OSError:
        pass


def _spare(directory, pid):
    return os.path.join(directory, f"jobtmp-spare-{pid}")


def _as_made(path):
    """Whether ``path`` is still as :func:`make` made it: a directory of
    this user, mode 0700, empty."""
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() \
                or stat.S_IMODE(st.st_mode) != 0o700:
            return False
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False
