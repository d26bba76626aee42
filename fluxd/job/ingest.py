# -*- test-case-name: tests.unit.job.test_manager -*-
"""The ``job-ingest`` service: the front door of job submission (rank 0).

``job-ingest.submit`` takes one job (``{J, urgency, flags}``) or, in
fluxd, a batch (``{jobs: [...]}``, each job answered on its own).  For
each job it checks the caller (the J's signer must be the caller; the
``none`` mechanism and the ``waitable``/``novalidate`` flags are the
owner's alone; any other mechanism must be in ``[sign] allowed-types``
and its signature valid within ``max-ttl``, :mod:`fluxd.security.sign`,
checked off the reactor thread; guests may not ask for an urgency above
16), decodes and validates the jobspec in-process with flux's Python
validator rules (``--require-version=1``), gives it a FLUID, and hands
the batch to the job manager, which writes ``J``, ``jobspec`` (without the environment)
and the ``submit`` event of every job in one KVS commit.  Each submitter
gets its id only once that commit is durable.

Jobs submitted together are often copies of one J (``flux submit
--cc``, ``bulksubmit``): the outcome of decoding and validating the last
J seen is kept, and a job with the very same signed J, submitter,
urgency and flags (through the same configured pipeline, none of whose
validators had to ask another service) only has its caller checked
against the signer.

The FLUID generator resumes after the highest id the job manager knows
(including purged jobs, through its checkpoint), so an id is never
issued twice, even across a crash.
"""

import errno
import json
import time

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from fluxd.errors import FluxError, InvalidArgument, PermissionDenied
from fluxd.formats import fluid
from fluxd.formats.jobspec import JobspecError, load
from fluxd.interfaces import IJobSubmit, IReconfigurable, provide
from fluxd.job import jobs as J
from fluxd.job.pipeline import IngestPipeline
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module
from fluxd.security.sign import SignConfig, SignError, unwrap, verify

__all__ = ["IngestService"]

_KNOWN_FLAGS = J.FLAG_DEBUG | J.FLAG_WAITABLE | J.FLAG_NOVALIDATE
#: jobs one request may carry
MAX_BATCH = 10000


def redact(jobspec):
    """A copy of ``jobspec`` without ``attributes.system.environment``
    (only J keeps the environment, as in flux)."""
    attributes = jobspec.get("attributes")
    if not isinstance(attributes, dict):
        return jobspec
    system = attributes.get("system")
    if not isinstance(system, dict) or "environment" not in system:
        return jobspec
    system = {k: v for k, v in system.items() if k != "environment"}
    return dict(jobspec, attributes=dict(attributes, system=system))


