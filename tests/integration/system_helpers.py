"""A system instance laid out as the guide says, for the root-only tests.

fluxd is "installed" in a virtualenv of the system's Python that every
user can run (it sees this checkout's packages), ``flux install-system``
lays out a temporary root with it, and :func:`system_instance` runs
brokers on loopback as an unprivileged ``flux`` user with that root's
config: the guide's ``[exec] imp``, ``[access]``, ``[sign]`` through a
real munged, the IMP with a real sudoers rule, the certificate owned by
``flux`` with mode 0400.  Everything lives in a
:class:`tests.integration.multiuser.MultiUser` and goes with it.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from types import SimpleNamespace

import pytest
import tomli_w

from fluxd.testing.broker import BrokerProcess
from tests.integration.admin_helpers import free_ports
from tests.integration.multiuser import SYSTEM_PYTHON, MultiUser, write

PYVER = f"python{sys.version_info[0]}.{sys.version_info[1]}"

SCRIPT = """#!{python}
import sys
from {module} import {function}
sys.exit({function}())
"""

SYSTEM_TOML = """\
# the guide's system.toml shape, on three brokers on loopback
[exec]
imp = "{root}/usr/libexec/flux/flux-imp"
service = "sdexec"
kill-timeout = "0.5s"

[systemd]
enable = true

[access]
allow-guest-user = true
allow-root-owner = true

[tbon]
tcp_user_timeout = "2m"

[resource]
noverify = true

[[resource.config]]
hosts = "n[0-{last}]"
cores = "0-1"

"""


def runtime_problem():
    """Why :func:`runtime_venv` cannot work here, or None."""
    if SYSTEM_PYTHON is None:
        return "no system python3"
    proc = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; print("
                           "'python%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True)
    if proc.stdout.strip() != PYVER:
        return (f"the system's {proc.stdout.strip()} cannot load this"
                f" venv's {PYVER} extension modules")
    path = sysconfig.get_paths()["purelib"]
    while path != "/":
        if os.stat(path).st_mode & 0o005 != 0o005:
            return f"{path} is not readable by other users"
        path = os.path.dirname(path)
    return None


def runtime_venv(top):
    """A virtualenv of the system Python under ``top`` that imports this
    checkout's packages, with ``twistd`` and ``flux``: an installation
    of fluxd that the ``flux`` user and the guests can run."""
    venv = os.path.join(top, "venv")
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", venv],
                   check=True, capture_output=True)
    site = os.path.join(venv, "lib", PYVER, "site-packages")
    ours = sysconfig.get_paths()["purelib"]
    write(os.path.join(site, "fluxd-checkout.pth"),
          f"import site; site.addsitedir({ours!r})\n")
    python = os.path.join(venv, "bin", "python3")
    for name, module, function in (
            ("twistd", "twisted.scripts.twistd", "run"),
            ("flux", "fluxd.cli.main", "main")):
        write(os.path.join(venv, "bin", name),
              SCRIPT.format(python=python, module=module,
                            function=function), 0o755)
    return venv


class SystemBroker(BrokerProcess):
    """A broker run by the installation's ``twistd`` (as ``user``)."""

    def __init__(self, workdir, twistd, **kw):
        super().__init__(workdir, **kw)
        self.twistd = twistd

    def command(self):
        return [self.twistd, *super().command()[1:]]


def _owned_dir(path, user, mode):
    os.makedirs(path, exist_ok=True)
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, mode)
    return path


def running_system(size=3):
    """The body of a fixture: skip when this machine cannot run a system
    instance, else yield one (:func:`system_instance`, with a
    :class:`MultiUser` of its own) and remove everything afterwards."""
    problem = runtime_problem()
    if problem is not None:
        pytest.skip(problem)
    mu = MultiUser()
    try:
        yield system_instance(mu, size)
    finally:
        mu.close()


