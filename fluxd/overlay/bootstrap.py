# -*- test-case-name: tests.unit.overlay.test_bootstrap -*-
"""Config bootstrap: the instance layout a ``[bootstrap]`` table describes.

A system instance learns its shape from configuration
(``spec/config.md`` section 2, ``spec/broker.md`` sections 1 and 4,
flux-core's ``libfluxutil/conf_bootstrap.c``):

- ``hosts`` is a rank-ordered array of tables ``{host, bind?, connect?,
  parent?}``; each ``host`` is an RFC 29 hostlist, expanded in order.  The
  first occurrence of a host fixes its rank; a later entry for the same
  host only adds keys that are still missing (typically ``parent``).
- A missing or empty ``hosts`` array is a one-broker instance of this
  host.
- This broker's rank is the index of its host name (the ``hostname``
  broker attribute, else the system's) in the expanded list.
- ``bind`` and ``connect`` default to ``default_bind`` and
  ``default_connect``; ``%h`` becomes the host, ``%p`` ``default_port``,
  ``%%`` a ``%``.
- The topology is ``tbon.topo`` (overridden by the broker attribute of
  the same name), ``custom`` by default: flat, unless ``parent`` keys
  say otherwise.  As in flux, schemes other than ``custom`` ignore
  ``parent`` keys (a named parent must still exist).
- ``curve_cert`` (the key name is kept for compatibility: it names the
  :mod:`fluxd.security.keys` cluster certificate) is required when the
  instance has more than one broker.

fluxd's overlay is TLS over TCP, so where flux-core (ZeroMQ) also accepts
``ipc://`` URIs and a ``tcp://`` URI without a port, fluxd requires
``tcp://ADDRESS:PORT`` and refuses ``ipc://`` with a one-line error.  A
bind address is ``*`` (every interface), an IP address (IPv6 in
brackets) or the name of a local interface, which is resolved to that
interface's IPv4 address as ZeroMQ does (host names are not resolved for
binding, as in ZeroMQ).  A connect address is a host name or an IP
address, resolved when connecting.

Every error is a :class:`BootstrapError` (a :class:`~fluxd.config.ConfigError`)
with one line of text, worded as flux-core's where it has one:
``Config file error [bootstrap]: test9 not found in hosts``.

Pure but for :func:`interface_ipv4` (one ``ioctl``): no Twisted.
"""

import errno as _errno
import ipaddress
import socket
from dataclasses import dataclass
from typing import NamedTuple

from fluxd.config import ConfigError
from fluxd.formats.hostlist import Hostlist, HostlistError
from fluxd.overlay.topology import Topology, TopologyError
from fluxd.security.names import validate_domain_name

__all__ = [
    "BootstrapError", "BootstrapLayout", "TcpAddress", "bootstrap_layout",
    "format_uri", "validate_uri", "parse_tcp_uri",
    "interface_ipv4",
]

_PREFIX = "Config file error [bootstrap]: "
# flux-core words topology errors from [bootstrap] parent keys this way
_TOPO_PREFIX = "Config file [bootstrap] hosts: "

# sizeof (struct sockaddr_un.sun_path) on Linux
_IPC_PATH_MAX = 108
_SIOCGIFADDR = 0x8915
_IFNAMSIZ = 16


class BootstrapError(ConfigError):
    """invalid [bootstrap] configuration"""


class TcpAddress(NamedTuple):
    """A host (name or IP literal, IPv6 without brackets) and a port."""

    host: str
    port: int


# -- URI helpers -----------------------------------------------------------


