"""The resource service, in process: real KVS services on a Clock, a fake
overlay standing for the TBON's view of which ranks are up."""

import errno

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.attributes import Attributes
from fluxd.config import Config
from fluxd.errors import FluxError, InvalidArgument
from fluxd.formats import eventlog
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import Rv1, from_config
from fluxd.storage import treeobj as T
from fluxd.kvs.content import MemoryContentStore
from fluxd.message.router import Credential, Router, method
from fluxd.message.types import FLAG_STREAMING, ROLE_OWNER, ROLE_USER, Message
from fluxd.module import Module
from fluxd.resource.service import ResourceService, build_resource
from fluxd.testing.kvs import KVSBroker, link
from fluxd.testing.overlay import FakeOverlayStatus

HOSTS = [f"test{i}" for i in range(1, 5)]
CONFIG = [{"hosts": "test[1-3]", "cores": "0-3"},
          {"hosts": "test4", "cores": "0-7", "gpus": "0",
           "properties": ["fatnode"]}]
STRICT = {"default": "strict"}


class Node:
    """One broker: KVS services plus a resource service."""

    def __init__(self, test, rank=0, size=4, store=None, clock=None,
                 rset="config", local=None, exclude="", verify=None,
                 overlay=None, hosts=HOSTS, force_up=False):
        self.test = test
        if clock is None:
            clock = Clock()
            clock.advance(1000.0)
        self.clock = clock
        self.kvs = KVSBroker(rank, store=store)
        test.successResultOf(self.kvs.start())
        if rset == "config":
            rset = from_config(CONFIG)
        if local is None:
            local = Rv1().add_rank(rank, hosts[rank], cores="0-3")
        self.overlay = overlay if overlay is not None else FakeOverlayStatus()
        self.svc = ResourceService(
            self.clock, rank, size, self.kvs.router, hosts, rset=rset,
            local=local, exclude=exclude, verify=verify, overlay=self.overlay,
            force_up=force_up)

    def start(self):
        d = defer.maybeDeferred(self.svc.startService)
        self.kvs.router.add_module(self.svc)
        return d

    def call(self, topic, payload=None, rolemask=ROLE_OWNER, nodeid=None):
        return self.kvs.router.call(topic, payload, nodeid=nodeid,
                                    cred=Credential(1000, rolemask))

    def ok(self, topic, payload=None, **kw):
        return self.test.successResultOf(self.call(topic, payload, **kw))

    def fail(self, topic, payload=None, **kw):
        return self.test.failureResultOf(self.call(topic, payload, **kw),
                                         FluxError).value

    def kvs_get(self, key):
        answer = self.ok("kvs.lookup", {"key": key, "namespace": "primary",
                                        "flags": 0})
        return T.decode_val(answer["val"]).rstrip(b"\0")

    def kept_events(self):
        return [e["name"] for e in eventlog.decode(
            self.kvs_get("resource.eventlog"))]


class Stream:
    """A streaming ``resource.journal`` request and its responses."""

    def __init__(self, node, tag=7):
        self.node, self.tag = node, tag
        self.replies = []
        msg = Message.request("resource.journal", {}, flags=FLAG_STREAMING,
                              matchtag=tag)
        msg.userid, msg.rolemask, msg.route = 1000, ROLE_OWNER, ["client"]
        node.kvs.router.deliver(msg, self.replies.append)

    def events(self):
        return [r.json()["events"] for r in self.replies if not r.errnum]

    def cancel(self):
        self.node.kvs.router.cancel("client", self.tag)


