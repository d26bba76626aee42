# -*- test-case-name: tests.unit.exec.test_shell -*-
"""``flux-shell``: run one job shell from a spec file (or ``-`` for
stdin); its events go to stdout, one JSON object per line, and orders
(``{"op": "kill", "signum": N}``) are read from fd 3 when it is open."""

import json
import os
import sys

from flux_shell.shell import run


def main(argv=None):
    """Entry point; returns the shell's exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("Usage: flux-shell SPEC.json|-\n")
        return 1
    try:
        if argv[0] == "-":
            spec = json.load(sys.stdin)
        else:
            with open(argv[0], encoding="utf-8") as f:
                spec = json.load(f)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"flux-shell: {argv[0]}: {exc}\n")
        return 1
    if not isinstance(spec, dict) or "id" not in spec:
        sys.stderr.write(f"flux-shell: {argv[0]}: not a shell spec\n")
        return 1
    try:
        os.fstat(3)
        ctl = 3
    except OSError:
        ctl = None
    sys.stdout.flush()
    return run(spec, sys.stdout.fileno(), ctl)


if __name__ == "__main__":
    sys.exit(main())
