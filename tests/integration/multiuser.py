"""Real users and a real munged for the multi-user tests (root only).

:class:`MultiUser` holds, until it is closed: a world-readable temporary
directory, a private munged (:class:`fluxd.testing.munged.Munged`), the
users it created, security config directories signing through that
munged, and a copy of the ``fluxd`` package (and the job shell) that
other users can import: they run the stdlib ``flux`` client under the
system's own Python (the project venv's interpreter may live under
/root, which they cannot enter).  The ``multiuser`` fixture of
``conftest.py`` gives one to a test.
"""

import os
import shutil
import subprocess
import tempfile
from contextlib import ExitStack

import pytest

from fluxd.testing.munged import MUNGED, Munged
from fluxd.testing.users import temporary_user

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")

#: the marks of a test that needs root, the system Python and munged
NEEDS_ROOT_AND_MUNGE = [
    pytest.mark.skipif(os.geteuid() != 0 or SYSTEM_PYTHON is None,
                       reason="needs root to create users"),
    pytest.mark.skipif(MUNGED is None, reason="munged not installed"
                       " (.ci/run installs the munge package)"),
]

FLUX_MAIN = "from fluxd.cli.main import main; main()"


def sign_toml(socket, default="munge", allowed=("munge",), max_ttl=1209600):
    """The text of a ``sign.toml`` signing through ``socket``."""
    types = ", ".join(f'"{t}"' for t in allowed)
    text = (f'[sign]\nmax-ttl = {max_ttl}\ndefault-type = "{default}"\n'
            f'allowed-types = [{types}]\n')
    if socket is not None:
        text += f'[sign.munge]\nsocket-path = "{socket}"\n'
    return text


def write(path, text, mode=0o644):
    """Write ``text`` to ``path`` (parents 0755) with ``mode``."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class MultiUser:
    """Users, a munged and their files; :meth:`close` removes them all."""

    def __init__(self):
        self._stack = ExitStack()
        try:
            self.top = tempfile.mkdtemp(prefix="fluxd-multi-")
            self._stack.callback(shutil.rmtree, self.top, ignore_errors=True)
            os.chmod(self.top, 0o755)
            self.munged = Munged()
            self._stack.callback(self.munged.close)
            self.munged.start()
            self.socket = self.munged.socket
            self._libdir = None
        except BaseException:
            self._stack.close()
            raise

    def callback(self, fn, *args):
        """Run ``fn(*args)`` at :meth:`close` (before what came earlier)."""
        self._stack.callback(fn, *args)

    def user(self, prefix="fluxt"):
        """A new user (removed at :meth:`close`): its ``pwd`` entry."""
        return self._stack.enter_context(temporary_user(prefix))

    def path(self, *parts):
        """A path under the shared directory."""
        return os.path.join(self.top, *parts)

    def security(self, name="security", **kw):
        """A security config directory whose ``sign.toml`` is
        :func:`sign_toml` (``socket`` defaults to this munged's)."""
        kw.setdefault("socket", self.socket)
        path = self.path(name)
        write(os.path.join(path, "sign.toml"), sign_toml(**kw))
        os.chmod(path, 0o755)
        return path

    def rundir(self, name):
        """A world-readable directory for a broker's sockets."""
        path = self.path(name)
        os.makedirs(path)
        os.chmod(path, 0o755)
        return path

    @property
    def libdir(self):
        """A copy of ``fluxd`` and of the job shell (``flux_shell``)
        that every user can import."""
        if self._libdir is None:
            lib = self.path("lib")
            for src, dest in (("fluxd", "fluxd"), ("shell", "flux_shell")):
                shutil.copytree(os.path.join(REPO, src),
                                os.path.join(lib, dest),
                                ignore=shutil.ignore_patterns("__pycache__"))
            self._libdir = lib
        return self._libdir

    def python_as(self, user, argv, env=None, timeout=60):
        """Run the system Python with ``argv`` as ``user`` (with the
        library copy on its path): ``(rc, stdout, stderr)``."""
        full = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                "PYTHONPATH": self.libdir, **(env or {})}
        proc = subprocess.run(
            [SYSTEM_PYTHON, *argv], user=user.pw_uid, group=user.pw_gid,
            extra_groups=[], env=full, cwd="/", capture_output=True,
            text=True, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr

    def flux_as(self, user, uri, *argv, confdir=None, env=None):
        """``flux ARGV`` as ``user`` against ``uri``, signing with the
        security config ``confdir``: ``(rc, stdout, stderr)``."""
        full = {"FLUX_URI": uri, **(env or {})}
        if confdir is not None:
            full["FLUXD_SECURITY_CONF_DIR"] = confdir
        return self.python_as(user, ["-c", FLUX_MAIN, *argv], env=full)

    def close(self):
        """Remove the users, stop munged, delete the files."""
        self._stack.close()
