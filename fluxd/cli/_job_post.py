# -*- test-case-name: tests.unit.cli.test_job_post -*-
"""``flux job post-event ID NAME [KEY=VALUE...]``: post an event to a
job's eventlog through the job manager's ``.post-event`` plugin
(``job-manager.post-event.post``, instance owner only).  Each
``KEY=VALUE`` sets a context key (dotted keys nest, values are JSON when
they parse, else strings), as flux-core's ``flux-job-post-event``.
"""

import json

from fluxd.cli._job_control import _parser, _run, _Usage
from fluxd.cli._jobid import parse_jobid
from fluxd.errors import FluxError, InvalidArgument, NotFound

__all__ = ["cmd_post_event", "context_of"]


def context_of(pairs):
    """The context dict of ``KEY=VALUE`` words.

    :raises InvalidArgument: a word without ``=`` or an empty key.
    """
    context = {}
    for word in pairs:
        key, sep, text = word.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise InvalidArgument(f"context must be KEY=VALUE: {word}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        *parents, last = key.split(".")
        node = context
        for name in parents:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise InvalidArgument(f"{key}: {name} is not a dictionary")
        node[last] = value
    return context


def cmd_post_event(argv, connect=None):
    """``flux job post-event ID NAME [KEY=VALUE...]``."""
    parser = _parser("post-event", "id name [key=value...]",
                     "Post an event to a job's eventlog")
    parser.add_argument("words", nargs="*")

    def body(args, handle):
        if len(args.words) < 2:
            raise _Usage()
        text, name, *pairs = args.words
        request = {"id": parse_jobid(text), "name": name}
        if pairs:
            request["context"] = context_of(pairs)
        try:
            handle().rpc("job-manager.post-event.post", request)
        except NotFound:
            raise InvalidArgument(f"No such job {text}") from None
        except FluxError as exc:
            raise InvalidArgument(f"{text}: {exc}") from None
        return 0
    return _run(parser, argv, body, connect)
