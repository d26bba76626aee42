# -*- test-case-name: tests.unit.cli.test_job_plugins -*-
"""``flux job-validator`` and ``flux job-frobnicator``: the plugins of
job-ingest's pipeline (spec/cli.md section 9).

``--list-plugins`` prints ``Available plugins:`` and one ``%-20s  %s``
line per built-in plugin.

``flux job-validator [--jobspec-only] [--plugins=LIST] [PLUGIN OPTIONS]``
is flux-core's test mode for site plugins: it validates one job per line
of standard input, a JSON ``{jobspec, userid, flags, urgency}`` object
(with ``--jobspec-only``, a bare jobspec, submitted as the caller with
urgency 16), and prints each result as flux does, ``{"errnum": 0}`` or
``{"errnum": N, "errstr": "..."}``.  With ``--jobspec-only`` the exit
code is 1 if any job failed; a line that is not such an object is a
one-line error (exit 1).  The ``feasibility`` plugin asks the instance
(``FLUX_URI``).  job-ingest itself runs the pipeline in-process
(:mod:`fluxd.job.pipeline`); the frobnicator offers ``--list-plugins``
only.

No Twisted import (the plugin modules are pure Python).
"""

import argparse
import errno
import inspect
import json
import os
import sys

from fluxd.errors import FluxError, InvalidArgument

__all__ = ["validator_main", "frobnicator_main", "validate_lines"]


def _list(kind, builtins, out):
    from fluxd.job._plugins import list_plugins
    out.write(list_plugins(builtins))
    return 0


class _Now:
    """An awaitable already done: the client's synchronous RPC for a
    plugin that awaits ``router.call``."""

    def __init__(self, fn):
        self._fn = fn

    def __await__(self):
        return self._fn()
        yield  # a generator that never suspends


class _Router:
    """``call(topic, payload, cred=)`` over the stdlib client."""

    def __init__(self):
        self._handle = None

    def call(self, topic, payload, cred=None):
        def rpc():
            if self._handle is None:
                from fluxd.client.sync import Flux
                self._handle = Flux()
            return self._handle.rpc(topic, payload)
        return _Now(rpc)

    def close(self):
        if self._handle is not None:
            self._handle.close()


def _settle(result):
    if inspect.isawaitable(result):
        try:
            result.send(None)
        except StopIteration as stop:
            return stop.value
        raise InvalidArgument("validator did not finish")
    return result


def validate_lines(argv, lines, out, router=None):
    """Validate each line of ``lines``; print the results to ``out``.

    :returns: the exit code.
    :raises InvalidArgument: a bad option, plugin or input line.
    """
    from fluxd.job import validate
    from fluxd.job._plugins import PluginArgumentError, parse_stage
    front = argparse.ArgumentParser(add_help=False)
    front.add_argument("--jobspec-only", action="store_true")
    first, rest = front.parse_known_args(argv)
    plugins, args = parse_stage("validator", rest, validate.BUILTINS,
                                validate.DEFAULT_PLUGINS, "Validator")
    router = router or _Router()
    for plugin in plugins:
        if isinstance(plugin, validate.FeasibilityValidator):
            plugin.router = router
        try:
            if type(plugin) in validate.BUILTINS.values():
                plugin.configure(args, {})
            else:
                plugin.configure(args)
        except (ValueError, TypeError, OSError) as exc:
            raise PluginArgumentError(str(exc)) from None
    rc = 0
    try:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            job = _job(line, first.jobspec_only, number)
            errnum, errstr = _validate(plugins, job, validate.ERRORS)
            result = {"errnum": errnum}
            if errnum:
                result["errstr"] = errstr
                if first.jobspec_only:
                    rc = 1
            out.write(json.dumps(result) + "\n")
            out.flush()
    finally:
        if isinstance(router, _Router):
            router.close()
    return rc


def _job(line, jobspec_only, number):
    from fluxd.job.validate import JobInfo
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise InvalidArgument(f"line {number}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"line {number}: expected a JSON object")
    if jobspec_only:
        return JobInfo(data, os.getuid(), 0, 16)
    missing = [k for k in ("jobspec", "userid", "flags", "urgency")
               if k not in data]
    if missing:
        raise InvalidArgument(f"line {number}: Missing keys: "
                              + ", ".join(missing))
    return JobInfo(data["jobspec"], data["userid"], data["flags"] or 0,
                   data["urgency"])


def _validate(plugins, job, errors):
    errnum, messages = 0, []
    for plugin in plugins:
        try:
            result = _settle(plugin.validate(job))
        except FluxError as exc:
            result = (exc.errno, str(exc))
        except errors as exc:
            result = (errno.EINVAL, str(exc))
        if result and result[0]:
            errnum = max(errnum, result[0])
            if result[1] and result[1] not in messages:
                messages.append(result[1])
    return errnum, ", ".join(messages)


def validator_main(argv, out=None, stdin=None):
    """``flux job-validator``."""
    from fluxd.job.validate import BUILTINS
    out = out or sys.stdout
    if "--list-plugins" in argv:
        return _list("validator", BUILTINS, out)
    return validate_lines(argv, stdin or sys.stdin, out)


def frobnicator_main(argv, out=None):
    """``flux job-frobnicator --list-plugins``."""
    from fluxd.job.frobnicate import BUILTINS
    parser = argparse.ArgumentParser(prog="flux-job-frobnicator")
    parser.add_argument("--list-plugins", action="store_true",
                        help="List available plugins and exit")
    args = parser.parse_args(argv)
    if not args.list_plugins:
        raise InvalidArgument(
            "fluxd runs the frobnicator plugins inside job-ingest; only"
            " --list-plugins is available")
    return _list("frobnicator", BUILTINS, out or sys.stdout)
