# -*- test-case-name: tests.unit.test_heap -*-
"""The broker's garbage-collector settings.

A broker holds many long-lived containers (its modules and services at
start, then a record per job) and makes many short-lived ones (a message,
a Deferred, a dict per event).  With CPython's default thresholds the
young generation is collected every 700 allocations and the middle one
every ten of those, each time walking everything that survived since; the
job records of a deep queue are walked again and again.  :func:`settle`
runs once the broker is built: what exists then lives as long as the
broker, so it is collected once and frozen (never walked again), and the
thresholds are raised so that collections come less often.  Reference
counting still frees everything acyclic at once; cycles wait a little
longer.

How far the young generation's is raised sets the pauses: a young
collection costs about the same per object allocated since the last
one, so a threshold five times higher makes pauses five times longer
for the same total.  ``bench/throughput.py --real -N 16000`` on one
broker (2026-12-04, two runs each): at 50,000 (and 50 for the middle
generation), 26-30 young collections, 1.29-1.32 s in all, pauses up to
87-101 ms, each one holding up every running job's next step; at
10,000 (and 250, the same middle cadence) 173-174 collections,
1.15-1.18 s, pauses up to 25-29 ms.  CPython's defaults spent 1.3-1.5 s
on 4,000 young, 1.1-1.2 s on 360 middle and 3.3-4.0 s on 33 full
collections (pauses up to 215 ms).
"""

import gc

__all__ = ["settle", "THRESHOLDS"]

#: young, middle, old generation thresholds (CPython: 700, 10, 10)
THRESHOLDS = (10000, 250, 100)


def settle(collector=gc):
    """Collect, freeze what is left and raise the thresholds.

    :param collector: the ``gc`` module (a stand-in in tests).
    :returns: how many objects were frozen.
    """
    collector.collect()
    collector.freeze()
    collector.set_threshold(*THRESHOLDS)
    return collector.get_freeze_count()
