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
"""

import gc

__all__ = ["settle", "THRESHOLDS"]

#: young, middle, old generation thresholds (CPython: 700, 10, 10)
THRESHOLDS = (50000, 50, 100)


def settle(collector=gc):
    """Collect, freeze what is left and raise the thresholds.

    :param collector: the ``gc`` module (a stand-in in tests).
    :returns: how many objects were frozen.
    """
    collector.collect()
    collector.freeze()
    collector.set_threshold(*THRESHOLDS)
    return collector.get_freeze_count()
