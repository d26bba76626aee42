# -*- test-case-name: tests.unit.resource.test_acquire -*-
"""RFC 28 resource acquisition: how the scheduler learns the resources.

A scheduler sends the streaming ``resource.acquire`` request once.  The
first response carries the instance R without the excluded ranks, the
ranks a job may use now (``up``) and the others (``down``)::

    {"resources": R, "up": "0-2", "down": "3", "expiration": 0.0}

then each later response one change, ``{"up": idset}`` or
``{"down": idset}``, as ranks come online or go offline, are drained or
undrained, turn torpid or lively.  A rank is *up* when it is online,
neither drained nor torpid (flux-core's ``acquire.c`` counts the same
states as down).

:class:`Acquirers` keeps the acquire streams of one resource service and
the set of up ranks last announced to them; the service calls
:meth:`Acquirers.changed` after anything that may have moved a rank.
"""

from twisted.internet import defer

from fluxd.formats.idset import IDset

__all__ = ["Acquirers"]


class Acquirers:
    """The ``resource.acquire`` streams of rank 0's resource service.

    :param usable: ``usable()`` -> the instance R without the excluded
        ranks (an :class:`~fluxd.formats.rv1.Rv1`), once R is defined.
    :param ranks: ``ranks()`` -> the :class:`IDset` of those ranks
        (cheaper than ``usable().ranks()``: asked at every change).
    :param down: ``down()`` -> the :class:`IDset` of ranks not usable now
        (offline, drained or torpid), excluded ranks included or not.
    """

    def __init__(self, usable, ranks, down):
        self._usable = usable
        self._ranks = ranks
        self._down = down
        #: open streams: request -> the Deferred that ends it
        self._requests = {}
        self._up = None

    def __len__(self):
        return len(self._requests)

    def _up_now(self):
        return self._ranks() - self._down()

    def add(self, request):
        """Answer the first response of a new stream (R must be defined)
        and keep the stream for the changes.

        :returns: a Deferred firing (ending the stream) when the client
            cancels it or :meth:`close` is called.
        """
        usable = self._usable()
        up = usable.ranks() - self._down()
        if self._up is None:
            self._up = up
        elif up != self._up:
            # announce what the others missed before this one joins
            self.changed()
        request.respond({"resources": usable.encode(), "up": up.encode(),
                         "down": (usable.ranks() - up).encode(),
                         "expiration": usable.expiration})
        done = defer.Deferred()
        self._requests[request] = done

        def cancelled():
            self._requests.pop(request, None)
            if not self._requests:
                self._up = None
            if not done.called:
                done.callback(None)
        request.on_cancel(cancelled)
        return done

    def changed(self):
        """Tell every stream which ranks went up and which went down since
        the last announcement (nothing when nothing moved)."""
        if not self._requests:
            return
        up = self._up_now()
        went_up, went_down = up - self._up, self._up - up
        self._up = up
        for request in list(self._requests):
            if went_down:
                request.respond({"down": went_down.encode()})
            if went_up:
                request.respond({"up": went_up.encode()})

    def up(self):
        """The up ranks last announced (None without a stream)."""
        return None if self._up is None else IDset(self._up)

    def close(self):
        """End every stream (the service stops)."""
        requests, self._requests = self._requests, {}
        self._up = None
        for done in requests.values():
            if not done.called:
                done.callback(None)
