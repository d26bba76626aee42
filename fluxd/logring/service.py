# -*- test-case-name: tests.unit.logring.test_service -*-
"""The broker log service ``log``: ring buffer, stderr and ``log.*`` RPCs.

Every ``twisted.logger`` event of the broker process reaches
:class:`LogRingService` through an *injected* log publisher (production
passes ``globalLogPublisher``; tests a private one).  Each event becomes an
RFC 5424 record (:mod:`fluxd.logring.stdlog`) and then, as flux-core's
``src/broker/log.c`` does:

- enters the ring buffer (``log-ring-size`` records) when its severity is
  at most ``log-level``; ``flux dmesg`` reads the ring with ``log.dmesg``;
- goes to stderr when at most ``log-critical-level``, or at most
  ``log-stderr-level``: without a timestamp in ``log-stderr-mode=local``
  (what the systemd journal wants, ``broker.info[0]: ...``), with one in
  ``leader`` mode;
- goes to ``log-filename`` (rank 0) when at most ``log-forward-level``;
  on other ranks it is sent up to rank 0 (``forward``), which writes it to
  the file and, in ``leader`` mode, to its stderr;
- goes to syslog (``/dev/log``, facility user, tag ``flux``) when
  ``log-syslog-enable`` is 1 and it is at most ``log-syslog-level``.

Twisted levels map to syslog severities: critical 2, error 3, warn 4,
info 6, debug 7.  Twisted's own routine info messages are left out.  A ``log.append`` record (``flux logger``) keeps its own
severity and application name and is also re-emitted to the Twisted log so
that twistd's log file shows it.
"""

import collections
import traceback

from twisted.internet import defer, protocol
from twisted.logger import ILogObserver, LogLevel, Logger, formatEvent
from zope.interface import implementer

from fluxd.errors import InvalidArgument
from fluxd.interfaces import IModule
from fluxd.logring import stdlog
from fluxd.logring.syslog import SyslogSender
from fluxd.message.router import method
from fluxd.module import Module

#: twisted.logger level -> syslog severity
SEVERITY_OF_LEVEL = {
    LogLevel.critical: 2, LogLevel.error: 3, LogLevel.warn: 4,
    LogLevel.info: 6, LogLevel.debug: 7,
}

#: the attributes this service follows, with their defaults
LEVEL_ATTRS = {
    "log-level": 7, "log-stderr-level": 3, "log-critical-level": 2,
    "log-forward-level": 3, "log-syslog-level": 2,
}
_OTHER_ATTRS = ("log-ring-size", "log-stderr-mode", "log-filename",
                "log-syslog-enable")

# Marks an event that carries an already-built record (log.append), so the
# observer does not build a second one from the Twisted event.
_RECORD_KEY = "flux_stdlog"


def level_of_severity(severity):
    """The Twisted level used to re-emit a record of ``severity``."""
    if severity <= 2:
        return LogLevel.critical
    if severity == 3:
        return LogLevel.error
    if severity == 4:
        return LogLevel.warn
    if severity <= 6:
        return LogLevel.info
    return LogLevel.debug


def appname_of(event):
    """The flux application name of a Twisted log event.

    An explicit ``flux_appname`` key wins; a message logged by a broker
    module (``log_source`` provides IModule) is named after that module, as
    flux names module messages (``kvs.info[0]``); everything else is the
    ``broker``'s own.
    """
    name = event.get("flux_appname")
    if isinstance(name, str) and name:
        return name
    source = event.get("log_source")
    if source is not None and IModule.providedBy(source):
        name = getattr(source, "name", None)
        if isinstance(name, str) and name and " " not in name:
            return name
    return "broker"


def _chatter(event):
    """Twisted's own routine messages ("Starting factory", AMP "connection
    established", port opened/closed): two per ``flux`` command would drown
    the ring and the journal, so they stay in twistd's log only.  Twisted's
    warnings and errors are kept."""
    namespace = event.get("log_namespace") or ""
    if not namespace.startswith("fluxd"):
        return True
    return isinstance(event.get("log_source"), protocol.Factory)


def _message_of(event):
    text = formatEvent(event).strip("\n")
    failure = event.get("log_failure")
    if failure is not None:
        text = f"{text}: {failure.type.__name__}: {failure.getErrorMessage()}"
    # one record is one line: later lines of a multi-line message are kept
    # but joined, as a syslog record cannot hold raw newlines portably
    return text.replace("\n", " | ")


