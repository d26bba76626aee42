"""Rank 0's relay of an interactive pty (fluxd.exec._pty): output held
for a client yet to attach, live output, the session's end."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.exec import _pty


class FakeRequest:
    def __init__(self):
        self.responses, self.cancel = [], None

    def respond(self, payload):
        self.responses.append(payload)

    def on_cancel(self, callback):
        self.cancel = callback


class PtyRelayTests(SynchronousTestCase):

    def test_held_then_live_then_end(self):
        relay = _pty.PtyRelay()
        relay.event({"data": "aGk="})
        first, second = FakeRequest(), FakeRequest()
        done = relay.attach(first)
        self.assertEqual(first.responses, [{"data": "aGk="}])
        relay.attach(second)
        self.assertEqual(second.responses, [])     # held output went once
        relay.event({"data": "eA=="})
        relay.event({"eof": True, "status": 3})
        for request in (first, second):
            self.assertEqual(request.responses[-2:], [
                {"data": "eA=="}, {"eof": True, "status": 3}])
        self.assertIsNone(self.successResultOf(done))
        late = FakeRequest()
        self.successResultOf(relay.attach(late))
        self.assertEqual(late.responses, [{"eof": True, "status": 3}])

    def test_held_output_is_bounded_and_cancel_detaches(self):
        self.patch(_pty, "MAX_HELD", 10)
        relay = _pty.PtyRelay()
        for chunk in ("aaaa", "bbbb", "cccc", "dddd"):
            relay.event({"data": chunk})
        request = FakeRequest()
        done = relay.attach(request)
        self.assertEqual([r["data"] for r in request.responses],
                         ["cccc", "dddd"])
        request.cancel()
        self.successResultOf(done)
        relay.event({"data": "eeee"})
        self.assertEqual(len(request.responses), 2)
        # a lost shell ends the session too
        relay.close()
        self.assertEqual(relay.end, {"eof": True, "status": None})
