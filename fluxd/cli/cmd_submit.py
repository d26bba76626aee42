# -*- test-case-name: tests.unit.cli.test_submit -*-
"""``flux submit``: submit jobs and print their ids (spec/cli.md section 4).

``flux submit [OPTIONS] COMMAND [ARGS...]`` builds a V1 jobspec from the
options (:mod:`fluxd.formats.jobspec`), signs it into J and sends it to
``job-ingest.submit``; the job id is printed in f58 on stdout.
``--cc=IDSET``/``--bcc=IDSET`` submit one copy per id (``{cc}`` in the
command and options is replaced by the id, and ``--cc`` sets
``FLUX_JOB_CC``); many jobs travel in batch requests
(:class:`fluxd.cli._submit.Submitter`).  ``--wait``, ``--wait-event``,
``--watch``, ``--progress`` follow the jobs afterwards
(:mod:`fluxd.cli._watch`).  ``--dry-run`` prints the jobspec and needs no
instance.

:class:`SubmitBulkCommand` is shared with ``flux bulksubmit``.
"""

from fluxd.cli._submit import (
    CommandEnv, Submitter, encode_job, error_text, log, parse_flags,
    substitute,
)
from fluxd.errors import FluxError, InvalidArgument

__all__ = ["SubmitBulkCommand", "SubmitCommand", "add_submit_options",
           "main"]


def add_submit_options(parser):
    """Options common to submit, bulksubmit and run (besides jobspec)."""
    add = parser.add_argument
    add("--flags", action="append", metavar="FLAGS",
        help="Set comma separated list of job submission flags. Possible "
             "flags:  debug, waitable, novalidate")
    add("--dry-run", action="store_true",
        help="Don't actually submit job, just emit jobspec")
    add("--quiet", action="store_true",
        help="Do not print jobid to stdout on submission")
    add("-v", "--verbose", action="count", default=0,
        help="Increase verbosity on stderr (multiple use OK)")


def add_bulk_options(parser):
    """``--cc``, ``--wait``... of submit and bulksubmit."""
    add = parser.add_argument
    add("--cc", metavar="IDSET",
        help="Replicate job for each ID in IDSET. (FLUX_JOB_CC=ID will be "
             "set for each job submitted)")
    add("--bcc", metavar="IDSET",
        help="Like --cc, but FLUX_JOB_CC is not set")
    add("--wait-event", metavar="NAME", dest="wait",
        help="Wait for event NAME for all jobs after submission")
    add("--wait", action="store_const", const="clean",
        help="Wait for all jobs to complete after submission (same as "
             "--wait-event=clean)")
    add("--watch", action="store_true",
        help="Watch all job output (implies --wait)")
    add("--log", metavar="FILE",
        help="Print program log messages (e.g. submitted jobid) to FILE "
             "instead of terminal")
    add("--log-stderr", metavar="FILE",
        help="Separate stderr messages into FILE instead of terminal or "
             "logfile destination")
    add("--progress", action="store_true",
        help="Show progress of job submission or completion (with --wait)")
    add("--jps", action="store_true",
        help="With --progress, show job throughput")


class _Job:
    """One job to submit, with where its messages go."""

    __slots__ = ("J", "urgency", "flags", "label", "stdout", "stderr")

    def __init__(self, J, urgency, flags, label, stdout, stderr):
        self.J, self.urgency, self.flags = J, urgency, flags
        self.label, self.stdout, self.stderr = label, stdout, stderr


