# -*- test-case-name: tests.integration.test_install_system -*-
"""``flux install-system [--root DIR] [--user NAME] [--force]``: lay out a
system instance's files under a root directory (default ``/``), as root.

Run it with the ``flux`` of the fluxd installation the system instance
should use (a virtualenv or the system's Python): the unit runs that
installation's ``twistd`` and ``flux``.  Under ROOT it writes:

- ``etc/systemd/system/flux.service`` (``conf/flux.service`` with the
  paths of this installation);
- ``etc/flux/system/conf.d/system.toml``, ``etc/flux/security/conf.d/
  sign.toml``, ``etc/flux/imp/conf.d/imp.toml`` (the guide's examples,
  ``conf/``), root-owned, mode 0644, in root-owned 0755 directories;
- ``usr/libexec/flux/flux-shell``: the job shell of this installation,
  beside the IMP (``[exec] imp``'s directory, the IMP's allowed-shells);
- ``etc/pam.d/flux`` (the IMP's ``auth``/``session`` stack) and
  ``usr/libexec/flux/flux-pam-account`` (the node access check for a
  ``pam_exec`` account rule);
- the IMP (``flux_imp.install``: ``usr/libexec/flux/flux-imp``, its
  root-owned code in ``usr/lib/flux-imp``) and its sudoers rule
  ``etc/sudoers.d/flux`` (0440, checked by ``visudo``);
- ``etc/flux/system/prolog.d`` and ``epilog.d`` (root, 0755),
  ``var/lib/flux`` (the statedir: the flux user, 0700), and the
  certificate's place ``etc/flux/system/curve.cert``: an existing one is
  given the flux user and mode 0400; a missing one is reported (make it
  once with ``flux keygen`` and copy it to every node).

The ``flux`` user (``--user``) is created (``useradd --system``, no home,
no login shell) when it does not exist.  A manifest of the checksums of
what was written (``etc/flux/install-manifest.json``) lets a second run
change nothing and say so, update files it wrote that nobody edited, and
refuse, naming them and before writing anything, files an admin edited;
``--force`` overwrites those.

Stdlib only (the ``flux`` command imports no Twisted).
"""

import grp
import hashlib
import json
import os
import pwd
import subprocess
import sys

from flux_imp import install as imp_install

from fluxd.cli._oneline import OneLineParser

__all__ = ["main", "install_system", "tree_checksum", "MANIFEST"]

MANIFEST = "etc/flux/install-manifest.json"

#: (source under conf/, destination under ROOT, mode)
_CONFIG_FILES = (
    ("conf.d/system.toml", "etc/flux/system/conf.d/system.toml", 0o644),
    ("security/conf.d/sign.toml", "etc/flux/security/conf.d/sign.toml",
     0o644),
    ("imp/conf.d/imp.toml", "etc/flux/imp/conf.d/imp.toml", 0o644),
    ("pam.d/flux", "etc/pam.d/flux", 0o644),
)
#: fluxd's root-owned directories (mode 0755, enforced)
_ROOT_DIRS = ("etc/flux", "etc/flux/system", "etc/flux/system/conf.d",
              "etc/flux/system/prolog.d", "etc/flux/system/epilog.d",
              "etc/flux/security", "etc/flux/security/conf.d",
              "etc/flux/imp", "etc/flux/imp/conf.d", "usr/libexec/flux")
#: the system's directories: created when missing, otherwise left alone
_SYSTEM_DIRS = (("etc/systemd/system", 0o755), ("etc/pam.d", 0o755),
                ("etc/sudoers.d", 0o750))
CERT = "etc/flux/system/curve.cert"
STATEDIR = "var/lib/flux"
PAM_ACCOUNT = "usr/libexec/flux/flux-pam-account"
JOB_SHELL = "usr/libexec/flux/flux-shell"


class InstallError(Exception):
    """A refusal: one line per problem, nothing written."""


def sha256(data):
    """The hex SHA-256 of ``data`` (bytes or text)."""
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def tree_checksum(path):
    """One checksum of the ``*.toml`` files of a config directory: their
    names and contents in name order (``flux preflight`` compares it
    across nodes; the ``config.checksum`` service gives each broker's).
    ``None`` when the directory cannot be read."""
    digest = hashlib.sha256()
    try:
        names = sorted(n for n in os.listdir(path) if n.endswith(".toml"))
        for name in names:
            with open(os.path.join(path, name), "rb") as f:
                data = f.read()
            digest.update(f"{name}\0{len(data)}\0".encode() + data)
    except OSError:
        return None
    return digest.hexdigest()


