"""Tests for :mod:`fluxd.overlay.bootstrap`.

The rows of flux-core's ``src/common/libfluxutil/test/conf_bootstrap.c``
are all here: where fluxd is stricter (``tcp://`` needs a port, ``ipc://``
is refused because the overlay is TLS over TCP) the test says so.
"""

import socket

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fluxd.config import ConfigError, config_from_object, load_config_text
from fluxd.overlay.bootstrap import (
    BootstrapError, BootstrapLayout, TcpAddress, bootstrap_layout,
    format_uri, interface_ipv4, parse_tcp_uri, validate_uri)
from fluxd.overlay.topology import Topology

PREFIX = "Config file error [bootstrap]: "


def fake_interfaces(**table):
    """A resolve_interface that knows only the given names."""
    def resolve(name):
        try:
            return table[name]
        except KeyError:
            raise BootstrapError(f"no such network interface '{name}'") \
                from None
    return resolve


def layout(toml, hostname, **kwargs):
    kwargs.setdefault("resolve_interface", fake_interfaces(en0="10.0.0.1"))
    return bootstrap_layout(load_config_text(toml), hostname, **kwargs)


class FormatUriTests(SynchronousTestCase):
    """conf_bootstrap.c test_format_uri (the buffer-size rows do not apply:
    there are no fixed-size buffers here)."""

    def test_vectors(self):
        for template, host, port, expected in (
                ("abcd", None, 0, "abcd"),
                ("abcd:%p", None, 42, "abcd:42"),
                ("a%pb", None, 42, "a42b"),
                ("%p:abcd", None, 42, "42:abcd"),
                ("%h", None, 0, "%h"),
                ("%h", "foo", 0, "foo"),
                ("%%", None, 0, "%"),
                ("a%X", None, 0, "a%X"),
                ("a%p", None, 123, "a123"),
                ("a%h", "abc", 0, "aabc"),
                ("tcp://%h%%:%p", "x", 1, "tcp://x%:1"),
                ("trailing%", None, 0, "trailing")):
            self.assertEqual(format_uri(template, host, port), expected,
                             template)

    def test_port_unset(self):
        with self.assertRaises(BootstrapError) as cm:
            format_uri("tcp://x:%p", "h", None)
        self.assertIn("%p is used but default_port is not set",
                      str(cm.exception))


