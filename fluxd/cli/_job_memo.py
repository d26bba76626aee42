# -*- test-case-name: tests.unit.job.test_memo -*-
"""``flux job memo [--volatile] ID KEY=VALUE...``: add user annotations
to an active job (``job-manager.memo``, flux-core's ``flux-job memo``).

Each ``KEY=VALUE`` sets ``KEY`` (dotted keys nest) in one memo object;
a VALUE that parses as JSON is that JSON value (``null`` removes the
key), else a string; ``KEY=-`` reads the value from standard input.
``--volatile`` keeps the memo out of the job's eventlog (it is lost when
the instance restarts).  Errors are flux's ``flux-job: memo: MESSAGE``.
"""

import json
import sys

from fluxd.cli._job_control import _parser, _run, _Usage
from fluxd.cli._jobid import parse_jobid
from fluxd.errors import FluxError, InvalidArgument

__all__ = ["cmd_memo", "memo_of"]


def memo_of(pairs, stdin=None):
    """The memo object of ``KEY=VALUE`` words.

    :raises InvalidArgument: ``memo: no value for key=WORD`` for a word
        without ``=``, ``memo: failed to set KEY=VALUE in memo object``
        for an empty key part or a key below a non-object.
    """
    memo = {}
    for word in pairs:
        key, sep, text = word.partition("=")
        if not sep:
            raise InvalidArgument(f"memo: no value for key={word}")
        if text == "-":
            text = (stdin or sys.stdin).read()
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        *parents, last = key.split(".")
        node = memo
        for name in parents:
            node = node.setdefault(name, {}) if name else None
            if not isinstance(node, dict):
                break
        if not last or not isinstance(node, dict):
            raise InvalidArgument(
                f"memo: failed to set {key}={text} in memo object")
        node[last] = value
    return memo


def cmd_memo(argv, connect=None):
    """``flux job memo [--volatile] ID KEY=VALUE...``."""
    parser = _parser("memo", "[OPTIONS] id key=value...",
                     "Post job memo")
    parser.add_argument("--volatile", action="store_true",
                        help="Memo will not appear in eventlog (will be"
                        " lost on restart)")
    parser.add_argument("words", nargs="*")

    def body(args, handle):
        if len(args.words) < 2:
            raise _Usage()
        text, *pairs = args.words
        request = {"id": parse_jobid(text), "volatile": args.volatile,
                   "memo": memo_of(pairs)}
        try:
            handle().rpc("job-manager.memo", request)
        except FluxError as exc:
            raise InvalidArgument(f"memo: {exc}") from None
        return 0
    return _run(parser, argv, body, connect)