class ConfiguredTests(SynchronousTestCase):
    def setUp(self):
        self.node = Node(self, overlay=FakeOverlayStatus("0-2"))
        self.successResultOf(self.node.start())

    def test_status(self):
        status = self.node.ok("resource.status", rolemask=ROLE_USER)
        self.assertEqual(Rv1.decode(status["R"]), from_config(CONFIG))
        self.assertEqual(
            {k: v for k, v in status.items() if k != "R"},
            {"online": "0-2", "offline": "3", "exclude": "", "torpid": "",
             "drain": {}})

    def test_define_and_journal(self):
        svc = self.node.svc
        self.assertEqual(svc.method, "configuration")
        self.assertEqual(svc.reslog.names(),
                         ["restart", "resource-define", "online"])
        restart = svc.reslog.journal[0]
        self.assertEqual(restart["context"], {
            "ranks": "0-3", "online": "", "nodelist": "test[1-4]"})
        self.assertEqual(restart["timestamp"], 1000.0)
        self.assertEqual(Rv1.decode(self.node.kvs_get("resource.R")),
                         from_config(CONFIG))

    def test_sched_status(self):
        self.node.ok("resource.drain", {"targets": "1"})
        sched = self.node.ok("resource.sched-status", rolemask=ROLE_USER)
        self.assertEqual(Rv1.decode(sched["all"]).dumps_short(),
                         "rank[0-2]/core[0-3] rank3/core[0-7],gpu0")
        self.assertEqual(Rv1.decode(sched["down"]).dumps_short(),
                         "rank1/core[0-3] rank3/core[0-7],gpu0")
        self.assertEqual(Rv1.decode(sched["down"]).properties(),
                         {"fatnode": IDset("3")})
        self.assertEqual(len(Rv1.decode(sched["allocated"])), 0)

    def test_membership_events(self):
        overlay = self.node.overlay
        overlay.change(online="0-3")
        overlay.change(online="0,2-3", torpid="2")
        overlay.change(torpid="")
        self.assertEqual(
            [(e["name"], e["context"])
             for e in self.node.svc.reslog.journal[2:]],
            [("online", {"idset": "0-2"}), ("online", {"idset": "3"}),
             ("offline", {"idset": "1"}), ("torpid", {"idset": "2"}),
             ("lively", {"idset": "2"})])
        overlay.change(torpid="3")
        status = self.node.ok("resource.status")
        self.assertEqual((status["offline"], status["torpid"]), ("1", "3"))
        down = self.node.ok("resource.sched-status")["down"]
        self.assertEqual(Rv1.decode(down).ranks(), IDset("1,3"))

    def test_drain_and_undrain(self):
        self.node.clock.advance(5)
        self.assertEqual({}, self.node.ok("resource.drain", {
            "targets": "test[2-3]", "reason": "node is fubar"}))
        status = self.node.ok("resource.status")
        self.assertEqual(status["drain"], {
            "1-2": {"timestamp": 1005.0, "reason": "node is fubar"}})
        drain = self.node.svc.reslog.journal[-1]
        self.assertEqual(drain["context"], {
            "idset": "1-2", "nodelist": "test[2-3]", "reason": "node is fubar",
            "overwrite": 0})
        self.assertEqual(drain["timestamp"], 1005.0)
        self.node.ok("resource.undrain", {"targets": "1", "reason": "fixed"})
        self.assertEqual(self.node.ok("resource.status")["drain"], {
            "2": {"timestamp": 1005.0, "reason": "node is fubar"}})
        self.assertEqual(self.node.kept_events(), ["drain", "undrain"])
        self.assertEqual(self.node.svc.reslog.journal[-1]["context"], {
            "idset": "1", "nodelist": "test2", "reason": "fixed"})

    def test_drain_modes(self):
        self.node.ok("resource.drain", {"targets": "1", "reason": "a"})
        self.node.clock.advance(10)
        exc = self.node.fail("resource.drain", {"targets": "1", "reason": "b"})
        self.assertEqual((exc.errno, str(exc)),
                         (errno.EEXIST, "rank 1 already drained"))
        self.node.ok("resource.drain", {"targets": "1", "reason": "b",
                                        "mode": "update"})
        self.assertEqual(self.node.ok("resource.status")["drain"],
                         {"1": {"timestamp": 1000.0, "reason": "a"}})
        self.node.ok("resource.drain", {"targets": "1", "reason": "c",
                                        "mode": "overwrite"})
        self.assertEqual(self.node.ok("resource.status")["drain"],
                         {"1": {"timestamp": 1000.0, "reason": "c"}})
        self.node.ok("resource.drain", {"targets": "1", "reason": "d",
                                        "mode": "force-overwrite"})
        self.assertEqual(self.node.ok("resource.status")["drain"],
                         {"1": {"timestamp": 1010.0, "reason": "d"}})
        self.assertEqual(
            [e["context"]["overwrite"] for e in self.node.svc.reslog.journal
             if e["name"] == "drain"], [0, 0, 1, 2])

    def test_bad_requests(self):
        self.node.ok("resource.drain", {"targets": "1-2", "reason": "x"})
        cases = [
            ("resource.drain", {"targets": ""}, errno.EINVAL,
             "idset is empty"),
            ("resource.drain", {"targets": "3-4"}, errno.EINVAL,
             "idset is out of range"),
            ("resource.drain", {"targets": "test99"}, errno.EINVAL,
             "invalid targets: invalid hosts: test99"),
            ("resource.drain", {"targets": "0-3"}, errno.EEXIST,
             "ranks 1-2 already drained"),
            ("resource.drain", {"targets": "0", "mode": "x"}, errno.EINVAL,
             "Invalid mode specified"),
            ("resource.drain", {}, errno.EPROTO, "targets must be a string"),
            ("resource.undrain", {"targets": "0"}, errno.EINVAL,
             "rank 0 not drained"),
            ("resource.undrain", {"targets": "0-3"}, errno.EINVAL,
             "ranks 0,3 not drained"),
        ]
        for topic, payload, errnum, message in cases:
            exc = self.node.fail(topic, payload)
            self.assertEqual((exc.errno, str(exc)), (errnum, message),
                             payload)
        self.node.ok("resource.undrain", {"targets": "0-3", "mode": "force"})
        self.assertEqual(self.node.ok("resource.status")["drain"], {})
        self.assertEqual(self.node.svc.reslog.journal[-1]["context"]["idset"],
                         "1-2")

    def test_guests_may_look_but_not_drain(self):
        for topic in ("resource.drain", "resource.undrain"):
            exc = self.node.fail(topic, {"targets": "1"}, rolemask=ROLE_USER)
            self.assertEqual(
                (exc.errno, str(exc)),
                (errno.EPERM, "Request requires owner credentials"))
        self.node.ok("resource.status", rolemask=ROLE_USER)

    def test_journal_stream(self):
        stream = Stream(self.node)
        backlog = stream.events()
        self.assertEqual([e[0]["name"] for e in backlog[:-1]],
                         ["restart", "resource-define", "online"])
        self.assertEqual(backlog[-1], [])
        define = stream.replies[1].json()
        self.assertEqual(Rv1.decode(define["R"]), from_config(CONFIG))
        self.node.ok("resource.drain", {"targets": "2"})
        self.assertEqual(stream.events()[-1][0]["name"], "drain")
        stream.cancel()
        self.assertEqual(stream.replies[-1].errnum, errno.ECANCELED)
        self.node.ok("resource.undrain", {"targets": "2"})
        self.assertEqual(len(stream.events()), len(backlog) + 1)

    def test_journal_ends_when_the_service_stops(self):
        stream = Stream(self.node)
        self.node.svc.stopService()
        self.assertEqual(stream.replies[-1].errnum, errno.ENODATA)

    def test_allocated_from_the_job_manager(self):
        class JobManager(Module):
            name = "job-manager"

            @method("resource-status")
            def status(self, request):
                return {"allocated": Rv1().add_rank(3, "test4",
                                                    cores="0-1").encode()}
        self.node.kvs.router.add_module(JobManager())
        sched = self.node.ok("resource.sched-status")
        allocated = Rv1.decode(sched["allocated"])
        self.assertEqual(allocated.dumps_short(), "rank3/core[0-1]")
        self.assertEqual(allocated.properties(), {"fatnode": IDset("3")})


