# -*- test-case-name: tests.unit.resource.test_service -*-
"""The ``resource`` service: an instance's resources and node states
(flux-core's resource module; RFC 20 R, RFC 22 idsets, RFC 44 events).

Every broker runs one.  Each knows the instance R when it is configured
(``[[resource.config]]`` or ``resource.path``, see
:mod:`fluxd.resource._inventory`) and checks its own share of it against
its node when it joins: a broker short of configured cores drains itself
with the reason (unless ``resource.noverify``).  With nothing configured
each broker describes its own node and reports it to rank 0
(``resource.topo-report``), which assembles the instance R once every
rank has reported.

Rank 0 holds the instance state:

* R, committed to ``resource.R`` and announced by a ``resource-define``
  event;
* the excluded ranks (``resource.exclude``), the drained ranks with
  reason and time (:mod:`fluxd.resource._drain`, rebuilt at start from
  ``resource.eventlog`` so drains survive a restart of an instance with
  a ``statedir``), and the online and torpid ranks the overlay reports;
* the eventlog and journal (:mod:`fluxd.resource._reslog`).

Methods: ``status`` and ``sched-status`` (the system and scheduler views
``flux resource`` renders; any user), ``drain``, ``undrain``,
``journal`` (streaming), ``acquire`` (streaming, RFC 28: the scheduler's
resources and their up/down changes, :mod:`fluxd.resource._acquire`) and
``topo-report`` (owner only).  Followers pass
``status``, ``sched-status``, ``drain`` and ``undrain`` on to rank 0.
"""

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fluxd.errors import (
    FluxError, HostUnreachable, InvalidArgument, NoSuchService, NotFound,
    ProtocolError)
from fluxd.formats.hostlist import Hostlist
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import RError, Rv1
from fluxd.interfaces import (
    IOverlayStatus, IReconfigurable, IRouter, provide)
from fluxd.storage import treeobj as T
from fluxd.kvs.namespaces import PRIMARY
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module
from fluxd.resource._acquire import Acquirers
from fluxd.resource._drain import DRAIN_MODES, DrainState
from fluxd.resource._inventory import (
    configured_R, discover_local, exclude_ranks, hostnames_of,
    targets_to_ranks, verify_modes, verify_share)
from fluxd.resource._reslog import ResourceLog

__all__ = ["ResourceService", "build_resource"]

#: retry delays (seconds) for RPCs to rank 0 sent before it can serve them
_RETRY_FIRST, _RETRY_MAX = 0.05, 1.0


def _optional_str(body, key):
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ProtocolError(f"{key} must be a string")
    return value


