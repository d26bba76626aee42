# -*- test-case-name: tests.unit.sched.test_fluxion -*-
"""The scheduler's settings from ``[sched-fluxion-qmanager]`` and
``[sched-fluxion-resource]`` (pure).

``queue-policy`` (``fcfs``, ``easy``, ``hybrid``, ``conservative``) and
``queue-policy-per-queue`` (``"batch:easy debug:fcfs"``) choose each
queue's policy; ``queue-params`` (``queue-depth``: pending jobs one
pass considers; ``max-queue-depth``: their upper bound) and
``policy-params`` (``reservation-depth`` for hybrid,
``max-reservation-depth`` for conservative, both bounded by the max)
tune them, as tables or as Fluxion's ``"key=N,key=N"`` strings.
``match-policy`` and ``match-format`` go to the resource side.  The
config schema has checked the values; :func:`sched_settings` raises
:class:`SettingsError` naming the key for what it cannot take anyway.
"""

from fluxd.sched.match import MatchError, MatchPolicy

__all__ = ["QueueSettings", "SchedSettings", "SettingsError",
           "sched_settings", "POLICIES"]

POLICIES = ("fcfs", "easy", "hybrid", "conservative")
_QM = "sched-fluxion-qmanager"
_RS = "sched-fluxion-resource"


class SettingsError(ValueError):
    """A setting the scheduler refuses; ``str()`` names the key."""


class QueueSettings:
    """One queue's policy.

    :ivar policy: ``fcfs``, ``easy``, ``hybrid`` or ``conservative``.
    :ivar queue_depth: pending jobs considered per pass.
    :ivar reservations: jobs that may hold a reservation (0 for fcfs).
    """

    __slots__ = ("policy", "queue_depth", "reservations")

    def __init__(self, policy="fcfs", queue_depth=32, reservations=0):
        self.policy = policy
        self.queue_depth = queue_depth
        self.reservations = reservations

    def __repr__(self):
        return (f"QueueSettings({self.policy!r}, queue_depth="
                f"{self.queue_depth}, reservations={self.reservations})")


class SchedSettings:
    """Every queue's settings, the match policy and the R format."""

    def __init__(self, default=None, per_queue=None, match=None,
                 match_format="rv1_nosched"):
        self.default = default or QueueSettings()
        self.per_queue = per_queue or {}
        self.match = match or MatchPolicy()
        self.match_format = match_format

    def queue(self, name):
        """The settings of queue ``name`` (None: the anonymous queue)."""
        return self.per_queue.get(name, self.default)


def _params(config, key, names):
    value = config.get(f"{_QM}.{key}", None)
    out = {}
    if value is None:
        return out
    if isinstance(value, dict):
        return {k: int(v) for k, v in value.items()}
    for token in str(value).split(","):
        name, sep, number = token.strip().partition("=")
        if name not in names or not sep or not number.isdigit() \
                or int(number) < 1:
            raise SettingsError(f"{_QM}.{key}: invalid parameter"
                                f" '{token.strip()}'")
        out[name] = int(number)
    return out


def _queue(policy, key, qparams, pparams):
    if policy not in POLICIES:
        raise SettingsError(f"{_QM}.{key}: unknown queue policy '{policy}'")
    max_depth = qparams.get("max-queue-depth", 1000000)
    depth = min(qparams.get("queue-depth", 32), max_depth)
    max_res = pparams.get("max-reservation-depth", 100000)
    reservations = {"fcfs": 0, "easy": 1,
                    "hybrid": min(pparams.get("reservation-depth", 64),
                                  max_res),
                    "conservative": max_res}[policy]
    return QueueSettings(policy, depth, reservations)


def sched_settings(config):
    """Read a :class:`fluxd.config.Config` (or None: the defaults).

    :raises SettingsError: naming the key.
    """
    if config is None:
        return SchedSettings()
    qparams = _params(config, "queue-params",
                      ("max-queue-depth", "queue-depth"))
    pparams = _params(config, "policy-params",
                      ("max-reservation-depth", "reservation-depth"))
    policy = config.get(f"{_QM}.queue-policy", "fcfs")
    default = _queue(policy, "queue-policy", qparams, pparams)
    per_queue = {}
    text = config.get(f"{_QM}.queue-policy-per-queue", None) or ""
    for token in text.split():
        name, sep, qpolicy = token.partition(":")
        if not sep or not name:
            raise SettingsError(f"{_QM}.queue-policy-per-queue: invalid"
                                f" entry '{token}' (expected QUEUE:POLICY)")
        per_queue[name] = _queue(qpolicy, "queue-policy-per-queue",
                                 qparams, pparams)
    try:
        match = MatchPolicy(config.get(f"{_RS}.match-policy", "first"))
    except MatchError as exc:
        raise SettingsError(f"{_RS}.match-policy: {exc}") from None
    fmt = config.get(f"{_RS}.match-format", "rv1_nosched")
    if fmt not in ("rv1_nosched", "rv1", "rv1_shorthand"):
        raise SettingsError(f"{_RS}.match-format: '{fmt}' is not supported"
                            " (rv1_nosched, rv1 or rv1_shorthand)")
    return SchedSettings(default, per_queue, match, fmt)