class ExcludeTests(SynchronousTestCase):
    def test_excluded_nodes(self):
        node = Node(self, exclude="0,3", overlay=FakeOverlayStatus("0-3"))
        self.successResultOf(node.start())
        exc = node.fail("resource.drain", {"targets": "3"})
        self.assertEqual((exc.errno, str(exc)),
                         (errno.EINVAL, "rank 3 excluded"))
        exc = node.fail("resource.drain", {"targets": "2-3", "mode": "update"})
        self.assertEqual(str(exc), "rank 3 excluded")
        status = node.ok("resource.status")
        self.assertEqual(status["exclude"], "0,3")
        sched = node.ok("resource.sched-status")
        self.assertEqual(Rv1.decode(sched["all"]).ranks(), IDset("1-2"))
        self.assertEqual(Rv1.decode(sched["down"]).ranks(), IDset())


class RestartTests(SynchronousTestCase):
    def run_instance(self, store, exclude="", actions=()):
        node = Node(self, store=store, exclude=exclude,
                    overlay=FakeOverlayStatus("0-3"))
        self.successResultOf(node.start())
        for topic, payload in actions:
            node.ok(topic, payload)
            node.clock.advance(60)
        status = node.ok("resource.status")
        # the KVS stays up: its store is what the next instance reads
        self.successResultOf(defer.maybeDeferred(node.svc.stopService))
        return node, status

    def test_drains_survive_restart(self):
        store = MemoryContentStore("sha1")
        _, first = self.run_instance(store, actions=[
            ("resource.drain", {"targets": "test2", "reason": "bad dimm"}),
            ("resource.drain", {"targets": "2-3", "reason": "fan"}),
            ("resource.undrain", {"targets": "3"})])
        self.assertEqual(first["drain"], {
            "1": {"timestamp": 1000.0, "reason": "bad dimm"},
            "2": {"timestamp": 1060.0, "reason": "fan"}})
        node, second = self.run_instance(store)
        self.assertEqual(second["drain"], first["drain"])
        names = node.svc.reslog.names()
        self.assertEqual(names[:5], ["drain", "drain", "undrain", "restart",
                                     "resource-define"])
        # an unchanged R is not written again
        self.assertEqual(node.kept_events(), ["drain", "drain", "undrain"])

    def test_excluding_a_drained_node_undrains_it(self):
        store = MemoryContentStore("sha1")
        self.run_instance(store, actions=[
            ("resource.drain", {"targets": "1-2", "reason": "x"})])
        node, status = self.run_instance(store, exclude="2")
        self.assertEqual(list(status["drain"]), ["1"])
        self.assertEqual(node.kept_events(), ["drain", "undrain"])
        node, status = self.run_instance(store)
        self.assertEqual(list(status["drain"]), ["1"])


