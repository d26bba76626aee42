# -*- test-case-name: tests.unit.cli.test_run -*-
"""``flux run``: submit a job and follow it to its end (spec/cli.md
section 4).

``flux run [OPTIONS] COMMAND [ARGS...]`` submits like ``flux submit``
(same jobspec options, ``--flags``, ``--urgency``, ``--dry-run``) and
then attaches to the job (:class:`fluxd.cli._attach.Attach`): the exit
code is the job's (128+N for a job shell killed by signal N, 1 when the
job failed before it ran), exceptions are printed as they happen, ``-v``
prints the job id on stderr, ``-vv`` the job's events and ``-vvv`` its
exec events.  ``--wait-event=NAME`` returns at that event instead of at
``clean``; ``--quiet`` leaves out the job shell's log and redirect
messages.  A refused submission prints ``flux-run: ERROR: MESSAGE`` and
exits 1.  The command's standard input goes to every task (unless
``--input`` names a file).
"""

from fluxd.cli._submit import (
    CommandEnv, Submitter, encode_job, log, parse_flags,
)
from fluxd.cli.cmd_submit import add_submit_options
from fluxd.errors import FluxError

__all__ = ["RunCommand", "main"]


class RunCommand:
    """``flux run`` with its environment injectable.

    :param env: a :class:`~fluxd.cli._submit.CommandEnv`.
    """

    prog = "flux run"
    logname = "flux-run"

    def __init__(self, env=None, handle_signals=True):
        self.env = env or CommandEnv()
        self.handle_signals = handle_signals
        self.attach = None

    def build_parser(self):
        """:returns: the argument parser."""
        from fluxd.formats._jobspec_cli import add_arguments
        parser = self.env.parser(
            prog=self.prog,
            usage=f"{self.prog} [OPTIONS...] COMMAND [ARGS...]",
            description="run a job interactively")
        add_submit_options(parser)
        parser.add_argument("--wait-event", metavar="NAME",
                            help="Pass --wait-event=NAME to flux-job attach")
        add_arguments(parser)
        return parser

    def run(self, argv):
        """Parse ``argv``, submit and attach; returns the exit code."""
        args = self.build_parser().parse_args(argv)
        try:
            return self.main(args)
        except FluxError as exc:
            log(self.env, self.logname, "ERROR", str(exc))
            return 1
        finally:
            self.env.close()

    def build_jobspec(self, args):
        """The jobspec and urgency of ``args`` (``flux alloc`` has its
        own)."""
        from fluxd.formats._jobspec_cli import jobspec_from_args
        jobspec, urgency, _ = jobspec_from_args(
            args, environ=self.env.environ, cwd=self.env.cwd,
            getrlimit=self.env.getrlimit)
        return jobspec, urgency

    def main(self, args):
        """Submit the job of ``args`` and follow it."""
        from fluxd.cli._attach import Attach
        from fluxd.cli._follow import EventFollower
        from fluxd.formats.fluid import encode
        from fluxd.formats._jobspec_json import dumps
        jobspec, urgency = self.build_jobspec(args)
        if args.dry_run:
            self.env.stdout.write(dumps(jobspec) + "\n")
            return 0
        flags = parse_flags(args.flags)
        job = _Job(encode_job(jobspec, self.env.userid), urgency, flags)
        handle = self.env.handle()
        [(_, result)] = Submitter(handle).submit([job])
        if isinstance(result, FluxError):
            raise result
        label = encode(result, "f58")
        if args.verbose > 0:
            self.env.stderr.write(f"jobid: {label}\n")
            self.env.stderr.flush()
        if args.unbuffered:
            from fluxd.cli._job_exec import unbuffered
            self.env.stdout = unbuffered(self.env.stdout)
            self.env.stderr = unbuffered(self.env.stderr)
        self.attach = Attach(self.env, EventFollower(handle), result, label,
                             wait_event=args.wait_event,
                             show_events=args.verbose > 1,
                             show_exec=args.verbose > 2,
                             label_io=args.label_io, quiet=args.quiet)
        options = jobspec["attributes"]["system"].get("shell", {}).get(
            "options", {})
        # an interactive pty takes stdin for task 0's terminal (the pty
        # module, termios and all, is imported only then)
        pty = options.get("pty")
        if not (isinstance(pty, dict) and pty.get("interactive")
                and self.attach.use_pty(self.env.connect)) \
                and "stdin" not in (options.get("input") or {}):
            self.attach.forward_stdin(self.env.connect)
        return self.attach.run(handle_signals=self.handle_signals)


class _Job:
    __slots__ = ("J", "urgency", "flags")

    def __init__(self, J, urgency, flags):
        self.J, self.urgency, self.flags = J, urgency, flags


def main(argv):
    """``flux run`` entry point."""
    return RunCommand().run(argv)
