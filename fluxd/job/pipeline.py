# -*- test-case-name: tests.unit.job.test_pipeline -*-
"""job-ingest's pipeline, in-process: frobnicators and validators
(spec/jobs.md sections 2 and 2.1; the guide's "Adding Job Request
Validation" and "Policy Limits").

For each job, in flux-core's order:

1. the frobnicators (``[ingest.frobnicator]``; the stage runs when its
   ``plugins`` are configured or the config has
   ``policy.jobspec.defaults`` or ``[queues]``, unless ``disable``);
2. the validators (``[ingest.validator]``; skipped with ``disable`` or
   the owner's ``novalidate`` flag): every one runs, their messages are
   joined with ``", "``.

Then the job manager's ``job.validate`` jobtap plugins check the policy
limits and the instance's lifetime (``.limit-job-size``,
``.limit-duration``, ``.validate-duration``); their config is checked
here too (:func:`check_config`), so that a bad limit refuses the config
before the job manager sees it.

A refusal raises :class:`~fluxd.errors.FluxError` with flux's message;
nothing of the job is kept.  Validators that ask another service
(``feasibility``) make :meth:`IngestPipeline.run` return an awaitable;
the others run synchronously, so a batch costs no Deferred per job.

No Twisted import: the ``flux`` CLI and the config checks import this.
"""

import errno
import inspect

from fluxd.errors import FluxError
from fluxd.job import frobnicate, limits, validate
from fluxd.job._plugins import PluginArgumentError, parse_stage, stage_argv

__all__ = ["IngestPipeline", "check_config"]

_NOVALIDATE = 8


def _frob_needed(config, table):
    if table.get("disable"):
        return False
    if "plugins" in table or "args" in table:
        return True
    defaults = (config.get("policy", {}) or {}).get("jobspec", {})
    return bool(defaults.get("defaults")) or bool(config.get("queues"))


class IngestPipeline:
    """The configured pipeline of one broker.

    :param config: the instance config as a dict.
    :param router: what ``feasibility`` calls through (``call(topic,
        payload, cred=...)``); None where no validator calls out.
    :raises PluginArgumentError: a bad plugin list, argument or value, in
        one line.
    """

    def __init__(self, config, router=None):
        ingest = config.get("ingest", {}) or {}
        ftable = ingest.get("frobnicator", {}) or {}
        vtable = ingest.get("validator", {}) or {}
        self.frobnicators = []
        if _frob_needed(config, ftable):
            self.frobnicators, args = parse_stage(
                "frobnicator", stage_argv(ftable), frobnicate.BUILTINS,
                frobnicate.DEFAULT_PLUGINS, "Frobnicator")
            for plugin in self.frobnicators:
                self._configure(plugin.configure, args, config)
        self.validators = []
        if not vtable.get("disable"):
            self.validators, args = parse_stage(
                "validator", stage_argv(vtable), validate.BUILTINS,
                validate.DEFAULT_PLUGINS, "Validator")
            for plugin in self.validators:
                if isinstance(plugin, validate.FeasibilityValidator):
                    plugin.router = router
                builtin = type(plugin) in validate.BUILTINS.values()
                self._configure(plugin.configure, args,
                                config if builtin else None)
        try:
            limits.PolicyLimits(config)     # checked by the job manager
        except ValueError as exc:
            raise PluginArgumentError(str(exc)) from None

    @staticmethod
    def _configure(configure, args, config):
        try:
            if config is None:
                configure(args)
            else:
                configure(args, config)
        except (ValueError, TypeError, OSError) as exc:
            raise PluginArgumentError(str(exc)) from None

    # -- per job ----------------------------------------------------------------

    def run(self, jobspec, userid, urgency, flags, cred=None):
        """Frobnicate ``jobspec`` in place and validate it.

        :returns: None when done, or an awaitable (some validator asks
            another service) that completes the checks.
        :raises FluxError: the refusal (EINVAL unless a validator said
            otherwise), in flux's words.
        """
        for plugin in self.frobnicators:
            try:
                plugin.frob(jobspec, userid, urgency, flags)
            except validate.ERRORS as exc:
                raise FluxError(str(exc), errnum=errno.EINVAL) from None
        if self.validators and not flags & _NOVALIDATE:
            job = validate.JobInfo(jobspec, userid, flags, urgency, cred)
            results, waiting = [], []
            for plugin in self.validators:
                try:
                    result = plugin.validate(job)
                except validate.ERRORS as exc:
                    result = (errno.EINVAL, str(exc))
                if inspect.isawaitable(result):
                    waiting.append(result)
                else:
                    results.append(result)
            if waiting:
                return self._finish(results, waiting)
            self._verdict(results)
        return None

    async def _finish(self, results, waiting):
        for result in waiting:
            try:
                results.append(await result)
            except validate.ERRORS as exc:
                results.append((errno.EINVAL, str(exc)))
        self._verdict(results)

    @staticmethod
    def _verdict(results):
        """Join the validators' results as flux's ``ValidatorResult``."""
        errnum, messages = 0, []
        for result in results:
            if not result or not result[0]:
                continue
            errnum = max(errnum, result[0])
            if result[1] and result[1] not in messages:
                messages.append(result[1])
        if errnum:
            raise FluxError(", ".join(messages), errnum=errnum)


def check_config(root):
    """Check the ``[ingest]``, ``[policy]`` and ``[queues]`` settings as
    job-ingest will read them (plugins found, arguments parsed, limits).

    :param root: the whole config as a dict.
    :returns: None, or ``(path, message)`` for the first problem.
    """
    try:
        IngestPipeline(root)
    except PluginArgumentError as exc:
        message = str(exc)
        if message.startswith(("policy.", "queues.")):
            return [], message
        return ["ingest"], message
    return None
