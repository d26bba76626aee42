# -*- test-case-name: tests.unit.exec.test_pty_relay -*-
"""The interactive pty of a job (``-o pty.interactive``), at rank 0.

The leader shell's ``pty`` plugin (:mod:`flux_shell.plugins.pty`) sends
what task 0 writes on its terminal as ``pty {data}`` events (base64),
and ``pty {eof, status}`` at its end.  :class:`PtyRelay` holds them for
the clients of ``job-exec.pty-attach`` (``flux run``, ``flux job
attach`` on a terminal): what came before a client attached, up to
:data:`MAX_HELD` bytes (the oldest dropped first), then everything as
it comes.  Keystrokes and window sizes go the other way as
``pty-input``/``pty-resize`` orders to the leader shell.
"""

from twisted.internet import defer

__all__ = ["PtyRelay", "MAX_HELD"]

#: bytes (base64) of terminal output held for a client yet to attach
MAX_HELD = 1024 * 1024


class PtyRelay:
    """The pty session of one job."""

    def __init__(self):
        self.held = []
        self.size = 0
        self.clients = {}        # request -> Deferred ending its stream
        self.end = None          # the final {eof, status}

    def event(self, ev):
        """A ``pty`` event of the leader shell."""
        if ev.get("eof"):
            self.end = {"eof": True, "status": ev.get("status")}
            for request, done in list(self.clients.items()):
                request.respond(self.end)
                done.callback(None)
            self.clients.clear()
            return
        data = ev.get("data")
        if not isinstance(data, str):
            return
        if self.clients:
            for request in self.clients:
                request.respond({"data": data})
            return
        self.held.append(data)
        self.size += len(data)
        while self.size > MAX_HELD and len(self.held) > 1:
            self.size -= len(self.held.pop(0))

    def attach(self, request):
        """A client attached: what was held, then each event.
        :returns: a Deferred ending the stream with the session."""
        for data in self.held:
            request.respond({"data": data})
        self.held, self.size = [], 0
        done = defer.Deferred()
        if self.end is not None:
            request.respond(self.end)
            done.callback(None)
            return done
        self.clients[request] = done
        request.on_cancel(lambda: self._detach(request))
        return done

    def _detach(self, request):
        done = self.clients.pop(request, None)
        if done is not None:
            done.callback(None)

    def close(self):
        """The job ended without a session end (its shell was lost)."""
        if self.end is None:
            self.event({"eof": True, "status": None})
