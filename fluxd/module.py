# -*- test-case-name: tests.unit.message.test_router -*-
"""The base class of broker services ("modules" in flux terms), and the
ordered set of them that makes a broker.

A module is a Twisted ``Service`` with a name (its topic prefix) and
``@method`` handlers.  Every module answers the generic ``NAME.ping`` and
``NAME.stats-get`` methods, as flux-core modules do.
"""

import errno
import uuid

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import FluxError
from fluxd.interfaces import IBuiltins, IModule, IRouter, provide
from fluxd.message.router import collect_methods, method
from fluxd.message.types import ROLE_USER


@implementer(IModule)
class Module(service.Service):
    """A broker service.

    :param rank: the broker rank this module runs on (reported by ping).
    """

    #: the service name; subclasses set it
    name = None
    #: services offered besides ``name`` (shown by ``flux module list``)
    extra_services = ()

    def __init__(self, rank=0):
        self.rank = rank
        self.uuid = uuid.uuid4().hex
        self.stats = {}

    def flux_methods(self):
        """``{method: (callable, spec)}`` found from the ``@method`` marks."""
        return collect_methods(self)

    def disconnect(self, sender):
        """A client left; modules holding per-client state override this."""
        return None

    @method("ping", roles=ROLE_USER)
    def flux_ping(self, request):
        """Echo the payload with the route, credentials and rank (RFC 6)."""
        payload = request.json()
        hops = [hop[:8].upper() for hop in request.message.route]
        hops.append(self.uuid[:8].upper())
        payload.update(route="!".join(hops), userid=request.userid,
                       rolemask=request.rolemask, rank=self.rank)
        return payload

    @method("stats-get", roles=ROLE_USER)
    def flux_stats_get(self, request):
        """This module's counters (a JSON object)."""
        return dict(self.stats)


@implementer(IBuiltins)
class ModuleSet:
    """The broker's modules, declared once in start order.

    The lifecycle starts them in LOAD-BUILTINS (each joins the router once
    started, so nothing reaches a module before it is ready) and stops
    them in reverse in UNLOAD-BUILTINS.  Iterating yields them in order
    (the config service tells them about reloads in that order).

    :param router: the :class:`IRouter` the modules join.
    """

    log = Logger()

    def __init__(self, router):
        self._router = provide(IRouter, router)
        self._modules = []

    def declare(self, modules):
        """Set the modules, in start order (``None`` entries are skipped:
        services a broker of this rank or size does not run).

        :raises fluxd.errors.FluxError: EEXIST when two share a name or
            the set was declared already.
        """
        if self._modules:
            raise FluxError("the broker's modules are declared already",
                            errnum=errno.EEXIST)
        modules = [IModule(m) for m in modules if m is not None]
        names = [m.name for m in modules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise FluxError(f"modules declared twice: {', '.join(twice)}",
                            errnum=errno.EEXIST)
        self._modules = modules

    def __iter__(self):
        return iter(list(self._modules))

    def __len__(self):
        return len(self._modules)

    def by_name(self):
        """``{name: module}`` (the manhole's namespace)."""
        return {m.name: m for m in self._modules}

    def load(self):
        """Start the modules in order; a Deferred firing when all run."""
        async def load():
            for module in self._modules:
                await defer.maybeDeferred(module.startService)
                self._router.add_module(module)
        return defer.Deferred.fromCoroutine(load())

    def unload(self):
        """Stop the modules in reverse order; a Deferred.

        Every module is stopped even if one fails; the Deferred then fails
        with a :class:`FluxError` naming those that did.
        """
        async def unload():
            failed = []
            for module in reversed(self._modules):
                if module.running:
                    try:
                        await defer.maybeDeferred(module.stopService)
                    except Exception:
                        self.log.failure("stopping {name} failed",
                                         name=module.name)
                        failed.append(module.name)
                self._router.remove_module(module.name)
            if failed:
                raise FluxError(f"modules failed to stop: {', '.join(failed)}")
        return defer.Deferred.fromCoroutine(unload())
