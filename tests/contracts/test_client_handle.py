"""The client handle contract the ``flux`` commands rely on.

``make_handle_tests(factory)`` checks a handle made by ``factory(test)``,
which returns ``(handle, put)``: ``put(key, bytes)`` stores a KVS value
on the instance the handle talks to.  It runs here against
:class:`fluxd.testing.jobs.RouterHandle` (in-process services) and, in
``tests/integration/test_client_handle.py``, against the real
:class:`fluxd.client.sync.Flux` and a broker process.
"""

import errno

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import FluxError, NotFound
from fluxd.storage import treeobj as T
from fluxd.testing.jobs import RouterHandle
from fluxd.testing.kvs import KVSBroker


def make_handle_tests(factory):
    """A TestCase class for client handles."""

    class Tests(SynchronousTestCase):
        def setUp(self):
            self.handle, self.put = factory(self)

        def lookup(self, key, flags=0):
            return {"key": key, "namespace": "primary", "flags": flags}

        def test_rpc_answers_the_decoded_payload(self):
            self.put("contract.a", b"value")
            answer = self.handle.rpc("kvs.lookup", self.lookup("contract.a"))
            self.assertEqual(T.decode_val(answer["val"]), b"value")

        def test_rpc_error_raises_its_flux_error(self):
            with self.assertRaises(NotFound) as ctx:
                self.handle.rpc("kvs.lookup", self.lookup("contract.none"))
            self.assertEqual(ctx.exception.errno, errno.ENOENT)
            with self.assertRaises(FluxError) as ctx:
                self.handle.rpc("nosuchservice.method", {})
            self.assertEqual(ctx.exception.errno, errno.ENOSYS)

        def test_stream_yields_then_ends_quietly(self):
            self.put("contract.b", b"streamed")
            answers = list(self.handle.stream("kvs-watch.lookup",
                                              self.lookup("contract.b")))
            self.assertEqual([T.decode_val(a["val"]) for a in answers],
                             [b"streamed"])

        def test_stream_error_raises(self):
            with self.assertRaises(NotFound):
                list(self.handle.stream("kvs-watch.lookup",
                                        self.lookup("contract.none")))

        def test_context_manager(self):
            with self.handle as h:
                self.assertIs(h, self.handle)

    return Tests


def _router_handle(test):
    broker = KVSBroker(owner=1000)
    test.successResultOf(broker.start())
    test.addCleanup(broker.stop)

    def put(key, data):
        test.successResultOf(broker.kvs.commit("primary", [
            {"key": key, "flags": 0, "dirent": T.create_val(data)}]))
    return RouterHandle(broker.router, 1000), put


RouterHandleContract = make_handle_tests(_router_handle)
