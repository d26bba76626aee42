# -*- test-case-name: tests.unit.job.test_pipeline -*-
"""``flux job-validator`` and ``flux job-frobnicator``: the plugins of
job-ingest's pipeline (spec/cli.md section 9).

``--list-plugins`` prints ``Available plugins:`` and one ``%-20s  %s``
line per built-in plugin.  fluxd runs the pipeline inside job-ingest
(:mod:`fluxd.job.pipeline`), never as worker processes, so the stdin
worker mode of flux-core's commands is not offered: without
``--list-plugins`` the command says so and exits 1.

No Twisted import (the plugin modules are pure Python).
"""

import argparse
import sys

from fluxd.errors import InvalidArgument

__all__ = ["validator_main", "frobnicator_main"]


def _main(kind, builtins, argv, out):
    parser = argparse.ArgumentParser(prog=f"flux-job-{kind}")
    parser.add_argument("--list-plugins", action="store_true",
                        help="List available plugins and exit")
    args = parser.parse_args(argv)
    if not args.list_plugins:
        raise InvalidArgument(
            f"fluxd runs the {kind} plugins inside job-ingest; only"
            " --list-plugins is available")
    from fluxd.job._plugins import list_plugins
    out.write(list_plugins(builtins))
    return 0


def validator_main(argv, out=None):
    """``flux job-validator --list-plugins``."""
    from fluxd.job.validate import BUILTINS
    return _main("validator", BUILTINS, argv, out or sys.stdout)


def frobnicator_main(argv, out=None):
    """``flux job-frobnicator --list-plugins``."""
    from fluxd.job.frobnicate import BUILTINS
    return _main("frobnicator", BUILTINS, argv, out or sys.stdout)
