# -*- test-case-name: tests.integration.test_broker_local -*-
"""``twistd fluxd``: command-line options and ``makeService``.

Options follow flux-broker(1): ``--config-path=DIR`` and repeated
``-Sname=value`` / ``--setattr=name=value``.  The configuration is read
and checked in :meth:`Options.postOptions`, so a bad file or key is
reported on the terminal before twistd daemonizes.
"""

import os

from twisted.python import usage

from fluxd.errors import FluxError


class Options(usage.Options):
    """Options of ``twistd fluxd``."""

    synopsis = "[--config-path=PATH] [-Sname=value]..."
    optParameters = [
        ["config-path", "c", None,
         "Read configuration from PATH: a directory of *.toml files, a TOML"
         " file or a .json file (default: $FLUX_CONF_DIR, else embedded"
         " defaults)"],
    ]
    longdesc = ("Run one fluxd broker.  Attributes (rundir, statedir,"
                " local-uri, hostname, log-stderr-level, ...) are set with"
                " -Sname=value.")

    def __init__(self):
        super().__init__()
        self["setattr"] = []

    def opt_setattr(self, value):
        """Set broker attribute NAME=VALUE (repeatable)."""
        self["setattr"].append(value)

    opt_S = opt_setattr

    def postOptions(self):
        from fluxd.broker import parse_setattr
        from fluxd.config import load_config
        path = self["config-path"] or os.environ.get("FLUX_CONF_DIR")
        try:
            self["config"] = load_config(path)
            self["attrs"] = parse_setattr(self["setattr"])
        except FluxError as exc:
            raise usage.UsageError(str(exc)) from None


def makeService(options):
    """Build the broker service tree for twistd."""
    from twisted.internet import reactor

    from fluxd.broker import build_broker
    try:
        return build_broker(reactor, options["config"], options["attrs"])
    except FluxError as exc:
        raise SystemExit(f"fluxd: {exc}") from None
