# -*- test-case-name: tests.unit.overlay.test_setup -*-
"""Build this broker's overlay from its configuration.

:func:`plan` reads ``[bootstrap]`` (rank, size, hosts, topology); with
more than one broker :func:`build_overlay` loads the cluster certificate
and makes the TCP endpoints and pinned TLS settings the
:class:`OverlayService` uses (it does the TLS on its connections itself).
"""

import resource

from twisted.internet.endpoints import (
    TCP4ClientEndpoint, TCP4ServerEndpoint, TCP6ClientEndpoint)

from fluxd.config import parse_duration_key
from fluxd.errors import InvalidArgument
from fluxd.formats.fsd import parse_fsd
from fluxd.overlay.bootstrap import bootstrap_layout
from fluxd.overlay.gate import AdmissionGate
from fluxd.overlay.service import OverlayService
from fluxd.overlay.tls import client_options, server_options
from fluxd.security.keys import load_cluster_cert

#: seconds a connection may take to finish TLS and its hello
HELLO_TIMEOUT = 10.0
#: connections waiting for their hello, at most, from one address ...
MAX_PENDING_PER_SOURCE = 64
#: ... and overall (fewer when few file descriptors are allowed)
MAX_PENDING = 256
#: the listening socket's backlog (ZeroMQ's default, as flux has it)
BACKLOG = 100


def plan(config, hostname, setattrs):
    """The :class:`BootstrapLayout` of this broker (size 1 without config)."""
    return bootstrap_layout(config, hostname, topo=setattrs.get("tbon.topo"))


def _duration(config, setattrs, key):
    if f"tbon.{key}" in setattrs:
        return parse_fsd(setattrs[f"tbon.{key}"])
    return parse_duration_key(config, f"tbon.{key}")


def pending_limits(nofile):
    """``(max_pending, max_per_source)`` for a soft open-file limit.

    Connections waiting for their hello may use at most a quarter of the
    file descriptors, so that clients and children always find some.
    """
    overall = max(8, min(MAX_PENDING, nofile // 4))
    return overall, min(MAX_PENDING_PER_SOURCE, overall)


def peer_certs(path):
    """The DER certificates of the PEM file ``path`` (``tbon.peer-certs``:
    a nested instance's brokers each present their own, exchanged through
    PMI), or None when ``path`` is None.

    :raises fluxd.errors.InvalidArgument: for a file that cannot be read
        or holds no certificate.
    """
    if path is None:
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    try:
        with open(path, "rb") as f:
            certs = x509.load_pem_x509_certificates(f.read())
    except OSError as exc:
        raise InvalidArgument(f"tbon.peer-certs: {path}: {exc.strerror}") \
            from None
    except ValueError as exc:
        raise InvalidArgument(f"tbon.peer-certs: {path}: {exc}") from None
    return [c.public_bytes(Encoding.DER) for c in certs]


def build_overlay(reactor, layout, config, setattrs, router, events, version):
    """An :class:`OverlayService` for a multi-broker layout.

    :raises fluxd.errors.InvalidArgument: for an unusable certificate.
    """
    cert = load_cluster_cert(layout.cert_path)
    trusted = peer_certs(setattrs.get("tbon.peer-certs"))
    listen = parent = None
    if layout.children:
        address = layout.bind_address
        # listenTCP picks IPv6 from an IPv6 interface address itself
        listen = TCP4ServerEndpoint(reactor, address.port, backlog=BACKLOG,
                                    interface=address.host)
    if layout.parent is not None:
        address = layout.parent_address
        tcp = (TCP6ClientEndpoint if ":" in address.host else TCP4ClientEndpoint)
        parent = tcp(reactor, address.host, address.port,
                     timeout=_duration(config, setattrs, "connect_timeout") or 30)
    max_pending, per_source = pending_limits(
        resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    quorum = setattrs.get("broker.quorum")
    return OverlayService(
        reactor, layout.rank, layout.size, layout.topology, router, events,
        listen_endpoint=listen, parent_endpoint=parent,
        hostnames=layout.hosts,
        quorum=int(quorum) if quorum else layout.size,
        torpid_min=_duration(config, setattrs, "torpid_min"),
        torpid_max=_duration(config, setattrs, "torpid_max"),
        tcp_user_timeout=_duration(config, setattrs, "tcp_user_timeout"),
        version=version,
        server_tls=server_options(cert, trusted),
        client_tls=client_options(cert, trusted=trusted),
        hello_timeout=HELLO_TIMEOUT,
        gate=AdmissionGate(reactor, timeout=HELLO_TIMEOUT,
                           max_pending=max_pending,
                           max_per_source=per_source))