@implementer(IReconfigurable)
class ResourceService(Module):
    """The resource service of one broker.

    :param reactor: IReactorTime (timestamps, retries).
    :param rank: this broker's rank; ``size`` the instance size.
    :param router: the broker router (KVS, job manager and rank 0 RPCs).
    :param hostlist: the instance hostnames, in rank order (the broker
        ``hostlist`` attribute).
    :param rset: the configured instance R, or None to discover it.
    :param local: this broker's node as a one-rank R (discovered).
    :param exclude: the excluded ranks (rank 0).
    :param verify: verification modes, or None for no verification.
    :param overlay: the broker's overlay (online/torpid ranks, parent
        link); None on a lone broker.
    :param force_up: ``resource.monitor-force-up``: every rank counts as
        online from the start (the ``restart`` event says so), whether a
        broker runs for it or not, until its broker is seen to leave.
    """

    name = "resource"
    log = Logger()

    def __init__(self, reactor, rank, size, router, hostlist, *, rset=None,
                 local=None, exclude=None, verify=None, overlay=None,
                 force_up=False):
        super().__init__(rank)
        self.reactor = reactor
        self.size = size
        self.router = provide(IRouter, router)
        self.hostlist = list(hostlist)
        self.rset = rset
        self.method = None
        self.local = local
        self.exclude = IDset(exclude or "")
        self.verify = verify
        self.overlay = provide(IOverlayStatus, overlay) if overlay is not None \
            else None
        self.drain = DrainState(size)
        self.reslog = ResourceLog(router, reactor, self._encoded_R)
        self.acquirers = Acquirers(self._usable, self._usable_ranks,
                                   self._down)
        self._reports = {}
        self._saved = None
        self._defined = None if rank else defer.Deferred()
        self._posted = {"online": IDset(), "torpid": IDset()}
        self.force_up = force_up
        #: ranks whose broker was seen online, then gone (forced up no
        #: more); the overlay's online set last seen
        self._gone = IDset()
        self._seen = IDset()
        self._background = []
        self._waiters = []

    # -- lifecycle ------------------------------------------------------------

    def startService(self):
        super().startService()
        if self.rank == 0:
            return defer.Deferred.fromCoroutine(self._start_leader())
        self._spawn(self._start_follower())
        return None

    def stopService(self):
        super().stopService()
        for d in list(self._background):
            d.cancel()
        self.reslog.close()
        self.acquirers.close()
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.errback(NoSuchService("resource service is stopping"))

    def _spawn(self, coro):
        d = defer.Deferred.fromCoroutine(coro)
        self._background.append(d)

        def done(result):
            self._background.remove(d)
            if isinstance(result, Failure) and \
                    not result.check(defer.CancelledError):
                self.log.failure("resource: background task failed", result)
        d.addBoth(done)
        return d

    async def _start_leader(self):
        entries = await self.reslog.load()
        self.drain.replay(entries, self.hostlist)
        # forced up ranks are online in the restart event itself
        forced = IDset(range(self.size)) if self.force_up else IDset()
        self._posted["online"] = forced
        await self.reslog.post("restart", {
            "ranks": IDset(range(self.size)).encode(),
            "online": forced.encode(),
            "nodelist": Hostlist(self.hostlist).encode()})
        stale = self.drain.drained() & self.exclude
        if stale:
            # excluding a node clears its drain, for good
            self.drain.undrain(stale)
            await self.reslog.post("undrain", {
                "idset": stale.encode(), "nodelist": self._nodelist(stale)})
        reason = self._check_share()
        if reason is not None:
            await self._drain_self(reason)
        self._saved = await self._saved_R()
        if self.rset is not None:
            await self._define(self.rset, "configuration")
        elif self._saved is not None and \
                self._saved.ranks() == IDset(range(self.size)):
            await self._define(self._saved, "kvs")
        else:
            self._add_report(0, self.local)
        if self.overlay is not None:
            self.overlay.on_membership(self._membership)
        self._membership()

    async def _start_follower(self):
        if self.overlay is not None:
            await self.overlay.parent_ready()
        reason = self._check_share()
        if reason is not None:
            try:
                await self._call_leader("resource.drain", {
                    "targets": str(self.rank), "reason": reason,
                    "mode": "update"})
            except FluxError as exc:
                self.log.error("resource: cannot drain rank {rank}: {err}",
                               rank=self.rank, err=exc)
        if self.rset is None:
            await self._call_leader("resource.topo-report", {
                "rank": self.rank, "R": self.local.encode()})

    async def _call_leader(self, topic, payload):
        """An RPC to rank 0, retried while rank 0 cannot serve it yet (its
        resource service may start after our overlay link is up)."""
        delay = _RETRY_FIRST
        while True:
            try:
                return await self.router.call(topic, payload, nodeid=0,
                                              cred=self.router.instance_cred)
            except (NoSuchService, HostUnreachable):
                await task.deferLater(self.reactor, delay, lambda: None)
                delay = min(delay * 2, _RETRY_MAX)

    # -- configuration --------------------------------------------------------

    async def reconfigure(self, config):
        """``flux config reload``: rank 0 follows ``resource.exclude``
        (nodes newly excluded lose their drain, as at start); the other
        ``[resource]`` keys take a restart (the config service refuses
        their change)."""
        if self.rank != 0:
            return
        names = hostnames_of(self.rset) if self.rset is not None \
            else dict(enumerate(self.hostlist))
        exclude = exclude_ranks(config.get("resource.exclude", None), names,
                                self.size)
        if exclude == self.exclude:
            return
        self.log.info("resource: exclude {old} -> {new}",
                      old=self.exclude.encode() or "(none)",
                      new=exclude.encode() or "(none)")
        self.exclude = exclude
        stale = self.drain.drained() & exclude
        if stale:
            self.drain.undrain(stale)
            await self.reslog.post("undrain", {
                "idset": stale.encode(), "nodelist": self._nodelist(stale)})

    # -- inventory ------------------------------------------------------------

    def _check_share(self):
        """Verify this broker's share of a configured R; the drain reason
        when short, else None."""
        if self.rset is None or self.verify is None or self.local is None:
            return None
        reason, note = verify_share(self.rset, self.local, self.verify)
        if note is not None:
            self.log.info("resource: verify: {note}", note=note)
        if reason is not None:
            self.log.error("resource: draining: {reason}", reason=reason)
        return reason

    async def _drain_self(self, reason):
        """Rank 0 drains itself (update mode: an earlier reason stays)."""
        if 0 in self.exclude:
            return
        now = self.reactor.seconds()
        self.drain.drain([0], now, reason, 0)
        await self.reslog.post("drain", {
            "idset": "0", "nodelist": self._nodelist(IDset([0])),
            "reason": reason, "overwrite": 0}, timestamp=now)
        self.acquirers.changed()

    async def _saved_R(self):
        """``resource.R`` of an earlier run of this instance, or None.

        Without configured resources flux-core reuses it, when it fits the
        instance, instead of discovering again; it is rewritten only when
        the new R differs."""
        try:
            answer = await self.router.call(
                "kvs.lookup", {"key": "resource.R", "namespace": PRIMARY,
                               "flags": 0}, cred=self.router.instance_cred)
            saved = Rv1.decode(T.decode_val(answer["val"]).rstrip(b"\0"))
        except NotFound:
            return None
        except (RError, FluxError) as exc:
            self.log.warn("resource: ignoring resource.R: {err}", err=exc)
            return None
        return saved

    def _add_report(self, rank, rset):
        self._reports[rank] = rset
        if self.rset is None and len(self._reports) == self.size:
            whole = Rv1()
            for r in sorted(self._reports):
                whole.append(self._reports[r])
            self.rset = whole
            self._spawn(self._define(whole, "dynamic-discovery"))

    async def _define(self, rset, method):
        self.rset = rset
        self.method = method
        self.stats.update(method=method, nodes=len(rset))
        if self._saved is None or self._saved.encode() != rset.encode():
            value = T.create_val(rset.dumps().encode("utf-8"))
            await self.router.call("kvs.commit", {
                "namespace": PRIMARY, "flags": 0,
                "ops": [{"key": "resource.R", "flags": 0, "dirent": value}]},
                cred=self.router.instance_cred)
        await self.reslog.post("resource-define", {"method": method})
        self.log.info("resource: {n} nodes defined by {method}",
                      n=len(rset), method=method)
        if not self._defined.called:
            self._defined.callback(rset)

    def _encoded_R(self):
        return self.rset.encode() if self.rset is not None else None

    def when_defined(self):
        """A Deferred firing with the instance R once rank 0 knows it."""
        if self.rset is not None and self._defined.called:
            return defer.succeed(self.rset)
        d = defer.Deferred()
        self._waiters.append(d)

        def fire(rset):
            if d in self._waiters:
                self._waiters.remove(d)
                d.callback(rset)
            return rset
        self._defined.addCallback(fire)
        return d

    # -- node states ----------------------------------------------------------

    def online(self):
        """:returns: the online ranks (rank 0's view), those forced up
        (``resource.monitor-force-up``) included."""
        now = IDset([self.rank]) if self.overlay is None \
            else self.overlay.online_ranks()
        if not self.force_up:
            return now
        # every rank of the instance and of R, but a broker seen online
        # then gone is down
        self._gone = (self._gone | (self._seen - now)) - now
        self._seen = now
        return now | (self._all_ranks() - self._gone)

    def torpid(self):
        """:returns: the torpid ranks (rank 0's view)."""
        if self.overlay is None:
            return IDset()
        return self.overlay.torpid_ranks()

    def _all_ranks(self):
        ranks = IDset(range(self.size))
        if self.rset is not None:
            ranks |= self.rset.ranks()
        return ranks

    def _membership(self):
        """Post ``online``/``offline`` and ``torpid``/``lively`` events for
        what changed since the last call."""
        for key, now, join, leave in (
                ("online", self.online(), "online", "offline"),
                ("torpid", self.torpid(), "torpid", "lively")):
            before = self._posted[key]
            self._posted[key] = now
            for name, ids in ((join, now - before), (leave, before - now)):
                if ids:
                    d = self.reslog.post(name, {"idset": ids.encode()})
                    d.addErrback(lambda f: self.log.failure(
                        "resource: posting an event failed", f))
        self.acquirers.changed()

    def _nodelist(self, ids):
        return Hostlist([self.hostlist[r] for r in ids
                         if r < len(self.hostlist)]).encode()

    def _hostnames(self):
        return hostnames_of(self.rset) if self.rset is not None else None

    def status_payload(self):
        """The ``resource.status`` response (R must be defined)."""
        online = self.online()
        return {"R": self.rset.encode(), "online": online.encode(),
                "offline": (self._all_ranks() - online).encode(),
                "exclude": self.exclude.encode(),
                "torpid": self.torpid().encode(),
                "drain": self.drain.info()}

    def _usable(self):
        """The instance R without the excluded ranks (R must be defined)."""
        return self.rset.exclude_ranks(self.exclude)

    def _usable_ranks(self):
        return self.rset.ranks() - self.exclude

    def _down(self):
        """The ranks no job may use now: offline, drained or torpid."""
        return (self._all_ranks() - self.online()) | self.drain.drained() \
            | self.torpid()

    def sched_payload(self, allocated=None):
        """The ``resource.sched-status`` response: ``all`` (R without the
        excluded ranks and the scheduling key), ``down`` (offline, drained
        or torpid) and ``allocated``."""
        usable = self._usable()
        usable.scheduling = None
        down = self._down()
        if allocated is None:
            allocated = Rv1()
        for name, ranks in usable.properties().items():
            held = ranks & allocated.ranks()
            if held:
                allocated.set_property(name, held)
        return {"all": usable.encode(),
                "down": usable.copy_ranks(down & usable.ranks()).encode(),
                "allocated": allocated.encode()}

    # -- RPC ------------------------------------------------------------------

    def _forward(self, request):
        """Followers: pass the request to rank 0 with the caller's creds."""
        return self.router.call(request.message.topic, request.json(),
                                nodeid=0, cred=request.cred)

    @method("status", roles=ROLE_USER)
    async def rpc_status(self, request):
        """``resource.status`` -> ``{R, online, offline, exclude, torpid,
        drain}`` (waits until R is known)."""
        if self.rank != 0:
            return await self._forward(request)
        await self.when_defined()
        return self.status_payload()

    @method("sched-status", roles=ROLE_USER)
    async def rpc_sched_status(self, request):
        """``resource.sched-status`` -> ``{all, down, allocated}``; the
        allocated set is the scheduler's (``sched.resource-status``), or
        the job manager's (``job-manager.resource-status``) when no
        scheduler runs, else empty."""
        if self.rank != 0:
            return await self._forward(request)
        await self.when_defined()
        allocated = None
        for topic in ("sched.resource-status", "job-manager.resource-status"):
            try:
                answer = await self.router.call(
                    topic, cred=self.router.instance_cred)
                allocated = Rv1.decode(answer["allocated"]) \
                    if answer.get("allocated") else None
                break
            except NoSuchService:
                continue  # not loaded (or not ready): the next one
            except (FluxError, KeyError, TypeError, RError) as exc:
                raise InvalidArgument(f"{topic} request failed: {exc}") \
                    from None
        return self.sched_payload(allocated)

    def _targets(self, body):
        """The request's ``targets`` as checked ranks."""
        targets = body.get("targets")
        if not isinstance(targets, str):
            raise ProtocolError("targets must be a string")
        ids = targets_to_ranks(targets, self._hostnames())
        self.drain.check_range(ids)
        return ids

    @method("drain")
    async def rpc_drain(self, request):
        """``resource.drain {targets, reason?, mode?}``: answered once the
        drain event is committed to ``resource.eventlog``."""
        if self.rank != 0:
            return await self._forward(request)
        body = request.json()
        reason = _optional_str(body, "reason")
        mode = _optional_str(body, "mode")
        ids = self._targets(body)
        self.drain.check_drain(ids, self.exclude, mode)
        overwrite = DRAIN_MODES[mode]
        now = self.reactor.seconds()
        self.drain.drain(ids, now, reason, overwrite)
        context = {"idset": ids.encode(), "nodelist": self._nodelist(ids)}
        if reason is not None:
            context["reason"] = reason
        context["overwrite"] = overwrite
        await self.reslog.post("drain", context, timestamp=now)
        self.acquirers.changed()
        return None

    @method("undrain")
    async def rpc_undrain(self, request):
        """``resource.undrain {targets, reason?, mode?}`` (mode ``force``
        skips targets that are not drained)."""
        if self.rank != 0:
            return await self._forward(request)
        body = request.json()
        reason = _optional_str(body, "reason")
        mode = _optional_str(body, "mode")
        ids = self.drain.check_undrain(self._targets(body), mode)
        if not ids:
            return None
        self.drain.undrain(ids)
        context = {"idset": ids.encode(), "nodelist": self._nodelist(ids)}
        if reason is not None:
            context["reason"] = reason
        await self.reslog.post("undrain", context)
        self.acquirers.changed()
        return None

    @method("journal", streaming=True)
    def rpc_journal(self, request):
        """``resource.journal`` (streaming): the events so far, an empty
        end-of-backlog response, then each new event."""
        if self.rank != 0:
            raise ProtocolError("this RPC only works on rank 0")
        return self.reslog.add_consumer(request)

    @method("acquire", streaming=True)
    async def rpc_acquire(self, request):
        """``resource.acquire`` (RFC 28, streaming, owner only): R without
        the excluded ranks with the up and down ranks once R is known, then
        one ``{up}`` or ``{down}`` response per change."""
        if self.rank != 0:
            raise ProtocolError("this RPC only works on rank 0")
        await self.when_defined()
        if request.done:
            return None  # cancelled while R was being assembled
        return await self.acquirers.add(request)

    @method("topo-report")
    def rpc_topo_report(self, request):
        """``resource.topo-report {rank, R}``: a follower's node, when
        rank 0 assembles the instance R by discovery."""
        if self.rank != 0:
            raise ProtocolError("this RPC only works on rank 0")
        body = request.json()
        rank = body.get("rank")
        if not isinstance(rank, int) or not 0 <= rank < self.size:
            raise ProtocolError("topo-report: rank is missing or out of range")
        try:
            rset = Rv1.decode(body.get("R"))
        except RError as exc:
            raise ProtocolError(f"topo-report: {exc}") from None
        if rset.ranks() != IDset([rank]):
            raise ProtocolError(f"topo-report: R must describe rank {rank}")
        if self.rset is None:
            self._add_report(rank, rset)
        return {}