class VerifyTests(SynchronousTestCase):
    def test_rank0_short_drains_itself(self):
        node = Node(self, verify=STRICT, overlay=FakeOverlayStatus("0-3"),
                    local=Rv1().add_rank(0, "test1", cores="0-1"))
        self.successResultOf(node.start())
        self.assertEqual(node.ok("resource.status")["drain"], {
            "0": {"timestamp": 1000.0,
                  "reason": "rank 0 (test1) missing resources: core[2-3]"}})
        self.assertEqual(node.kept_events(), ["drain"])

    def test_no_verify_no_drain(self):
        node = Node(self, verify=None, overlay=FakeOverlayStatus("0-3"),
                    local=Rv1().add_rank(0, "test1", cores="0"))
        self.successResultOf(node.start())
        self.assertEqual(node.ok("resource.status")["drain"], {})

    def test_follower_short_drains_through_rank0(self):
        clock = Clock()
        clock.advance(1000)
        rset = from_config(CONFIG[:1]).copy_ranks("0-1")
        leader = Node(self, clock=clock, overlay=FakeOverlayStatus("0-1"), size=2,
                      hosts=HOSTS[:2], rset=rset)
        follower_overlay = FakeOverlayStatus()
        follower = Node(self, rank=1, clock=clock, size=2, hosts=HOSTS[:2],
                        rset=rset.copy(),
                        verify=STRICT, overlay=follower_overlay,
                        local=Rv1().add_rank(1, "test2", cores="0-2"))
        link(leader.kvs, follower.kvs)
        follower.start()
        # the follower waits for its parent link, then retries until the
        # leader's resource service answers
        follower_overlay.ready.callback(None)
        self.assertEqual(len(follower.svc._background), 1)
        clock.advance(0.05)
        self.successResultOf(leader.start())
        clock.advance(0.1)
        self.assertEqual(follower.svc._background, [])
        status = follower.ok("resource.status", nodeid=0)
        info = status["drain"]["1"]
        self.assertAlmostEqual(info.pop("timestamp"), 1000.15)
        self.assertEqual(info, {
            "reason": "rank 1 (test2) missing resources: core3"})
        event = leader.svc.reslog.journal[-1]
        self.assertEqual(event["context"]["overwrite"], 0)


