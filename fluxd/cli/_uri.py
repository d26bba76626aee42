# -*- test-case-name: tests.unit.cli.test_uri -*-
"""Resolving a TARGET to the URI of a Flux instance (flux-uri(1)), for
``flux uri``, ``flux proxy``, ``flux pstree`` and ``flux jobs -R``.

A TARGET is:

``local://PATH`` / ``ssh://HOST/PATH``
    a URI already (kept as it is);
``jobid:ID[/ID...]`` or a bare ``ID[/ID...]``
    the ``uri`` memo of running job ID of the current instance (job-list's
    ``annotations.user.uri``), then of job ID2 of that instance...;
``pid:PID``
    the instance a local process belongs to: a broker's own ``local-uri``
    (its listening sockets answer with ``broker.pid`` = PID), else the
    ``FLUX_URI`` of the process's environment.

A ``?wait`` query (``flux uri --wait``) waits for job ID to post its
``uri`` memo (an instance still starting), as long as the job is not
over.  A ``?local`` or ``?remote`` query converts the result, as
``--local`` and ``--remote`` do: ``ssh://HOST/PATH`` <->
``local://PATH`` (HOST: this host's name).  ``FLUX_URI_RESOLVE_LOCAL`` set in the environment makes
every result local.  Errors are flux's: ``jobid ID not found``,
``jobid ID is not running``, ``URI not found for job ID``, ``No plugin
for URI scheme SCHEME`` (``slurm:`` and ``lsf:`` are not resolved here:
fluxd has no such resource manager to ask).

Pure stdlib: the broker connection is a ``connect(uri)`` callable.
"""

import os
import re
import socket
from urllib.parse import parse_qs, urlparse

from fluxd.errors import FluxError, InvalidArgument, NotFound

__all__ = ["JobURI", "resolve", "running_uri", "pid_uri", "RESOLVERS"]

#: scheme -> description (``flux uri --help``)
RESOLVERS = {
    "jobid": "Get URI for a given Flux JOBID",
    "pid": "Get FLUX_URI for a given local PID",
}

_RUN = 16       # RFC 21 RUN state bit


class JobURI:
    """A Flux instance URI with its ``local`` and ``remote`` forms.

    :raises InvalidArgument: ``JobURI 'X' does not have a valid scheme``.
    """

    def __init__(self, uri, hostname=None, force_local=False):
        self.uri = uri
        parsed = urlparse(uri)
        if not parsed.scheme or "://" not in uri:
            raise InvalidArgument(
                f"JobURI '{uri}' does not have a valid scheme")
        self.scheme = parsed.scheme
        self.netloc = parsed.netloc
        self.path = re.sub("/+", "/", parsed.path)
        self._hostname = hostname
        self.force_local = force_local

    @property
    def remote(self):
        """``ssh://HOST/PATH`` (a local URI gets this host's name)."""
        if self.scheme == "ssh":
            return self.uri
        if self.scheme == "local":
            host = self._hostname or socket.gethostname()
            return f"ssh://{host}{self.path}"
        raise InvalidArgument(
            f"Cannot convert JobURI with scheme {self.scheme} to remote")

    @property
    def local(self):
        """``local://PATH``."""
        if self.scheme == "local":
            return self.uri
        if self.scheme == "ssh":
            return f"local://{self.path}"
        raise InvalidArgument(
            f"Cannot convert JobURI with scheme {self.scheme} to local")

    def __str__(self):
        return self.local if self.force_local else self.uri


def _split(target):
    """``(scheme, path, query)`` of a TARGET; digits-only paths parse."""
    scheme, sep, rest = target.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return "", target, {}
    path, _, query = rest.partition("?")
    return scheme, path, parse_qs(query, keep_blank_values=True)


def resolve(target, connect, environ=None, hostname=None, proc="/proc"):
    """The :class:`JobURI` of TARGET.

    :param connect: ``connect(uri)`` -> a broker handle (``uri`` None: the
        enclosing instance), with ``rpc(topic, payload)`` and ``close()``.
    :raises InvalidArgument: for a target that cannot be resolved.
    """
    environ = os.environ if environ is None else environ
    force_local = bool(environ.get("FLUX_URI_RESOLVE_LOCAL"))
    scheme, path, query = _split(target)
    if scheme in ("local", "ssh"):
        uri = JobURI(target, hostname, force_local)
        if scheme == "local" and not uri.path.startswith("/"):
            raise InvalidArgument(f"{target}: expected local:///PATH")
        return uri
    if not scheme:
        scheme, path, query = _split("jobid:" + target)
    if scheme not in RESOLVERS:
        raise InvalidArgument(f"No plugin for URI scheme {scheme}")
    if "local" in query and "remote" in query:
        raise InvalidArgument("Only one of 'local' or 'remote' is allowed")
    local = "local" in query or force_local
    if scheme == "jobid":
        text = _jobid_uri(path, connect, local, hostname, "wait" in query)
    else:
        text = pid_uri(path, connect, proc)
    result = JobURI(text, hostname, force_local)
    if "local" in query:
        result = JobURI(result.local, hostname, force_local)
    elif "remote" in query:
        result = JobURI(result.remote, hostname, force_local)
    return result


