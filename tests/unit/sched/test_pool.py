"""The pool's bucket indexes and capacities, checked against a plain
model after random allocations, frees and drains."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.sched.policy import Request
from fluxd.sched.pool import Pool, Shape, _mask, bits, first_bits

SHAPES = [Shape(Request(3, 2)), Shape(Request(2, 1, slot_gpus=1)),
          Shape(Request(4, 2, nnodes=2)), Shape(Request(2, 1, nnodes=2,
                                                        exclusive=True)),
          Shape(Request(5, 3), node_exclusive=True)]


def build(spec):
    return Pool([(r, f"n{r}", (), (1 << c) - 1, (1 << g) - 1)
                 for r, (c, g) in enumerate(spec)])


def model_capacity(pool, shape, mask):
    return sum(shape.cap(n.nfree_c, n.nfree_g, n) for n in pool.nodes
               if n.up and n.bit & mask)


class PoolTests(SynchronousTestCase):
    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(0, 3000), max_size=300),
           st.integers(0, 400), st.booleans())
    def test_first_bits_of_big_and_small_masks(self, positions, count, high):
        mask = sum(1 << p for p in set(positions))
        self.assertEqual(first_bits(mask, count, high),
                         list(bits(mask, high))[:count])

    def test_mask_of_positions(self):
        self.assertEqual(_mask([0, 1, 2, 5, 7, 8]), 0b110100111)
        self.assertEqual(_mask([]), 0)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 3)),
                    min_size=1, max_size=8),
           st.lists(st.tuples(st.sampled_from(["take", "take-many", "give",
                                               "give-one", "give-ids",
                                               "down", "up"]),
                              st.integers(0, 7), st.integers(0, 6),
                              st.integers(0, 3)), max_size=40))
    def test_indexes_follow_every_change(self, spec, ops):
        pool = build(spec)
        pool.mark(range(len(spec)), True)
        for op, r, c, g in ops:
            node = pool.nodes[r % len(spec)]
            if op == "take":
                pool.take([(node, min(c, node.nfree_c),
                            min(g, node.nfree_g))])
            elif op == "take-many":
                # two ranks in one plan, in descending order
                other = pool.nodes[(r + 1) % len(spec)]
                plan = [(n, min(c, n.nfree_c), min(g, n.nfree_g))
                        for n in {node.pos: node, other.pos: other}.values()]
                pool.take(sorted(plan, key=lambda p: -p[0].pos), high=True)
            elif op == "give-ids":
                # the allocated ids of two ranks back (Pool.give_ids)
                other = pool.nodes[(r + 1) % len(spec)]
                pool.give_ids({n.pos: (n.cores & ~n.free_c,
                                       n.gpus & ~n.free_g)
                               for n in (node, other)})
            elif op == "give":
                pool.set_free_many([(node, node.cores, node.gpus)])
            elif op == "give-one":
                pool.set_free(node, node.cores, node.free_g)
            else:
                pool.mark([node.rank], op == "up")
            for k in range(pool.maxc + 2):
                self.assertEqual(pool.core_ge(k), sum(
                    n.bit for n in pool.nodes if n.up and n.nfree_c >= k))
            self.assertEqual(pool.idle, sum(n.bit for n in pool.nodes
                                            if n.up and n.idle()))
            self.assertEqual(pool.avail, sum(n.nfree_c for n in pool.nodes
                                             if n.up))
            for n in pool.nodes:
                self.assertEqual((n.nfree_c, n.nfree_g), (
                    n.free_c.bit_count(), n.free_g.bit_count()))
            everyone = (1 << len(spec)) - 1
            for shape in SHAPES:
                self.assertEqual(pool.capacity(shape, everyone),
                                 model_capacity(pool, shape, everyone))
                cand = pool.candidates(shape, everyone)
                self.assertEqual(cand, sum(
                    n.bit for n in pool.nodes if n.up
                    and shape.cap(n.nfree_c, n.nfree_g, n) > 0))

    def test_feasible_counts_every_rank_idle(self):
        pool = build([(4, 0), (4, 2)])
        self.assertTrue(pool.feasible(Shape(Request(2, 1, slot_gpus=1)), 3))
        self.assertFalse(pool.feasible(Shape(Request(3, 1, slot_gpus=1)), 3))
        self.assertFalse(pool.feasible(Shape(Request(2, 5, nnodes=2)), 3))
        self.assertTrue(pool.feasible(Shape(Request(2, 4, nnodes=2)), 3))
