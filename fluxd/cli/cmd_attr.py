# -*- test-case-name: tests.unit.cli.test_cmd_attr -*-
"""``flux getattr``, ``flux setattr`` and ``flux lsattr``.

These run in scripts and loops, so they start as fast as the interpreter
allows: their few arguments are parsed by hand (``argparse`` alone would
cost more than the whole RPC) and the stdlib client does the rest.
"""

from fluxd.client.sync import Flux, decode_json
from fluxd.errors import InvalidArgument


def _parse(prog, argv, names, flags=()):
    """Split ``argv`` into positional values and flags by hand.

    :param prog: the subcommand (``getattr``) for messages.
    :param names: the positional arguments' names, all required.
    :param flags: ``(short, long)`` option pairs taking no value.
    :returns: ``(values, set of long flags given)``, or None after
        printing the help for ``-h``/``--help``.
    :raises InvalidArgument: one line with the usage, for anything else.
    """
    usage = " ".join([f"flux {prog}"] + [f"[{s}|{l}]" for s, l in flags]
                     + [name.upper() for name in names])
    values, given, options = [], set(), True
    for arg in argv:
        if options and arg == "--":
            options = False
        elif options and arg in ("-h", "--help"):
            print(f"Usage: {usage}")
            for short, long in flags:
                print(f"  {short}, {long}")
            return None
        elif options and arg.startswith("-") and arg != "-":
            flag = next((long for short, long in flags
                         if arg in (short, long)), None)
            if flag is None:
                raise InvalidArgument(f"unrecognized option '{arg}'"
                                      f" (usage: {usage})")
            given.add(flag)
        else:
            values.append(arg)
    if len(values) != len(names):
        raise InvalidArgument(f"usage: {usage}")
    return values, given


def getattr_main(argv):
    """``flux getattr NAME``: print one broker attribute."""
    parsed = _parse("getattr", argv, ["name"])
    if parsed is None:
        return 0
    (name,), _ = parsed
    with Flux() as h:
        print(h.rpc("attr.get", {"name": name})["value"])
    return 0


def setattr_main(argv):
    """``flux setattr NAME VALUE``: change a runtime-writable attribute."""
    parsed = _parse("setattr", argv, ["name", "value"])
    if parsed is None:
        return 0
    (name, value), _ = parsed
    with Flux() as h:
        h.rpc("attr.set", {"name": name, "value": value})
    return 0


def lsattr_main(argv):
    """``flux lsattr [-v]``: list attribute names (``-v`` with values)."""
    parsed = _parse("lsattr", argv, [], flags=[("-v", "--values")])
    if parsed is None:
        return 0
    _, given = parsed
    with Flux() as h:
        names = h.rpc("attr.list")["names"]
        if "--values" not in given:
            for name in names:
                print(name)
            return 0
        tokens = [h.send("attr.get", {"name": n}) for n in names]
        values = [h.wait(token) for token in tokens]
    width = max((len(n) for n in names), default=0)
    for name, raw in zip(names, values):
        print(f"{name:<{width}} {decode_json(raw)['value']}")
    return 0
