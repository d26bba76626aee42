# -*- test-case-name: tests.unit.admin.test_config_service -*-
"""The ``config`` service: the instance's live configuration, the same on
every broker (``spec/config.md`` section 0, ``spec/cli.md`` section 7).

Every broker parses its own files at start (``[bootstrap]`` and ``[tbon]``
must be right on each node); followers then take the leader's config in
the ``config-sync`` state, and from then on rank 0 is the only source of
change:

- ``config.reload`` (``flux config reload``, SIGHUP, ``systemctl
  reload``) re-reads rank 0's config path; ``config.load`` (``flux config
  load|set|unset``) replaces the whole table with the request's.  On a
  follower both are passed on to rank 0, a reload after checking that the
  follower's own files still parse (a broken file is reported in one line
  and changes nothing).
- Rank 0 refuses a change to a key that only a restart can change (the
  schema's ``restart`` keys: ``[bootstrap]``, ``tbon.tcp_user_timeout``,
  ``[resource] config``...) naming it, then hands the new
  :class:`fluxd.config.Config` to every module providing
  :class:`fluxd.interfaces.IReconfigurable` (and the participants added
  with :meth:`ConfigService.follow`), then sends it down the tree
  (``config.update``: each follower applies it and passes it on to its
  children before answering).  If a module or a follower refuses it,
  everything that took it is given the old config back: the old config
  stays in force everywhere and the error is returned in one line.
- Each change has a generation number, so a follower that is joining
  while the config changes keeps the newest one whichever arrives last.
  A follower that is offline gets the config when it joins; one that does
  not answer within ``update_timeout`` is named in the reply's warnings
  (it applies the update when it wakes up).

``config.get`` answers the whole table (``flux config get`` picks the key
on the client side, as flux-core does).
"""

import os
import signal
import time

from twisted.internet import defer, task
from twisted.logger import Logger

from fluxd.config import (
    config_from_object, load_config, restart_changes, unknown_tables)
from fluxd.errors import (
    FluxError, HostUnreachable, InvalidArgument, NoSuchService, from_errno)
from fluxd.interfaces import IReconfigurable, provide
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module


#: retry delays (seconds) while rank 0 cannot be reached in config-sync
_RETRY_FIRST, _RETRY_MAX = 0.05, 1.0


def _label(participant):
    return getattr(participant, "name", None) or type(participant).__name__


