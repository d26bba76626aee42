# -*- test-case-name: tests.unit.cli.test_submit -*-
"""What ``flux submit``, ``flux bulksubmit`` and ``flux run`` share.

- :class:`CommandEnv`: the streams, environment and broker connection of
  one command, injectable for tests;
- :func:`parse_flags`, :func:`encode_job`: submit flags and the signed J
  (RFC 39, mechanism ``none``);
- :class:`Submitter`: sends jobs to ``job-ingest.submit``, one request for
  a single job and batches of up to :data:`BATCH_JOBS` jobs (several in
  flight at once) for many, returning each job's id or error in order;
- :func:`substitute` and :data:`MUTABLE_ARGS`: the ``{cc}``, ``{seq}``,
  ``{0}``... replacement flux-core's ``Xcmd`` applies to the command and
  options of each copy of a job.

No Twisted: these run in the ``flux`` command.
"""

import os
import sys
from collections import deque
from itertools import chain

from fluxd.errors import FluxError, InvalidArgument, ProtocolError, from_errno

__all__ = [
    "CommandEnv", "FLAGS", "parse_flags", "encode_job", "Submitter",
    "MUTABLE_ARGS", "substitute", "describe", "error_text", "log",
]

#: ``--flags`` names (RFC 41 / ``flux_job_submit``)
FLAGS = {"debug": 2, "waitable": 4, "novalidate": 8}

#: jobs per ``job-ingest.submit`` batch request, and bytes of J per batch
BATCH_JOBS = 256
BATCH_BYTES = 4 << 20
#: batch requests in flight at once
WINDOW = 4

#: options flux-core's bulksubmit/--cc substitute into, with the option
#: text its ``bulksubmit: submit`` lines show
MUTABLE_ARGS = {
    "queue": "-q", "ntasks": "-n", "nodes": "-N", "cores_per_task": "-c",
    "gpus_per_task": "-g", "cores": "--cores=",
    "tasks_per_node": "--tasks-per-node=",
    "tasks_per_core": "--tasks-per-core=",
    "gpus_per_node": "--gpus-per-node=", "time_limit": "-t",
    "env": "--env=", "urgency": "--urgency=", "setopt": "-o ",
    "setattr": "--setattr=", "job_name": "--job-name=", "input": "--input=",
    "output": "--output=", "error": "--error=", "cc": "--cc=",
    "bcc": "--bcc=", "log": "--log=", "log_stderr": "--log-stderr=",
    "dependency": "--dependency=", "taskmap": "--taskmap=",
    "requires": "--requires=", "wait": "--wait-event=",
}


class CommandEnv:
    """Streams, environment and broker connection of one command.

    :param stdin: text stream (default ``sys.stdin``).
    :param stdout: text stream (default ``sys.stdout``).
    :param stderr: text stream (default ``sys.stderr``).
    :param environ: the caller's environment (default ``os.environ``).
    :param connect: callable returning a broker handle (default
        :class:`fluxd.client.sync.Flux`).
    :param cwd: the working directory jobs get (default ``os.getcwd()``).
    :param getrlimit: ``resource.getrlimit`` for the rlimit shell option.
    :param userid: the submitting user (default ``os.getuid()``).
    """

    def __init__(self, stdin=None, stdout=None, stderr=None, environ=None,
                 connect=None, cwd=None, getrlimit=None, userid=None):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.environ = os.environ if environ is None else environ
        self._connect = connect
        self.cwd = cwd
        self.getrlimit = getrlimit
        self.userid = os.getuid() if userid is None else userid
        self._handle = None

    def handle(self):
        """The broker connection, opened on first use."""
        if self._handle is None:
            if self._connect is None:
                from fluxd.client.sync import Flux
                self._handle = Flux()
            else:
                self._handle = self._connect()
        return self._handle

    def connect(self):
        """A new broker connection of its own (the caller closes it)."""
        if self._connect is None:
            from fluxd.client.sync import Flux
            return Flux()
        return self._connect()

    def close(self):
        """Close the connection if one was opened."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def parser(self, **kwargs):
        """An ``argparse.ArgumentParser`` that writes usage, help and
        errors to this command's streams."""
        import argparse
        env = self

        class Parser(argparse.ArgumentParser):
            def _print_message(self, message, file=None):
                if message:
                    stream = env.stdout if file is sys.stdout else env.stderr
                    stream.write(message)

            def _get_formatter(self):
                # argparse's own would import shutil (and with it lzma,
                # bz2...) for the terminal width at every add_argument
                return self.formatter_class(prog=self.prog,
                                            width=_help_width())

        return Parser(**kwargs)

    def isatty(self, stream):
        """Whether ``stream`` is a terminal."""
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False


