# -*- test-case-name: tests.integration.test_overlay -*-
"""The ``groups`` service: instance-wide broker groups, as flux has.

``groups.get {"name": "broker.online"}`` answers the ranks online in the
whole instance (``broker.torpid`` the torpid ones), as ``flux uptime`` and
``flux resource status`` need.  Rank 0 knows them from the overlay;
other ranks ask rank 0.
"""

from fluxd.errors import NotFound
from fluxd.formats.idset import IDset
from fluxd.interfaces import IOverlayStatus, IRouter, provide
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module


class GroupsService(Module):
    """``groups.get`` for ``broker.online`` and ``broker.torpid``.

    :param overlay: the :class:`OverlayService`, or None on a lone broker.
    :param router: used by followers to ask rank 0.
    """

    name = "groups"

    def __init__(self, rank=0, overlay=None, router=None):
        super().__init__(rank)
        self._overlay = provide(IOverlayStatus, overlay) \
            if overlay is not None else None
        self._router = provide(IRouter, router)

    def members(self, name):
        """The IDset of a group (rank 0, or a lone broker)."""
        if name == "broker.online":
            return self._overlay.online_ranks() if self._overlay else IDset([0])
        if name == "broker.torpid":
            return self._overlay.torpid_ranks() if self._overlay else IDset()
        raise NotFound(f"{name}: no such group")

    @method("get", roles=ROLE_USER)
    def get(self, request):
        name = request.json().get("name")
        if self.rank != 0:
            return self._router.call("groups.get", {"name": name}, nodeid=0,
                                     cred=request.cred)
        return {"members": self.members(name).encode()}
