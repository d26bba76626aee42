# -*- test-case-name: tests.integration.test_preflight -*-
"""``flux preflight``: the Administrator's Guide's pre-flight checklist on
this node (fluxd's own command: flux-core has none).

Each check prints one row, ``pass``, ``FAIL`` or ``n/a`` (a check that
cannot apply here, never counted as a pass), and every failure a line
with its fix; the exit status is 1 when any check failed.

- ``munge``: a credential encoded and decoded through libmunge;
- ``user``: the instance owner exists;
- ``certificate``: owned by the owner, readable by nobody else;
- ``config-owner``: the system, security and IMP config directories and
  their files owned by root, writable only by root, readable by all;
- ``config-sync``: each rank's config files (``config.checksum``, asked
  over the overlay) are those of this node; ``clock``: rank 0's clock
  against this node's (both need a reachable instance, else ``n/a``);
- ``imp-config``: the IMP's own checks (:mod:`flux_imp.conf`) and the
  owner in ``[exec] allowed-users``; ``sudoers``: the rule for the owner,
  root-owned, mode 0440, accepted by ``visudo``;
- ``statedir``: owned by the owner, private, ``--min-free`` available;
- ``systemd``: ``systemctl is-enabled`` and ``is-active flux`` (``n/a``
  without systemd or with ``--root`` other than ``/``).
"""

import os
import pwd
import shutil
import stat
import subprocess
import sys
import time

from fluxd.cli._oneline import OneLineParser
from fluxd.errors import InvalidArgument

_PASS, _FAIL, _NA = "pass", "FAIL", "n/a"


class Check:
    """One row of the table: ``name``, ``result``, ``detail``, ``fix``."""

    def __init__(self, name, result, detail, fix=None):
        self.name, self.result, self.detail, self.fix = (
            name, result, detail, fix)


def _size(text):
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in units else ""
    try:
        return int(float(t[:len(t) - len(unit)]) * units[unit])
    except ValueError:
        raise InvalidArgument(f"--min-free: {text!r} is not a size"
                              " (e.g. 1G)") from None


def _parser():
    parser = OneLineParser(
        prog="flux preflight",
        description="Run the pre-flight checklist on this node.")
    parser.add_argument("--root", default="/",
                        help="the files under DIR (default /)")
    parser.add_argument("--user", default="flux", help="the instance owner")
    parser.add_argument("--cert", help="the overlay certificate (default"
                        " ROOT/etc/flux/system/curve.cert)")
    parser.add_argument("--statedir", help="default ROOT/var/lib/flux")
    parser.add_argument("--munge-socket", help="munged's socket")
    parser.add_argument("--uri", help="the local broker (default FLUX_URI,"
                        " else local:///run/flux/local)")
    parser.add_argument("--min-free", default="1G",
                        help="statedir space needed (default 1G)")
    parser.add_argument("--max-skew", type=float, default=1.0,
                        help="seconds of clock skew allowed (default 1)")
    return parser


