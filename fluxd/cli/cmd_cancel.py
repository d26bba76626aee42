# -*- test-case-name: tests.unit.cli.test_cancel -*-
"""``flux cancel``: cancel pending or running jobs (spec/cli.md section 5).

``flux cancel [-n] [-m NOTE] JOBID...`` raises a ``cancel`` exception
(severity 0) on each job, all requests in flight at once; an error prints
``flux-cancel: ERROR: ƒID: MESSAGE`` and makes the exit code 1.
``flux cancel --all|-u USER|-S STATES`` asks the job manager to cancel
every matching job in one ``job-manager.raiseall`` request (``-u all``:
every user, instance owner only) and reports ``Canceled 3 jobs (0
errors)``, ``Would cancel 3 jobs`` with ``--dry-run``, or ``Matched 0
jobs`` (left out with ``--quiet``).
"""

import pwd

from fluxd.cli._submit import CommandEnv, log
from fluxd.errors import FluxError, InvalidArgument

__all__ = ["CancelCommand", "STATES", "main"]

PROG = "flux-cancel"
ANY_USER = 0xFFFFFFFF

#: ``-S`` state names
STATES = {"depend": 2, "priority": 4, "sched": 8, "run": 16,
          "pending": 14, "running": 48, "active": 62}


def _plural(count, word):
    return f"{count} {word}{'s' if count != 1 else ''}"


def parse_user(text, default):
    """``-u USER``: a name, a uid or ``all``.

    :raises InvalidArgument: ``Invalid user X specified``.
    """
    if text is None:
        return default
    if text == "all":
        return ANY_USER
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        try:
            return int(text)
        except ValueError:
            raise InvalidArgument(f"Invalid user {text} specified") from None


def parse_states(values):
    """``-S STATES`` (repeatable, comma-separated) as a state mask.

    :raises InvalidArgument: ``Invalid state X specified``.
    """
    if not values:
        return STATES["pending"] | STATES["running"]
    mask = 0
    for state in ",".join(values).split(","):
        try:
            mask |= STATES[state.lower()]
        except KeyError:
            raise InvalidArgument(f"Invalid state {state} specified") \
                from None
    return mask


class CancelCommand:
    """``flux cancel`` with its environment injectable."""

    def __init__(self, env=None):
        self.env = env or CommandEnv()

    def build_parser(self):
        """:returns: the argument parser."""
        from fluxd.cli._jobid import JobID
        parser = self.env.parser(
            prog=PROG, usage="flux cancel [OPTIONS] [JOBID...]",
            description="Cancel pending or running jobs with an optional"
                        " exception note.")
        add = parser.add_argument
        add("--all", action="store_true", help="Target all jobs")
        add("-n", "--dry-run", "--dry", action="store_true",
            help="Do not cancel any jobs")
        add("-q", "--quiet", action="store_true",
            help="Suppress output when no jobs match")
        add("-u", "--user", metavar="USER",
            help="Set target user or 'all' (instance owner only)")
        add("-S", "-s", "--states", "--state", action="append",
            dest="states", help="List of job states to target (default="
            "active)")
        add("-m", "--message", metavar="NOTE",
            help="Set optional cancel exception note")
        add("jobids", metavar="JOBID...", type=JobID, nargs="*",
            help="jobids to cancel")
        return parser

    def run(self, argv):
        """Parse ``argv`` and cancel; returns the exit code."""
        args = self.build_parser().parse_args(argv)
        try:
            if args.user or args.states:
                args.all = True
            if args.jobids and args.all:
                log(self.env, PROG, "ERROR", "Do not specify a list of jobids"
                    " with --all,--user,--states options")
                return 1
            if args.all:
                return self.cancel_all(args)
            return self.cancel(args)
        except FluxError as exc:
            log(self.env, PROG, "ERROR", str(exc))
            return 1
        finally:
            self.env.close()

    def _say(self, message):
        self.env.stderr.write(f"{PROG}: {message}\n")

    def cancel(self, args):
        """Cancel the jobs named on the command line."""
        from fluxd.formats.fluid import encode
        if not args.jobids:
            raise InvalidArgument("No target jobs were provided")
        if args.dry_run:
            self._say(f"Would cancel {_plural(len(args.jobids), 'job')}")
            return 0
        h = self.env.handle()
        tokens = []
        for jobid in args.jobids:
            payload = {"id": jobid, "severity": 0, "type": "cancel"}
            if args.message is not None:
                payload["note"] = args.message
            tokens.append((jobid, h.send("job-manager.raise", payload)))
        errors = 0
        for jobid, token in tokens:
            try:
                h.wait(token)
            except FluxError as exc:
                errors += 1
                log(self.env, PROG, "ERROR", f"{encode(jobid, 'f58')}: {exc}")
        return 1 if errors else 0

    def cancel_all(self, args):
        """Cancel every job matching ``--user`` and ``--states``."""
        payload = {"dry_run": args.dry_run,
                   "userid": parse_user(args.user, self.env.userid),
                   "states": parse_states(args.states),
                   "severity": 0, "type": "cancel"}
        if args.message is not None:
            payload["note"] = args.message
        reply = self.env.handle().rpc("job-manager.raiseall", payload)
        count, errors = reply["count"], reply["errors"]
        if count > 0:
            if args.dry_run:
                self._say(f"Would cancel {_plural(count, 'job')}")
            else:
                self._say(f"Canceled {_plural(count, 'job')}"
                          f" ({_plural(errors, 'error')})")
        elif not args.quiet:
            self._say("Matched 0 jobs")
        return 0


def main(argv):
    """``flux cancel`` entry point."""
    return CancelCommand().run(argv)
