# -*- test-case-name: tests.integration.test_lifecycle_startlog -*-
"""``flux startlog [--check] [--quiet] [-v]``: instance starts and stops.

One line per run (spec/broker.md section 5)::

    2024-05-02 14:51 - 2024-05-02 15:03 (12m)
    2024-05-02 15:04 - crashed
    2024-05-02 15:10 - running (3.2h)

``-v`` prefixes each line with the version that started it, ``--check``
exits 1 when the latest start followed a crash, ``--quiet`` prints nothing
(useful with ``--check``).  The events come from the broker's startlog
(``admin.startlog``), kept in its statedir.
"""

import time

from fluxd.admin.startlog import format_runs, latest_start_followed_crash, runs
from fluxd.cli._oneline import OneLineParser
from fluxd.client.sync import Flux


def main(argv):
    """``flux startlog``."""
    parser = OneLineParser(prog="flux-startlog",
                           description="List Flux instance startlog")
    parser.add_argument("--check", action="store_true",
                        help="Check if instance was properly shut down")
    parser.add_argument("--quiet", action="store_true",
                        help="Suppress listing, useful with --check")
    parser.add_argument("-v", "--show-version", action="store_true",
                        help="Show the flux-core version string in output")
    args = parser.parse_args(argv)
    with Flux() as h:
        events = h.rpc("admin.startlog")["events"]
    if not args.quiet:
        for line in format_runs(runs(events), time.time(), args.show_version):
            print(line)
    if args.check and latest_start_followed_crash(events):
        return 1
    return 0