def conf_source():
    """The ``conf/`` directory of this fluxd source tree."""
    import fluxd
    here = os.path.dirname(os.path.dirname(os.path.realpath(fluxd.__file__)))
    conf = os.path.join(here, "conf")
    if not os.path.isfile(os.path.join(conf, "flux.service")):
        raise InstallError(f"{conf}: no fluxd conf/ directory here"
                           " (install from a fluxd source tree)")
    return conf


def unit_text(conf, bindir, owner):
    """``conf/flux.service`` running the twistd and flux in ``bindir`` as
    ``owner`` (a ``pwd`` entry)."""
    with open(os.path.join(conf, "flux.service")) as f:
        text = f.read()
    group = grp.getgrgid(owner.pw_gid).gr_name
    return (text.replace("/usr/bin/twistd", os.path.join(bindir, "twistd"))
            .replace("/usr/bin/flux", os.path.join(bindir, "flux"))
            .replace("\nUser=flux\n", f"\nUser={owner.pw_name}\n")
            .replace("\nGroup=flux\n", f"\nGroup={group}\n"))


def pam_account_text(conf, python):
    """The node access script with this installation's interpreter."""
    with open(os.path.join(conf, "pam/flux-pam-account")) as f:
        lines = f.read().split("\n", 1)
    return f"#!{python} -I\n" + lines[1]


def shell_text(python):
    """The job shell program: this installation's ``flux_shell``, run by
    the IMP as the job's user."""
    return (f"#!{python}\n# the fluxd job shell (flux install-system)\n"
            "import sys\nfrom flux_shell.__main__ import main\n"
            "sys.exit(main())\n")