def format_uri(template, host, port):
    """Substitute ``%h``, ``%p`` and ``%%`` as flux's format_uri does.

    Unknown tokens pass through unchanged; ``%h`` is kept when ``host`` is
    None; a lone ``%`` at the end is dropped (all as in flux-core).

    :param template: a bind or connect URI template.
    :param host: the host name for ``%h``, or None.
    :param port: ``default_port`` for ``%p``, or None when it is unset.
    :returns: the expanded URI.
    :raises BootstrapError: when ``%p`` is used with ``port`` None.
    """
    out = []
    i = 0
    while i < len(template):
        c = template[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        token = template[i + 1:i + 2]
        if token == "h":
            out.append("%h" if host is None else host)
        elif token == "p":
            if port is None:
                raise BootstrapError(f"{_PREFIX}{template}: %p is used but "
                                     "default_port is not set")
            out.append(str(port))
        elif token == "%":
            out.append("%")
        elif token:
            out.append("%" + token)
        i += 2
    return "".join(out)


def validate_uri(uri):
    """Check a URI as flux-core checks a ZeroMQ URI.

    :returns: None when it is acceptable, else the reason (a phrase that
        starts with the URI, as flux's messages do).
    """
    if "://" not in uri:
        return f"{uri} has no URI scheme"
    if ":*" in uri:
        return f"{uri} contains a port wildcard"
    if uri.startswith("ipc://"):
        path = uri[6:]
        if not path:
            return f"{uri} socket path is empty"
        if len(path.encode()) > _IPC_PATH_MAX:
            return (f"{uri} socket path must not exceed {_IPC_PATH_MAX}"
                    " bytes")
        return None
    if uri.startswith("tcp://"):
        return f"{uri} address is empty" if len(uri) == 6 else None
    return f"{uri} URI scheme must be tcp or ipc"


def parse_tcp_uri(uri):
    """Split ``tcp://ADDRESS:PORT`` into a :class:`TcpAddress`.

    The URI must also pass :func:`validate_uri`.

    :param uri: an expanded bind or connect URI.
    :returns: a :class:`TcpAddress` (brackets removed from an IPv6 host).
    :raises BootstrapError: for ``ipc://`` (fluxd's overlay is TLS over
        TCP), a missing or invalid port, or a bad address; the message
        is a phrase starting with the URI, without the config prefix.
    """
    reason = validate_uri(uri)
    if reason is not None:
        raise BootstrapError(reason)
    if uri.startswith("ipc://"):
        raise BootstrapError(f"{uri}: ipc:// is not supported by the fluxd "
                             "overlay (TLS over TCP): use tcp://HOST:PORT")
    rest = uri[6:]
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise BootstrapError(f"{uri} has an unterminated IPv6 address")
        host, after = rest[1:close], rest[close + 1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise BootstrapError(
                f"{uri} has an invalid IPv6 address '{host}'") from None
        if not after.startswith(":"):
            raise BootstrapError(f"{uri} has no port")
        port_text = after[1:]
    else:
        host, sep, port_text = rest.rpartition(":")
        if not sep:
            raise BootstrapError(f"{uri} has no port")
        if not host:
            raise BootstrapError(f"{uri} address is empty")
        if ":" in host:
            raise BootstrapError(
                f"{uri}: put an IPv6 address in brackets: tcp://[ADDR]:PORT")
    if not port_text.isascii() or not port_text.isdigit() \
            or not 1 <= int(port_text) <= 65535:
        raise BootstrapError(f"{uri} has an invalid port '{port_text}'")
    return TcpAddress(host, int(port_text))


def interface_ipv4(name):
    """The IPv4 address of local network interface ``name`` (Linux).

    :returns: a dotted-quad string.
    :raises BootstrapError: when there is no such interface or it has no
        IPv4 address.
    """
    import fcntl
    import struct
    raw = name.encode()
    if not raw or len(raw) >= _IFNAMSIZ or b"\0" in raw:
        raise BootstrapError(f"no such network interface '{name}'")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            ifreq = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR,
                                struct.pack("256s", raw))
        except OSError as exc:
            if exc.errno in (_errno.ENODEV, _errno.ENXIO):
                raise BootstrapError(
                    f"no such network interface '{name}'") from None
            if exc.errno == _errno.EADDRNOTAVAIL:
                raise BootstrapError(
                    f"network interface '{name}' has no IPv4 address") \
                    from None
            raise BootstrapError(
                f"network interface '{name}': {exc.strerror}") from None
    # struct ifreq: 16-byte name, then sockaddr_in (family, port, addr)
    return socket.inet_ntoa(ifreq[20:24])


def _bind_address(uri, enable_ipv6, resolve_interface):
    """Resolve an expanded bind URI to the address to listen on."""
    addr = parse_tcp_uri(uri)
    host = addr.host
    if host == "*":
        return TcpAddress("::" if enable_ipv6 else "0.0.0.0", addr.port)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return TcpAddress(resolve_interface(host), addr.port)
    return addr


# -- the layout ------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapLayout:
    """What config bootstrap tells one broker about its instance.

    :ivar size: the number of brokers.
    :ivar rank: this broker's rank.
    :ivar hostname: the host name this broker was placed by.
    :ivar hosts: the host name of every rank (a tuple, rank order).
    :ivar topology: the :class:`~fluxd.overlay.topology.Topology`.
    :ivar cert_path: ``curve_cert`` (None for a lone broker without one).
    :ivar enable_ipv6: ``bootstrap.enable_ipv6``.
    :ivar bind_address: where this broker listens for its children (the
        interface name resolved), or None when it has no children.
    """

    size: int
    rank: int
    hostname: str
    hosts: tuple
    topology: Topology
    cert_path: object
    enable_ipv6: bool
    bind_address: object
    _bind_uris: tuple
    _connect_uris: tuple

    def _rank(self, rank):
        if rank is None:
            return self.rank
        if isinstance(rank, bool) or not isinstance(rank, int) \
                or not 0 <= rank < self.size:
            raise BootstrapError(
                f"{rank} is not a valid rank in this instance")
        return rank

    def bind_uri(self, rank=None):
        """The expanded bind URI of ``rank`` (default: this broker's).

        Interface names are left as written (flux's ``tbon.endpoint``
        shows them so); :attr:`bind_address` has them resolved.

        :raises BootstrapError: when that rank has no bind URI.
        """
        rank = self._rank(rank)
        uri = self._bind_uris[rank]
        if uri is None:
            raise BootstrapError(f"{_PREFIX}rank {rank} ({self.hosts[rank]})"
                                 " has no bind URI")
        return uri

    def connect_uri(self, rank=None):
        """The expanded connect URI of ``rank`` (default: this broker's).

        :raises BootstrapError: when that rank has no connect URI.
        """
        rank = self._rank(rank)
        uri = self._connect_uris[rank]
        if uri is None:
            raise BootstrapError(f"{_PREFIX}rank {rank} ({self.hosts[rank]})"
                                 " has no connect URI")
        return uri

    def connect_address(self, rank):
        """:meth:`connect_uri` of ``rank`` as a :class:`TcpAddress`."""
        return parse_tcp_uri(self.connect_uri(rank))

    @property
    def parent(self):
        """This broker's parent rank, or None on rank 0."""
        return self.topology.parent(self.rank)

    @property
    def children(self):
        """This broker's child ranks (a new list)."""
        return self.topology.children(self.rank)

    @property
    def parent_address(self):
        """Where to connect to the parent (None on rank 0)."""
        parent = self.parent
        return None if parent is None else self.connect_address(parent)

    @property
    def resolved_bind_uri(self):
        """``tcp://IP:PORT`` this broker listens on, or None (no children)."""
        if self.bind_address is None:
            return None
        host = self.bind_address.host
        if ":" in host:
            host = f"[{host}]"
        return f"tcp://{host}:{self.bind_address.port}"


def _expand_hosts(entries, hostname):
    """Expand hostlists in order and merge repeated hosts (first wins)."""
    if not entries:
        return [{"host": hostname}]
    merged = {}
    ordered = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("host"),
                                                         str):
            raise BootstrapError(f"{_PREFIX}invalid hosts[{index}]: "
                                 "an entry must be a table with a host key")
        try:
            names = Hostlist.decode(entry["host"])
        except HostlistError:
            raise BootstrapError(f"{_PREFIX}invalid hosts[{index}]: host key "
                                 "is not a valid RFC 29 hostlist") from None
        for name in names:
            have = merged.get(name)
            if have is None:
                have = dict(entry, host=name)
                merged[name] = have
                ordered.append(have)
            else:
                for key, value in entry.items():
                    have.setdefault(key, value)
    return ordered