@implementer(IReconfigurable)
class IngestService(Module):
    """``job-ingest`` on rank 0.

    :param manager: the job manager, an :class:`IJobSubmit`.
    :param wallclock: seconds since the epoch (submit timestamps).
    :param monotonic: a monotonic clock in seconds (the FLUID timestamp).
    :param generator_id: the FLUID generator id (rank 0: 0).
    :param config: the broker's :class:`fluxd.config.Config` (the
        ``[ingest]``, ``[policy]`` and ``[queues]`` pipeline,
        :mod:`fluxd.job.pipeline`); None: flux's defaults.
    :param router: the broker's router (``feasibility`` calls it).
    :param signing: the :class:`fluxd.security.sign.SignConfig` that
        checks J (None: single-user, mechanism ``none`` only).
    :param load_signing: returns a fresh ``SignConfig`` (re-reads the
        security config directory) on each reconfiguration (``flux
        config reload``, SIGHUP); raises ``SignError``.  None: ``signing``
        stays.
    :param blocking: ``blocking(fn, *args)`` runs ``fn`` off the reactor
        thread and returns a Deferred of its result (munge signatures are
        checked there, one munged round trip each); None runs it inline.
    """

    name = "job-ingest"
    log = Logger()

    def __init__(self, manager, wallclock=time.time,
                 monotonic=time.monotonic, generator_id=0, config=None,
                 router=None, signing=None, blocking=None,
                 load_signing=None):
        super().__init__(0)
        self._signing = signing or SignConfig.single_user()
        self._load_signing = None
        self._blocking = blocking or (
            lambda fn, *args: defer.maybeDeferred(fn, *args))
        self._router = router
        self._manager = provide(IJobSubmit, manager)
        self._wallclock = wallclock
        self.reconfigure(config)
        self._load_signing = load_signing
        self._monotonic = monotonic
        self._generator_id = generator_id
        self._fluids = None
        #: ((J, userid, urgency, flags, pipeline), (signer, mechanism,
        #: redacted, text, expires)) of the last job that passed the
        #: pipeline without calling out; the jobspec dicts are shared,
        #: never changed
        self._last = None
        self.stats = {"requests": 0, "jobs": 0, "rejected": 0}

    def startService(self):
        super().startService()
        last = self._manager.max_jobid
        start = fluid.timestamp(last) + 1 if last else 0
        self._fluids = fluid.FluidGenerator(self._generator_id, start,
                                            clock=self._monotonic)

    def reconfigure(self, config):
        """Rebuild the pipeline from ``config`` and re-read ``[sign]``
        from the security config directory (refused whole on error).

        :raises InvalidArgument: one line naming the problem.
        """
        table = config.as_dict() if config is not None else {}
        pipeline = IngestPipeline(table, self._router)
        signing = self._signing
        if self._load_signing is not None:
            try:
                signing = self._load_signing()
            except SignError as exc:
                raise InvalidArgument(str(exc)) from None
        self._pipeline, self._signing = pipeline, signing
        self._last = None

    # -- checks ----------------------------------------------------------------

    def _prepare(self, entry, cred, verified):
        if not isinstance(entry, dict):
            raise FluxError("job request must be an object", errnum=22)
        signed, urgency = entry.get("J"), entry.get("urgency", 16)
        flags = entry.get("flags", 0)
        if not isinstance(urgency, int) or isinstance(urgency, bool) \
                or not 0 <= urgency <= 31:
            raise InvalidArgument("urgency range is [0:31]")
        if not isinstance(flags, int) or isinstance(flags, bool) \
                or flags & ~_KNOWN_FLAGS:
            raise InvalidArgument("invalid submit flags")
        owner = cred.is_owner
        if not owner and urgency > J.URGENCY_GUEST_MAX:
            raise PermissionDenied("only the instance owner can submit with"
                                   " urgency >16")
        if not owner and flags & J.FLAG_WAITABLE:
            raise PermissionDenied("only the instance owner can submit with"
                                   " flags=waitable")
        if not owner and flags & J.FLAG_NOVALIDATE:
            raise PermissionDenied("only the instance owner can submit with"
                                   " flags=novalidate")
        key = (signed, cred.userid, urgency, flags, self._pipeline)
        last = self._last
        if last is not None and last[0] == key:
            signer, mechanism, redacted, text, expires = last[1]
            if expires is not None and expires < self._wallclock():
                raise SignError("sign-munge-verify: max-ttl exceeded")
        else:
            payload, signer, mechanism, expires = self._unwrap(signed,
                                                               verified)
        if signer != cred.userid:
            raise PermissionDenied(f"signer={signer} != requestor={cred.userid}")
        if mechanism == "none" and not owner:
            raise PermissionDenied("only instance owner can use sign-type=none")
        prepared = {"userid": cred.userid, "urgency": urgency, "flags": flags,
                    "J": signed}
        if last is not None and last[0] == key:
            prepared["jobspec"], prepared["jobspec_text"] = redacted, text
            return prepared
        try:
            jobspec = load(payload)
        except JobspecError as exc:
            raise InvalidArgument(f"jobspec: {exc}") from None
        if not isinstance(jobspec, dict):
            raise InvalidArgument("jobspec must be an object")
        waiting = self._pipeline.run(jobspec, cred.userid, urgency, flags,
                                     cred)
        redacted = redact(jobspec)
        text = json.dumps(redacted, separators=(",", ":"),
                          ensure_ascii=False).encode()
        prepared["jobspec"], prepared["jobspec_text"] = redacted, text
        if waiting is not None:
            prepared["waiting"] = waiting   # a validator asks another service
        else:
            # the same J, submitter, urgency and flags through the same
            # pipeline (copies from --cc): the same outcome, shared dicts
            self._last = (key, (signer, mechanism, redacted, text, expires))
        return prepared

    def _unwrap(self, signed, verified):
        """``(payload, signer, mechanism, expires)`` of a J: ``none`` is
        taken as written (the caller must be its owner, checked after),
        any other mechanism verified against ``[sign]`` (``verified``:
        the outcomes :meth:`_verify_many` found off the reactor)."""
        if signed in verified:
            outcome = verified[signed]
            if isinstance(outcome, SignError):
                raise outcome
            return outcome
        payload, signer, mechanism = unwrap(signed)
        if mechanism == "none":
            return payload, signer, mechanism, None
        details = {}
        payload, signer, mechanism = verify(signed, self._signing,
                                            now=self._wallclock,
                                            details=details)
        return payload, signer, mechanism, details["expires"]

    def _verify_many(self, signed):
        """Check each J of ``signed`` (off the reactor thread).

        :returns: ``{J: (payload, signer, mechanism, expires) | SignError}``.
        """
        outcomes = {}
        for text in signed:
            try:
                outcomes[text] = self._unwrap(text, {})
            except SignError as exc:
                outcomes[text] = exc
        return outcomes

    def _to_verify(self, entries):
        """The distinct J of ``entries`` whose signature needs munged."""
        last = self._last[0][0] if self._last is not None else None
        found = {}
        for entry in entries:
            signed = entry.get("J") if isinstance(entry, dict) else None
            if isinstance(signed, str) and signed != last \
                    and not signed.endswith(".none"):
                found[signed] = None
        return list(found)

    async def _settle(self, prepared, answers):
        """Await the validators that called out; drop refused jobs."""
        # started together: one feasibility RPC per job, all in flight
        for _, p in prepared:
            if "waiting" in p:
                p["waiting"] = defer.ensureDeferred(p["waiting"])
        kept = []
        for i, p in prepared:
            waiting = p.pop("waiting", None)
            try:
                if waiting is not None:
                    await waiting
            except FluxError as exc:
                answers[i] = {"errnum": exc.errno, "errstr": str(exc)}
                self.stats["rejected"] += 1
                continue
            kept.append((i, p))
        return kept

    # -- RPC ---------------------------------------------------------------------

    @method("submit", roles=ROLE_USER)
    async def rpc_submit(self, request):
        """``{J, urgency, flags}`` -> ``{id}``; ``{jobs: [...]}`` ->
        ``{jobs: [{id} | {errnum, errstr}]}``."""
        body = request.json()
        batch = "jobs" in body
        entries = body["jobs"] if batch else [body]
        if not isinstance(entries, list) or not entries:
            raise InvalidArgument("jobs must be a non-empty list")
        if len(entries) > MAX_BATCH:
            raise InvalidArgument(f"at most {MAX_BATCH} jobs per request")
        self.stats["requests"] += 1
        self._manager.check_submit()
        answers = [None] * len(entries)
        prepared = []
        verified = {}
        signed = self._to_verify(entries)
        if signed:
            verified = await self._blocking(self._verify_many, signed)
        now = self._wallclock()
        for i, entry in enumerate(entries):
            try:
                p = self._prepare(entry, request.cred, verified)
                self._manager.check_job(p)
            except FluxError as exc:
                answers[i] = {"errnum": exc.errno, "errstr": str(exc)}
                self.stats["rejected"] += 1
                continue
            prepared.append((i, p))
        if any("waiting" in p for _, p in prepared):
            prepared = await self._settle(prepared, answers)
        for i, p in prepared:
            p["id"] = self._fluids.next()
            p["t_submit"] = now
        if prepared:
            rejected = await defer.maybeDeferred(
                self._manager.submit, [p for _, p in prepared]) or {}
            self.stats["jobs"] += len(prepared)
            for i, p in prepared:
                answers[i] = {"id": p["id"]}
                if p["id"] in rejected:  # by a jobtap plugin
                    answers[i] = {"errnum": errno.EINVAL,
                                  "errstr": rejected[p["id"]]}
                    self.stats["rejected"] += 1
        if batch:
            return {"jobs": answers}
        answer = answers[0]
        if "errnum" in answer:
            raise FluxError(answer["errstr"], errnum=answer["errnum"])
        return answer