class DiscoveryTests(SynchronousTestCase):
    def test_rank0_assembles_reports(self):
        clock = Clock()
        overlay = FakeOverlayStatus("0-2")
        leader = Node(self, clock=clock, size=3, rset=None, overlay=overlay,
                      hosts=HOSTS[:3])
        self.successResultOf(leader.start())
        pending = leader.call("resource.status", rolemask=ROLE_USER)
        self.assertNoResult(pending)
        followers = []
        for rank in (1, 2):
            f = Node(self, rank=rank, clock=clock, size=3, rset=None,
                     hosts=HOSTS[:3],
                     local=Rv1().add_rank(rank, HOSTS[rank],
                                          cores=f"0-{rank}"))
            link(leader.kvs, f.kvs)
            f.start()
            f.overlay.ready.callback(None)
            followers.append(f)
        status = self.successResultOf(pending)
        self.assertEqual(Rv1.decode(status["R"]).dumps_short(),
                         "rank0/core[0-3] rank1/core[0-1] rank2/core[0-2]")
        self.assertEqual(leader.svc.method, "dynamic-discovery")
        self.assertEqual(leader.svc.reslog.journal[-1]["context"],
                         {"method": "dynamic-discovery"})
        # followers pass status on to rank 0
        self.assertEqual(followers[0].ok("resource.status")["online"], "0-2")

    def test_restart_reuses_saved_R(self):
        store = MemoryContentStore("sha1")
        node = Node(self, store=store, size=1, rset=None, hosts=["solo"],
                    local=Rv1().add_rank(0, "solo", cores="0-5"))
        self.successResultOf(node.start())
        self.assertEqual(node.svc.method, "dynamic-discovery")
        again = Node(self, store=store, size=1, rset=None, hosts=["solo"],
                     local=Rv1().add_rank(0, "solo", cores="0"))
        self.successResultOf(again.start())
        self.assertEqual(again.svc.method, "kvs")
        self.assertEqual(again.svc.rset.dumps_short(), "rank0/core[0-5]")

    def test_bad_reports(self):
        node = Node(self, size=2, rset=None, hosts=HOSTS[:2])
        self.successResultOf(node.start())
        for payload, message in [
                ({"rank": 5, "R": {}}, "topo-report: rank is missing or out"
                 " of range"),
                ({"rank": 1, "R": Rv1().add_rank(0, "x", cores="0").encode()},
                 "topo-report: R must describe rank 1")]:
            exc = node.fail("resource.topo-report", payload)
            self.assertEqual((exc.errno, str(exc)), (errno.EPROTO, message))


