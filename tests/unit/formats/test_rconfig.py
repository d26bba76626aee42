"""Tests for the ``[[resource.config]]`` builder (fluxd.formats._rconfig)
working on the table (reading files: tests/unit/cli/test_cmd_R_parse_config).

Cases come from flux-core's ``t/t0026-flux-R.t`` (parse-config), the
``rlist_from_config()`` tests in ``librlist/test/rlist.c``, the Flux
Administrator's Guide and ``flux-config-resource(5)``.
"""

from twisted.trial.unittest import SynchronousTestCase

from fluxd.errors import InvalidArgument
from fluxd.formats.idset import IDset
from fluxd.formats.rv1 import RError, Rv1, from_config

ADMIN_GUIDE = [
    {"hosts": "test[1-15]", "cores": "0-7", "gpus": "0"},
    {"hosts": "test16", "cores": "0-63", "gpus": "0-1",
     "properties": ["fatnode"]},
]


class FromConfigTests(SynchronousTestCase):

    def test_admin_guide_example(self):
        r = from_config(ADMIN_GUIDE)
        self.assertIsInstance(r, Rv1)
        self.assertEqual(r.dumps_short(),
                         "rank[0-14]/core[0-7],gpu0 rank15/core[0-63],gpu[0-1]")
        self.assertEqual(r.encode(), {
            "version": 1,
            "execution": {
                "R_lite": [
                    {"rank": "0-14", "children": {"core": "0-7", "gpu": "0"}},
                    {"rank": "15", "children": {"core": "0-63",
                                                "gpu": "0-1"}}],
                "starttime": 0.0,
                "expiration": 0.0,
                "nodelist": ["test[1-16]"],
                "properties": {"fatnode": "15"}}})

    def test_t0026_single_entry(self):
        r = from_config([{"hosts": "foo", "cores": "0-1", "gpus": "0"}])
        self.assertEqual((r.count("node"), r.count("core"), r.count("gpu")),
                         (1, 2, 1))
        self.assertEqual(str(r.nodelist()), "foo")

    def test_t0026_multiple_entries(self):
        r = from_config([
            {"hosts": "foo[0-2]", "cores": "0-1"},
            {"hosts": "foo2", "gpus": "0"},
            {"hosts": "foo0", "properties": ["login"]},
        ])
        self.assertEqual((r.count("node"), r.count("core"), r.count("gpu")),
                         (3, 6, 1))
        self.assertEqual(str(r.nodelist()), "foo[0-2]")
        self.assertEqual(str(r.filter_properties("login").nodelist()), "foo0")

    def test_man_page_example(self):
        r = from_config([
            {"hosts": "test[1-100]", "cores": "0-7"},
            {"hosts": "test[1,2]", "gpus": "0-1"},
            {"hosts": "test[1-89]", "properties": ["batch"]},
            {"hosts": "test[90-100]", "properties": ["debug"]},
        ])
        self.assertEqual(r.dumps_short(),
                         "rank[0-1]/core[0-7],gpu[0-1] rank[2-99]/core[0-7]")
        self.assertEqual(r.properties(), {"batch": IDset("0-88"),
                                          "debug": IDset("89-99")})

    def test_rank_order_follows_first_appearance(self):
        r = from_config([
            {"hosts": "zeta,alpha", "cores": "0"},
            {"hosts": "beta,alpha", "cores": "1"},
            {"hosts": "node[3,1]", "cores": "0-1"},
        ])
        self.assertEqual(str(r.nodelist()), "zeta,alpha,beta,node[3,1]")
        self.assertEqual(r.dumps_short(),
                         "rank0/core0 rank[1,3-4]/core[0-1] rank2/core1")

    def test_errors(self):
        cases = [
            ({}, "resource config must be an array"),
            ([], "no hosts configured"),
            (["foo"], "config[0]: entry must be a table, not a string"),
            ([{"hosts": "foo", "cores": "0-1"}, {"cores": "0-1"}],
             "config[1]: missing required key 'hosts'"),
            ([{"hosts": "foo[0-10]", "cores": "0-1"},
              {"hosts": "foo11", "cores": "0-3", "junk": 5}],
             "config[1]: unknown key 'junk'"),
            ([{"hosts": 5}], "config[0]: hosts must be a string, not an"
                             " integer"),
            ([{"hosts": "foo", "cores": "0-1"}, {"hosts": "", "cores": "0-3"}],
             "config[1]: empty hostlist specified"),
            ([{"hosts": "foo[p]", "cores": "0-1"}],
             "config[0]: invalid hostlist 'foo[p]'"),
            ([{"hosts": "foo0", "cores": "0-"}],
             "config[0]: invalid idset cores='0-'"),
            ([{"hosts": "foo0", "gpus": "2,1"}],
             "config[0]: invalid idset gpus='2,1'"),
            ([{"hosts": "foo0", "cores": 3}],
             "config[0]: cores must be a string, not an integer"),
            ([{"hosts": "foo[0-10]", "cores": "0-1"},
              {"hosts": "foo11"}],
             "resource.config: foo11 assigned no resources"),
            ([{"hosts": "foo[0-3]", "properties": ["x"]}],
             "resource.config: foo[0-3] assigned no resources"),
            ([{"hosts": "foo[0-10]", "cores": "0-1"},
              {"hosts": "foo1", "properties": ["de^bug"]}],
             "config[1]: invalid character '^' in property \"de^bug\""),
            ([{"hosts": "foo[0-10]", "cores": "0-1"},
              {"hosts": "foo1", "properties": [1]}],
             "config[1]: invalid property 1"),
            ([{"hosts": "foo[0-10]", "cores": "0-1"},
              {"hosts": "foo11", "cores": "0-3", "properties": "foo"}],
             "config[1]: properties must be an array"),
            ([{"hosts": "foo[0-3]", "cores": "0-3"},
              {"hosts": "foo2", "cores": "3-4"}],
             "config[1]: core 3 of host foo2 is already configured"),
            ([{"hosts": "foo[1,1]", "cores": "0-1", "gpus": "0"}],
             "config[0]: core 0-1 gpu 0 of host foo1 is already configured"),
        ]
        for entries, message in cases:
            with self.assertRaises(RError) as ctx:
                from_config(entries)
            self.assertEqual(str(ctx.exception), message, entries)
            self.assertIsInstance(ctx.exception, InvalidArgument)

    def test_errors_name_source(self):
        with self.assertRaises(RError) as ctx:
            from_config([{"hosts": "foo", "cores": "0"}, {"hosts": "foo[p]"}],
                        source="conf/resource.toml")
        self.assertEqual(str(ctx.exception), "conf/resource.toml:"
                         " resource.config[1]: invalid hostlist 'foo[p]'")

    def test_same_host_accumulates(self):
        r = from_config([{"hosts": "foo[0-1]", "cores": "0-1"},
                         {"hosts": "foo1", "cores": "2-3"},
                         {"hosts": "foo1", "properties": ["a", "b"]},
                         {"hosts": "foo1", "properties": ["a"]}])
        self.assertEqual(r.dumps_short(), "rank0/core[0-1] rank1/core[0-3]")
        self.assertEqual(r.rank_properties(1), {"a", "b"})