class Preflight:
    """The checks, with their paths resolved from the options."""

    def __init__(self, args):
        self.args = args
        root = os.path.abspath(args.root)
        self.root = root
        self.system = os.path.join(root, "etc/flux/system/conf.d")
        self.security = os.path.join(root, "etc/flux/security/conf.d")
        self.imp = os.path.join(root, "etc/flux/imp/conf.d")
        self.sudoers = os.path.join(root, "etc/sudoers.d/flux")
        self.cert = args.cert or os.path.join(root,
                                              "etc/flux/system/curve.cert")
        self.statedir = args.statedir or os.path.join(root, "var/lib/flux")
        self.min_free = _size(args.min_free)
        self.uri = (args.uri or os.environ.get("FLUX_URI")
                    or "local:///run/flux/local")
        try:
            self.owner = pwd.getpwnam(args.user)
        except KeyError:
            self.owner = None

    def run(self):
        """All the checks, in the guide's order."""
        rows = [self.munge(), self.user(), self.certificate(),
                self.config_owner()]
        rows += self.overlay()
        rows += [self.imp_config(), self.sudoers_rule(), self.state(),
                 self.systemd()]
        return rows

    def munge(self):
        from fluxd.security.munge import EMUNGE_SUCCESS, Munge, MungeError
        where = self.args.munge_socket or "the default socket"
        try:
            m = Munge(self.args.munge_socket)
            payload, uid, _, code = m.decode(m.encode(b"flux-preflight"))
        except (MungeError, OSError) as exc:
            return Check("munge", _FAIL, f"{where}: {exc}",
                         "start munged on every node with the same key"
                         " (systemctl enable --now munge)")
        if code != EMUNGE_SUCCESS or payload != b"flux-preflight" \
                or uid != os.geteuid():
            return Check("munge", _FAIL, "round trip returned other data",
                         "check munged's key and version")
        return Check("munge", _PASS, f"credential round trip via {where}")

    def user(self):
        if self.owner is None:
            return Check("user", _FAIL, f"no user {self.args.user}",
                         f"flux install-system --user {self.args.user}"
                         " (creates it; same UID on every node)")
        return Check("user", _PASS, f"{self.owner.pw_name} uid"
                     f" {self.owner.pw_uid}")

    def certificate(self):
        try:
            st = os.stat(self.cert)
        except OSError as exc:
            return Check("certificate", _FAIL, f"{self.cert}:"
                         f" {exc.strerror}",
                         f"sudo -u {self.args.user} flux keygen once, copy"
                         f" it to {self.cert} on every node")
        fix = f"chown {self.args.user} {self.cert}; chmod 0400 {self.cert}"
        if self.owner is None or st.st_uid != self.owner.pw_uid:
            return Check("certificate", _FAIL, f"{self.cert}: not owned by"
                         f" {self.args.user}", fix)
        if st.st_mode & 0o077:
            return Check("certificate", _FAIL, f"{self.cert}: mode"
                         f" {st.st_mode & 0o777:04o}, readable by group or"
                         " others", fix)
        return Check("certificate", _PASS, f"{self.cert}: {self.args.user},"
                     f" {st.st_mode & 0o777:04o}")

    def config_owner(self):
        for top in (self.system, self.security, self.imp):
            try:
                paths = [top] + sorted(
                    os.path.join(top, n) for n in os.listdir(top)
                    if n.endswith(".toml"))
            except OSError as exc:
                return Check("config-owner", _FAIL, f"{top}: {exc.strerror}",
                             "flux install-system")
            for path in paths:
                st = os.stat(path)
                want = 0o005 if stat.S_ISDIR(st.st_mode) else 0o004
                bad = ("not owned by root" if st.st_uid != 0 else
                       "writable by group or others"
                       if st.st_mode & 0o022 else
                       "not readable by all"
                       if st.st_mode & want != want else None)
                if bad:
                    return Check("config-owner", _FAIL, f"{path}: {bad}",
                                 f"chown root:root {path}; chmod go-w,a+rX"
                                 f" {path}")
        return Check("config-owner", _PASS, "system, security, imp: root,"
                     " not writable by others")

    def overlay(self):
        from fluxd.admin.install import tree_checksum
        from fluxd.client.sync import Flux
        from fluxd.errors import FluxError
        mine = {"system": tree_checksum(self.system),
                "security": tree_checksum(self.security),
                "imp": tree_checksum(self.imp)}
        try:
            with Flux(self.uri) as h:
                size = int(h.rpc("attr.get", {"name": "size"})["value"])
                sent = time.time()
                first = h.rpc("config.checksum", nodeid=0, timeout=30)
                skew = first["time"] - (sent + time.time()) / 2
                replies = [first] + [
                    h.rpc("config.checksum", nodeid=rank, timeout=30)
                    for rank in range(1, size)]
        except (FluxError, OSError, KeyError, ValueError) as exc:
            why = f"cannot ask the instance at {self.uri}: {exc}"
            return [Check("config-sync", _NA, why), Check("clock", _NA, why)]
        differ = [f"rank {rank} {name}" for rank, reply in enumerate(replies)
                  for name in ("system", "security", "imp")
                  if reply.get(name) != mine[name]]
        if differ:
            sync = Check("config-sync", _FAIL, "differs from this node: "
                         + ", ".join(differ),
                         "copy this node's /etc/flux config to every node")
        else:
            sync = Check("config-sync", _PASS, f"{size} ranks have this"
                         " node's system, security and imp config")
        if abs(skew) > self.args.max_skew:
            clock = Check("clock", _FAIL, f"{skew:+.3f}s from rank 0",
                          "synchronize clocks (NTP: timedatectl status)")
        else:
            clock = Check("clock", _PASS, f"{skew:+.3f}s from rank 0")
        return [sync, clock]

    def imp_config(self):
        from flux_imp.conf import ImpError, Paths, load_imp_config
        try:
            table = load_imp_config(Paths(self.root))
        except ImpError as exc:
            return Check("imp-config", _FAIL, str(exc),
                         f"root must own {self.imp}, its files and the"
                         " directories above it, writable only by root"
                         " (flux install-system)")
        if self.args.user not in table["exec"]["allowed-users"]:
            return Check("imp-config", _FAIL, f"{self.args.user} not in"
                         " [exec] allowed-users",
                         f"add it to {self.imp}/imp.toml")
        return Check("imp-config", _PASS, self.imp)

    def sudoers_rule(self):
        fix = "flux install-system (writes the rule, root 0440)"
        try:
            st = os.stat(self.sudoers)
            with open(self.sudoers) as f:
                text = f.read()
        except OSError as exc:
            return Check("sudoers", _FAIL, f"{self.sudoers}: {exc.strerror}",
                         fix)
        if st.st_uid != 0 or st.st_mode & 0o777 != 0o440:
            return Check("sudoers", _FAIL, f"{self.sudoers}: owner"
                         f" {st.st_uid}, mode {st.st_mode & 0o777:04o}"
                         " (want root, 0440)", fix)
        rules = [r for r in (line.split() for line in text.splitlines())
                 if r[:1] and self.args.user in r[0].split(",")
                 and "NOPASSWD:" in r[:-1]]
        if not rules:
            return Check("sudoers", _FAIL, f"{self.sudoers}: no rule for"
                         f" {self.args.user}", fix)
        from flux_imp.conf import ImpError, check_secure
        program = rules[0][rules[0].index("NOPASSWD:") + 1]
        try:
            check_secure(program)
        except ImpError as exc:
            return Check("sudoers", _FAIL, f"the rule's program {exc}", fix)
        visudo = shutil.which("visudo", path="/usr/sbin:/sbin:/usr/bin")
        if visudo is None:
            return Check("sudoers", _FAIL, "visudo not found", "install sudo")
        check = subprocess.run([visudo, "-cqf", self.sudoers],
                               capture_output=True, text=True)
        if check.returncode != 0:
            return Check("sudoers", _FAIL, (check.stdout + check.stderr)
                         .strip().replace("\n", "; "), fix)
        return Check("sudoers", _PASS, f"{self.sudoers}: rule for"
                     f" {self.args.user}")

    def state(self):
        try:
            st = os.stat(self.statedir)
            free = os.statvfs(self.statedir)
        except OSError as exc:
            return Check("statedir", _FAIL, f"{self.statedir}:"
                         f" {exc.strerror}", "flux install-system")
        fix = (f"chown {self.args.user} {self.statedir}; chmod 0700"
               f" {self.statedir}")
        if self.owner is None or st.st_uid != self.owner.pw_uid \
                or st.st_mode & 0o077:
            return Check("statedir", _FAIL, f"{self.statedir}: not private"
                         f" to {self.args.user}", fix)
        avail = free.f_bavail * free.f_frsize
        if avail < self.min_free:
            return Check("statedir", _FAIL, f"{self.statedir}:"
                         f" {avail >> 20} MiB free, below"
                         f" {self.args.min_free}",
                         "give the leader's statedir more space")
        return Check("statedir", _PASS, f"{self.statedir}: {avail >> 20}"
                     " MiB free")

    def systemd(self):
        systemctl = shutil.which("systemctl")
        if self.root != "/":
            return Check("systemd", _NA, f"--root is {self.root}")
        if systemctl is None or not os.path.isdir("/run/systemd/system"):
            return Check("systemd", _NA, "systemd is not running here")
        states = []
        for verb, want in (("is-enabled", "enabled"), ("is-active",
                                                        "active")):
            proc = subprocess.run([systemctl, verb, "flux"],
                                  capture_output=True, text=True)
            got = proc.stdout.strip() or proc.stderr.strip()
            if got != want:
                return Check("systemd", _FAIL, f"flux.service {got}",
                             "systemctl enable --now flux")
            states.append(got)
        return Check("systemd", _PASS, "flux.service " + ", ".join(states))


def format_table(rows):
    """The lines of the pass/fail table."""
    width = max(len(r.name) for r in rows)
    lines = [f"{'CHECK':<{width}}  RESULT  DETAIL"]
    for r in rows:
        lines.append(f"{r.name:<{width}}  {r.result:<6}  {r.detail}")
        if r.result == _FAIL and r.fix:
            lines.append(f"{'':<{width}}          fix: {r.fix}")
    return lines


def main(argv):
    """``flux preflight``: 0 when no check failed, else 1."""
    args = _parser().parse_args(argv)
    rows = Preflight(args).run()
    for line in format_table(rows):
        sys.stdout.write(line + "\n")
    failed = [r.name for r in rows if r.result == _FAIL]
    if failed:
        sys.stderr.write(f"flux-preflight: {len(failed)} check(s) failed: "
                         + ", ".join(failed) + "\n")
        return 1
    return 0