def system_instance(mu, size=3):
    """Install into a temporary root and start ``size`` brokers as a new
    ``flux`` user; ``alice`` and ``bob`` are guests.

    :returns: a namespace: ``root``, ``venv``, ``flux`` (the binary),
        ``owner``, ``alice``, ``bob`` (``pwd`` entries), ``brokers``,
        ``security`` (the security conf.d), ``cert``, ``sudoers``,
        ``as_user(user, *argv)``, ``munged``, ``mu``.
    """
    s = SimpleNamespace(munged=mu.munged, mu=mu)
    s.venv = runtime_venv(mu.top)
    s.flux = os.path.join(s.venv, "bin", "flux")
    s.owner, s.alice, s.bob = mu.user("flux"), mu.user("alice"), \
        mu.user("bob")
    s.root = root = mu.path("root")

    def install():
        proc = subprocess.run([s.flux, "install-system", "--root", root,
                               "--user", s.owner.pw_name],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    install()
    s.cert = os.path.join(root, "etc/flux/system/curve.cert")
    assert subprocess.run([s.flux, "keygen", s.cert],
                          capture_output=True).returncode == 0
    # a second run gives the new certificate its owner and mode
    assert f"fixed owner/mode of {s.cert}" in install()

    # the node's sudoers.d is the system's: the rule goes there
    s.sudoers = f"/etc/sudoers.d/fluxd-test-{uuid.uuid4().hex[:12]}"
    mu.callback(lambda: os.path.exists(s.sudoers) and os.unlink(s.sudoers))
    shutil.copy(os.path.join(root, "etc/sudoers.d/flux"), s.sudoers)
    os.chmod(s.sudoers, 0o440)

    # the admin's edits: munged's socket, the root's paths, the nodes
    s.security = os.path.join(root, "etc/flux/security/conf.d")
    with open(os.path.join(s.security, "sign.toml"), "a") as f:
        f.write(f'\n[sign.munge]\nsocket-path = "{mu.socket}"\n')
    s.imp_toml = os.path.join(root, "etc/flux/imp/conf.d/imp.toml")
    with open(s.imp_toml) as f:
        text = f.read()
    write(s.imp_toml, text.replace('"/usr/libexec/flux/',
                                   f'"{root}/usr/libexec/flux/'))
    ports = free_ports(size)
    hosts = [{"host": f"n{r}", "bind": f"tcp://127.0.0.1:{p}",
              "connect": f"tcp://127.0.0.1:{p}"} for r, p in enumerate(ports)]
    s.conf = os.path.join(root, "etc/flux/system/conf.d")
    write(os.path.join(s.conf, "system.toml"),
          SYSTEM_TOML.format(root=root, last=size - 1)
          + tomli_w.dumps({"bootstrap": {"curve_cert": s.cert,
                                         "hosts": hosts}}))

    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "FLUXD_SECURITY_CONF_DIR": s.security}
    s.brokers = []
    for rank in range(size):
        rundir = _owned_dir(mu.path(f"run{rank}"), s.owner, 0o755)
        statedir = _owned_dir(
            os.path.join(root, "var/lib/flux") if rank == 0
            else mu.path(f"state{rank}"), s.owner, 0o700)
        work = _owned_dir(mu.path(f"work{rank}"), s.owner, 0o755)
        s.brokers.append(SystemBroker(
            work, os.path.join(s.venv, "bin", "twistd"), config_path=s.conf,
            attrs={"hostname": f"n{rank}", "rundir": rundir,
                   "statedir": statedir,
                   "local-uri": f"local://{rundir}/local",
                   "log-stderr-mode": "local", "log-stderr-level": "6"},
            env=dict(env, HOME=work), user=s.owner))
    def stop():
        for broker in reversed(s.brokers):
            broker.stop(timeout=20)
            # the shell server ends once its rundir is gone
            shutil.rmtree(broker.attrs["rundir"], ignore_errors=True)
    # stopped before munged and the users go
    mu.callback(stop)
    for broker in s.brokers:
        broker.start(wait=False)
    for broker in s.brokers:
        broker.wait_for("broker ready", timeout=60)
    s.uri = s.brokers[0].uri

    def as_user(user, *argv, uri=None, timeout=60, security=None):
        """``runuser -u USER -- flux ARGV``: (rc, stdout, stderr)."""
        proc = subprocess.run(
            ["runuser", "-u", user.pw_name, "--", s.flux, *argv],
            env=dict(env, FLUX_URI=uri or s.uri,
                     FLUXD_SECURITY_CONF_DIR=security or s.security),
            cwd="/",
            capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr
    s.as_user = as_user
    return s
