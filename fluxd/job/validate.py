# -*- test-case-name: tests.unit.job.test_pipeline -*-
"""job-ingest's second stage: validator plugins (flux-core ``flux
job-validator``; spec/jobs.md section 2).

Built in (``[ingest.validator] plugins``, default ``["jobspec"]``):

``jobspec``
    flux-core's Python jobspec validator (``--require-version=1|any``,
    default 1).
``feasibility``
    asks the scheduler's ``feasibility.check`` with the submitter's
    credential; a missing service (ENOSYS) counts as success.
``require-instance``
    refuses jobs that do not start a Flux instance (``attributes.system.
    batch`` set, or a command ``flux broker``/``flux start``), optionally
    only from ``--require-instance-minnodes``/``-mincores`` (or the
    ``[ingest.validator.require-instance]`` keys) up.
``schema``
    the RFC 25 (jobspec V1) structure checks of flux-core's C validator
    (resource graph, types, unknown keys), stricter than ``jobspec``.

A validator returns None, ``(errnum, message)`` or, for one that must ask
another service, an awaitable of either; or raises ``ValueError``,
``TypeError`` or ``OSError``.  The messages of every failing validator of a
job are joined with ``", "`` and the largest errnum wins, as flux's
``ValidatorResult`` does.

A site validator is a Python file whose module defines ``Validator``:
``Validator(parser)``, ``configure(args)`` and ``validate(job)`` where
``job`` has ``jobspec``, ``userid``, ``flags`` and ``urgency``.

No Twisted import here (``--list-plugins``); the ``feasibility`` call
returns the router's Deferred, which the pipeline awaits.
"""

import errno
import os

from fluxd.formats.jobspec import JobspecError, counts, validate, \
    validate_v1_strict

__all__ = ["JobInfo", "JobspecValidator", "FeasibilityValidator",
           "RequireInstanceValidator", "SchemaValidator", "BUILTINS",
           "DEFAULT_PLUGINS"]

DEFAULT_PLUGINS = ("jobspec",)


class JobInfo:
    """What a validator sees of one job.

    :ivar jobspec: the (frobnicated) jobspec dict.
    :ivar userid: the submitter.
    :ivar flags: the submit flags.
    :ivar urgency: the requested urgency.
    :ivar cred: the submitter's credential (for calls made on its behalf).
    """

    __slots__ = ("jobspec", "userid", "flags", "urgency", "cred")

    def __init__(self, jobspec, userid, flags, urgency, cred=None):
        self.jobspec = jobspec
        self.userid = userid
        self.flags = flags
        self.urgency = urgency
        self.cred = cred

    def as_dict(self):
        """The ``{jobspec, userid, flags, urgency}`` object of flux's
        validator protocol."""
        return {"jobspec": self.jobspec, "userid": self.userid,
                "flags": self.flags, "urgency": self.urgency}


class JobspecValidator:
    """The ``jobspec`` plugin."""

    description = "Python bindings based jobspec validator"

    def __init__(self, parser):
        parser.add_argument("--require-version", metavar="V", default="1")
        self.version = 1

    def configure(self, args, config=None):
        """Take ``--require-version``.

        :raises ValueError: flux's messages for a bad version.
        """
        value = args.require_version
        if value == "any":
            self.version = None
            return
        try:
            version = int(value)
        except ValueError:
            raise ValueError("Invalid argument to --require-version") \
                from None
        if version < 1:
            raise ValueError(f"Required jobspec version too low: {value}"
                             " is < 1")
        if version > 1:
            raise ValueError(f"Required jobspec version too high: {value}"
                             " is > 1")
        self.version = 1

    def validate(self, job):
        """:raises JobspecError: the validator's message."""
        validate(job.jobspec, version=self.version)


class FeasibilityValidator:
    """The ``feasibility`` plugin.

    :ivar router: set by the pipeline: an object with ``call(topic,
        payload, cred=...)`` returning a Deferred.
    """

    description = "Use feasibility service to validate job"
    router = None

    def __init__(self, parser):
        pass

    def configure(self, args, config=None):
        """Nothing to configure."""

    async def validate(self, job):
        """Ask ``feasibility.check``; ENOSYS counts as success."""
        from fluxd.errors import FluxError
        try:
            await self.router.call("feasibility.check", job.as_dict(),
                                   cred=job.cred)
        except FluxError as exc:
            if exc.errno == errno.ENOSYS:
                return None
            return (exc.errno, str(exc))
        return None


class RequireInstanceValidator:
    """The ``require-instance`` plugin."""

    description = "Require that all jobs are new instances of Flux"

    def __init__(self, parser):
        parser.add_argument("--require-instance-minnodes", metavar="N",
                            type=int, default=-1)
        parser.add_argument("--require-instance-mincores", metavar="N",
                            type=int, default=-1)
        self.nnodes = self.ncores = 0

    def configure(self, args, config=None):
        """Thresholds from the config, overridden by the options; with
        only ``minnodes`` set, ``mincores`` is 16 per node (as flux, so
        that a cores-only request cannot slip through)."""
        table = ((config or {}).get("ingest", {}).get("validator", {})
                 .get("require-instance", {}))
        nnodes = table.get("minnodes", 0)
        ncores = table.get("mincores", 0)
        if args.require_instance_minnodes >= 0:
            nnodes = args.require_instance_minnodes
        if args.require_instance_mincores >= 0:
            ncores = args.require_instance_mincores
        if nnodes > 0 and ncores == 0:
            ncores = 16 * nnodes
        self.nnodes, self.ncores = nnodes, ncores

    @property
    def message(self):
        """flux-core 0.88's refusal text."""
        text = "Direct job submission disabled"
        if self.nnodes == 0 and self.ncores == 0:
            text += " for all jobs in this instance"
        else:
            text += " for jobs >="
            if self.nnodes > 0:
                text += f" {self.nnodes} nodes"
            if self.ncores > 0:
                if self.nnodes > 0:
                    text += " or"
                text += f" {self.ncores} cores"
        return text + ". Please use flux-batch(1) or flux-alloc(1)"

    def _small(self, jobspec):
        """True when the job is under both thresholds."""
        if self.nnodes == 0 and self.ncores == 0:
            return False
        c = counts(jobspec)
        if c.nnodes and c.nnodes >= self.nnodes:
            return False
        return not c.ncores >= self.ncores

    def validate(self, job):
        """Refuse a job that is not a new instance."""
        jobspec = job.jobspec
        if self._small(jobspec):
            return None
        if "batch" in jobspec["attributes"]["system"]:
            return None
        command = jobspec["tasks"][0]["command"]
        if len(command) > 1 and os.path.basename(command[0]) == "flux" \
                and command[1] in ("broker", "start"):
            return None
        return (errno.EINVAL, self.message)


class SchemaValidator:
    """The ``schema`` plugin (RFC 25 structure, strict)."""

    description = "Validate jobspec against the RFC 25 (V1) schema"

    def __init__(self, parser):
        pass

    def configure(self, args, config=None):
        """Nothing to configure."""

    def validate(self, job):
        """:raises JobspecError: the first structural problem."""
        validate_v1_strict(job.jobspec)


#: name -> class of the built-in validators
BUILTINS = {"jobspec": JobspecValidator,
            "feasibility": FeasibilityValidator,
            "require-instance": RequireInstanceValidator,
            "schema": SchemaValidator}

#: exceptions that become a job's error (as flux's validator catches)
ERRORS = (ValueError, TypeError, OSError, JobspecError, KeyError,
          IndexError)
