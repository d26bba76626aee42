# -*- test-case-name: tests.unit.cli.test_nest -*-
"""``flux batch [OPTIONS] [SCRIPT [ARGS...]]``: submit a batch script to
run as the initial program of a new Flux instance (spec/cli.md section
4); prints the job id.

The script is read from SCRIPT, else from standard input; ``--wrap``
makes ``#!/bin/sh`` followed by the arguments the script.  It must start
with ``#!``.  ``# flux:`` lines in its leading comment block are options
(:func:`fluxd.cli._nest.parse_directives`), applied before those of the
command line, which win.  The script travels in the jobspec (file
``script``) and runs from the job's temporary directory.  Its output goes
to ``flux-{{id}}.out`` unless ``--output`` says otherwise; the job name
defaults to the script's name.  Resource and instance options: see
:mod:`fluxd.cli._nest`.
"""

import argparse
import os
import shlex

from fluxd.cli._nest import (
    add_nest_arguments, fix_dump, nest_jobspec, parse_directives)
from fluxd.cli._submit import log
from fluxd.cli.cmd_submit import (
    SubmitBulkCommand, add_bulk_options, add_submit_options)
from fluxd.errors import FluxError, InvalidArgument

__all__ = ["BatchCommand", "main"]


class BatchCommand(SubmitBulkCommand):
    """``flux batch`` (see the module docstring)."""

    prog = "flux batch"
    logname = "flux-batch"
    description = "submit a batch job"

    def build_parser(self):
        """:returns: the argument parser."""
        parser = self.env.parser(
            prog=self.prog,
            usage=f"{self.prog} [OPTIONS...] [SCRIPT] [ARGS...]",
            description=self.description)
        add_submit_options(parser)
        add_bulk_options(parser)
        add_nest_arguments(parser)
        parser.add_argument("--wrap", action="store_true",
                            help="Wrap arguments or stdin in a /bin/sh"
                                 " script")
        parser.add_argument("script", nargs=argparse.REMAINDER,
                            help="Batch script and arguments")
        return parser

    def read_script(self, args):
        """``(text, name, arguments)`` of the batch script."""
        words = list(args.script)
        if words and words[0] == "--":
            words = words[1:]
        if args.wrap:
            if words:
                return "#!/bin/sh\n" + shlex.join(words) + "\n", \
                    os.path.basename(words[0]), []
            return "#!/bin/sh\n" + self.env.stdin.read(), "wrap", []
        if words:
            path, rest = words[0], words[1:]
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                raise InvalidArgument(f"{path}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise InvalidArgument(f"{path}: not a text file") from None
            name = os.path.basename(path)
        else:
            if self.env.isatty(self.env.stdin):
                raise InvalidArgument("batch script required: give SCRIPT,"
                                      " a script on stdin or --wrap")
            text, name, rest = self.env.stdin.read(), "stdin", []
        if not text.startswith("#!"):
            raise InvalidArgument(f"{name}: batch script must start with"
                                  " '#!' (or use --wrap)")
        return text, name, rest

    def run(self, argv):
        """Parse options and directives, submit; returns the exit code."""
        parser = self.build_parser()
        args = fix_dump(parser.parse_args(argv), argv, "script")
        try:
            text, name, rest = self.read_script(args)
            directives = parse_directives(text)
            if directives:
                words = directives + list(argv)
                args = fix_dump(parser.parse_args(words), words, "script")
            if args.output is None:
                args.output = "flux-{{id}}.out"
            if args.job_name is None:
                args.job_name = name
            self._script = (text, rest)
            return self.main(args)
        except FluxError as exc:
            log(self.env, self.logname, "ERROR", str(exc))
            return 1
        finally:
            self.close()

    def jobspec(self, args):
        """The nested instance's jobspec: the script is its program."""
        text, rest = self._script
        return nest_jobspec(args, ["{{tmpdir}}/script", *rest],
                            environ=self.env.environ, cwd=self.env.cwd,
                            getrlimit=self.env.getrlimit,
                            files={"script": text})


def main(argv):
    """``flux batch`` entry point."""
    return BatchCommand().run(argv)
