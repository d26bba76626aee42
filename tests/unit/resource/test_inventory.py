"""Where the instance R comes from; targets, exclude and verification."""

import json
import os

from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import Config
from fluxd.errors import InvalidArgument
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import Rv1
from fluxd.resource._inventory import (
    configured_R, discover_local, exclude_ranks, hostnames_of,
    targets_to_ranks, verify_modes, verify_share)

SYSTEM = [
    {"hosts": "test[1-15]", "cores": "0-7", "gpus": "0"},
    {"hosts": "test16", "cores": "0-63", "gpus": "0-1",
     "properties": ["fatnode"]},
]
BOOTSTRAP = {"curve_cert": "/x.pem", "hosts": [{"host": "test[1-16]"}]}


def config(**resource):
    return Config({"resource": resource})


class ConfiguredTests(SynchronousTestCase):
    def test_guide_system_example(self):
        rset = configured_R(config(config=SYSTEM))
        self.assertEqual(
            rset.dumps_short(),
            "rank[0-14]/core[0-7],gpu0 rank15/core[0-63],gpu[0-1]")
        self.assertEqual(rset.properties(), {"fatnode": IDset("15")})
        self.assertEqual(str(rset.nodelist()), "test[1-16]")

    def test_nothing_configured(self):
        self.assertIsNone(configured_R(Config()))

    def test_bad_entry_names_it(self):
        bad = SYSTEM + [{"hosts": "test3", "cores": "7"}]
        with self.assertRaises(InvalidArgument) as cm:
            configured_R(config(config=bad))
        self.assertEqual(str(cm.exception),
                         "error parsing [resource.config] array: config[2]:"
                         " core 7 of host test3 is already configured")

    def test_reranked_by_bootstrap_hostlist(self):
        cfg = Config({"resource": {"config": SYSTEM}, "bootstrap": BOOTSTRAP})
        rset = configured_R(cfg, "test16,test[1-15]")
        self.assertEqual(rset.hostname(0), "test16")
        self.assertEqual(rset.cores(0), IDset("0-63"))
        self.assertEqual(rset.properties(), {"fatnode": IDset("0")})
        # without [bootstrap] the hostlist is not a rank map
        self.assertEqual(configured_R(config(config=SYSTEM),
                                      "test16,test[1-15]").hostname(0),
                         "test1")

    def test_rerank_mismatch(self):
        cfg = Config({"resource": {"config": SYSTEM}, "bootstrap": BOOTSTRAP})
        with self.assertRaises(InvalidArgument) as cm:
            configured_R(cfg, "test[1-4]")
        self.assertEqual(str(cm.exception), "error reranking R: Number of"
                         " hosts (4) is less than node count (16)")

    def test_path_and_scheduling(self):
        tmp = self.mktemp()
        os.mkdir(tmp)
        rpath = os.path.join(tmp, "R.json")
        with open(rpath, "w") as f:
            f.write(configured_R(config(config=SYSTEM)).dumps())
        spath = os.path.join(tmp, "sched.json")
        with open(spath, "w") as f:
            json.dump({"writers": ["x"]}, f)
        rset = configured_R(config(path=rpath, scheduling=spath))
        self.assertEqual(len(rset), 16)
        self.assertEqual(rset.scheduling, {"writers": ["x"]})
        # followers do not read the scheduler's key
        self.assertIsNone(configured_R(config(path=rpath, scheduling=spath),
                                       rank=3).scheduling)
        with self.assertRaises(InvalidArgument) as cm:
            configured_R(config(path=os.path.join(tmp, "none")))
        self.assertIn("none: No such file or directory", str(cm.exception))
        with self.assertRaises(InvalidArgument) as cm:
            configured_R(config(scheduling=spath))
        self.assertEqual(str(cm.exception), "resource.scheduling requires"
                         " resource.path or [resource.config]")


