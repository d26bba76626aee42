"""The drain table: flux-core's drain/undrain rules, replay, status info."""

import errno

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import AlreadyExists, InvalidArgument
from fluxd.formats.idset import IDset
from fluxd.resource._drain import DrainState


def ids(text):
    return IDset(text)


class CheckTests(SynchronousTestCase):
    def setUp(self):
        self.d = DrainState(4)

    def test_range(self):
        with self.assertRaises(InvalidArgument) as cm:
            self.d.check_range(ids(""))
        self.assertEqual(str(cm.exception), "idset is empty")
        with self.assertRaises(InvalidArgument) as cm:
            self.d.check_range(ids("2-4"))
        self.assertEqual(str(cm.exception), "idset is out of range")
        self.d.check_range(ids("0-3"))

    def test_already_drained_one_and_many(self):
        self.d.drain(ids("1-2"), 10.0, "bad")
        with self.assertRaises(AlreadyExists) as cm:
            self.d.check_drain(ids("1"), IDset())
        self.assertEqual(str(cm.exception), "rank 1 already drained")
        self.assertEqual(cm.exception.errno, errno.EEXIST)
        with self.assertRaises(AlreadyExists) as cm:
            self.d.check_drain(ids("0-3"), IDset())
        self.assertEqual(str(cm.exception), "ranks 1-2 already drained")

    def test_excluded_and_both(self):
        with self.assertRaises(InvalidArgument) as cm:
            self.d.check_drain(ids("0"), ids("0"))
        self.assertEqual(str(cm.exception), "rank 0 excluded")
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.d.drain(ids("1"), 10.0, "bad")
        with self.assertRaises(AlreadyExists) as cm:
            self.d.check_drain(ids("0-1"), ids("0"))
        self.assertEqual(str(cm.exception),
                         "ranks 0-1 already drained or excluded")

    def test_modes_allow_drained_but_never_excluded(self):
        self.d.drain(ids("1"), 10.0, "bad")
        for mode in ("update", "overwrite", "force-overwrite"):
            self.d.check_drain(ids("1"), IDset(), mode)
            with self.assertRaises(InvalidArgument):
                self.d.check_drain(ids("0"), ids("0"), mode)
        with self.assertRaises(InvalidArgument) as cm:
            self.d.check_drain(ids("1"), IDset(), "sideways")
        self.assertEqual(str(cm.exception), "Invalid mode specified")

    def test_drained_without_reason_may_be_drained_again(self):
        self.d.drain(ids("1"), 10.0, None)
        self.d.check_drain(ids("1"), IDset())

    def test_undrain_checks(self):
        self.d.drain(ids("1"), 10.0, "x")
        with self.assertRaises(InvalidArgument) as cm:
            self.d.check_undrain(ids("0-1"))
        self.assertEqual(str(cm.exception), "rank 0 not drained")
        with self.assertRaises(InvalidArgument) as cm:
            self.d.check_undrain(ids("0-3"))
        self.assertEqual(str(cm.exception), "ranks 0,2-3 not drained")
        self.assertEqual(self.d.check_undrain(ids("0-1"), "force"), ids("1"))
        with self.assertRaises(InvalidArgument) as cm:
            self.d.check_undrain(ids("1"), "gently")
        self.assertEqual(str(cm.exception),
                         "invalid undrain mode 'gently' specified")


class UpdateTests(SynchronousTestCase):
    def setUp(self):
        self.d = DrainState(4)

    def test_overwrite_levels(self):
        self.d.drain(ids("1"), 10.0, "first")
        self.d.drain(ids("1"), 20.0, "second", 0)
        self.assertEqual((self.d.timestamp(1), self.d.reason(1)),
                         (10.0, "first"))
        self.d.drain(ids("1"), 30.0, "third", 1)
        self.assertEqual((self.d.timestamp(1), self.d.reason(1)),
                         (10.0, "third"))
        self.d.drain(ids("1"), 40.0, "fourth", 2)
        self.assertEqual((self.d.timestamp(1), self.d.reason(1)),
                         (40.0, "fourth"))

    def test_update_fills_a_missing_reason(self):
        self.d.drain(ids("1"), 10.0, None)
        self.d.drain(ids("1"), 20.0, "now known", 0)
        self.assertEqual((self.d.timestamp(1), self.d.reason(1)),
                         (10.0, "now known"))

    def test_info_groups_by_time_and_reason(self):
        self.d.drain(ids("0,2"), 10.0, "a")
        self.d.drain(ids("3"), 10.0, None)
        self.d.drain(ids("1"), 11.0, "a")
        self.assertEqual(self.d.info(), {
            "0,2": {"timestamp": 10.0, "reason": "a"},
            "1": {"timestamp": 11.0, "reason": "a"},
            "3": {"timestamp": 10.0, "reason": ""}})
        self.assertEqual(list(self.d.info()), ["0,2", "1", "3"])
        self.d.undrain(ids("0-2"))
        self.assertEqual(self.d.drained(), ids("3"))

    def test_ranks_beyond_the_instance_are_ignored(self):
        self.d.drain(ids("3-9"), 1.0, "x")
        self.d.undrain(ids("7"))
        self.assertEqual(self.d.drained(), ids("3"))
        self.assertFalse(self.d.is_drained(9))


class ReplayTests(SynchronousTestCase):
    def entries(self):
        return [
            {"timestamp": 1.0, "name": "drain",
             "context": {"idset": "0-1", "nodelist": "n[0-1]",
                         "reason": "a", "overwrite": 0}},
            {"timestamp": 2.0, "name": "online", "context": {"idset": "0"}},
            {"timestamp": 3.0, "name": "drain",
             "context": {"idset": "1", "nodelist": "n1", "reason": "b"}},
            {"timestamp": 4.0, "name": "undrain",
             "context": {"idset": "0", "nodelist": "n0"}},
        ]

    def test_replay(self):
        d = DrainState(2)
        d.replay(self.entries(), ["n0", "n1"])
        self.assertEqual(d.info(), {"1": {"timestamp": 1.0, "reason": "b"}})

    def test_drains_follow_hosts_that_moved(self):
        d = DrainState(3)
        d.replay(self.entries(), ["n1", "n0", "n2"])
        self.assertEqual(d.drained(), ids("0"))
        self.assertEqual(d.reason(0), "b")
        gone = DrainState(2)
        gone.replay(self.entries(), ["x0", "x1"])
        self.assertEqual(gone.drained(), IDset())

    def test_bad_event(self):
        with self.assertRaises(InvalidArgument) as cm:
            DrainState(2).replay([{"timestamp": 1.0, "name": "drain",
                                   "context": {"reason": "x"}}])
        self.assertEqual(str(cm.exception),
                         "resource.eventlog line 1: drain parse error")

    @given(st.lists(st.tuples(st.booleans(), st.sets(st.integers(0, 7),
                                                     min_size=1),
                              st.integers(0, 2)), max_size=20))
    def test_replay_reproduces_live_state(self, actions):
        live = DrainState(8)
        log = []
        for t, (drain, ranks, overwrite) in enumerate(actions):
            target = IDset(ranks)
            if drain:
                live.drain(target, float(t), f"r{t}", overwrite)
                log.append({"timestamp": float(t), "name": "drain",
                            "context": {"idset": target.encode(),
                                        "reason": f"r{t}",
                                        "overwrite": overwrite}})
            else:
                live.undrain(target)
                log.append({"timestamp": float(t), "name": "undrain",
                            "context": {"idset": target.encode()}})
        again = DrainState(8)
        again.replay(log)
        self.assertEqual(again.info(), live.info())