class UriTests(SynchronousTestCase):
    """conf_bootstrap.c test_zmq_uri, then fluxd's TCP-only rules."""

    VALID = ["ipc://foo/bar/baz", "tcp://en0", "tcp://foo:42",
             "tcp://foo.bar.baz:42", "tcp://1.2.3.4:42",
             "tcp://[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:42"]
    INVALID = ["", "pgm://xyz", "ipc://" + "0123456789" * 11 + "0123",
               "ipc://", "tcp://", "tcp://eth1:*", "ipc://foo:*"]

    def test_flux_rules(self):
        for uri in self.VALID:
            self.assertIsNone(validate_uri(uri), uri)
        for uri in self.INVALID:
            reason = validate_uri(uri)
            self.assertIsNotNone(reason, uri)
            self.assertTrue(reason.startswith(uri), reason)

    def test_fluxd_tcp_only(self):
        self.assertEqual(parse_tcp_uri("tcp://foo:42"), ("foo", 42))
        self.assertEqual(parse_tcp_uri("tcp://1.2.3.4:42"),
                         TcpAddress("1.2.3.4", 42))
        self.assertEqual(
            parse_tcp_uri("tcp://[2001:0db8:85a3:0000:0000:8a2e:0370:7334]"
                          ":42"),
            ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", 42))
        for uri, message in (
                ("tcp://en0", "tcp://en0 has no port"),
                ("ipc://foo/bar/baz", "ipc://foo/bar/baz: ipc:// is not "
                 "supported by the fluxd overlay (TLS over TCP): use "
                 "tcp://HOST:PORT"),
                ("tcp://foo:0", "tcp://foo:0 has an invalid port '0'"),
                ("tcp://foo:65536", "tcp://foo:65536 has an invalid port "
                 "'65536'"),
                ("tcp://foo:x", "tcp://foo:x has an invalid port 'x'"),
                ("tcp://:42", "tcp://:42 address is empty"),
                ("tcp://::1:42", "tcp://::1:42: put an IPv6 address in "
                 "brackets: tcp://[ADDR]:PORT"),
                ("tcp://[::1", "tcp://[::1 has an unterminated IPv6 address"),
                ("tcp://[zz]:1", "tcp://[zz]:1 has an invalid IPv6 address "
                 "'zz'"),
                ("tcp://[::1]", "tcp://[::1] has no port"),
                ("tcp://eth1:*", "tcp://eth1:* contains a port wildcard")):
            with self.assertRaises(BootstrapError) as cm:
                parse_tcp_uri(uri)
            self.assertEqual(str(cm.exception), message)

    def test_every_invalid_flux_uri_is_refused(self):
        for uri in self.INVALID:
            self.assertRaises(BootstrapError, parse_tcp_uri, uri)


class InterfaceTests(SynchronousTestCase):

    def test_loopback(self):
        self.assertEqual(interface_ipv4("lo"), "127.0.0.1")

    def test_no_such_interface(self):
        for name in ("nosuch0", "", "x" * 16):
            with self.assertRaises(BootstrapError) as cm:
                interface_ipv4(name)
            self.assertEqual(str(cm.exception),
                             f"no such network interface '{name}'")

    def test_every_local_interface_answers_in_one_line(self):
        for _, name in socket.if_nameindex():
            try:
                address = interface_ipv4(name)
            except BootstrapError as exc:
                self.assertIn(name, str(exc))
            else:
                socket.inet_aton(address)


PARSE = """\
[bootstrap]
default_port = 42
default_bind = "tcp://en0:%p"
default_connect = "tcp://x%h:%p"
curve_cert = "foo"
hosts = [
  { host = "foo0" },
  { host = "foo[1-62]" },
  { host = "foo63" },
]
"""


class ParseTests(SynchronousTestCase):
    """conf_bootstrap.c test_parse and friends."""

    def test_parse(self):
        lay = layout(PARSE, "foo42")
        self.assertIsInstance(lay, BootstrapLayout)
        self.assertEqual(lay.size, 64)
        self.assertEqual(len(lay.hosts), 64)
        self.assertEqual(lay.cert_path, "foo")
        for host, rank in (("foo0", 0), ("foo42", 42), ("foo63", 63)):
            self.assertEqual(lay.hosts.index(host), rank)
            self.assertEqual(lay.bind_uri(rank), "tcp://en0:42")
            self.assertEqual(lay.connect_uri(rank), f"tcp://x{host}:42")
        self.assertEqual(lay.rank, 42)
        self.assertEqual(lay.hostname, "foo42")
        self.assertEqual(lay.topology.uri, "custom")
        self.assertEqual(lay.parent, 0)
        self.assertEqual(lay.children, [])
        self.assertEqual(lay.parent_address, ("xfoo0", 42))
        # a leaf does not bind, so en0 need not exist here
        self.assertIsNone(lay.bind_address)
        self.assertIsNone(lay.resolved_bind_uri)
        self.assertEqual(lay.bind_uri(), "tcp://en0:42")
        self.assertEqual(lay.connect_uri(), "tcp://xfoo42:42")

    def test_leader_resolves_its_interface(self):
        lay = layout(PARSE, "foo0")
        self.assertEqual((lay.rank, lay.parent, len(lay.children)),
                         (0, None, 63))
        self.assertEqual(lay.bind_address, ("10.0.0.1", 42))
        self.assertEqual(lay.resolved_bind_uri, "tcp://10.0.0.1:42")
        self.assertIsNone(lay.parent_address)

    def test_leader_without_its_interface(self):
        with self.assertRaises(BootstrapError) as cm:
            layout(PARSE, "foo0", resolve_interface=fake_interfaces())
        self.assertEqual(str(cm.exception),
                         PREFIX + "bind tcp://en0:42: no such network "
                         "interface 'en0'")

    def test_real_interface_resolution(self):
        lay = layout(PARSE.replace("en0", "lo"), "foo0",
                     resolve_interface=None)
        self.assertEqual(lay.resolved_bind_uri, "tcp://127.0.0.1:42")

    def test_wildcard_and_ip_binds(self):
        text = PARSE.replace('"tcp://en0:%p"', '"tcp://*:%p"')
        self.assertEqual(layout(text, "foo0").bind_address, ("0.0.0.0", 42))
        v6 = text.replace("curve_cert", "enable_ipv6 = true\ncurve_cert")
        lay = layout(v6, "foo0")
        self.assertEqual(lay.bind_address, ("::", 42))
        self.assertTrue(lay.enable_ipv6)
        self.assertEqual(lay.resolved_bind_uri, "tcp://[::]:42")
        text = PARSE.replace('"tcp://en0:%p"', '"tcp://192.0.2.7:%p"')
        self.assertEqual(layout(text, "foo0").bind_address,
                         ("192.0.2.7", 42))

    def test_frozen(self):
        lay = layout(PARSE, "foo1")
        with self.assertRaises(AttributeError):
            lay.rank = 3
        self.assertIsInstance(lay.hosts, tuple)

    def test_rank_arguments_checked(self):
        lay = layout(PARSE, "foo1")
        for bad in (-1, 64, "1"):
            with self.assertRaises(BootstrapError) as cm:
                lay.bind_uri(bad)
            self.assertEqual(str(cm.exception),
                             f"{bad} is not a valid rank in this instance")

    def test_uri_overflow(self):
        for key in ("bind", "connect"):
            text = ('[bootstrap]\n'
                    f'default_{key} = "ipc://{"xyz":>2048}"\n'
                    'hosts = [{host="foo"}]\n')
            with self.assertRaises(BootstrapError) as cm:
                layout(text, "foo")
            self.assertIn("socket path must not exceed 108 bytes",
                          str(cm.exception))

    def test_ipc_refused(self):
        text = ('[bootstrap]\ndefault_bind = "ipc:///run/flux/tbon"\n'
                'hosts = [{host="foo"}]\n')
        with self.assertRaises(BootstrapError) as cm:
            layout(text, "foo")
        self.assertEqual(
            str(cm.exception),
            PREFIX + "invalid hosts entry for foo (rank 0): bind key "
            "ipc:///run/flux/tbon: ipc:// is not supported by the fluxd "
            "overlay (TLS over TCP): use tcp://HOST:PORT")


class BadHostsEntryTests(SynchronousTestCase):
    """conf_bootstrap.c test_bad_hosts_entry: each fails in one line.

    Type and key errors are caught when the config is loaded (by
    :mod:`fluxd.config`); the rest by bootstrap_layout().  Both raise a
    ConfigError.
    """

    def attempt(self, entry):
        text = f"[bootstrap]\nhosts = [\n{entry},\n]\n"
        with self.assertRaises(ConfigError) as cm:
            layout(text, "foo")
        message = str(cm.exception)
        self.assertNotIn("\n", message)
        return message

    def test_rows(self):
        rows = [
            ("  42", "wrong host key type"),
            ('"foo"', "wrong host key type"),
            ("{}", "no host key"),
            ('{ host="foo[1-" }', "bad hostlist"),
            ('{ host="foo", bind=42 }', "wrong bind key type"),
            ('{ host="foo", wrongkey=0 }', "extra key"),
            ('{ host="bar" }', "missing local hostname"),
            ('{ host="foo", bind="x://z" }', "unknown bind scheme"),
            ('{ host="foo", connect="x://z" }', "unknown connect scheme"),
            ('{ host="foo", connect="" }', "empty connect string"),
            ('{ host="foo", connect="ipc://foo:*" }',
             "wildcard connect string"),
            ('{ host="foo", parent="foo" }', "parent is self"),
            ('{ host="foo", parent="woo" }', "parent is unknown"),
        ]
        for entry, name in rows:
            self.attempt(entry)

    def test_messages(self):
        self.assertEqual(self.attempt('{ host="bar" }'),
                         PREFIX + "foo not found in hosts")
        self.assertEqual(
            self.attempt('{ host="foo", connect="ipc://foo:*" }'),
            PREFIX + "invalid hosts entry for foo (rank 0): connect key "
            "ipc://foo:* contains a port wildcard")
        self.assertEqual(
            self.attempt('{ host="foo", parent="foo" }'),
            "Config file [bootstrap] hosts: rank 0 (foo) may not have a "
            "parent in a tree topology")
        self.assertEqual(
            self.attempt('{ host="foo", parent="woo" }'),
            'Config file [bootstrap] hosts: invalid parent "woo" for foo '
            '(rank 0)')

    def test_bad_hostlist_in_an_unvalidated_table(self):
        # bootstrap_layout re-checks what the schema already checked
        from fluxd.overlay import bootstrap as mod

        class Table:
            def get(self, key, default=None, **kwargs):
                return {"hosts": [{"host": "foo[1-"}]}

        with self.assertRaises(BootstrapError) as cm:
            mod.bootstrap_layout(Table(), "foo")
        self.assertEqual(str(cm.exception), PREFIX + "invalid hosts[0]: "
                         "host key is not a valid RFC 29 hostlist")

    def test_invalid_host_name(self):
        with self.assertRaises(BootstrapError) as cm:
            layout('[bootstrap]\nhosts = [{host="foo_1"}]\n', "foo_1")
        self.assertEqual(str(cm.exception),
                         PREFIX + "invalid hosts entry for foo_1 (rank 0): "
                         "invalid host name: domain label contains invalid "
                         "character '_' (0x5f)")


class SingletonTests(SynchronousTestCase):
    """conf_bootstrap.c test_special_single."""

    def test_missing_or_empty_hosts(self):
        for text in ("[bootstrap]\n", "[bootstrap]\nhosts = []\n"):
            lay = layout(text, "smurf")
            self.assertEqual((lay.size, lay.rank, lay.hosts),
                             (1, 0, ("smurf",)))
            self.assertIsNone(lay.cert_path)   # not required for size 1
            self.assertEqual(lay.topology.size, 1)

    def test_no_bootstrap_table(self):
        lay = bootstrap_layout(config_from_object({}), "smurf")
        self.assertEqual((lay.size, lay.rank, lay.hosts), (1, 0, ("smurf",)))
        self.assertEqual(lay.topology.uri, "kary:32")
        with self.assertRaises(BootstrapError) as cm:
            lay.connect_uri()
        self.assertEqual(str(cm.exception),
                         PREFIX + "rank 0 (smurf) has no connect URI")

    def test_system_hostname_by_default(self):
        lay = bootstrap_layout(load_config_text("[bootstrap]\n"))
        self.assertEqual(lay.hosts, (socket.gethostname(),))


class CertTests(SynchronousTestCase):
    """conf_bootstrap.c test_missing_cert."""

    def test_missing_cert(self):
        text = ('[bootstrap]\ndefault_bind = "tcp://foo"\n'
                'default_connect = "tcp://foo"\n'
                'hosts = [\n  { host = "foo[0-1]" },\n]\n')
        # flux's own input has no port: fluxd refuses that already
        self.assertRaises(ConfigError, layout, text, "foo0")
        text = text.replace('"tcp://foo"', '"tcp://foo:8050"')
        with self.assertRaises(BootstrapError) as cm:
            layout(text, "foo0")
        self.assertEqual(str(cm.exception),
                         PREFIX + "curve_cert must be defined for size > 1")


DUP_HOSTS = """\
[bootstrap]
curve_cert = "foo"
default_port = 8050
default_bind = "tcp://en0:%p"
default_connect = "tcp://%h:%p"
[[bootstrap.hosts]]
host = "test[0-127]"
[[bootstrap.hosts]]
host = "test[1,64]"
parent = "test0"
[[bootstrap.hosts]]
host = "test[2-63]"
parent = "test1"
[[bootstrap.hosts]]
host = "test[65-127]"
parent = "test64"
"""


class TopologyTests(SynchronousTestCase):
    """conf_bootstrap.c test_dup_hosts, then parent keys and tbon.topo."""

    def test_dup_hosts(self):
        lay = layout(DUP_HOSTS, "test0")
        self.assertEqual(lay.size, 128)
        for host, rank in (("test0", 0), ("test65", 65), ("test127", 127)):
            self.assertEqual(lay.hosts.index(host), rank)
        topo = lay.topology
        self.assertEqual(topo.children(0), [1, 64])
        self.assertEqual(topo.children(1), list(range(2, 64)))
        self.assertEqual(topo.children(64), list(range(65, 128)))
        self.assertEqual(topo.critical_ranks(), [0, 1, 64])
        self.assertEqual(layout(DUP_HOSTS, "test70").parent_address,
                         ("test64", 8050))
        self.assertEqual(layout(DUP_HOSTS, "test64").bind_address,
                         ("10.0.0.1", 8050))

    def test_later_entries_only_add_missing_keys(self):
        text = ('[bootstrap]\ncurve_cert = "c"\ndefault_port = 1\n'
                'default_connect = "tcp://%h:%p"\ndefault_bind = "tcp://*:%p"\n'
                'hosts = [{host="a[0-2]"}, {host="a2", parent="a1", '
                'connect="tcp://other:9"}, {host="a2", parent="a0", '
                'connect="tcp://third:9"}]\n')
        lay = layout(text, "a0")
        self.assertEqual(lay.topology.parents(), [None, 0, 1])
        self.assertEqual(lay.connect_uri(2), "tcp://other:9")
        self.assertEqual(lay.connect_uri(1), "tcp://a1:1")

    def test_spec_example_two_levels(self):
        text = DUP_HOSTS.replace("127", "255").replace("[1,64]", "[1,128]") \
            .replace("test[2-63]", "test[2-127]") \
            .replace("test[65-255]", "test[129-255]") \
            .replace('parent = "test64"', 'parent = "test128"')
        lay = layout(text, "test200")
        self.assertEqual((lay.size, lay.rank, lay.parent), (256, 200, 128))
        self.assertEqual(lay.topology.internal_ranks(), [0, 1, 128])

    def test_cycle(self):
        text = ('[bootstrap]\ncurve_cert = "c"\n'
                'hosts = [{host="a0"}, {host="a1", parent="a2"}, '
                '{host="a2", parent="a1"}]\n')
        with self.assertRaises(BootstrapError) as cm:
            layout(text, "a0")
        self.assertEqual(str(cm.exception),
                         'Config file [bootstrap] hosts: parent "a1" for a2 '
                         '(rank 2) violates rule against cycles')

    def test_tbon_topo_from_config_and_attribute(self):
        text = ('[bootstrap]\ncurve_cert = "c"\ndefault_port = 1\n'
                'default_bind = "tcp://*:%p"\n'
                'default_connect = "tcp://%h:%p"\n'
                'hosts = [{host="a[0-6]"}]\n')
        self.assertEqual(layout(text, "a0").topology.children(0),
                         [1, 2, 3, 4, 5, 6])
        kary = text + '[tbon]\ntopo = "kary:2"\n'
        self.assertEqual(layout(kary, "a0").topology.children(0), [1, 2])
        attr = layout(kary, "a5", topo="binomial")
        self.assertEqual((attr.topology.uri, attr.parent), ("binomial", 4))
        with self.assertRaises(BootstrapError) as cm:
            layout(text, "a0", topo="kary:x")
        self.assertEqual(str(cm.exception),
                         "tbon.topo: kary k value must be an integer >= 0")

    def test_other_schemes_ignore_parent_keys(self):
        lay = layout(DUP_HOSTS + '[tbon]\ntopo = "kary:0"\n', "test70")
        self.assertEqual(lay.parent, 0)

    def test_router_needs_uris(self):
        text = ('[bootstrap]\ncurve_cert = "c"\n'
                'hosts = [{host="a0", bind="tcp://*:1", '
                'connect="tcp://a0:1"}, {host="a1"}, '
                '{host="a2", parent="a1"}]\n')
        with self.assertRaises(BootstrapError) as cm:
            layout(text, "a2")
        self.assertEqual(str(cm.exception),
                         PREFIX + "rank 1 (a1) has children but no bind "
                         "URI: set default_bind or its bind key")
        # leaves need neither
        lay = layout(text.replace(', parent="a1"', ""), "a2")
        self.assertEqual(lay.parent_address, ("a0", 1))
        with self.assertRaises(BootstrapError):
            lay.bind_uri()


class PropertyTests(SynchronousTestCase):

    @settings(max_examples=40, deadline=None)
    @given(st.integers(1, 40), st.sampled_from(["custom", "kary:2", "kary:3",
                                                "binomial", "mincrit:2"]),
           st.data())
    def test_every_host_agrees_on_the_tree(self, size, topo, data):
        hosts = [{"host": f"n{i}"} for i in range(size)]
        cfg = config_from_object({"bootstrap": {
            "curve_cert": "c", "default_port": 7,
            "default_bind": "tcp://*:%p", "default_connect": "tcp://%h:%p",
            "hosts": hosts}, "tbon": {"topo": topo}})
        rank = data.draw(st.integers(0, size - 1))
        lay = bootstrap_layout(cfg, f"n{rank}")
        ref = Topology(topo, size)
        self.assertEqual(lay.rank, rank)
        self.assertEqual(lay.topology.parents(), ref.parents())
        self.assertEqual(lay.bind_address is None, not ref.children(rank))
        if rank:
            self.assertEqual(lay.parent_address,
                             (f"n{ref.parent(rank)}", 7))


class ScaleTests(SynchronousTestCase):

    def test_el_capitan_sized_custom_tree(self):
        """10800 hosts, 11 routers named by parent keys: linear work."""
        hosts = [{"host": "n[0-10799]"}, {"host": "n[1-11]", "parent": "n0"}]
        for i in range(11):
            lo = 12 + i * 1000
            hosts.append({"host": f"n[{lo}-{min(lo + 999, 10799)}]",
                          "parent": f"n{i + 1}"})
        cfg = config_from_object({"bootstrap": {
            "curve_cert": "c", "default_port": 1,
            "default_bind": "tcp://*:%p", "default_connect": "tcp://%h:%p",
            "hosts": hosts}})
        lay = bootstrap_layout(cfg, "n5000")
        self.assertEqual((lay.size, lay.rank, lay.parent), (10800, 5000, 5))
        self.assertEqual(lay.topology.critical_ranks(), list(range(12)))
        self.assertEqual(lay.parent_address, ("n5", 1))
