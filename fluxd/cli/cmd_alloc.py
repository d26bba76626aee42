# -*- test-case-name: tests.unit.cli.test_nest -*-
"""``flux alloc [OPTIONS] [COMMAND [ARGS...]]``: start a new Flux instance
as a job and run COMMAND (default: an interactive shell) in it, attached
as ``flux run`` is; exits with COMMAND's status (spec/cli.md section 4).

Resource and instance options: see :mod:`fluxd.cli._nest`.  With a
terminal on stdin the job gets an interactive pty (``pty.interactive``).
"""

from fluxd.cli._nest import add_nest_arguments, fix_dump, nest_jobspec
from fluxd.cli.cmd_run import RunCommand
from fluxd.cli.cmd_submit import add_submit_options

__all__ = ["AllocCommand", "main"]


class AllocCommand(RunCommand):
    """``flux alloc`` (see the module docstring)."""

    prog = "flux alloc"
    logname = "flux-alloc"

    def build_parser(self):
        """:returns: the argument parser."""
        import argparse
        parser = self.env.parser(
            prog=self.prog,
            usage=f"{self.prog} [OPTIONS...] [COMMAND] [ARGS...]",
            description="allocate a new Flux instance for interactive use")
        add_submit_options(parser)
        parser.add_argument("--wait-event", metavar="NAME",
                            help="Pass --wait-event=NAME to flux-job attach")
        add_nest_arguments(parser)
        parser.add_argument("command", nargs=argparse.REMAINDER,
                            help="Initial program and arguments")
        return parser

    def run(self, argv):
        """As ``flux run``, with ``--dump[=FILE]`` (see
        :func:`~fluxd.cli._nest.fix_dump`)."""
        self._argv = list(argv)
        return super().run(argv)

    def build_jobspec(self, args):
        """The nested instance's jobspec: COMMAND is its program."""
        from fluxd.formats._jobspec_build import set_shell_option
        fix_dump(args, self._argv, "command")
        command = list(args.command)
        if command and command[0] == "--":
            command = command[1:]
        jobspec, urgency = nest_jobspec(
            args, command, environ=self.env.environ, cwd=self.env.cwd,
            getrlimit=self.env.getrlimit)
        if self.env.isatty(self.env.stdin):
            set_shell_option(jobspec, "pty.interactive", 1)
        return jobspec, urgency


def main(argv):
    """``flux alloc`` entry point."""
    return AllocCommand().run(argv)