def _jobid_uri(path, connect, local, hostname, wait=False):
    from fluxd.cli._jobid import try_jobid
    ids = [part for part in path.split("/") if part]
    if not ids:
        raise InvalidArgument("jobid: a job id is required")
    uri = None
    for text in ids:
        jobid = try_jobid(text)
        if jobid is None:
            raise InvalidArgument(f"{text} is not a valid jobid")
        if uri is not None:
            uri = JobURI(uri, hostname).local if local else uri
            _connectable(uri)
        handle = connect(uri)
        try:
            if wait:
                wait_for_uri(handle, jobid, text)
            uri = running_uri(handle, jobid, text)
        finally:
            handle.close()
    return uri


def wait_for_uri(handle, jobid, text=None):
    """Wait until job ``jobid`` posts a ``uri`` memo (its eventlog,
    ``job-info.eventlog-watch``).

    :raises InvalidArgument: ``jobid ID not found``, or ``jobid ID is not
        running`` once the job is over without one.
    """
    import json
    text = text or str(jobid)
    try:
        for response in handle.stream("job-info.eventlog-watch", {
                "id": int(jobid), "path": "eventlog", "flags": 0}):
            entry = response.get("event")
            if isinstance(entry, str):
                entry = json.loads(entry)
            context = entry.get("context") or {}
            if entry.get("name") == "memo" and context.get("uri"):
                return
            if entry.get("name") == "clean":
                break
    except NotFound:
        raise InvalidArgument(f"jobid {text} not found") from None
    raise InvalidArgument(f"jobid {text} is not running")


def _connectable(uri):
    if not uri.startswith("local://"):
        raise InvalidArgument(f"{uri}: fluxd connects to local:// URIs only"
                              " (use ?local for an instance on this host)")


def running_uri(handle, jobid, text=None):
    """The ``uri`` memo of running job ``jobid`` (job-list).

    :raises InvalidArgument: not found, not running, or no URI.
    """
    text = text or str(jobid)
    try:
        job = handle.rpc("job-list.list-id", {
            "id": int(jobid), "attrs": ["state", "annotations"]})["job"]
    except NotFound:
        raise InvalidArgument(f"jobid {text} not found") from None
    if job.get("state") != _RUN:
        raise InvalidArgument(f"jobid {text} is not running")
    uri = ((job.get("annotations") or {}).get("user") or {}).get("uri")
    if not isinstance(uri, str) or not uri:
        raise InvalidArgument(f"URI not found for job {text}")
    return uri


def pid_uri(text, connect, proc="/proc"):
    """The URI of the instance process ``text`` belongs to.

    A broker (one of its listening UNIX sockets named ``local*``, as
    brokers name theirs, answers ``attr.get broker.pid`` with PID) gives
    its ``local-uri``: its environment's ``FLUX_URI`` would be the
    instance that started it.  Any other process gives that
    ``FLUX_URI``.
    """
    pid = text.split("/")[0]
    if not pid.isdigit():
        raise InvalidArgument(f"PID {pid} is not a valid process id")
    if not os.path.isdir(f"{proc}/{pid}"):
        raise InvalidArgument(f"PID {pid} not found")
    for path in _listening_sockets(pid, proc):
        try:
            handle = connect(f"local://{path}")
        except (FluxError, OSError):
            continue
        try:
            if str(_attr(handle, "broker.pid")) == pid:
                return _attr(handle, "local-uri")
        except FluxError:
            continue
        finally:
            handle.close()
    try:
        with open(f"{proc}/{pid}/environ", "rb") as env:
            for entry in env.read().split(b"\0"):
                name, sep, value = entry.partition(b"=")
                if sep and name == b"FLUX_URI":
                    return value.decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise InvalidArgument(f"PID {pid}: {exc.strerror}") from None
    raise InvalidArgument(f"PID {pid} doesn't seem to have a FLUX_URI")


def _attr(handle, name):
    return handle.rpc("attr.get", {"name": name})["value"]


def _listening_sockets(pid, proc):
    """The paths of the UNIX sockets process ``pid`` listens on."""
    inodes = set()
    try:
        for fd in os.listdir(f"{proc}/{pid}/fd"):
            try:
                link = os.readlink(f"{proc}/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return []
    paths = []
    try:
        with open(f"{proc}/{pid}/net/unix") as table:
            next(table, None)
            for line in table:
                fields = line.split()
                # Num RefCount Protocol Flags Type St Inode [Path]
                if len(fields) >= 8 and fields[6] in inodes \
                        and int(fields[3], 16) & 0x10000 \
                        and os.path.basename(fields[7]).startswith("local"):
                    paths.append(fields[7])     # listening (__SO_ACCEPTCON)
    except OSError:
        return []
    return paths
