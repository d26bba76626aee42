# -*- test-case-name: tests.integration.test_broker_local -*-
"""``flux module list [-l]``: the broker's loaded services."""

import argparse

from fluxd.client.sync import Flux
from fluxd.message.types import NODEID_ANY

_STATE = {0: "I", 1: "I", 2: "R", 3: "F", 4: "X"}


def format_rows(mods, long=False):
    """Render ``module.list`` entries as flux prints them.

    :returns: the lines, header first.
    """
    header = "Module                    Idle  S Sendq Recvq Service"
    if long:
        header += " Path"
    lines = [header]
    for mod in sorted(mods, key=lambda m: m["name"]):
        idle = mod["idle"]
        idle_text = "idle" if idle > 99 else str(idle)
        services = ",".join(mod.get("services", []))
        line = (f"{mod['name'][:25]:<25.25} {idle_text:>4}  "
                f"{_STATE.get(mod['status'], '?')} {mod['sendqueue']:5d} "
                f"{mod['recvqueue']:5d} {services}")
        if long:
            line += f" {mod.get('path', '')}"
        lines.append(line.rstrip() if not long else line)
    return lines


def main(argv):
    parser = argparse.ArgumentParser(prog="flux-module")
    sub = parser.add_subparsers(dest="cmd", required=True)
    lst = sub.add_parser("list", help="List loaded modules")
    lst.add_argument("-l", "--long", action="store_true", help="show paths")
    lst.add_argument("-r", "--rank", type=int, default=NODEID_ANY,
                     help="list the modules of broker RANK")
    args = parser.parse_args(argv)
    with Flux() as h:
        mods = h.rpc("module.list", nodeid=args.rank)["mods"]
    for line in format_rows(mods, args.long):
        print(line)
    return 0