def bootstrap_layout(config, hostname=None, *, topo=None,
                     resolve_interface=None):
    """Compute this broker's view of a config-bootstrapped instance.

    :param config: a :class:`fluxd.config.Config`.  Without a
        ``[bootstrap]`` table the instance is this one broker.
    :param hostname: this broker's host name (the ``hostname`` attribute);
        None for the system's (``socket.gethostname()``).
    :param topo: a topology URI overriding ``tbon.topo`` (the broker
        attribute), or None.
    :param resolve_interface: ``name -> IPv4 string`` for bind interface
        names (tests inject one); default :func:`interface_ipv4`.
    :returns: a frozen :class:`BootstrapLayout`.
    :raises BootstrapError: with a one-line reason for any inconsistency:
        a bad hosts entry or URI, this host missing from ``hosts``, a
        parent map that is not a tree, a missing ``curve_cert``, or a bind
        interface that does not exist here.
    """
    if hostname is None:
        hostname = socket.gethostname()
    if resolve_interface is None:
        resolve_interface = interface_ipv4
    table = config.get("bootstrap", {}, schema_default=False)
    if not isinstance(table, dict):
        raise BootstrapError(f"{_PREFIX}must be a table")
    port = table.get("default_port")
    entries = _expand_hosts(table.get("hosts") or [], hostname)
    hosts = [entry["host"] for entry in entries]

    binds, connects = [], []
    # flux-core takes a missing or empty hosts array at its word: this
    # host alone, its name and the default URIs unchecked (never used)
    configured = entries if table.get("hosts") else []
    if not configured:
        binds.append(None)
        connects.append(None)
    for rank, entry in enumerate(configured):
        host = entry["host"]
        where = f"{_PREFIX}invalid hosts entry for {host} (rank {rank})"
        reason = validate_domain_name(host)
        if reason is not None:
            raise BootstrapError(f"{where}: invalid host name: {reason}")
        for key, default, out in (("bind", "default_bind", binds),
                                  ("connect", "default_connect", connects)):
            template = entry.get(key, table.get(default))
            if template is None:
                out.append(None)
                continue
            try:
                uri = format_uri(template, host, port)
                parse_tcp_uri(uri)
            except BootstrapError as exc:
                raise BootstrapError(f"{where}: {key} key "
                                     f"{exc.message.removeprefix(_PREFIX)}") \
                    from None
            out.append(uri)

    rank_of = {host: index for index, host in enumerate(hosts)}
    rank = rank_of.get(hostname)
    if rank is None:
        raise BootstrapError(f"{_PREFIX}{hostname} not found in hosts")
    size = len(hosts)
    cert_path = table.get("curve_cert")
    if size > 1 and cert_path is None:
        raise BootstrapError(f"{_PREFIX}curve_cert must be defined for "
                             "size > 1")

    parents = {}
    for index, entry in enumerate(entries):
        parent = entry.get("parent")
        if parent is None:
            continue
        if parent not in rank_of:
            # checked whatever the scheme, as flux's conf_bootstrap does
            raise BootstrapError(f'{_TOPO_PREFIX}invalid parent "{parent}" '
                                 f"for {entry['host']} (rank {index})")
        parents[index] = parent
    uri = topo if topo is not None else config.get("tbon.topo")
    try:
        topology = Topology(uri, size, parents=parents, hosts=hosts)
    except TopologyError as exc:
        if parents and uri.partition(":")[0] == "custom":
            raise BootstrapError(f"{_TOPO_PREFIX}{exc}") from None
        raise BootstrapError(f"tbon.topo: {exc}") from None

    # Every rank with children needs both: it binds, its children connect.
    for router in topology.internal_ranks():
        for kind, uris in (("bind", binds), ("connect", connects)):
            if uris[router] is None:
                raise BootstrapError(
                    f"{_PREFIX}rank {router} ({hosts[router]}) has children "
                    f"but no {kind} URI: set default_{kind} or its {kind} "
                    "key")

    bind_address = None
    if topology.children(rank):
        try:
            bind_address = _bind_address(binds[rank],
                                         bool(table.get("enable_ipv6")),
                                         resolve_interface)
        except BootstrapError as exc:
            raise BootstrapError(f"{_PREFIX}bind {binds[rank]}: "
                                 f"{exc.message.removeprefix(_PREFIX)}") \
                from None
    return BootstrapLayout(
        size=size, rank=rank, hostname=hostname, hosts=tuple(hosts),
        topology=topology, cert_path=cert_path,
        enable_ipv6=bool(table.get("enable_ipv6", False)),
        bind_address=bind_address, _bind_uris=tuple(binds),
        _connect_uris=tuple(connects))
