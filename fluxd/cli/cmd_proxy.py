# -*- test-case-name: tests.integration.test_nested_tools -*-
"""``flux proxy [--force] TARGET [COMMAND...]``: run COMMAND (default
``$SHELL``, else ``/bin/sh``) connected to the Flux instance TARGET
names (flux-proxy(1); targets as ``flux uri``, :mod:`fluxd.cli._uri`).

flux-core's proxy relays messages through a socket of its own, because
its connectors differ (ssh, local...).  fluxd clients speak to a broker's
UNIX socket only, so the proxy checks that the instance answers (and,
unless ``--force``, that its version is this command's), then runs
``$SHELL`` (``$SHELL -c "COMMAND..."`` with a command) with ``FLUX_URI``
set to the instance's ``local://`` URI in place of itself, so that
signals and the terminal are the command's and its exit code is the
proxy's.  An ``ssh://HOST/PATH`` target is used as ``local://PATH`` when
HOST is this host; another host is refused (no ssh relay: there is no
remote connector).

Errors are one line, ``flux-proxy: MESSAGE``, exit 1: a target that does
not resolve (``Unable to resolve TARGET to a URI: jobid ID is not
running``...), an instance that does not answer, a version mismatch.
"""

import argparse
import os
import socket
import sys

from fluxd import __version__
from fluxd.errors import FluxError, InvalidArgument

__all__ = ["main", "local_target"]

PROG = "flux-proxy"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: {message}\n")


def local_target(uri, hostname=None):
    """The ``local://`` URI to connect to for resolved ``uri`` (a
    :class:`fluxd.cli._uri.JobURI`).

    :raises InvalidArgument: an ``ssh://`` URI of another host.
    """
    if uri.scheme == "local":
        return uri.local
    host = uri.netloc.rpartition("@")[2].partition(":")[0]
    name = hostname or socket.gethostname()
    names = {"localhost", name, name.split(".")[0]}
    if uri.scheme == "ssh" and host in names:
        return uri.local
    raise InvalidArgument(f"{uri.uri}: remote instances are not supported"
                          " (fluxd has no ssh connector)")


def main(argv, environ=None, execvpe=os.execvpe):
    """Run ``flux proxy``: replaces this process with the command.

    :returns: 1 on error (on success the command's exit is the proxy's).
    """
    from fluxd.cli._uri import resolve
    from fluxd.cli.cmd_uri import connector
    environ = dict(os.environ if environ is None else environ)
    parser = _Parser(prog=PROG, usage=f"{PROG} [OPTIONS] JOBID|URI"
                     " [COMMAND...]",
                     description="Route messages to/from Flux instance")
    parser.add_argument("-f", "--force", action="store_true",
                        help="Skip version check when connecting to Flux"
                        " broker")
    parser.add_argument("target", metavar="JOBID|URI", nargs="?")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.target is None:
        parser.error("URI argument is required")
    try:
        uri = resolve(args.target, connector, environ)
    except FluxError as exc:
        sys.stderr.write(f"{PROG}: Unable to resolve {args.target} to a"
                         f" URI: {exc}\n")
        return 1
    try:
        target = local_target(uri)
        with connector(target) as handle:
            version = handle.rpc("attr.get", {"name": "version"})["value"]
    except FluxError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 1
    if version != __version__:
        if not args.force:
            sys.stderr.write(f"{PROG}: fatal: proxy version {__version__}"
                             f" != broker version {version} (--force to"
                             " connect anyway)\n")
            return 1
        sys.stderr.write(f"{PROG}: warning: proxy version {__version__}"
                         f" != broker version {version}\n")
    shell = environ.get("SHELL") or "/bin/sh"
    argv = [shell]
    if args.command:
        argv += ["-c", " ".join(args.command)]
    environ["FLUX_URI"] = target
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        execvpe(shell, argv, environ)
    except OSError as exc:
        sys.stderr.write(f"{PROG}: {shell}: {exc.strerror}\n")
        return 1
    return 0