@implementer(ILogObserver)
class LogRingService(Module):
    """The ``log`` service and the broker's log observer.

    :param clock: ``IReactorTime`` (record timestamps of ``log.append``).
    :param attributes: the broker attribute table (levels, ring size,
        stderr mode, log file); runtime changes are followed.
    :param rank: this broker's rank (the records' HOSTNAME).
    :param publisher: the ``twisted.logger`` publisher to observe.
    :param stderr: a text stream for stderr output, or None for none.
    :param procid: the PROCID field (the broker's pid), or None.
    :param forward: ``forward(record)`` for records at most
        ``log-forward-level`` on ranks other than 0 (sent to rank 0's
        ``log.append``); None drops them.
    :param syslog: a :class:`fluxd.logring.syslog.SyslogSender` (default:
        one for ``/dev/log``).
    """

    name = "log"
    log = Logger()

    def __init__(self, clock, attributes, rank=0, publisher=None, stderr=None,
                 procid=None, forward=None, syslog=None):
        super().__init__(rank)
        self._clock = clock
        self._attributes = attributes
        self._publisher = publisher
        self._stderr = stderr
        self._procid = procid
        self.forward = forward
        self.syslog = syslog if syslog is not None else SyslogSender(
            pid=procid)
        if self.syslog.on_error is None:
            self.syslog.on_error = self._syslog_failed
        self.syslog_enabled = False
        self.levels = dict(LEVEL_ATTRS)
        self.stderr_mode = "leader"
        self._ring = collections.deque(maxlen=1024)
        self._followers = []
        self._file = None
        self._filename = None
        self._observing = False
        for name in list(LEVEL_ATTRS) + list(_OTHER_ATTRS):
            value = attributes.get_default(name)
            if value is not None:
                try:
                    self._apply(name, value)
                except InvalidArgument as exc:
                    raise InvalidArgument(f"{name}: {exc}") from None
        watch = getattr(attributes, "watch", None)
        if watch is not None:
            watch(self._attribute_changed)

    # -- settings -----------------------------------------------------------

    def _apply(self, name, value):
        """Apply one attribute value; InvalidArgument when it is unusable."""
        if name in LEVEL_ATTRS:
            level = _int(value)
            if level is None or not -1 <= level <= 7:
                raise InvalidArgument(f"invalid log level '{value}'")
            self.levels[name] = level
        elif name == "log-ring-size":
            size = _int(value)
            if size is None or size < 0:
                raise InvalidArgument(f"invalid ring size '{value}'")
            self._ring = collections.deque(self._ring, maxlen=size)
        elif name == "log-stderr-mode":
            if value not in ("leader", "local"):
                raise InvalidArgument(f"invalid stderr mode '{value}'"
                                      " (leader or local)")
            self.stderr_mode = value
        elif name == "log-filename":
            self._open_file(value)
        elif name == "log-syslog-enable":
            if value not in ("0", "1"):
                raise InvalidArgument(f"invalid value '{value}' (0 or 1)")
            self.syslog_enabled = value == "1"

    def _open_file(self, path):
        if self.rank != 0 or not path:
            return
        try:
            handle = open(path, "a", encoding="utf-8")
        except OSError as exc:
            raise InvalidArgument(f"{path}: {exc.strerror}") from None
        if self._file is not None:
            self._file.close()
        self._file, self._filename = handle, path

    def _syslog_failed(self, text):
        # not through the log: it would come back here
        if self._stderr is not None:
            self._stderr.write(f"log: {text} (records are dropped)\n")
            self._stderr.flush()

    def _attribute_changed(self, name, value):
        if name not in LEVEL_ATTRS and name not in _OTHER_ATTRS:
            return
        try:
            self._apply(name, value)
        except InvalidArgument as exc:
            self.log.warn("ignoring {name}={value}: {why}", name=name,
                          value=value, why=exc)

    # -- the observer -------------------------------------------------------

    def startService(self):
        super().startService()
        if self._publisher is not None and not self._observing:
            self._publisher.addObserver(self)
            self._observing = True

    def stopService(self):
        super().stopService()
        if self._observing:
            self._publisher.removeObserver(self)
            self._observing = False
        for done in list(self._followers):
            self._followers.remove(done)
            done[1].callback(None)
        if self._file is not None:
            self._file.close()
            self._file = None
        self.syslog.close()
        return defer.succeed(None)

    def __call__(self, event):
        """Receive one Twisted log event (ILogObserver).  Never raises."""
        try:
            record = event.get(_RECORD_KEY)
            if record is None:
                level = event.get("log_level", LogLevel.info)
                severity = SEVERITY_OF_LEVEL.get(level, 6)
                if severity > 4 and _chatter(event):
                    return
                record = stdlog.encode(
                    severity, appname_of(event), self.rank,
                    _message_of(event), event.get("log_time"),
                    procid=self._procid)
            self._dispatch(record, event.get("log_failure"))
        except Exception:
            # A broken observer must not break logging (or recurse into
            # it): report on stderr, once per bad event.
            if self._stderr is not None:
                self._stderr.write("log: " + traceback.format_exc())

    def _dispatch(self, record, failure=None):
        decoded = stdlog.decode(record)
        severity = decoded.severity
        if severity <= self.levels["log-level"]:
            self._ring.append(record)
            for callback, _done in list(self._followers):
                callback(record)
        critical = severity <= self.levels["log-critical-level"]
        wanted = severity <= self.levels["log-stderr-level"]
        written = False
        if critical or (wanted and self.stderr_mode == "local"):
            self._write_stderr(decoded, failure,
                               timestamp=self.stderr_mode != "local")
            written = True
        if severity <= self.levels["log-forward-level"]:
            if self.rank == 0:
                self._write_file(decoded)
            elif self.forward is not None:
                self.forward(record)
        if not written and wanted and self.stderr_mode == "leader" \
                and self.rank == 0:
            self._write_stderr(decoded, failure, timestamp=True)
        if self.syslog_enabled and severity <= self.levels["log-syslog-level"]:
            self.syslog.send(decoded)

    def _write_file(self, decoded):
        if self._file is not None:
            self._file.write(stdlog.leader_line(decoded) + "\n")
            self._file.flush()

    def _forwarded(self, record):
        """A record a follower sent up (``log-forward-level``): into the
        ring, the log file and, in leader mode, this broker's stderr."""
        decoded = stdlog.decode(record)
        if decoded.severity <= self.levels["log-level"]:
            self._ring.append(record)
            for callback, _done in list(self._followers):
                callback(record)
        self._write_file(decoded)
        if self.stderr_mode == "leader" and \
                decoded.severity <= self.levels["log-stderr-level"]:
            self._write_stderr(decoded, None, timestamp=True)

    def _write_stderr(self, decoded, failure, timestamp):
        if self._stderr is None:
            return
        line = (stdlog.leader_line(decoded) if timestamp
                else stdlog.journal_line(decoded))
        text = line + "\n"
        if failure is not None:
            text += failure.getTraceback()
        self._stderr.write(text)
        self._stderr.flush()

    # -- in-process API -----------------------------------------------------

    def entries(self):
        """The records in the ring, oldest first (strings)."""
        return list(self._ring)

    def clear(self):
        """Empty the ring buffer."""
        self._ring.clear()

    def follow(self, callback):
        """Call ``callback(record)`` for each record entering the ring.

        :returns: a callable that stops the calls.
        """
        entry = (callback, defer.Deferred())
        self._followers.append(entry)

        def stop():
            if entry in self._followers:
                self._followers.remove(entry)
        return stop

    def append(self, record):
        """Add a ready-made record (``log.append``): check it, then log it
        through the Twisted publisher so every observer sees it once.

        :raises fluxd.logring.stdlog.StdlogError: for a malformed record.
        """
        if isinstance(record, (bytes, bytearray)):
            record = bytes(record).decode("utf-8", "replace")
        record = record.rstrip("\0")
        decoded = stdlog.decode(record)
        rank = decoded.rank
        if rank is not None and rank != self.rank:
            # a record forwarded from below
            self._forwarded(record)
            return
        if not self._observing:
            self._dispatch(record)
            return
        # through the injected publisher: every observer of the broker's
        # log (twistd's file included) sees the record once, this one too
        emitter = Logger(namespace=self.log.namespace, source=self,
                         observer=self._publisher)
        emitter.emit(level_of_severity(decoded.severity),
                     "{flux_appname}.{severity}[{rank}]: {text}",
                     flux_appname=decoded.appname,
                     severity=decoded.severity_name, rank=self.rank,
                     text=decoded.message, **{_RECORD_KEY: record})

    # -- RPC ----------------------------------------------------------------

    @method("append")
    def rpc_append(self, request):
        """Append one record: raw RFC 5424 text, or ``{"buf": TEXT}``."""
        raw = request.message.payload or b""
        if not raw.lstrip().startswith(b"<"):
            buf = request.json().get("buf")
            if not isinstance(buf, str):
                raise InvalidArgument("log.append: expected an RFC 5424 record")
            raw = buf.encode("utf-8")
        self.append(raw)
        return None

    @method("clear")
    def rpc_clear(self, request):
        """Empty the ring buffer."""
        self.clear()
        return None

    @method("dmesg", streaming=True)
    def rpc_dmesg(self, request):
        """Stream the ring as ``{"buf": record}`` responses.

        Payload ``{"follow": bool, "nobacklog": bool}``: ``nobacklog``
        skips the records already in the ring, ``follow`` keeps the stream
        open for new ones until the client cancels.
        """
        body = request.json()
        follow, nobacklog = body.get("follow", False), body.get("nobacklog", False)
        for key, value in (("follow", follow), ("nobacklog", nobacklog)):
            if not isinstance(value, bool):
                raise InvalidArgument(f"log.dmesg: {key} must be a boolean")
        if not nobacklog:
            for record in list(self._ring):
                request.respond({"buf": record})
        if not follow:
            return None
        done = defer.Deferred()
        entry = (lambda record: request.respond({"buf": record}), done)
        self._followers.append(entry)

        def cancelled():
            if entry in self._followers:
                self._followers.remove(entry)
                done.callback(None)
        request.on_cancel(cancelled)
        return done


def _int(value):
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def discard_observer():
    """A log observer that keeps nothing.

    For ``twistd --logger=fluxd.logring.service.discard_observer``: under
    systemd the broker's own stderr output (``log-stderr-level``) is the
    journal, so twistd's log file would only duplicate it (and twistd
    would otherwise write ``twistd.log`` in the working directory).
    """
    return lambda event: None