class SubmitBulkCommand:
    """Submission of one or many jobs, then optional watching.

    :param env: a :class:`~fluxd.cli._submit.CommandEnv`.
    """

    prog = "flux submit"
    logname = "flux-submit"
    description = "submit a job to a Flux instance"

    def __init__(self, env=None):
        self.env = env or CommandEnv()
        self.exitcode = 0
        self._logfiles = {}
        self.watcher = None
        self.progress = None

    def build_parser(self):
        """:returns: the argument parser."""
        from fluxd.formats._jobspec_cli import add_arguments
        parser = self.env.parser(
            prog=self.prog, usage=f"{self.prog} [OPTIONS...] COMMAND"
            " [ARGS...]", description=self.description)
        add_submit_options(parser)
        add_bulk_options(parser)
        self.add_options(parser)
        add_arguments(parser)
        return parser

    def add_options(self, parser):
        """Subclass hook for more options."""

    def run(self, argv):
        """Parse ``argv``, submit, optionally wait; returns the exit code."""
        args = self.build_parser().parse_args(argv)
        try:
            return self.main(args)
        except FluxError as exc:
            log(self.env, self.logname, "ERROR", str(exc))
            return 1
        finally:
            self.close()

    def close(self):
        """Stop the progress bar, close log files and the connection."""
        if self.progress is not None:
            self.progress.stop()
        for stream in self._logfiles.values():
            stream.close()
        self._logfiles.clear()
        self.env.close()

    def main(self, args):
        """Submit the jobs of ``args``; returns the exit code."""
        self.submit_all(args, [args])
        return self.finish()

    # -- building -------------------------------------------------------------

    @staticmethod
    def cc_list(args):
        """The ids of ``--cc``/``--bcc`` (``[None]`` for one plain job)."""
        from fluxd.formats.idset import IDset
        if args.cc and args.bcc:
            raise InvalidArgument("specify only one of --cc or --bcc")
        ids = args.cc or args.bcc
        return list(IDset(ids)) if ids else [None]

    def jobspec(self, args):
        """The jobspec and urgency of one job."""
        from fluxd.formats._jobspec_cli import jobspec_from_args
        jobspec, urgency, _ = jobspec_from_args(
            args, environ=self.env.environ, cwd=self.env.cwd,
            getrlimit=self.env.getrlimit)
        return jobspec, urgency

    def _open_log(self, path):
        if path not in self._logfiles:
            self._logfiles[path] = open(path, "w", buffering=1,
                                        encoding="utf-8")
        return self._logfiles[path]

    def _streams(self, args):
        stdout, stderr = self.env.stdout, self.env.stderr
        if getattr(args, "log", None):
            stdout = stderr = self._open_log(args.log)
        if getattr(args, "log_stderr", None):
            stderr = self._open_log(args.log_stderr)
        return stdout, stderr

    def jobs(self, args, flags):
        """Yield a :class:`_Job` per copy of ``args`` (``--cc``)."""
        from fluxd.formats.idset import IDset
        for cc in self.cc_list(args):
            xargs = substitute(args, cc=cc) if cc is not None else args
            if xargs.input:
                try:
                    IDset(xargs.input)
                except ValueError:
                    pass
                else:
                    raise InvalidArgument(
                        "per-task input not supported for submit")
            jobspec, urgency = self.jobspec(xargs)
            label = ""
            if cc is not None:
                label = f"cc={cc}: "
                if not args.bcc:
                    jobspec["attributes"]["system"]["environment"][
                        "FLUX_JOB_CC"] = str(cc)
            if args.dry_run:
                from fluxd.formats._jobspec_json import dumps
                self.env.stdout.write(dumps(jobspec) + "\n")
                raise _DryRun()
            stdout, stderr = self._streams(xargs)
            yield _Job(encode_job(jobspec, self.env.userid), urgency, flags,
                       label, stdout, stderr)

    # -- submitting -----------------------------------------------------------

    def _progress_ok(self, args):
        if args.progress and not self.env.isatty(self.env.stdout):
            log(self.env, self.logname, "WARNING",
                "stdout is not a tty. Ignoring --progress option")
            args.progress = False
        return args.progress

    def start_watching(self, args, total):
        """Set up ``--wait``/``--watch`` and ``--progress`` before the
        first job is submitted."""
        from fluxd.cli._follow import EventFollower
        from fluxd.cli._watch import JobProgress, JobWatcher, SubmitProgress
        progress = self._progress_ok(args)
        if args.watch or args.wait:
            if self.watcher is None:
                if progress:
                    self.progress = JobProgress(self.env.stdout,
                                                jps=args.jps).start()
                self.watcher = JobWatcher(
                    EventFollower(self.env.handle()), wait=args.wait,
                    watch=args.watch, log_events=args.verbose > 1,
                    log_status=args.verbose > 0, labelio=args.label_io,
                    progress=self.progress)
        elif progress and self.progress is None:
            self.progress = SubmitProgress(self.env.stdout, total,
                                           jps=args.jps).start()

    def submit_all(self, args, commands):
        """Submit every job of ``commands`` (substituted copies of
        ``args``) in one stream of requests."""
        from fluxd.formats.fluid import encode
        if not args.dry_run:
            total = sum(len(self.cc_list(xargs)) for xargs in commands)
            self.start_watching(args, total)
        flags = parse_flags(args.flags)
        jobs = (job for xargs in commands for job in self.jobs(xargs, flags))
        try:
            if args.dry_run:
                for _ in jobs:
                    pass
                return
            submitter = Submitter(self.env.handle())
            for job, result in submitter.submit(jobs):
                self.submitted(args, job, result, encode)
        except _DryRun:
            return

    def submitted(self, args, job, result, encode):
        """Report one submission's outcome."""
        if isinstance(result, FluxError):
            job.stderr.write(f"{job.label}{error_text(result)}\n")
            self.exitcode = 1
            if self.progress is not None and self.watcher is None:
                self.progress.submitted(False)
            return
        label = encode(result, "f58")
        if not args.quiet:
            job.stdout.write(label + "\n")
        if self.watcher is not None:
            self.watcher.add(result, label, job.stdout, job.stderr)
        elif self.progress is not None:
            self.progress.submitted(True)

    def finish(self):
        """Wait for watched jobs; returns the exit code."""
        if self.watcher is not None:
            tick = self.progress.redraw if self.progress is not None else None
            self.watcher.follower.run(tick=tick)
            self.exitcode = max(self.exitcode, self.watcher.exitcode)
        return self.exitcode


class _DryRun(Exception):
    """``--dry-run`` printed the first jobspec: stop."""


class SubmitCommand(SubmitBulkCommand):
    """``flux submit``."""


def main(argv):
    """``flux submit`` entry point."""
    return SubmitCommand().run(argv)