class ConfigService(Module):
    """The broker's configuration holder.

    :param config: the :class:`fluxd.config.Config` the broker started with.
    :param modules: the broker's module set (iterated at each change, so
        modules declared later are seen); those providing IReconfigurable
        are told about changes, in order.
    :param reactor: ``callFromThread`` out of the SIGHUP handler, and the
        clock of the update timeout.
    :param install_signal: ``install_signal(signum, handler)`` (production:
        :func:`signal.signal`); None installs no SIGHUP handler.
    :param loader: ``loader(path)`` -> Config (default: load_config).
    :param router: the broker's :class:`fluxd.interfaces.IRouter` (talking
        to rank 0 and to the children); None on a lone broker.
    :param children: this broker's TBON children (ranks).
    :param update_timeout: seconds a child has to answer an update.
    """

    name = "config"
    log = Logger()

    def __init__(self, config, modules=(), reactor=None, install_signal=None,
                 loader=load_config, rank=0, router=None, children=(),
                 update_timeout=30.0):
        super().__init__(rank)
        self.config = config
        self.path = config.path
        self._modules = modules
        self._reactor = reactor
        self._install_signal = install_signal
        self._loader = loader
        self._router = router
        self._children = list(children)
        self._update_timeout = update_timeout
        self._lock = defer.DeferredLock()
        self._watchers = []
        self._participants = []
        #: the generation of :attr:`config` (rank 0 counts from 0; a
        #: follower has -1 until it synced with the leader)
        self.generation = 0 if rank == 0 else -1
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
        """Call ``callback(config)`` after each change this broker adopts."""
        self._watchers.append(callback)

    def follow(self, participant):
        """Tell ``participant`` (an IReconfigurable that is not a module,
        such as the local connector's access policy) about each change,
        after the modules."""
        self._participants.append(provide(IReconfigurable, participant))

    def _targets(self):
        for module in list(self._modules):
            if module is not self and IReconfigurable.providedBy(module):
                yield module
        yield from self._participants

    # -- applying a config on this broker -------------------------------------

    async def _apply(self, new):
        """Give ``new`` to every target; on a refusal give the old config
        back to those that took it and raise the refusal."""
        old = self.config
        told = []
        for target in list(self._targets()):
            try:
                await defer.maybeDeferred(target.reconfigure, new)
            except FluxError as exc:
                for done in reversed(told):
                    try:
                        await defer.maybeDeferred(done.reconfigure, old)
                    except Exception:
                        self.log.failure("{name} refused its old config back",
                                         name=_label(done))
                raise from_errno(exc.errno, f"{_label(target)}: {exc}") \
                    from None
            told.append(target)
        self.config = new
        for callback in list(self._watchers):
            try:
                callback(new)
            except Exception:
                self.log.failure("config watcher failed")

    # -- rank 0: adopting a change everywhere ---------------------------------

    def reload(self):
        """Re-read the config path (rank 0), or check this follower's
        files and ask rank 0 to reload.

        :returns: a Deferred firing with the list of warning lines, or
            failing with the :class:`fluxd.errors.FluxError` that refused
            the change (the old config then stays in force everywhere).
        """
        if self.rank != 0:
            return defer.Deferred.fromCoroutine(self._follower_reload())
        return self._lock.run(self._reload)

    def reload_logged(self, why):
        """:meth:`reload`, logging the outcome (for SIGHUP)."""
        d = self.reload()
        d.addErrback(lambda f: f.trap(FluxError))
        d.addErrback(lambda f: self.log.failure("config reload failed", f))
        return d

    async def _reload(self):
        try:
            new = self._loader(self.path)
        except FluxError as exc:
            self.log.error("config reload failed, keeping the old config:"
                           " {why}", why=exc)
            raise
        return await self._adopt(new, f"from {self.path or '(built-in defaults)'}")

    def load(self, table):
        """Replace the whole config with ``table`` (rank 0).

        :returns: as for :meth:`reload`.
        """
        try:
            new = config_from_object(table)
        except FluxError as exc:
            return defer.fail(exc)
        return self._lock.run(self._adopt, new, "by config.load")

    async def _adopt(self, new, what):
        old = self.config
        changed = restart_changes(old, new)
        if changed:
            exc = InvalidArgument(
                f"{', '.join(changed)}: a change takes effect only when the"
                " instance restarts; the old config stays in force")
            self.log.error("config change refused: {why}", why=exc)
            raise exc
        try:
            await self._apply(new)
        except FluxError as exc:
            self.log.error("config change refused, keeping the old config:"
                           " {why}", why=exc)
            raise
        generation = self.generation + 1
        try:
            pending = await self._push(new, generation)
        except FluxError as exc:
            self.log.error("config change refused by a follower, keeping the"
                           " old config everywhere: {why}", why=exc)
            await self._restore(old, generation + 1)
            raise
        self.generation = generation
        self.reloads += 1
        warnings = unknown_tables(new) + pending
        for line in warnings:
            self.log.warn("config: {line}", line=line)
        self.log.info("config reloaded {what}{change}", what=what,
                      change="" if new != old else " (unchanged)")
        return warnings

    async def _restore(self, old, generation):
        try:
            await self._apply(old)
        except FluxError as exc:
            self.log.error("config: a module refused its old config back:"
                           " {why}", why=exc)
        self.generation = generation
        try:
            await self._push(old, generation)
        except FluxError as exc:
            self.log.error("config: a follower refused its old config back:"
                           " {why}", why=exc)

    async def _push(self, config, generation):
        """Send ``config`` to every child; their warnings (a list)."""
        if self._router is None or not self._children:
            return []
        payload = {"config": config.as_dict(), "generation": generation}
        results = await defer.gatherResults(
            [defer.Deferred.fromCoroutine(self._update_child(child, payload))
             for child in self._children], consumeErrors=True
        ).addErrback(lambda f: f.value.subFailure)
        return [line for lines in results for line in lines]

    async def _update_child(self, child, payload):
        d = self._router.call("config.update", payload, nodeid=child,
                              cred=self._router.instance_cred)
        if self._reactor is not None and self._update_timeout:
            d.addTimeout(self._update_timeout, self._reactor)
        try:
            reply = await d
        except (HostUnreachable, NoSuchService):
            return []           # offline: it syncs when it joins
        except defer.TimeoutError:
            return [f"rank {child} did not answer the config update within"
                    f" {self._update_timeout:g}s (it applies it when it"
                    " catches up)"]
        except FluxError as exc:
            text = str(exc)
            if not text.startswith("rank "):
                text = f"rank {child}: {text}"
            raise from_errno(exc.errno, text) from None
        return list((reply or {}).get("warnings", []))

    # -- followers ------------------------------------------------------------

    async def _follower_reload(self):
        if self.path:
            try:
                self._loader(self.path)
            except FluxError as exc:
                self.log.error("config reload failed, keeping the old config:"
                               " {why}", why=exc)
                raise
        reply = await self._router.call("config.reload", nodeid=0,
                                        cred=self._router.instance_cred)
        return list((reply or {}).get("warnings", []))

    async def sync_from_leader(self):
        """The ``config-sync`` gate of a follower: take rank 0's config.

        A restart key whose value differs from this node's files is logged
        (this broker runs with its own value until its files agree).

        :returns: True (the config was synced).
        :raises fluxd.errors.FluxError: when rank 0 cannot be asked or a
            module refuses the config (the broker then stops).
        """
        delay = _RETRY_FIRST
        while True:
            try:
                reply = await self._router.call(
                    "config.sync", nodeid=0, cred=self._router.instance_cred)
                break
            except (HostUnreachable, NoSuchService):
                # the parent accepted us before its own way up to rank 0
                # (or rank 0's config service) is there: ask again
                if not self.running or self._reactor is None:
                    raise
                await task.deferLater(self._reactor, delay, lambda: None)
                delay = min(delay * 2, _RETRY_MAX)
        new = config_from_object(reply["config"])
        await self._lock.run(self._take, new, reply["generation"], True)
        return True

    async def _take(self, new, generation, syncing=False):
        """Apply a leader's config unless a newer one was applied."""
        if generation <= self.generation:
            return False
        if syncing:
            for key in restart_changes(self.config, new):
                self.log.warn("config-sync: {key} differs from the leader's;"
                              " this broker keeps the value of its own files"
                              " until they agree and it restarts", key=key)
        await self._apply(new)
        self.generation = generation
        return True

    # -- RPC ------------------------------------------------------------------

    @method("get", roles=ROLE_USER)
    def rpc_get(self, request):
        """The whole configuration table as written."""
        return self.config.as_dict()

    @method("checksum")
    def rpc_checksum(self, request):
        """This broker's files and clock, for ``flux preflight`` (owner
        only): ``{"system", "security", "imp": checksum or None, "time"}``,
        the checksums of the ``*.toml`` files on this node's disk in the
        config path and in ``security/conf.d`` and ``imp/conf.d`` beside
        it (not the live config, which followers take from rank 0)."""
        from fluxd.admin.install import tree_checksum
        top = os.path.dirname(os.path.dirname(self.path)) if self.path \
            else None
        reply = {"system": self.path and tree_checksum(self.path),
                 "security": top and tree_checksum(
                     os.path.join(top, "security/conf.d")),
                 "imp": top and tree_checksum(
                     os.path.join(top, "imp/conf.d"))}
        reply["time"] = (self._reactor.seconds() if self._reactor is not None
                         else time.time())
        return reply

    @method("reload")
    async def rpc_reload(self, request):
        """Reload from the config path (owner only); on a follower, check
        this broker's files and pass the reload on to rank 0."""
        return {"warnings": await self.reload()}

    @method("load")
    async def rpc_load(self, request):
        """Replace the config with the payload (owner only; followers pass
        it on to rank 0)."""
        if self.rank != 0:
            return await self._router.call("config.load", request.json(),
                                           nodeid=0, cred=request.cred)
        return {"warnings": await self.load(request.json())}

    @method("sync")
    def rpc_sync(self, request):
        """``{"config": TABLE, "generation": N}`` (followers in config-sync)."""
        return {"config": self.config.as_dict(), "generation": self.generation}

    @method("update")
    async def rpc_update(self, request):
        """A change from the parent: apply it, pass it on to the children,
        answer once the subtree has it (``{"warnings": [...]}``)."""
        body = request.json()
        generation = body.get("generation")
        if not isinstance(generation, int) or isinstance(generation, bool) \
                or not isinstance(body.get("config"), dict):
            raise InvalidArgument("config.update: expected config and"
                                  " generation")
        new = config_from_object(body["config"])
        applied = await self._lock.run(self._take, new, generation)
        if not applied:
            return {"warnings": []}
        return {"warnings": await self._push(new, generation)}
