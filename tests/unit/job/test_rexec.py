"""The ``rexec`` service's refusals: owner only, malformed requests,
unknown commands (its real processes are tested on real brokers in
tests/integration/test_perilog.py)."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import NotFound, PermissionDenied, ProtocolError
from fluxd.job.rexec import RexecService
from fluxd.message.router import Router
from tests.unit.job.fakes import GUEST, OWNER, OWNER_UID


class RexecRefusals(SynchronousTestCase):
    def setUp(self):
        self.router = Router(rank=0, owner=OWNER_UID)
        self.router.add_module(RexecService(Clock()))

    def stream_error(self, payload, cred=OWNER):
        stream = self.router.stream("rexec.exec", payload, cred=cred,
                                    on_response=lambda r: None)
        return self.failureResultOf(stream.done).value

    def test_guests_are_refused(self):
        error = self.stream_error({"cmd": ["true"]}, GUEST)
        self.assertIsInstance(error, PermissionDenied)

    def test_malformed_requests(self):
        for payload in ({}, {"cmd": []}, {"cmd": "true"}, {"cmd": [""]},
                        {"cmd": ["true"], "env": {"A": 1}}):
            error = self.stream_error(payload)
            self.assertIsInstance(error, ProtocolError)
            self.assertTrue(str(error).startswith("rexec.exec: "))

    def test_kill_needs_a_known_command(self):
        d = self.router.call("rexec.kill", {"pid": 1, "signum": 9},
                             cred=OWNER)
        self.assertIsInstance(self.failureResultOf(d).value, NotFound)
        d = self.router.call("rexec.kill", {"pid": "1"}, cred=OWNER)
        self.assertIsInstance(self.failureResultOf(d).value, ProtocolError)
        d = self.router.call("rexec.kill", {"pid": 1, "signum": 9},
                             cred=GUEST)
        self.assertIsInstance(self.failureResultOf(d).value,
                              PermissionDenied)
