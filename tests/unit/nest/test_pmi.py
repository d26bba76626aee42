"""The PMI-1 client and the business-card exchange of nested brokers,
against the job shell's own PMI server (:mod:`flux_shell.plugins.pmi`)
and against a fake."""

import socket

from twisted.trial.unittest import SynchronousTestCase

from flux_shell.plugins.pmi import PMIServer
from fluxd.nest.pmi import (
    CHUNK, PMIClient, PMIError, card_items, exchange, parse_card)
from fluxd.security.keys import generate_cluster_cert

PEM = generate_cluster_cert("flux").cert_pem


class FakeShell:
    """What PMIServer needs of a one-task shell; a barrier of this one
    shell passes at once (the exec service's part)."""

    jobid, size, local_ranks = 42, 1, [0]

    def __init__(self):
        self.server = None

    def emit(self, name, **context):
        assert name == "pmi-barrier"
        self.server.barrier_done({"kvs": context["kvs"]})

    def die(self, code, message):
        raise AssertionError(message)


class ServerSocket:
    """Answers each request line of the client with PMIServer, in-line."""

    def __init__(self):
        self.shell = FakeShell()
        self.server = self.shell.server = PMIServer(self.shell)
        self.mine, self.theirs = socket.socketpair()

    def pump(self):
        data = b""
        while not data.endswith(b"\n"):
            data += self.mine.recv(65536)
        for line in data.splitlines():
            self.server.command(0, 0, self.mine, line)


class PumpedClient(PMIClient):
    """A client whose every request is answered before it reads."""

    def __init__(self, server):
        super().__init__(server.theirs, 0, 1)
        self._server = server

    def _write(self, data):
        super()._write(data)
        self._server.pump()


class AgainstTheShellServer(SynchronousTestCase):

    def test_a_card_crosses_the_shells_barrier(self):
        server = ServerSocket()
        client = PumpedClient(server)
        client.init()
        self.assertEqual(client.kvsname, "kvs_42")
        cards = exchange(client, "10.0.0.7", 4242, PEM)
        self.assertEqual(cards, [("10.0.0.7", 4242, PEM)])

    def test_a_refused_request_is_a_pmi_error(self):
        client = PumpedClient(ServerSocket())
        client.init()
        with self.assertRaises(PMIError) as cm:
            client.get("no-such-key")
        self.assertIn("key_not_found", str(cm.exception))


class FakePMI:
    """Ranks sharing one dict; the barrier is a no-op (cards of the other
    ranks are put before)."""

    def __init__(self, rank, size, kvs):
        self.rank, self.size, self.kvs = rank, size, kvs
        self.barriers = 0

    def put(self, key, value):
        assert " " not in value and len(value) <= 1024
        self.kvs[key] = value

    def get(self, key):
        if key not in self.kvs:
            raise PMIError(f"PMI: get: {key} not found")
        return self.kvs[key]

    def barrier(self):
        self.barriers += 1


class CardTests(SynchronousTestCase):

    def test_cards_of_every_rank_in_rank_order(self):
        kvs = {}
        other = generate_cluster_cert("flux").cert_pem
        for key, value in card_items(1, "127.0.0.1", 5001, other):
            kvs[key] = value
        rank0 = FakePMI(0, 2, kvs)
        cards = exchange(rank0, "127.0.0.1", 5000, PEM)
        self.assertEqual(cards, [("127.0.0.1", 5000, PEM),
                                 ("127.0.0.1", 5001, other)])
        self.assertEqual(rank0.barriers, 1)

    def test_a_certificate_is_cut_into_values_pmi_takes(self):
        long_pem = PEM * 3
        items = dict(card_items(3, "host", 1, long_pem))
        count = int(items["flux.bc.3.count"])
        self.assertGreater(count, 1)
        self.assertTrue(all(len(items[f"flux.bc.3.{i}"]) <= CHUNK
                            for i in range(count)))
        self.assertEqual(parse_card(3, items.__getitem__),
                         ("host", 1, long_pem))

    def test_a_bad_card_is_one_line(self):
        items = dict(card_items(0, "host", 1, PEM))
        for key, value, message in [
                ("flux.bc.0.addr", "host", "invalid business card 'host'"),
                ("flux.bc.0.addr", "host:99999", "invalid business card"),
                ("flux.bc.0.count", "x", "invalid business card"),
                ("flux.bc.0.0", "!!", "is not base64")]:
            bad = dict(items, **{key: value})
            with self.assertRaises(PMIError) as cm:
                parse_card(0, bad.__getitem__)
            self.assertIn(message, str(cm.exception))
            self.assertNotIn("\n", str(cm.exception))

    def test_an_address_with_a_space_is_refused(self):
        self.assertRaises(ValueError, card_items, 0, "a b", 1, PEM)

    def test_no_pmi_in_the_environment(self):
        with self.assertRaises(PMIError) as cm:
            PMIClient.from_environ({"PMI_RANK": "0"})
        self.assertIn("PMI_FD is not set", str(cm.exception))
        self.assertRaises(PMIError, PMIClient.from_environ,
                          {"PMI_FD": "x", "PMI_RANK": "0", "PMI_SIZE": "1"})


class AbortTests(SynchronousTestCase):

    def test_abort_ends_the_job_with_the_message(self):
        server = ServerSocket()
        client = PumpedClient(server)
        client.init()
        died = []
        server.shell.die = lambda code, message: died.append((code, message))
        client.abort(1, "no broker here")
        self.assertTrue(client.closed)
        self.assertEqual(died, [(1, "task 0: PMI_Abort: no_broker_here")])
