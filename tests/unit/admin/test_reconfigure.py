"""[tbon] timings and [access] follow a reload."""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.admin.reconfigure import TbonTimings
from fluxd.config import config_from_object
from fluxd.errors import InvalidArgument
from fluxd.local.connection import Policy
from fluxd.message.types import ROLE_OWNER, ROLE_USER


class FakeOverlay:
    def __init__(self):
        self.torpid_min, self.torpid_max = 5.0, 30.0
        self.calls = []

    def set_torpid(self, tmin, tmax):
        self.calls.append((tmin, tmax))
        self.torpid_min, self.torpid_max = tmin, tmax


def tbon(**keys):
    return config_from_object({"tbon": keys})


class TbonTimingsTests(SynchronousTestCase):
    def test_follows_config(self):
        overlay = FakeOverlay()
        TbonTimings(overlay, {}).reconfigure(tbon(torpid_min="1s",
                                                  torpid_max="2s"))
        self.assertEqual(overlay.calls, [(1.0, 2.0)])
        TbonTimings(overlay, {}).reconfigure(tbon())
        self.assertEqual(overlay.calls[-1], (5.0, 30.0))

    def test_attribute_pins_its_key(self):
        overlay = FakeOverlay()
        overlay.torpid_max = 0.5
        timings = TbonTimings(overlay, {"tbon.torpid_max": "0.5s"})
        timings.reconfigure(tbon(torpid_min="0.1s", torpid_max="40s"))
        self.assertEqual(overlay.calls, [(0.1, 0.5)])

    def test_min_above_pinned_max_refused(self):
        overlay = FakeOverlay()
        overlay.torpid_max = 2.0
        timings = TbonTimings(overlay, {"tbon.torpid_max": "2s"})
        with self.assertRaises(InvalidArgument):
            timings.reconfigure(tbon(torpid_min="3s", torpid_max="40s"))
        self.assertEqual(overlay.calls, [])


class PolicyTests(SynchronousTestCase):
    def test_guest_access_follows_reload(self):
        policy = Policy(1000)
        self.assertIsNone(policy.credential(2000))
        policy.reconfigure(config_from_object(
            {"access": {"allow-guest-user": True, "allow-root-owner": True}}))
        self.assertEqual(policy.credential(2000), (2000, ROLE_USER))
        self.assertEqual(policy.credential(0), (1000, ROLE_OWNER))
        policy.reconfigure(config_from_object({}))
        self.assertIsNone(policy.credential(2000))
        self.assertIsNone(policy.credential(0))
