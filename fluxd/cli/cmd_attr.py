# -*- test-case-name: tests.integration.test_broker_local -*-
"""``flux getattr``, ``flux setattr`` and ``flux lsattr``."""

import argparse

from fluxd.client.sync import Flux


def getattr_main(argv):
    """``flux getattr NAME``: print one broker attribute."""
    parser = argparse.ArgumentParser(prog="flux-getattr")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    with Flux() as h:
        print(h.rpc("attr.get", {"name": args.name})["value"])
    return 0


def setattr_main(argv):
    """``flux setattr NAME VALUE``: change a runtime-writable attribute."""
    parser = argparse.ArgumentParser(prog="flux-setattr")
    parser.add_argument("name")
    parser.add_argument("value")
    args = parser.parse_args(argv)
    with Flux() as h:
        h.rpc("attr.set", {"name": args.name, "value": args.value})
    return 0


def lsattr_main(argv):
    """``flux lsattr [-v]``: list attribute names (``-v`` with values)."""
    parser = argparse.ArgumentParser(prog="flux-lsattr")
    parser.add_argument("-v", "--values", action="store_true",
                        help="show values too")
    args = parser.parse_args(argv)
    with Flux() as h:
        names = h.rpc("attr.list")["names"]
        if not args.values:
            for name in names:
                print(name)
            return 0
        tokens = [h.send("attr.get", {"name": n}) for n in names]
        values = []
        for token in tokens:
            values.append(_json_value(h.wait(token)))
        width = max((len(n) for n in names), default=0)
        for name, value in zip(names, values):
            print(f"{name:<{width}} {value}")
    return 0


def _json_value(raw):
    import json
    return json.loads(raw)["value"]
