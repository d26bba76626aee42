"""config.get / config.reload / config.load / SIGHUP on one broker and on
a small in-memory instance: a bad config, a restart key or a module's
refusal leaves the old config everywhere; followers take rank 0's."""

import errno
import os
import signal

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from zope.interface import implementer

from fluxd.admin.config_service import ConfigService
from fluxd.config import config_from_object, load_config
from fluxd.errors import InvalidArgument
from fluxd.interfaces import IReconfigurable, IUpstream
from fluxd.message.router import Router
from fluxd.message.types import NODEID_ANY
from fluxd.module import Module
from tests.unit.admin.helpers import GUEST, Call, TestCase, router_with


@implementer(IReconfigurable)
class Follower(Module):
    def __init__(self, name, refuse=None):
        super().__init__()
        self.name = name
        self.refuse = refuse
        self.seen = []

    def reconfigure(self, config):
        if self.refuse and config.get("access.allow-guest-user", False):
            raise InvalidArgument(self.refuse)
        self.seen.append(config.get("access.allow-guest-user", None))
        return defer.succeed(None)


class FakeReactor:
    def __init__(self):
        self.calls = []

    def callFromThread(self, f, *args):
        self.calls.append((f, args))


class ConfigServiceTests(TestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.mkdir(self.dir)
        self.write("access.toml", "[access]\nallow-guest-user = false\n")
        self.modules = [Follower("first"), Follower("second")]
        self.handlers = {}
        self.reactor = FakeReactor()
        self.service = ConfigService(
            load_config(self.dir), self.modules, self.reactor,
            install_signal=lambda sig, handler: self.handlers.__setitem__(sig, handler))
        self.modules.append(self.service)
        self.router = router_with(self.service)

    def write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def test_get_whole_table(self):
        call = Call(self.router, "config.get", rolemask=GUEST)
        self.assertEqual(call.payloads, [{"access": {"allow-guest-user": False}}])

    def test_reload_with_changed_file(self):
        self.write("access.toml", "[access]\nallow-guest-user = true\n")
        call = Call(self.router, "config.reload")
        self.assertEqual(call.final, (0, None))
        self.assertTrue(self.service.config.get("access.allow-guest-user"))
        self.assertEqual([m.seen for m in self.modules[:2]], [[True], [True]])
        self.assertEqual(Call(self.router, "config.get").payloads,
                         [{"access": {"allow-guest-user": True}}])

    def test_broken_file_refused_old_kept(self):
        self.write("access.toml", "[access\nallow-guest-user = true\n")
        with capturedLogs() as events:
            call = Call(self.router, "config.reload")
        self.assertEqual(call.final[0], errno.EINVAL)
        self.assertIn("access.toml:1:", call.final[1])
        self.assertFalse(self.service.config.get("access.allow-guest-user"))
        self.assertEqual([m.seen for m in self.modules[:2]], [[], []])
        self.assertTrue(any("keeping the old config" in formatEvent(e)
                            for e in events))

    def test_invalid_value_refused(self):
        self.write("access.toml", "[access]\nallow-guest-user = 'yes'\n")
        call = Call(self.router, "config.reload")
        self.assertEqual(call.final[0], errno.EINVAL)
        self.assertIn("allow-guest-user", call.final[1])

    def test_module_refusal_rolls_back(self):
        self.modules[1].refuse = "guests not supported here"
        self.write("access.toml", "[access]\nallow-guest-user = true\n")
        call = Call(self.router, "config.reload")
        self.assertEqual(call.final,
                         (errno.EINVAL, "second: guests not supported here"))
        self.assertEqual(self.modules[0].seen, [True, False])
        self.assertFalse(self.service.config.get("access.allow-guest-user"))

    def test_reload_needs_owner(self):
        call = Call(self.router, "config.reload", rolemask=GUEST)
        self.assertEqual(call.final[0], errno.EPERM)

    def test_sighup_reloads_in_the_reactor_thread(self):
        self.assertIn(signal.SIGHUP, self.handlers)
        self.write("access.toml", "[access]\nallow-guest-user = true\n")
        self.handlers[signal.SIGHUP](signal.SIGHUP, None)
        self.assertFalse(self.service.config.get("access.allow-guest-user"))
        (f, args), = self.reactor.calls
        f(*args)
        self.assertTrue(self.service.config.get("access.allow-guest-user"))
        self.assertEqual(self.service.reloads, 1)

    def test_sighup_with_broken_file_logs_one_line(self):
        self.write("access.toml", "garbage = = 1\n")
        with capturedLogs() as events:
            self.successResultOf(self.service.reload_logged("SIGHUP"))
        errors = [formatEvent(e) for e in events if e["log_level"].name == "error"]
        self.assertEqual(len(errors), 1)
        self.assertIn("config reload failed, keeping the old config:", errors[0])

    def test_watchers(self):
        seen = []
        self.service.watch(seen.append)
        self.successResultOf(self.service.reload())
        self.assertEqual(len(seen), 1)

    def test_stop_restores_sighup(self):
        self.service.stopService()
        self.assertEqual(self.handlers[signal.SIGHUP], signal.SIG_DFL)

    def test_no_config_path_reloads_defaults(self):
        service = ConfigService(load_config(None))
        self.assertEqual(self.successResultOf(service.reload()), [])
        self.assertEqual(service.config.as_dict(), {})


@implementer(IUpstream)
class Mesh:
    """A fake overlay for unit tests: every router reaches every other by
    rank; ranks in :attr:`down` are unreachable, requests to ranks in
    :attr:`hold` wait in it until the test lets them go."""

    def __init__(self, routers):
        self.routers = routers
        self.down = set()
        self.hold = {}

    def forward(self, message, reply):
        target = message.nodeid if message.nodeid != NODEID_ANY else 0
        if target in self.down or target not in self.routers:
            reply(message.response(errnum=errno.EHOSTUNREACH))
            return
        if target in self.hold:
            self.hold[target].append((message.copy(), reply))
            return
        self.routers[target].deliver(message.copy(), reply)

    def forward_cancel(self, sender, matchtag):
        """Nothing to pass on."""

    def forward_disconnect(self, sender):
        """Nothing to pass on."""


class Instance:
    """Three brokers (0 parent of 1 and 2), each with a config service and
    a follower module, joined by a :class:`Mesh`."""

    def __init__(self, test, config, clock=None):
        self.routers = {r: Router(rank=r, clock=clock) for r in range(3)}
        self.mesh = Mesh(self.routers)
        self.services, self.followers = {}, {}
        for rank, router in self.routers.items():
            router.attach_upstream(self.mesh)
            follower = Follower(f"mod{rank}")
            modules = [follower]
            service = ConfigService(config, modules, clock, rank=rank,
                                    router=router,
                                    children=(1, 2) if rank == 0 else ())
            modules.append(service)
            for module in modules:
                module.startService()
                router.add_module(module)
            self.services[rank], self.followers[rank] = service, follower

    def values(self, key="access.allow-guest-user"):
        return [self.services[r].config.get(key, None) for r in range(3)]


def guest(value):
    return {"access": {"allow-guest-user": value}}


class InstanceTests(TestCase):
    """Rank 0 is the source of every change; followers take its config."""

    def setUp(self):
        self.clock = Clock()
        self.inst = Instance(self, config_from_object(guest(False)), self.clock)

    def test_followers_sync_in_config_sync(self):
        self.inst.services[0].config = config_from_object(guest(True))
        for rank in (1, 2):
            self.assertTrue(self.successResultOf(
                defer.Deferred.fromCoroutine(
                    self.inst.services[rank].sync_from_leader())))
        self.assertEqual(self.inst.values(), [True, True, True])
        self.assertEqual(self.inst.followers[2].seen, [True])

    def test_sync_waits_for_rank_0_to_be_reachable(self):
        self.inst.services[0].config = config_from_object(guest(True))
        self.inst.mesh.down.add(0)
        d = defer.Deferred.fromCoroutine(
            self.inst.services[1].sync_from_leader())
        self.clock.pump([0.05] * 10)
        self.assertNoResult(d)
        self.inst.mesh.down.clear()
        self.clock.pump([1.0] * 2)
        self.assertTrue(self.successResultOf(d))
        self.assertEqual(self.inst.values()[1], True)

    def test_load_reaches_every_broker_and_module(self):
        result = self.successResultOf(self.inst.services[0].load(guest(True)))
        self.assertEqual(result, [])
        self.assertEqual(self.inst.values(), [True, True, True])
        self.assertEqual([self.inst.followers[r].seen for r in range(3)],
                         [[True], [True], [True]])
        self.assertEqual([s.generation for s in self.inst.services.values()],
                         [1, 1, 1])

    def test_load_on_a_follower_goes_to_rank_0(self):
        call = Call(self.inst.routers[2], "config.load", guest(True))
        self.assertEqual(call.final, (0, None))
        self.assertEqual(self.inst.values(), [True, True, True])

    def test_restart_key_refused_everywhere(self):
        new = {**guest(True), "tbon": {"tcp_user_timeout": "2m"}}
        failure = self.failureResultOf(self.inst.services[0].load(new))
        self.assertEqual(str(failure.value),
                         "tbon.tcp_user_timeout: a change takes effect only"
                         " when the instance restarts; the old config stays"
                         " in force")
        self.assertEqual(self.inst.values(), [False, False, False])
        self.assertEqual([self.inst.followers[r].seen for r in range(3)],
                         [[], [], []])

    def test_follower_refusal_rolls_back_everywhere(self):
        self.inst.followers[2].refuse = "no guests on this node"
        failure = self.failureResultOf(self.inst.services[0].load(guest(True)))
        self.assertEqual(str(failure.value),
                         "rank 2: mod2: no guests on this node")
        self.assertEqual(self.inst.values(), [False, False, False])
        # rank 0 and rank 1 took it, then the old one back
        self.assertEqual(self.inst.followers[0].seen, [True, False])
        self.assertEqual(self.inst.followers[1].seen, [True, False])

    def test_offline_follower_skipped_and_synced_later(self):
        self.inst.mesh.down.add(2)
        self.successResultOf(self.inst.services[0].load(guest(True)))
        self.assertEqual(self.inst.values(), [True, True, False])
        self.inst.mesh.down.clear()
        self.successResultOf(defer.Deferred.fromCoroutine(
            self.inst.services[2].sync_from_leader()))
        self.assertEqual(self.inst.values(), [True, True, True])

    def test_hung_follower_named_after_timeout(self):
        self.inst.mesh.hold[1] = []
        d = self.inst.services[0].load(guest(True))
        self.assertNoResult(d)
        self.clock.advance(30)
        self.assertEqual(self.successResultOf(d), [
            "rank 1 did not answer the config update within 30s (it applies"
            " it when it catches up)"])
        # it wakes up: the update it was sent is applied then
        (message, reply), = self.inst.mesh.hold.pop(1)
        self.inst.routers[1].deliver(message, reply)
        self.assertEqual(self.inst.values(), [True, True, True])

    def test_older_update_never_replaces_newer(self):
        self.inst.mesh.hold[1] = []
        first = self.inst.services[0].load(guest(True))
        self.clock.advance(30)
        self.successResultOf(first)
        self.inst.mesh.hold.pop(1)
        second = self.inst.services[0].load(guest(False))
        self.successResultOf(second)
        self.assertEqual(self.inst.services[1].generation, 2)
        # the first update arrives late: ignored
        old = Call(self.inst.routers[1], "config.update",
                   {"config": guest(True), "generation": 1})
        self.assertEqual(old.final, (0, None))
        self.assertEqual(self.inst.values(), [False, False, False])

    def test_sync_after_update_keeps_the_newer(self):
        self.successResultOf(self.inst.services[0].load(guest(True)))
        service = self.inst.services[1]
        applied = self.successResultOf(defer.Deferred.fromCoroutine(
            service._take(config_from_object(guest(False)), 0, True)))
        self.assertFalse(applied)
        self.assertTrue(service.config.get("access.allow-guest-user"))

    def test_update_needs_the_owner(self):
        call = Call(self.inst.routers[1], "config.update",
                    {"config": guest(True), "generation": 5}, rolemask=GUEST)
        self.assertEqual(call.final[0], errno.EPERM)
        self.assertEqual(self.inst.values(), [False, False, False])

    def test_unknown_table_warned_at_reload(self):
        result = self.successResultOf(self.inst.services[0].load(
            {"boostrap": {"curve_cert": "x"}}))
        self.assertEqual(result, ["[boostrap]: unknown table, ignored (did"
                                  " you mean [bootstrap]?)"])


class FollowerReloadTests(TestCase):
    """A reload asked of a follower checks its files, then goes to rank 0."""

    def setUp(self):
        self.dir = self.mktemp()
        os.mkdir(self.dir)
        self.path = os.path.join(self.dir, "a.toml")
        with open(self.path, "w") as f:
            f.write("[access]\nallow-guest-user = true\n")
        self.inst = Instance(self, load_config(self.dir))
        for service in self.inst.services.values():
            service.path = self.dir

    def test_follower_reload_reloads_rank_0(self):
        self.inst.services[0].config = config_from_object(guest(False))
        call = Call(self.inst.routers[1], "config.reload")
        self.assertEqual(call.final, (0, None))
        self.assertEqual(self.inst.values(), [True, True, True])

    def test_broken_file_on_a_follower_changes_nothing(self):
        with open(self.path, "w") as f:
            f.write("[access\n")
        with capturedLogs() as events:
            call = Call(self.inst.routers[2], "config.reload")
        self.assertEqual(call.final[0], errno.EINVAL)
        self.assertTrue(call.final[1].startswith(f"{self.path}:1: "))
        self.assertEqual(self.inst.values(), [True, True, True])
        self.assertEqual([s.generation for s in self.inst.services.values()],
                         [0, -1, -1])
        errors = [formatEvent(e) for e in events
                  if e["log_level"].name == "error"]
        self.assertEqual(len(errors), 1)


class ChecksumTests(TestCase):
    """``config.checksum``: this node's files (not the live config) and
    clock, owner only."""

    def setUp(self):
        etc = os.path.join(self.mktemp(), "etc/flux")
        self.system = os.path.join(etc, "system/conf.d")
        self.imp = os.path.join(etc, "imp/conf.d")
        for path in (self.system, self.imp):
            os.makedirs(path)
        with open(os.path.join(self.system, "a.toml"), "w") as f:
            f.write("[access]\nallow-guest-user = true\n")
        with open(os.path.join(self.imp, "imp.toml"), "w") as f:
            f.write("[exec]\n")
        self.clock = Clock()
        self.clock.advance(1234.5)
        self.router = router_with(ConfigService(load_config(self.system),
                                                reactor=self.clock))

    def test_checksums_and_time(self):
        from fluxd.admin.install import tree_checksum
        [reply] = Call(self.router, "config.checksum").payloads
        self.assertEqual(reply, {"system": tree_checksum(self.system),
                                 "security": None,
                                 "imp": tree_checksum(self.imp),
                                 "time": 1234.5})
        # the files on disk, read at each request
        with open(os.path.join(self.imp, "imp.toml"), "a") as f:
            f.write("pam-support = true\n")
        [again] = Call(self.router, "config.checksum").payloads
        self.assertNotEqual(again["imp"], reply["imp"])
        self.assertEqual(again["system"], reply["system"])

    def test_owner_only(self):
        call = Call(self.router, "config.checksum", rolemask=GUEST)
        self.assertEqual(call.final[0], errno.EPERM)