def build_resource(reactor, config, attrs, router, overlay=None,
                   discover=discover_local):
    """The resource service of one broker, from its config and attributes.

    :param config: the broker :class:`fluxd.config.Config`.
    :param attrs: the broker attributes (``rank``, ``size``, ``hostname``,
        ``hostlist``).
    :param overlay: the :class:`fluxd.overlay.service.OverlayService`, or
        None on a lone broker.
    :param discover: ``discover(rank, hostname, norestrict=...)`` -> this
        node's one-rank R (a parameter for tests).
    :returns: a :class:`ResourceService`, not started.
    :raises InvalidArgument: for an unusable ``[resource]`` table, named
        in one line, before the broker starts.
    """
    rank = int(attrs.get("rank"))
    size = int(attrs.get("size"))
    hosts = attrs.get("hostlist")
    hostlist = list(Hostlist(hosts))
    rset = configured_R(config, hosts, rank)
    local = discover(rank, attrs.get("hostname"),
                     norestrict=bool(config.get("resource.norestrict", False)))
    exclude = IDset()
    if rank == 0:
        names = hostnames_of(rset) if rset is not None \
            else dict(enumerate(hostlist))
        exclude = exclude_ranks(config.get("resource.exclude", None), names,
                                size)
    forced = attrs.get_default("resource.monitor-force-up") is not None
    return ResourceService(reactor, rank, size, router, hostlist, rset=rset,
                           local=local, exclude=exclude,
                           verify=verify_modes(config), overlay=overlay,
                           force_up=forced)