def log(env, prog, level, message):
    """A Python-CLI log line: ``flux-submit: ERROR: message``."""
    env.stderr.write(f"{prog}: {level}: {message}\n")


def error_text(exc):
    """An RPC error as flux-core's Python bindings print an ``OSError``."""
    return f"[Errno {exc.errno}] {exc}"


def parse_flags(values):
    """``--flags=debug,waitable`` (repeatable) as the submit flag bits.

    :raises InvalidArgument: ``--flags: Unknown flag X``.
    """
    flags = 0
    for value in values or ():
        for name in value.split(","):
            if name not in FLAGS:
                raise InvalidArgument(f"--flags: Unknown flag {name}")
            flags |= FLAGS[name]
    return flags


_signing = []


def encode_job(jobspec, userid):
    """The J of a jobspec: its JSON signed with ``[sign] default-type`` of
    the security config directory (``none`` without one).

    :raises SignError: a bad security config, or munged refused.
    """
    from fluxd.formats._jobspec_json import dumps
    from fluxd.security.sign import load_sign_config, security_confdir, wrap
    if not _signing:
        _signing.append(load_sign_config(security_confdir()))
    return wrap(dumps(jobspec).encode("utf-8"), userid, _signing[0])


def _help_width():
    """What argparse's help formatter takes: the terminal's columns
    (``COLUMNS`` first, else stdout's terminal, else 80) less 2."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


class Submitter:
    """Submit jobs to ``job-ingest.submit`` with few requests.

    One job goes alone in the single form ``{J, urgency, flags}``; more go
    in batches ``{"jobs": [...]}`` of up to ``batch_jobs`` jobs or
    ``batch_bytes`` bytes of J, with up to ``window`` batches in flight.
    Jobs are taken from the iterable as they are needed, so a million
    copies never sit in memory at once.

    :param handle: a broker handle with ``rpc``, ``send`` and ``wait``.
    """

    def __init__(self, handle, batch_jobs=BATCH_JOBS,
                 batch_bytes=BATCH_BYTES, window=WINDOW):
        self.h = handle
        self.batch_jobs = batch_jobs
        self.batch_bytes = batch_bytes
        self.window = window

    def submit(self, jobs):
        """Submit ``jobs`` (objects with ``J``, ``urgency``, ``flags``).

        :returns: an iterator of ``(job, result)`` in submission order,
            where result is the job id (int) or the
            :class:`~fluxd.errors.FluxError` that refused it.
        """
        jobs = iter(jobs)
        head = [job for job in (next(jobs, None), next(jobs, None))
                if job is not None]
        if len(head) == 1:
            yield head[0], self._single(head[0])
            return
        pending = deque()
        batch, size = [], 0
        for job in chain(head, jobs):
            batch.append(job)
            size += len(job.J)
            if len(batch) >= self.batch_jobs or size >= self.batch_bytes:
                pending.append(self._send(batch))
                batch, size = [], 0
                while len(pending) >= self.window:
                    yield from self._collect(*pending.popleft())
        if batch:
            pending.append(self._send(batch))
        while pending:
            yield from self._collect(*pending.popleft())

    @staticmethod
    def _entry(job):
        return {"J": job.J, "urgency": job.urgency, "flags": job.flags}

    def _single(self, job):
        try:
            reply = self.h.rpc("job-ingest.submit", self._entry(job))
        except FluxError as exc:
            return exc
        if not isinstance(reply.get("id"), int):
            return ProtocolError("job-ingest.submit: response has no id")
        return reply["id"]

    def _send(self, batch):
        token = self.h.send("job-ingest.submit",
                            {"jobs": [self._entry(job) for job in batch]})
        return token, batch

    def _collect(self, token, batch):
        from fluxd.client.sync import decode_json
        try:
            reply = decode_json(self.h.wait(token))
            results = reply.get("jobs") if isinstance(reply, dict) else None
            if not isinstance(results, list) or len(results) != len(batch):
                raise ProtocolError("job-ingest.submit: batch response"
                                    " does not match the request")
        except FluxError as exc:
            for job in batch:
                yield job, exc
            return
        for job, result in zip(batch, results):
            if isinstance(result, dict) and isinstance(result.get("id"), int):
                yield job, result["id"]
            elif isinstance(result, dict) and result.get("errnum"):
                yield job, from_errno(result["errnum"], result.get("errstr"))
            else:
                yield job, ProtocolError("job-ingest.submit: bad batch entry")


# -- {cc} / bulksubmit substitution -----------------------------------------

def _keep_mustache(value):
    def swap(text):
        return text.replace("{{", "=stache=").replace("}}", "=/stache=")
    if isinstance(value, str):
        return swap(value)
    if isinstance(value, list):
        return [swap(x) for x in value]
    return value


def _restore_mustache(value):
    def swap(text):
        return text.replace("=stache=", "{{").replace("=/stache=", "}}")
    if isinstance(value, str):
        return swap(value)
    if isinstance(value, list):
        return [swap(x) for x in value]
    return value


def substitute(args, inputs=(), **keywords):
    """A copy of ``args`` with ``str.format`` fields replaced in the
    command and in the :data:`MUTABLE_ARGS` options (mustache templates
    ``{{...}}`` are left alone), as flux-core's ``Xcmd``.

    :param inputs: positional values (``{}``, ``{0}``, ``{1.%}``...).
    :param keywords: named values (``cc``, ``seq``, ``seq1``).
    :returns: the new namespace; its ``modified`` attribute names the
        options whose value changed (``cc`` always counts).
    :raises InvalidArgument: ``Invalid replacement string in command:
        'X'`` and the like.
    """
    import copy
    new = copy.copy(args)
    command = []
    for arg in args.command:
        try:
            value = _keep_mustache(arg).format(*inputs, **keywords)
        except (IndexError, KeyError):
            raise InvalidArgument(
                f"Invalid replacement string in command: '{arg}'") from None
        command.extend(_restore_mustache(value.split("::list::")))
    new.command = command
    modified = set()
    for attr, opt in MUTABLE_ARGS.items():
        original = getattr(args, attr, None)
        if original is None:
            continue
        value = _keep_mustache(original)
        try:
            if isinstance(value, str):
                result = value.format(*inputs, **keywords)
            elif isinstance(value, list):
                result = [x.format(*inputs, **keywords) for x in value]
            else:
                result = value
        except IndexError:
            raise InvalidArgument(
                f"Invalid replacement index in {opt}{original}'") from None
        except KeyError as exc:
            raise InvalidArgument(f"Replacement key {exc} not found in"
                                  f" '{opt}{original}'") from None
        result = _restore_mustache(result)
        setattr(new, attr, result)
        if value != result or attr == "cc":
            modified.add(attr)
    new.modified = modified
    return new


def describe(args):
    """The ``bulksubmit: submit ...`` text of a substituted job."""
    words = []
    for attr, opt in MUTABLE_ARGS.items():
        value = getattr(args, attr, None)
        if attr in getattr(args, "modified", ()) and value:
            words.append(f"{opt}{value}")
    words.extend(args.command)
    return " ".join(words)
