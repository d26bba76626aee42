# -*- test-case-name: tests.integration.test_overlay -*-
"""Build this broker's overlay from its configuration.

:func:`plan` reads ``[bootstrap]`` (rank, size, hosts, topology); with
more than one broker :func:`build_overlay` loads the cluster certificate
and makes the TLS endpoints the :class:`OverlayService` uses.
"""

from twisted.internet.endpoints import (
    SSL4ServerEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS)

from fluxd.config import parse_duration_key
from fluxd.overlay.bootstrap import bootstrap_layout
from fluxd.overlay.service import OverlayService


def plan(config, hostname, setattrs):
    """The :class:`BootstrapLayout` of this broker (size 1 without config)."""
    return bootstrap_layout(config, hostname, topo=setattrs.get("tbon.topo"))


def _duration(config, setattrs, key):
    if f"tbon.{key}" in setattrs:
        from fluxd.formats.fsd import parse_fsd
        return parse_fsd(setattrs[f"tbon.{key}"])
    return parse_duration_key(config, f"tbon.{key}")


def build_overlay(reactor, layout, config, setattrs, router, events, version,
                  on_parent_disconnect=None):
    """An :class:`OverlayService` for a multi-broker layout.

    :raises fluxd.errors.InvalidArgument: for an unusable certificate.
    """
    from fluxd.overlay.tls import client_options, server_options
    from fluxd.security.keys import load_cluster_cert
    cert = load_cluster_cert(layout.cert_path)
    listen = parent = None
    if layout.children:
        address = layout.bind_address
        listen = SSL4ServerEndpoint(reactor, address.port, server_options(cert),
                                    interface=address.host)
    if layout.parent is not None:
        address = layout.parent_address
        tcp = (TCP6ClientEndpoint if ":" in address.host else TCP4ClientEndpoint)(
            reactor, address.host, address.port,
            timeout=_duration(config, setattrs, "connect_timeout") or 30)
        parent = wrapClientTLS(client_options(cert), tcp)
    quorum = setattrs.get("broker.quorum")
    return OverlayService(
        reactor, layout.rank, layout.size, layout.topology, router, events,
        listen_endpoint=listen, parent_endpoint=parent,
        hostnames=layout.hosts,
        quorum=int(quorum) if quorum else layout.size,
        torpid_min=_duration(config, setattrs, "torpid_min"),
        torpid_max=_duration(config, setattrs, "torpid_max"),
        tcp_user_timeout=_duration(config, setattrs, "tcp_user_timeout"),
        version=version, on_parent_disconnect=on_parent_disconnect)
