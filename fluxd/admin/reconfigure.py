# -*- test-case-name: tests.unit.admin.test_reconfigure -*-
"""Config followers for services whose settings come from more than the
config (``flux config reload`` reaching the overlay).

The ``[tbon]`` timings a reload may change are ``torpid_min`` and
``torpid_max`` (``flux-config-tbon(5)``: "live-updatable"); a
``tbon.torpid_*`` broker attribute given at start overrides the key, as
flux-core's ``[config]`` attributes do, so the key's change is then
ignored with one line.  ``tcp_user_timeout``, ``connect_timeout`` and
``topo`` take a restart: the config service refuses a reload that
changes them.
"""

from twisted.logger import Logger
from zope.interface import implementer

from fluxd.config import parse_duration_key
from fluxd.errors import InvalidArgument
from fluxd.interfaces import IReconfigurable

_LIVE = ("torpid_min", "torpid_max")


@implementer(IReconfigurable)
class TbonTimings:
    """Keep the overlay's torpid timings in step with ``[tbon]``.

    :param overlay: the broker's overlay (``set_torpid(min, max)``,
        ``torpid_min``, ``torpid_max``).
    :param setattrs: the ``-S`` attributes given at start.
    """

    name = "overlay"
    log = Logger()

    def __init__(self, overlay, setattrs):
        self.overlay = overlay
        self.pinned = {key for key in _LIVE if f"tbon.{key}" in setattrs}

    def reconfigure(self, config):
        """Adopt ``tbon.torpid_min``/``torpid_max`` unless pinned by an
        attribute."""
        values = {"torpid_min": self.overlay.torpid_min,
                  "torpid_max": self.overlay.torpid_max}
        for key in _LIVE:
            value = parse_duration_key(config, f"tbon.{key}")
            if key in self.pinned:
                if value != values[key]:
                    self.log.warn("config: tbon.{key} is set by the broker"
                                  " attribute of the same name; the config"
                                  " key is ignored", key=key)
                continue
            values[key] = value
        if values["torpid_min"] <= 0:
            raise InvalidArgument("tbon.torpid_min must be nonzero")
        if values["torpid_max"] and values["torpid_min"] >= values["torpid_max"]:
            raise InvalidArgument("tbon.torpid_min must be less than"
                                  " tbon.torpid_max")
        self.overlay.set_torpid(values["torpid_min"], values["torpid_max"])
