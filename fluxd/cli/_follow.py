# -*- test-case-name: tests.unit.cli.test_run -*-
"""Follow job eventlogs from the ``flux`` command.

:class:`EventFollower` keeps any number of ``job-info.eventlog-watch``
streams (the main ``eventlog``, ``guest.exec.eventlog``,
``guest.output``) open on one connection and hands each entry to the
callback of its stream, until every stream has ended or been stopped.
:func:`render_output` turns an RFC 24 output event (``data``,
``redirect``, ``log``) into the text ``flux job attach`` writes.
"""

import base64
import errno
import json

from fluxd.errors import FluxError

__all__ = ["EventFollower", "render_output", "context_string",
           "WAITCREATE"]

#: job-info.eventlog-watch flag: wait for the log to be created
WAITCREATE = 1

#: flux-shell log levels (RFC 24 ``log`` events)
LEVELS = ["FATAL", "FATAL", "FATAL", "ERROR", " WARN", "", "DEBUG", "TRACE"]


def context_string(context):
    """An event context as compact JSON, as flux-core prints it."""
    if not context:
        return ""
    return json.dumps(context, ensure_ascii=False, separators=(",", ":"))


class EventFollower:
    """Many eventlog watches multiplexed on one broker handle.

    Each watch has a callback ``cb(entry, error)``: called with the decoded
    entry (a dict) for each event, then once with ``entry=None`` when the
    stream ends (``error`` is None at a normal end or the
    :class:`~fluxd.errors.FluxError` that ended it).  A stopped watch gets
    no more calls.

    :param handle: a broker handle with ``start_stream``,
        ``next_response`` and ``cancel``.
    """

    def __init__(self, handle):
        self.h = handle
        self._streams = {}
        self._stopped = set()

    def watch(self, jobid, path, callback, flags=0):
        """Start following ``path`` of job ``jobid``; returns a token."""
        token = self.h.start_stream("job-info.eventlog-watch", {
            "id": jobid, "path": path, "flags": flags})
        self._streams[token] = callback
        return token

    def stop(self, token):
        """Stop following one stream (its callback is not called again)."""
        if token in self._streams and token not in self._stopped:
            self._stopped.add(token)
            self.h.cancel(token)

    def active(self):
        """Whether any stream is still followed."""
        return len(self._stopped) < len(self._streams)

    def run(self, tick=None, interval=0.25):
        """Deliver entries until no stream is left.

        :param tick: called every ``interval`` seconds while waiting
            (signal handling, status lines); it may stop streams.
        """
        while self._streams:
            if not self.active():
                # every stream is stopped; their ends need not be awaited
                return
            item = self.h.next_response(list(self._streams),
                                        timeout=interval if tick else None)
            if item is None:
                if tick is not None:
                    tick()
                continue
            token, payload, error = item
            callback = self._streams[token]
            stopped = token in self._stopped
            if payload is None:
                del self._streams[token]
                self._stopped.discard(token)
                if not stopped:
                    callback(None, error)
                continue
            if stopped:
                continue
            callback(self._decode(payload), None)

    @staticmethod
    def _decode(payload):
        from fluxd.formats.eventlog import decode_entry
        line = payload.get("event") if isinstance(payload, dict) else None
        if not isinstance(line, str):
            raise FluxError("job-info.eventlog-watch: response has no event",
                            errnum=errno.EPROTO)
        return decode_entry(line if line.endswith("\n") else line + "\n")


def _data(context):
    data = context.get("data")
    if data is None:
        return ""
    if context.get("encoding") == "base64":
        data = base64.b64decode(data).decode("utf-8", "surrogateescape")
    return data * context.get("repeat", 1)


def render_output(entry, label=None):
    """An RFC 24 output eventlog entry as text.

    :param label: with ``--label-io``: a prefix for each line of data
        (``"{rank}: "`` is used when it is True).
    :returns: ``(stream, text)`` with stream ``"stdout"``/``"stderr"``,
        or None for entries that print nothing (``header``, an EOF).
    """
    name, context = entry.get("name"), entry.get("context") or {}
    if name == "data":
        text = _data(context)
        if not text:
            return None
        if label:
            prefix = (f"{context.get('rank')}: " if label is True else label)
            text = "".join(prefix + line
                           for line in text.splitlines(keepends=True))
        stream = "stdout" if context.get("stream") == "stdout" else "stderr"
        return stream, text
    if name == "redirect":
        path = context.get("path")
        where = f" to {path}" if path else ""
        return ("stderr", f"{context.get('rank')}: {context.get('stream')}"
                f" redirected{where}\n")
    if name == "log":
        level = context.get("level", 5)
        prefix = f"flux-shell[{context.get('rank')}]: "
        levelstr = LEVELS[level] if 0 <= level < len(LEVELS) else ""
        if levelstr:
            prefix += f"{levelstr}: "
        if context.get("component"):
            prefix += f"{context['component']}: "
        return "stderr", prefix + str(context.get("message", "")) + "\n"
    return None
