# -*- test-case-name: tests.unit.cli.test_cmd_update -*-
"""``flux update [-n] [-v] JOBID KEY=VALUE...``: update an active job's
jobspec through ``job-manager.update`` (flux-update(1)).

Keys are dotted jobspec paths; ``attributes.system.`` is implied unless a
key starts with ``attributes.``, ``resources.`` or ``tasks.``, and
``name`` stands for ``attributes.system.job.name``.  A duration is an FSD
(``inf`` is unlimited, 0), or ``+FSD``/``-FSD`` to change the job's
current duration.  ``urgency=N`` (also ``hold``, ``default``,
``expedite``) changes the job's urgency as ``flux job urgency`` does, in
the same request.  Other values are JSON when they parse, else strings.
All updates apply or none does.  ``-n`` prints the request's updates as
JSON instead of sending them; ``-v`` logs ``updated KEY to VALUE`` for
each.  Errors are one line, ``flux-update: ERROR: MESSAGE``, exit 1;
usage errors exit 2.
"""

import argparse
import json
import math
import sys

from fluxd.errors import FluxError, InvalidArgument
from fluxd.formats.fsd import FSDError, format_fsd, parse_fsd

__all__ = ["main", "UpdateBuilder"]

PROG = "flux-update"
DURATION = "attributes.system.duration"
ALIASES = {"name": "attributes.system.job.name"}
URGENCY_WORDS = {"hold": 0, "default": 16, "expedite": 31}


class UpdateBuilder:
    """The updates object of one job from ``KEY=VALUE`` words.

    :param jobid: the job id (for messages).
    :param lookup: returns the job's current jobspec (a relative
        duration needs it); called at most once.
    """

    def __init__(self, jobid_text, lookup):
        self.jobid_text = jobid_text
        self._lookup = lookup
        self._jobspec = None
        self.updates = {}
        self.urgency = None

    def add(self, word):
        """Add one ``KEY=VALUE``.

        :raises InvalidArgument: a bad word or value, in one line.
        """
        key, sep, text = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"update must be KEY=VALUE: {word}")
        if key == "urgency":
            self.urgency = self._urgency(text)
            return
        key = ALIASES.get(key, key)
        if not key.startswith(("attributes.", "resources.", "tasks.")):
            key = f"attributes.system.{key}"
        if key == DURATION:
            value = self._duration(text)
        else:
            try:
                value = json.loads(text)
            except ValueError:
                value = text
        self.updates[key] = value

    def _duration(self, text):
        try:
            if text.startswith(("+", "-")):
                current = self._current_duration()
                if current == 0:
                    raise InvalidArgument(
                        f"duration for {self.jobid_text} is unlimited,"
                        f" can't update by {text}")
                delta = parse_fsd(text[1:])
                result = current + delta if text[0] == "+" \
                    else current - delta
                if result <= 0:
                    raise InvalidArgument(
                        f"current duration for {self.jobid_text}"
                        f" ({format_fsd(current)}) cannot be reduced by"
                        f" {text[1:]}")
            else:
                result = parse_fsd(text)
        except FSDError as exc:
            raise InvalidArgument(str(exc)) from None
        return 0.0 if math.isinf(result) else result

    @staticmethod
    def _urgency(text):
        if text in URGENCY_WORDS:
            return URGENCY_WORDS[text]
        try:
            return int(text)
        except ValueError:
            raise InvalidArgument(f"invalid urgency: {text}") from None

    def request(self, jobid):
        """The ``job-manager.update`` payload."""
        body = {"id": jobid, "updates": self.updates}
        if self.urgency is not None:
            body["urgency"] = self.urgency
        return body

    def _current_duration(self):
        if self._jobspec is None:
            self._jobspec = self._lookup()
        system = (self._jobspec.get("attributes") or {}).get("system") or {}
        return float(system.get("duration") or 0)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}\n")


def _parser():
    p = _Parser(prog=PROG, description="Update an active job")
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="Do not apply any updates, just emit update"
                   " payload to stdout")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="Log updated items after success")
    p.add_argument("jobid", metavar="JOBID")
    p.add_argument("updates", metavar="KEY=VALUE", nargs="+")
    return p


def run(argv, connect):
    """Parse, build, send.  :returns: the exit code."""
    from fluxd.cli._jobid import try_jobid
    args = _parser().parse_args(argv)
    jobid = try_jobid(args.jobid)
    if jobid is None:
        raise InvalidArgument(f"invalid jobid: {args.jobid}")
    handle = None

    def get_handle():
        nonlocal handle
        if handle is None:
            handle = connect()
        return handle

    def lookup():
        answer = get_handle().rpc("job-info.lookup", {
            "id": jobid, "keys": ["jobspec"], "flags": 3})
        return answer["jobspec"]

    try:
        builder = UpdateBuilder(args.jobid, lookup)
        for word in args.updates:
            builder.add(word)
        if args.dry_run:
            print(json.dumps(builder.updates if builder.urgency is None
                             else dict(builder.updates,
                                       urgency=builder.urgency)))
            return 0
        get_handle().rpc("job-manager.update", builder.request(jobid))
    finally:
        if handle is not None:
            handle.close()
    if args.verbose:
        for key, value in builder.updates.items():
            sys.stderr.write(f"{PROG}: updated {key} to {value}\n")
        if builder.urgency is not None:
            sys.stderr.write(f"{PROG}: updated urgency to"
                             f" {builder.urgency}\n")
    return 0


def main(argv, connect=None):
    """``flux update``; errors are ``flux-update: ERROR: ...``, exit 1."""
    if connect is None:
        from fluxd.client.sync import Flux
        connect = Flux
    try:
        return run(argv, connect)
    except FluxError as exc:
        sys.stderr.write(f"{PROG}: ERROR: {exc}\n")
        return 1