class DiscoverTests(SynchronousTestCase):
    def test_affinity_or_all_cpus_and_gpus(self):
        tmp = self.mktemp()
        os.makedirs(os.path.join(tmp, "0000:01:00.0"))
        os.makedirs(os.path.join(tmp, "0000:02:00.0"))
        rset = discover_local(3, "node7", affinity=lambda: {0, 5},
                              gpu_dir=tmp)
        self.assertEqual(rset.dumps_short(), "rank3/core[0-1],gpu[0-1]")
        self.assertEqual(rset.hostname(3), "node7")
        rset = discover_local(0, "n", norestrict=True, cpu_count=lambda: 8,
                              gpu_dir=os.path.join(tmp, "missing"))
        self.assertEqual(rset.dumps_short(), "rank0/core[0-7]")

    def test_this_host(self):
        rset = discover_local(0, "here")
        self.assertEqual(rset.count("core"), len(os.sched_getaffinity(0)))


class VerifyTests(SynchronousTestCase):
    def test_modes(self):
        self.assertEqual(verify_modes(Config()), {
            "default": "allow-extra", "gpu": "ignore", "hostname": "strict"})
        self.assertIsNone(verify_modes(config(noverify=True)))
        self.assertIsNone(verify_modes(config(verify=False)))
        self.assertEqual(verify_modes(config(verify=True)), {})
        self.assertEqual(verify_modes(config(verify={"core": "ignore"})),
                         {"core": "ignore"})

    def test_short_node_gives_flux_reason(self):
        rset = configured_R(config(config=SYSTEM))
        local = Rv1().add_rank(1, "test2", cores="0-1")
        reason, note = verify_share(rset, local, verify_modes(Config()))
        self.assertEqual(reason, "rank 1 (test2) missing resources: core[2-7]")
        self.assertIsNone(note)
        # gpus are not verified by default; strictly they are
        reason, _ = verify_share(rset, Rv1().add_rank(1, "test2",
                                                      cores="0-7"), {})
        self.assertEqual(reason, "rank 1 (test2) missing resources: gpu0")

    def test_extra_is_a_note_and_hostname_must_match(self):
        rset = configured_R(config(config=SYSTEM))
        reason, note = verify_share(
            rset, Rv1().add_rank(0, "test1", cores="0-9", gpus="0"), {})
        self.assertIsNone(reason)
        self.assertEqual(note, "rank 0 (test1) has extra resources: core[8-9]")
        reason, _ = verify_share(rset, Rv1().add_rank(0, "other", cores="0-7"),
                                 verify_modes(Config()))
        self.assertEqual(reason, "rank 0 got hostname 'other', expected"
                         " 'test1'")


class TargetTests(SynchronousTestCase):
    names = {0: "test1", 1: "test2", 2: "test3"}

    def test_idset_and_hostlist(self):
        self.assertEqual(targets_to_ranks("0,2", self.names), IDset("0,2"))
        self.assertEqual(targets_to_ranks("test[2-3]", self.names),
                         IDset("1-2"))
        self.assertEqual(targets_to_ranks("", self.names), IDset())
        self.assertEqual(targets_to_ranks("7", None), IDset("7"))

    def test_errors(self):
        cases = [
            ("test[2-4]", self.names,
             "invalid targets: invalid hosts: test4"),
            ("foo[a-b]", self.names,
             "invalid targets: Hostlist cannot be decoded"),
            ("test1", None, "R is unavailable for mapping hostnames to ranks"),
        ]
        for targets, names, message in cases:
            with self.assertRaises(InvalidArgument) as cm:
                targets_to_ranks(targets, names)
            self.assertEqual(str(cm.exception), message)

    def test_exclude(self):
        self.assertEqual(exclude_ranks("test[1-2]", self.names, 3),
                         IDset("0-1"))
        self.assertEqual(exclude_ranks(None, self.names, 3), IDset())
        with self.assertRaises(InvalidArgument) as cm:
            exclude_ranks("2-5", self.names, 3)
        self.assertEqual(str(cm.exception), "exclude set 2-5 is out of range")
        with self.assertRaises(InvalidArgument) as cm:
            exclude_ranks("nosuch", self.names, 3)
        self.assertEqual(str(cm.exception), "error decoding exclude set"
                         " nosuch: invalid targets: invalid hosts: nosuch")

    def test_hostnames_of(self):
        rset = Rv1().add_rank(0, "a", cores="0").add_rank(1, None, cores="0")
        self.assertEqual(hostnames_of(rset), {0: "a"})
