"""fluxd.util.heap: the broker's collector settings take effect."""

import gc
import weakref

from twisted.trial.unittest import SynchronousTestCase

from fluxd.util import heap


class SettleTests(SynchronousTestCase):
    """settle() freezes what exists and raises the thresholds."""

    def setUp(self):
        before = gc.get_threshold()
        self.addCleanup(gc.set_threshold, *before)
        self.addCleanup(gc.unfreeze)

    def test_existing_objects_are_frozen_and_thresholds_raised(self):
        kept = [{"job": n} for n in range(100)]
        frozen = heap.settle()
        self.assertEqual(frozen, gc.get_freeze_count())
        self.assertGreater(frozen, len(kept))
        # the frozen objects are in no generation: a collection skips them
        tracked = {id(o) for o in gc.get_objects()}
        self.assertNotIn(id(kept), tracked)
        self.assertEqual(gc.get_threshold(), heap.THRESHOLDS)
        self.assertGreater(gc.get_threshold()[0], 700)

    def test_cycles_made_later_are_still_collected(self):
        heap.settle()

        class Node:
            pass
        a, b = Node(), Node()
        a.other, b.other = b, a
        probe = weakref.ref(a)
        del a, b
        self.assertIsNotNone(probe())   # a cycle: reference counts keep it
        gc.collect()
        self.assertIsNone(probe())

    def test_young_collections_come_at_the_raised_threshold(self):
        # their effect: none for fewer new objects than the threshold,
        # then one (CPython's 700 would have made a dozen)
        heap.settle()
        young = []

        def count(phase, info):
            if phase == "stop" and info["generation"] == 0:
                young.append(1)
        gc.callbacks.append(count)
        self.addCleanup(gc.callbacks.remove, count)
        gc.collect()
        del young[:]
        kept = [[] for _ in range(heap.THRESHOLDS[0] - 2000)]
        self.assertEqual(young, [])
        kept += [[] for _ in range(4000)]
        self.assertEqual(len(young), 1)
