"""job-ingest checks munge-signed J with a real private munged."""

import base64
import errno
import json
import os
import time

import pytest
from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from fluxd.formats.jobspec import from_command
from fluxd.message.router import Credential
from fluxd.message.types import ROLE_OWNER, ROLE_USER
from fluxd.security.sign import SignConfig, wrap, wrap_none
from fluxd.testing.munged import MUNGED, private_munged
from tests.unit.job.fakes import Instance

if MUNGED is None:
    pytest.skip("munged not installed (.ci/run installs the munge package)",
                allow_module_level=True)

# munged vouches for this process's uid: the test's owner and guest share
# it and differ by role only
OWNER = Credential(os.getuid(), ROLE_OWNER)
GUEST = Credential(os.getuid(), ROLE_USER)
TTL = 600


class IngestMungeTests(SynchronousTestCase):
    def setUp(self):
        munged = private_munged()
        self.socket = munged.__enter__()
        self.addCleanup(munged.__exit__, None, None, None)
        self.signing = SignConfig(TTL, "munge", ("munge",), self.socket)
        self.i = Instance(self, signing=self.signing)
        self.i.clock.advance(time.time() - self.i.clock.seconds())

    def J(self, userid=None, config=None):
        payload = json.dumps(from_command(["true"])).encode()
        return wrap(payload, os.getuid() if userid is None else userid,
                    config or self.signing)

    def submit(self, signed, cred):
        return self.i.call("job-ingest.submit",
                           {"J": signed, "urgency": 16, "flags": 0}, cred)

    def refused(self, signed, cred=GUEST):
        failure = self.failureResultOf(self.submit(signed, cred))
        return failure.value.errno, str(failure.value)

    def test_guest_may_submit_munge(self):
        answer = self.successResultOf(self.submit(self.J(), GUEST))
        self.assertIn("id", answer)
        [job] = self.i.manager.jobs()
        self.assertEqual(job.userid, GUEST.userid)
        # and the owner too
        self.assertIn("id", self.successResultOf(self.submit(self.J(), OWNER)))

    def test_guest_none_refused(self):
        none = SignConfig(TTL, "none", ("none", "munge"))
        self.assertEqual(self.refused(self.J(config=none)), (
            errno.EPERM, "only instance owner can use sign-type=none"))
        # the owner may sign with none, as in flux-core
        payload = json.dumps(from_command(["true"])).encode()
        self.assertIn("id", self.successResultOf(
            self.submit(wrap_none(payload, os.getuid()), OWNER)))

    def test_expired(self):
        signed = self.J()
        self.assertIn("id", self.successResultOf(self.submit(signed, GUEST)))
        self.i.clock.advance(TTL + 5)
        # the same J again (the decoded copy is reused): still refused
        self.assertEqual(self.refused(signed), (
            errno.EINVAL, "sign-munge-verify: max-ttl exceeded"))
        self.i.ingest._last = None
        self.assertEqual(self.refused(signed), (
            errno.EINVAL, "sign-munge-verify: max-ttl exceeded"))

    def test_tampered_jobspec(self):
        head, _, cred = self.J().split(".")
        other = json.dumps(from_command(["rm", "-rf", "/"])).encode()
        forged = ".".join([head, base64.b64encode(other).decode(), cred])
        self.assertEqual(self.refused(forged), (
            errno.EINVAL, "sign-munge-verify: SHA256 hash mismatch"))

    def test_signed_as_another_user(self):
        # the header names another user; munged vouches for ours
        other = os.getuid() + 4242
        self.assertEqual(self.refused(self.J(userid=other),
                                      Credential(other, ROLE_USER)),
                         (errno.EINVAL, "sign-munge-verify: uid mismatch"))

    def test_mechanism_not_allowed(self):
        i = Instance(self, signing=SignConfig(TTL, "none", ("none",)))
        failure = self.failureResultOf(i.call(
            "job-ingest.submit", {"J": self.J(), "urgency": 16, "flags": 0},
            OWNER))
        self.assertEqual(str(failure.value),
                         "sign-unwrap: header mechanism=munge not allowed")
        self.assertEqual(list(i.manager.jobs()), [])

    def test_reconfigure_rereads_sign(self):
        """A reload re-reads [sign]: a mechanism no longer allowed is
        refused; an invalid [sign] refuses the reload whole."""
        from fluxd.config import config_from_object
        from fluxd.errors import InvalidArgument
        from fluxd.security.sign import SignError
        loaded = [SignConfig(TTL, "none", ("none",))]

        def load():
            if isinstance(loaded[0], Exception):
                raise loaded[0]
            return loaded[0]
        self.i.ingest._load_signing = load
        signed = self.J()
        self.assertIn("id", self.successResultOf(self.submit(signed, GUEST)))
        self.i.ingest.reconfigure(config_from_object({}))
        self.assertEqual(self.refused(signed), (
            errno.EINVAL, "sign-unwrap: header mechanism=munge not allowed"))
        loaded[0] = SignError("sign: default-type: bad")
        with self.assertRaises(InvalidArgument) as caught:
            self.i.ingest.reconfigure(config_from_object({}))
        self.assertEqual(str(caught.exception), "sign: default-type: bad")
        self.assertEqual(self.refused(self.J()), (
            errno.EINVAL, "sign-unwrap: header mechanism=munge not allowed"))
        loaded[0] = self.signing
        self.i.ingest.reconfigure(config_from_object({}))
        self.assertIn("id", self.successResultOf(self.submit(self.J(),
                                                             GUEST)))


class IngestOffReactorTests(SynchronousTestCase):
    def test_batch_verified_in_one_blocking_call(self):
        with private_munged() as sock:
            signing = SignConfig(TTL, "munge", ("munge",), sock)
            calls = []

            def blocking(fn, *args):
                calls.append(args)
                return defer.maybeDeferred(fn, *args)

            i = Instance(self, signing=signing, blocking=blocking)
            i.clock.advance(time.time() - i.clock.seconds())
            payload = json.dumps(from_command(["true"])).encode()
            a, b = (wrap(payload, os.getuid(), signing) for _ in range(2))
            head, _, cred = a.split(".")
            forged = ".".join([head, base64.b64encode(b"{}").decode(), cred])
            none = wrap_none(payload, os.getuid())
            answer = i.ok("job-ingest.submit", {"jobs": [
                {"J": J, "urgency": 16, "flags": 0}
                for J in (a, b, a, forged, none)]}, OWNER)
        # the munge J, once each; none needs no munged
        self.assertEqual(calls, [([a, b, forged],)])
        self.assertEqual([sorted(x) for x in answer["jobs"]],
                         [["id"]] * 3 + [["errnum", "errstr"], ["id"]])
        self.assertEqual(answer["jobs"][3]["errstr"],
                         "sign-munge-verify: SHA256 hash mismatch")
