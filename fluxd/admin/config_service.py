# -*- test-case-name: tests.unit.admin.test_config_service -*-
"""The ``config`` service: the broker's live configuration and its reload.

``config.get`` answers the whole merged table (``flux config get`` picks
the key on the client side, as flux-core does).  ``config.reload`` (owner
only; ``flux config reload``, ``systemctl reload flux`` through SIGHUP)
re-reads the config path the broker started with, validates it with
:func:`fluxd.config.load_config` and, only if that succeeds, hands the new
:class:`fluxd.config.Config` to every module providing
:class:`fluxd.interfaces.IReconfigurable`, in module-list order.  If the
files no longer parse, or a module refuses the new config, the old one
stays in force everywhere (modules that already took the new one are
given the old one back) and the error is returned / logged in one line.
"""

import signal

from twisted.internet import defer
from twisted.logger import Logger

from fluxd.config import load_config
from fluxd.errors import FluxError, from_errno
from fluxd.interfaces import IReconfigurable
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module


class ConfigService(Module):
    """The broker's configuration holder.

    :param config: the :class:`fluxd.config.Config` the broker started with.
    :param modules: the broker's module list (the same list object, so
        modules added later are seen); those providing IReconfigurable are
        told about reloads.
    :param reactor: for ``callFromThread`` out of the SIGHUP handler.
    :param install_signal: ``install_signal(signum, handler)`` (production:
        :func:`signal.signal`); None installs no SIGHUP handler.
    :param loader: ``loader(path)`` -> Config (default: load_config).
    """

    name = "config"
    log = Logger()

    def __init__(self, config, modules=(), reactor=None, install_signal=None,
                 loader=load_config, rank=0):
        super().__init__(rank)
        self.config = config
        self.path = config.path
        self._modules = modules
        self._reactor = reactor
        self._install_signal = install_signal
        self._loader = loader
        self._lock = defer.DeferredLock()
        self._watchers = []
        self.reloads = 0

    def startService(self):
        super().startService()
        if self._install_signal is not None:
            self._install_signal(signal.SIGHUP, self._sighup)

    def stopService(self):
        super().stopService()
        if self._install_signal is not None:
            self._install_signal(signal.SIGHUP, signal.SIG_DFL)

    def _sighup(self, signum, frame):
        # a signal handler may run between any two bytecodes: hand over to
        # the reactor thread rather than touch broker state here
        self._reactor.callFromThread(self.reload_logged, "SIGHUP")

    def watch(self, callback):
        """Call ``callback(config)`` after each successful reload."""
        self._watchers.append(callback)

    def reload(self):
        """Re-read the config path; adopt it if it is valid.

        :returns: a Deferred firing with the new Config, or failing with
            the :class:`fluxd.errors.FluxError` that refused it.
        """
        return self._lock.run(self._reload)

    def reload_logged(self, why):
        """:meth:`reload`, logging the outcome (for SIGHUP)."""
        d = self.reload()
        d.addErrback(lambda f: f.trap(FluxError))
        d.addErrback(lambda f: self.log.failure("config reload failed", f))
        return d

    async def _reload(self):
        old = self.config
        try:
            new = self._loader(self.path)
        except FluxError as exc:
            self.log.error("config reload failed, keeping the old config: {why}",
                           why=exc)
            raise
        told = []
        try:
            for module in list(self._modules):
                if module is self or not IReconfigurable.providedBy(module):
                    continue
                try:
                    await defer.maybeDeferred(module.reconfigure, new)
                except FluxError as exc:
                    raise from_errno(exc.errno, f"{module.name}: {exc}") from None
                told.append(module)
        except FluxError as exc:
            for module in told:
                try:
                    await defer.maybeDeferred(module.reconfigure, old)
                except Exception:
                    self.log.failure("{name} refused its old config back",
                                     name=module.name)
            self.log.error("config reload failed, keeping the old config: {why}",
                           why=exc)
            raise
        self.config = new
        self.reloads += 1
        self.log.info("config reloaded from {path}{change}",
                      path=self.path or "(built-in defaults)",
                      change="" if new != old else " (unchanged)")
        for callback in list(self._watchers):
            try:
                callback(new)
            except Exception:
                self.log.failure("config watcher failed")
        return new

    @method("get", roles=ROLE_USER)
    def rpc_get(self, request):
        """The whole configuration table as written."""
        return self.config.as_dict()

    @method("reload")
    async def rpc_reload(self, request):
        """Reload from the config path (owner only)."""
        await self.reload()
        return None
