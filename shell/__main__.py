# -*- test-case-name: tests.unit.exec.test_shell -*-
"""``flux-shell``: run one job shell from a spec file (or ``-`` for
stdin); its events go to stdout, one JSON object per line, and orders
(``{"op": "kill", "signum": N}``) are read from fd 3 when it is open.

``flux-shell JOBID`` (as the IMP runs it for another user's job, see
:mod:`fluxd.exec._imp`): the spec is the first line of stdin; the shell
runs under its relay (:mod:`flux_shell.relay`), which talks to the
broker on the socket the spec names and outlives the broker."""

import json
import os
import sys

from flux_shell import relay
from flux_shell.shell import run


def main(argv=None):
    """Entry point; returns the shell's exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("Usage: flux-shell SPEC.json|-|JOBID\n")
        return 1
    if argv[0].isdigit():
        return _from_stdin(int(argv[0]))
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


def _from_stdin(jobid):
    """The spec on stdin's first line (read a byte at a time: what
    follows is the orders, read by the shell from fd 0)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(0, 1)
        if not byte:
            break
        line += byte
    try:
        spec = json.loads(line)
    except ValueError as exc:
        sys.stderr.write(f"flux-shell: job {jobid}: bad spec on stdin:"
                         f" {exc}\n")
        return 1
    if not isinstance(spec, dict) or spec.get("id") != jobid:
        sys.stderr.write(f"flux-shell: job {jobid}: the spec on stdin is"
                         " not this job's\n")
        return 1
    return relay.main(spec)


if __name__ == "__main__":
    sys.exit(main())