class BuildTests(SynchronousTestCase):
    def attrs(self, rank=0):
        attrs = Attributes()
        for name, value in {"rank": rank, "size": 2, "hostname": HOSTS[rank],
                            "hostlist": "test[1-2]"}.items():
            attrs.set_initial(name, value)
        return attrs

    def discover(self, rank, hostname, norestrict=False):
        self.discovered = (rank, hostname, norestrict)
        return Rv1().add_rank(rank, hostname, cores="0")

    def test_from_config(self):
        config = Config({"resource": {
            "config": [{"hosts": "test[1-2]", "cores": "0-3"}],
            "exclude": "test2", "norestrict": True}})
        svc = build_resource(Clock(), config, self.attrs(), Router(),
                             discover=self.discover)
        self.assertEqual(svc.rset.dumps_short(), "rank[0-1]/core[0-3]")
        self.assertEqual(svc.exclude, IDset("1"))
        self.assertEqual(svc.hostlist, ["test1", "test2"])
        self.assertEqual(self.discovered, (0, "test1", True))
        self.assertEqual(svc.verify["default"], "allow-extra")
        follower = build_resource(Clock(), config, self.attrs(1), Router(1),
                                  discover=self.discover)
        self.assertEqual(follower.exclude, IDset())

    def test_config_errors_stop_the_broker_early(self):
        cases = [
            ({"config": [{"hosts": "test[1-2]", "cores": "0-3"},
                         {"hosts": "test2", "cores": "3"}]},
             "error parsing [resource.config] array: config[1]: core 3 of"
             " host test2 is already configured"),
            ({"exclude": "test7"}, "error decoding exclude set test7:"
             " invalid targets: invalid hosts: test7"),
        ]
        for resource, message in cases:
            with self.assertRaises(InvalidArgument) as cm:
                build_resource(Clock(), Config({"resource": resource}),
                               self.attrs(), None, discover=self.discover)
            self.assertEqual(str(cm.exception), message)


class ReloadExcludeTests(SynchronousTestCase):
    """``flux config reload`` changes rank 0's excluded ranks."""

    def test_exclude_follows_the_config(self):
        from fluxd.config import config_from_object
        node = Node(self, overlay=FakeOverlayStatus("0-3"))
        self.successResultOf(node.start())
        node.ok("resource.drain", {"targets": "2", "reason": "fan"})
        self.successResultOf(node.svc.reconfigure(config_from_object(
            {"resource": {"exclude": "test[3-4]"}})))
        status = node.ok("resource.status")
        self.assertEqual((status["exclude"], status["drain"]), ("2-3", {}))
        exc = node.fail("resource.drain", {"targets": "3"})
        self.assertEqual(str(exc), "rank 3 excluded")
        self.assertEqual(node.kept_events(), ["drain", "undrain"])
        # back to nothing excluded: rank 3 may be drained again
        self.successResultOf(node.svc.reconfigure(config_from_object({})))
        self.assertEqual(node.ok("resource.status")["exclude"], "")
        node.ok("resource.drain", {"targets": "3"})

    def test_bad_exclude_refused_and_nothing_changes(self):
        from fluxd.config import config_from_object
        node = Node(self, exclude="1", overlay=FakeOverlayStatus("0-3"))
        self.successResultOf(node.start())
        failure = self.failureResultOf(node.svc.reconfigure(
            config_from_object({"resource": {"exclude": "7"}})))
        self.assertEqual(str(failure.value), "exclude set 7 is out of range")
        self.assertEqual(node.ok("resource.status")["exclude"], "1")

    def test_followers_ignore_it(self):
        from fluxd.config import config_from_object
        node = Node(self, rank=1, overlay=FakeOverlayStatus("0-3"))
        self.successResultOf(node.svc.reconfigure(config_from_object(
            {"resource": {"exclude": "1"}})))
        self.assertEqual(node.svc.exclude, IDset())
