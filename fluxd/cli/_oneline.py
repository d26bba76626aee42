# -*- test-case-name: tests.unit.cli.test_cmd_dmesg -*-
"""An argparse parser whose usage errors are one line.

flux's optparse-based commands answer a bad option with one message and
exit 1; this parser raises :class:`fluxd.errors.InvalidArgument` instead of
printing usage and exiting 2, so :func:`fluxd.cli.main.run_command` prints
``flux-NAME: <message>``.
"""

import argparse

from fluxd.errors import InvalidArgument


class OneLineParser(argparse.ArgumentParser):
    """``ArgumentParser`` with one-line usage errors."""

    def error(self, message):
        raise InvalidArgument(message)
