# -*- test-case-name: tests.unit.cli.test_cmd_resource -*-
"""Where ``flux resource`` gets its data.

The rendering code of :mod:`fluxd.cli.cmd_resource` asks a *source* for
three things and does not care where they come from:

* :meth:`status`: a :class:`~fluxd.resource.status.ResourceStatus` (the
  system view);
* :meth:`sched_list`: a :class:`~fluxd.resource.status.SchedResourceList`
  (the scheduler view);
* :meth:`config`: the instance configuration as a dict (its ``queues``
  table gives the QUEUE column and ``-q``).

:class:`StdinSource` serves ``--from-stdin`` (a saved ``resource.status``
or ``resource.sched-status`` response on standard input, plus an optional
``--config-file``).  :class:`LiveSource` asks a running instance through
the blocking client: ``resource.status`` and ``resource.sched-status`` on
rank 0 (the latter also gives the allocated ranks of the system view),
``job-manager.stats-get`` for the ranks running housekeeping and
``config.get`` for the queues; it also sends ``resource.drain`` and
``resource.undrain`` and streams ``resource.journal``.
"""

import json
import os

from fluxd.config import load_config, load_config_text
from fluxd.errors import FluxError, InvalidArgument
from fluxd.formats.idset import IDset
from fluxd.resource.status import ResourceStatus, SchedResourceList

__all__ = ["load_queue_config", "StdinSource", "LiveSource"]


def load_queue_config(path):
    """Read ``--config-file``: a config directory or TOML file, or a JSON
    object in a file of any name (what ``flux config get`` prints).

    :returns: the configuration as a dict.
    :raises InvalidArgument: for a missing or malformed file.
    """
    if os.path.isdir(path) or path.endswith(".toml") \
            or path.endswith(".json"):
        return load_config(path).as_dict()
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise InvalidArgument(f"{path}: {exc.strerror}") from None
    return load_config_text(text, source=path).as_dict()


def _parse_json(text, what):
    """Decode standard input; empty input stands for an empty instance."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"invalid {what} on stdin: {exc}") from None


class StdinSource:
    """Data read from standard input (``--from-stdin``).

    :param stream: the text stream to read (once).
    :param config_path: ``--config-file``, or None for no configuration.
    """

    def __init__(self, stream, config_path=None):
        self._stream = stream
        self._config_path = config_path

    def status(self):
        """:returns: the :class:`ResourceStatus` of a ``resource.status``
            response on stdin (nothing is allocated)."""
        return ResourceStatus(_parse_json(self._stream.read(),
                                          "resource status"))

    def sched_list(self):
        """:returns: the :class:`SchedResourceList` of a
            ``resource.sched-status`` response on stdin."""
        return SchedResourceList(_parse_json(self._stream.read(),
                                             "resource list"))

    def config(self):
        """:returns: the ``--config-file`` contents, or ``{}``."""
        if self._config_path:
            return load_queue_config(self._config_path)
        return {}

    def close(self):
        """Nothing to release."""


class LiveSource:
    """Data asked of a running instance.

    :param connect: a callable returning a connected handle with
        ``rpc(topic, payload=None, nodeid=...)`` and ``close()``
        (default :class:`fluxd.client.sync.Flux`).
    :param config_path: ``--config-file`` overriding ``config.get``.
    :param warn: called with a message when optional data is missing.
    """

    def __init__(self, connect=None, config_path=None, warn=None):
        if connect is None:
            from fluxd.client.sync import Flux as connect
        self._connect = connect
        self._config_path = config_path
        self._warn = warn or (lambda message: None)
        self._handle = None

    def _h(self):
        if self._handle is None:
            self._handle = self._connect()
        return self._handle

    def _sched_status(self):
        return self._h().rpc("resource.sched-status", nodeid=0)

    def status(self):
        """``resource.status`` plus the scheduler's allocated ranks and the
        job manager's housekeeping ranks (either may be unavailable: a
        missing scheduler means nothing is allocated).

        :raises FluxError: when the resource service does not answer.
        """
        rstatus = self._h().rpc("resource.status", nodeid=0)
        try:
            allocated = SchedResourceList(self._sched_status()).allocated
            allocated_ranks = allocated.ranks()
        except FluxError:
            allocated_ranks = IDset()
        return ResourceStatus(rstatus, allocated=allocated_ranks,
                              housekeeping=self._housekeeping_ranks())

    def _housekeeping_ranks(self):
        try:
            stats = self._h().rpc("job-manager.stats-get", {})
        except FluxError:
            return IDset()
        running = ((stats or {}).get("housekeeping") or {}).get("running")
        ranks = IDset()
        for info in (running or {}).values():
            ranks |= IDset((info or {}).get("pending") or "")
        return ranks

    def sched_list(self):
        """:returns: the :class:`SchedResourceList` of
            ``resource.sched-status``.
        :raises FluxError: when the service does not answer."""
        return SchedResourceList(self._sched_status())

    def config(self):
        """The ``--config-file`` contents, else ``config.get``; ``{}`` (and
        a warning) when the instance does not answer."""
        if self._config_path:
            return load_queue_config(self._config_path)
        try:
            return self._h().rpc("config.get") or {}
        except FluxError as exc:
            self._warn(f"Could not get flux config: {exc}")
            return {}

    def drain(self, payload):
        """Send ``resource.drain`` to rank 0.

        :param payload: ``{"targets": ..., "mode"?: ..., "reason"?: ...}``.
        :raises FluxError: the service's error (e.g. EEXIST).
        """
        self._h().rpc("resource.drain", payload, nodeid=0)

    def undrain(self, payload):
        """Send ``resource.undrain`` to rank 0.

        :param payload: ``{"targets": ..., "mode"?: "force",
            "reason"?: ...}``.
        :raises FluxError: the service's error (e.g. ``rank 1 not
            drained``).
        """
        self._h().rpc("resource.undrain", payload, nodeid=0)

    def journal(self):
        """Stream ``resource.journal`` from rank 0.

        :returns: an iterator of responses ``{"events": [...]}``; an empty
            list marks the end of the backlog.
        """
        return self._h().stream("resource.journal", {}, nodeid=0)

    def hostlist(self):
        """:returns: the instance hostnames in rank order (rank 0's
            ``hostlist`` attribute)."""
        from fluxd.formats.hostlist import Hostlist
        answer = self._h().rpc("attr.get", {"name": "hostlist"}, nodeid=0)
        return list(Hostlist(answer["value"]))

    def close(self):
        """Close the connection, if one was opened."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
