# -*- test-case-name: tests.unit.cli.test_bulksubmit -*-
"""``flux bulksubmit``: submit one job per combination of inputs, like GNU
parallel (spec/cli.md section 4; flux-core ``flux.cli.bulksubmit``).

``flux bulksubmit [OPTIONS] COMMAND... ::: A B ::: X Y`` submits the
command once per element of the product of the input lists, replacing
``{}``/``{0}``, ``{1}``... by the inputs and ``{seq}``/``{seq1}`` by the
job's sequence number (from 0 / 1), in the command and in the options
that allow it.  Inputs also come from files (``:::: FILE``, ``-`` for
stdin) or, with no ``:::`` at all, from stdin split on ``--sep`` (newline
by default, ``none`` for whitespace).  ``:::+`` links a list to the
previous one element by element instead of multiplying.  Input fields
have ``{0.%}`` (no extension), ``{0./}`` (basename), ``{0.//}``
(dirname), ``{0./%}`` (basename without extension) and the methods that
``--define NAME=CODE`` adds (a Python expression of ``x``, the input; a
list result becomes several arguments).  Jobs are submitted in batches
like ``flux submit --cc``.
"""

import itertools
import os
import random

from fluxd.cli._submit import describe, substitute
from fluxd.cli.cmd_submit import SubmitBulkCommand
from fluxd.errors import InvalidArgument

__all__ = ["BulkSubmitCommand", "Input", "split_inputs", "main"]


class Input:
    """One input string with flux-core's ``Xinput`` fields.

    :param methods: ``--define`` methods, name -> compiled expression.
    """

    def __init__(self, text, methods):
        self.string = text
        self.methods = methods

    def __str__(self):
        return self.string

    def __format__(self, spec):
        return format(self.string, spec)

    def __getattr__(self, attr):
        if attr == "%":
            return os.path.splitext(self.string)[0]
        if attr == "/":
            return os.path.basename(self.string)
        if attr == "//":
            return os.path.dirname(self.string)
        if attr == "/%":
            return os.path.basename(os.path.splitext(self.string)[0])
        methods = self.__dict__.get("methods") or {}
        if attr in methods:
            # the user's own expression on the user's own command line,
            # as flux-core evaluates it
            result = eval(methods[attr], {}, {"x": self.string})
            if isinstance(result, list):
                return "::list::".join(str(x) for x in result)
            return result
        raise InvalidArgument(f"Unknown input string method '.{attr}'")


def _read_inputs(stream, sep):
    return [x for x in stream.read().split(sep) if x]


def _split_before(items, delim):
    groups, current = [], []
    for item in items:
        if item.startswith(delim):
            groups.append(current)
            current = []
        current.append(item)
    groups.append(current)
    return groups


def split_inputs(command, stdin, sep="\n", delim=":::"):
    """Split ``COMMAND ::: A B :::+ X ...`` into the command template, the
    input lists and the linked lists.

    :returns: ``(command, input_lists, links)`` where links are
        ``(index, list)`` pairs.
    :raises InvalidArgument: ``Multiple args not allowed after ::::``.
    """
    command, *groups = _split_before(command, delim)
    lists, links = [], []
    for index, group in enumerate(groups):
        first, items = group[0], group[1:]
        if first in (delim + ":", delim + ":+"):
            if len(items) > 1:
                raise InvalidArgument("Multiple args not allowed after ::::")
            if not items:
                raise InvalidArgument(f"{first}: missing file name")
            if items[0] == "-":
                items = _read_inputs(stdin, sep)
            else:
                with open(items[0], encoding="utf-8") as stream:
                    items = _read_inputs(stream, sep)
        elif first not in (delim, delim + "+"):
            raise InvalidArgument(f"Unknown input separator '{first}'")
        if first.endswith("+"):
            links.append((index, items))
            lists.append([])
        else:
            lists.append(items)
    return command, [x for x in lists if x], links


class BulkSubmitCommand(SubmitBulkCommand):
    """``flux bulksubmit``."""

    prog = "flux bulksubmit"
    logname = "flux-bulksubmit"
    description = "Submit jobs in bulk, one per combination of inputs"

    def add_options(self, parser):
        add = parser.add_argument
        add("--shuffle", action="store_true",
            help="Shuffle list of commands before submission")
        add("--sep", metavar="STRING", default="\n",
            help="Set the input argument separator. To split on whitespace,"
                 " use --sep=none. The default is newline.")
        add("--define", action="append", type=lambda kv: kv.split("=", 1),
            dest="methods", default=[], metavar="NAME=CODE",
            help="Define a named method for transforming any input, "
                 "accessible via e.g. '{0.NAME}'. (local variable 'x' will "
                 "contain the input string to be transformed)")

    def commands(self, args):
        """One substituted copy of ``args`` per combination of inputs."""
        sep = args.sep.encode("utf-8").decode("unicode_escape")
        if sep.lower() == "none":
            sep = None
        methods = {}
        for item in args.methods:
            if len(item) != 2:
                raise InvalidArgument(f"--define: {item[0]}: expected"
                                      " NAME=CODE")
            try:
                methods[item[0]] = compile(item[1], item[0], "eval")
            except SyntaxError as exc:
                raise InvalidArgument(f"--define: {item[0]}: {exc.msg}") \
                    from None
        command = list(args.command or [])
        if command and command[0] == "--":
            command = command[1:]
        template, lists, links = split_inputs(command, self.env.stdin, sep)
        args.command = template or ["{}"]
        if not lists and not links:
            lists = [_read_inputs(self.env.stdin, sep)]
        combos = [list(x) for x in itertools.product(*lists)]
        for index, items in links:
            cycle = itertools.cycle(items)
            for combo in combos:
                combo.insert(index, next(cycle))
        return [substitute(args, [Input(x, methods) for x in combo], seq=i,
                           seq1=i + 1, cc="{cc}")
                for i, combo in enumerate(combos)]

    def main(self, args):
        commands = self.commands(args)
        if args.shuffle:
            random.shuffle(commands)
        total = sum(len(self.cc_list(xargs)) for xargs in commands)
        if total == 0:
            raise InvalidArgument("no jobs provided for bulk submission")
        if args.progress and args.dry_run:
            self.env.stdout.write(
                f"bulksubmit: submitting a total of {total} jobs\n")
        if args.verbose or args.dry_run:
            for xargs in commands:
                self.env.stdout.write(f"bulksubmit: submit {describe(xargs)}"
                                      "\n")
        if args.dry_run:
            return 0
        self.submit_all(args, commands)
        return self.finish()


def main(argv):
    """``flux bulksubmit`` entry point."""
    return BulkSubmitCommand().run(argv)