def ensure_user(name, out):
    """The ``pwd`` entry of ``name``, created as a system user if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    proc = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home",
         "--home-dir", "/var/lib/flux", "--shell", "/usr/sbin/nologin",
         name], capture_output=True, text=True)
    if proc.returncode != 0:
        raise InstallError(f"useradd {name}: {proc.stderr.strip()}")
    out.write(f"created system user {name}\n")
    return pwd.getpwnam(name)


def _current(path):
    try:
        with open(path, "rb") as f:
            return sha256(f.read())
    except FileNotFoundError:
        return None


def _write(path, text, mode, uid=0, gid=0):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = path + ".fluxd-new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.chown(tmp, uid, gid)
    os.replace(tmp, path)


def _fix(path, mode, uid, gid):
    """Give ``path`` its owner and mode; True when something changed."""
    st = os.lstat(path)
    changed = False
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(path, uid, gid)
        changed = True
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)
        changed = True
    return changed


def install_system(root="/", user="flux", force=False, out=sys.stdout,
                   python=None, bindir=None):
    """Install the system files under ``root`` (root only).

    :param python: the interpreter of the PAM script (default: this one).
    :param bindir: where this installation's ``twistd`` and ``flux`` are
        (default: beside the interpreter).
    :returns: the number of files written or changed (0: nothing to do).
    :raises InstallError: not root, edited files without ``force``, a
        sudoers rule visudo refuses.
    """
    if os.geteuid() != 0:
        raise InstallError("install-system needs root")
    root = os.path.abspath(root)
    python = python or sys.executable
    bindir = bindir or os.path.dirname(python)
    conf = conf_source()
    owner = ensure_user(user, out)
    manifest_path = os.path.join(root, MANIFEST)
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        manifest = {}
    except (OSError, ValueError) as exc:
        raise InstallError(f"{manifest_path}: {exc}") from None

    def rel(path):
        return os.path.relpath(path, root)

    plan = {os.path.join(root, "etc/systemd/system/flux.service"):
            (unit_text(conf, bindir, owner), 0o644),
            os.path.join(root, PAM_ACCOUNT):
            (pam_account_text(conf, python), 0o755),
            os.path.join(root, JOB_SHELL): (shell_text(python), 0o755)}
    for src, dest, mode in _CONFIG_FILES:
        with open(os.path.join(conf, src)) as f:
            text = f.read()
        if src.startswith("imp/"):
            # the instance owner runs the IMP
            text = text.replace('allowed-users = [ "flux" ]',
                                f'allowed-users = [ "{user}" ]')
        plan[os.path.join(root, dest)] = (text, mode)
    sudoers = os.path.join(root, "etc/sudoers.d/flux")
    imp_files = imp_install.plan(
        root, [user], sudoers=sudoers,
        libexecdir=os.path.join(root, "usr/libexec/flux"),
        libdir=os.path.join(root, "usr/lib/flux-imp"))

    # check everything first: an edited file stops the run before any write
    edited, todo = [], {}
    for path, (text, mode) in {**plan, **imp_files}.items():
        now, want = _current(path), sha256(text)
        if now == want:
            continue
        if now is not None and manifest.get(rel(path)) != now:
            if not force:
                edited.append(f"{path}: edited since it was installed"
                              " (use --force to overwrite it)")
                continue
            out.write(f"overwriting {path} (--force)\n")
        todo[path] = now is None
    if edited:
        raise InstallError("\n".join(edited))

    changes = 0
    for name, mode in _SYSTEM_DIRS:
        path = os.path.join(root, name)
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o755)
            os.chmod(path, mode)
            out.write(f"created {path}/\n")
            changes += 1
    for name in _ROOT_DIRS:
        path = os.path.join(root, name)
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o755)
            out.write(f"created {path}/\n")
            changes += 1
        if _fix(path, 0o755, 0, 0):
            out.write(f"fixed owner/mode of {path}/ (root, 0755)\n")
            changes += 1
    for path, (text, mode) in plan.items():
        if path in todo:
            _write(path, text, mode)
            out.write(("installed " if todo[path] else "updated ") + path
                      + "\n")
            changes += 1
        elif _fix(path, mode, 0, 0):
            out.write(f"fixed owner/mode of {path} (root, {mode:04o})\n")
            changes += 1
    imp_changed = [p for p in imp_files if p in todo]
    imp_modes = [p for p, (_, mode) in imp_files.items()
                 if p not in todo and os.path.exists(p)
                 and (os.stat(p).st_mode & 0o7777, os.stat(p).st_uid)
                 != (mode, 0)]
    if imp_changed or imp_modes:
        try:
            imp_install.install(
                root, [user], sudoers=sudoers,
                libexecdir=os.path.join(root, "usr/libexec/flux"),
                libdir=os.path.join(root, "usr/lib/flux-imp"))
        except RuntimeError as exc:
            raise InstallError(str(exc)) from None
        for path in imp_changed:
            out.write(f"installed {path}\n")
        for path in imp_modes:
            out.write(f"fixed owner/mode of {path} (root,"
                      f" {imp_files[path][1]:04o})\n")
        changes += len(imp_changed) + len(imp_modes)

    statedir = os.path.join(root, STATEDIR)
    if not os.path.isdir(statedir):
        os.makedirs(statedir, mode=0o700)
        out.write(f"created {statedir}/\n")
        changes += 1
    if _fix(statedir, 0o700, owner.pw_uid, owner.pw_gid):
        out.write(f"fixed owner/mode of {statedir}/ ({user}, 0700)\n")
        changes += 1
    cert = os.path.join(root, CERT)
    if os.path.exists(cert):
        if _fix(cert, 0o400, owner.pw_uid, owner.pw_gid):
            out.write(f"fixed owner/mode of {cert} ({user}, 0400)\n")
            changes += 1
    else:
        out.write(f"no certificate yet: run `flux keygen {cert}` once,"
                  f" then copy it to every node ({user}, mode 0400)\n")

    new_manifest = dict(manifest)
    for path, (text, _) in {**plan, **imp_files}.items():
        new_manifest[rel(path)] = sha256(text)
    if new_manifest != manifest:
        _write(manifest_path, json.dumps(new_manifest, indent=1,
                                         sort_keys=True) + "\n", 0o644)
    if changes == 0:
        out.write(f"{root}: nothing to do, every file is installed\n")
    return changes


def _parser():
    parser = OneLineParser(
        prog="flux install-system",
        description="Install the files of a fluxd system instance.")
    parser.add_argument("--root", default="/",
                        help="install under DIR (default /)")
    parser.add_argument("--user", default="flux",
                        help="the instance owner (created if missing)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite files edited since installed")
    return parser


def main(argv):
    """``flux install-system``: 0 when done (or nothing to do), 1 when
    refused."""
    args = _parser().parse_args(argv)
    try:
        install_system(args.root, args.user, args.force)
    except (InstallError, OSError) as exc:
        for line in str(exc).splitlines():
            sys.stderr.write(f"flux-install-system: {line}\n")
        return 1
    return 0
