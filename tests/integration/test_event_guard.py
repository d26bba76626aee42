"""Forged events never reach a service (issue: a guest replaced the KVS).

A whole broker is built in this process (the real composition root, the
real reactor through pytest-twisted), so that the test can enumerate every
subscription the broker's services made, whatever services exist: a
guest-stamped event aimed at each one must not be delivered, and nothing
the broker keeps may change.  The same forged events published by the
owner do reach them, which shows the check is not vacuous.
"""

import json

import pytest_twisted
from twisted.internet import reactor

from fluxd.broker import build_broker
from fluxd.config import load_config
from fluxd.message.router import Credential
from fluxd.message.types import EVENT, ROLE_OWNER, ROLE_USER, Message

GUEST = Credential(4242, ROLE_USER)


def forged_payload(kvs_root):
    """A payload that would do harm if believed: an older root, a removed
    namespace, a dropped cache, a drain, a cancel."""
    return {"namespace": "primary", "rootref": kvs_root, "rootseq": 10 ** 6,
            "owner": GUEST.userid, "keys": ["a"], "id": 1, "type": "cancel",
            "severity": 0, "idset": "0", "reason": "forged"}


async def snapshot(router):
    owner = router.instance_cred
    root = await router.call("kvs.getroot", {"namespace": "primary"},
                             cred=owner)
    names = await router.call("kvs.namespace-list", {}, cred=owner)
    value = await router.call("kvs.lookup", {"key": "canary",
                                             "namespace": "primary",
                                             "flags": 0}, cred=owner)
    return root, names, value


@pytest_twisted.ensureDeferred
async def test_guest_events_reach_no_subscription(tmp_path):
    broker = build_broker(reactor, load_config(None), {
        "rundir": str(tmp_path / "run"), "statedir": str(tmp_path / "state")})
    broker.startService()
    try:
        await broker.started
        router = broker.router
        events = broker.modules.by_name()["event"]
        owner = router.instance_cred
        await router.call("kvs.commit", {"namespace": "primary", "flags": 0,
                                         "ops": [{"key": "canary", "flags": 0,
                                                  "dirent": {"ver": 1,
                                                             "type": "val",
                                                             "data": "aGk="}}]},
                          cred=owner)
        empty = (await router.call("kvs.getroot", {"namespace": "primary"},
                                   cred=owner))["rootref"]
        before = await snapshot(router)
        subs = events.subscriptions()
        assert subs, "the broker's services subscribe to events"
        called = {id(sub): 0 for sub in subs}
        for sub in subs:
            inner = sub.callback

            def counting(message, sub=sub, inner=inner):
                called[id(sub)] += 1
                return inner(message)
            sub.callback = counting
        topics = {sub.prefix + suffix for sub in subs
                  for suffix in ("", "primary-setroot", "primary-removed", "x")}
        payload = json.dumps(forged_payload(empty)).encode()
        for topic in sorted(topics):
            events.deliver(Message(EVENT, topic, payload, 0,
                                   userid=GUEST.userid, rolemask=GUEST.rolemask,
                                   seq=events.seq + 1))
        assert all(count == 0 for count in called.values()), \
            "a guest's event reached a service subscription"
        assert await snapshot(router) == before
        # the same deliveries stamped with the owner's role do arrive
        sample = subs[0]
        events.deliver(Message(EVENT, sample.prefix + "probe", b"{}", 0,
                               userid=owner.userid, rolemask=ROLE_OWNER,
                               seq=events.seq + 1))
        assert called[id(sample)] == 1
    finally:
        await broker.stopService()
