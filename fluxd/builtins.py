# -*- test-case-name: tests.integration.test_broker_local -*-
"""Built-in broker services: ``broker`` and ``module`` (``flux module list``)."""

from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module


class BrokerModule(Module):
    """The ``broker`` service: ``broker.ping`` and broker-wide facts."""

    name = "broker"

    def __init__(self, attributes, rank=0):
        super().__init__(rank)
        self._attributes = attributes

    @method("info", roles=ROLE_USER)
    def info(self, request):
        """Rank, size and version of this broker."""
        get = self._attributes.get
        return {"rank": int(get("rank")), "size": int(get("size")),
                "version": get("version")}


class ModuleService(Module):
    """The ``module`` service: the list of loaded services.

    :param router: the router whose modules are listed.
    :param clock: ``IReactorTime`` for idle times.
    """

    name = "module"

    def __init__(self, router, clock, rank=0):
        super().__init__(rank)
        self._router = router
        self._clock = clock

    @method("list", roles=ROLE_USER)
    def list(self, request):
        """``{"mods": [...]}`` in flux-core's ``module.list`` layout."""
        now = self._clock.seconds()
        mods = []
        for module in self._router.modules():
            last = self._router.last_activity(module.name)
            idle = int(now - last) if last is not None else int(now - self._router.started)
            mods.append({
                "name": module.name,
                "path": type(module).__module__,
                "idle": idle,
                "status": 2 if module.running else 1,
                "services": list(module.extra_services),
                "sendqueue": 0,
                "recvqueue": 0,
            })
        return {"mods": mods}
