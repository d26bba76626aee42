# -*- test-case-name: tests.unit.formats.test_jobspec_options -*-
"""The jobspec fields of ``flux submit``'s other options (flux-core
``flux.cli.base``): resource limits, signals, task maps, dependencies,
begin times, files, standard I/O and buffering.

Each function returns what flux-core's command line writes into the
jobspec for one option; :func:`apply_options` applies them all in the
order ``SubmitBaseCmd.jobspec_create()`` does, so that the keys of
``--dry-run`` output come out in flux-core's order.
"""

import base64
import fnmatch
import os
import re
import signal
import stat

from fluxd.formats._jobspec_build import (
    _apply_keyvals, duration_seconds, set_attribute, set_shell_option,
)
from fluxd.formats._jobspec_json import JobspecError

__all__ = [
    "decode_signal", "parse_signal_option", "filtered_rlimits", "uri_entry",
    "parse_datetime", "begin_time_uri", "fileref", "add_file",
    "apply_options",
]

#: rlimits a job does not inherit unless asked (flux-core's default rules)
RLIMIT_DEFAULT_RULES = ("-memlock", "-ofile", "-msgqueue", "-nice", "-rtprio",
                        "-rttime", "-sigpending")


def _fail(message):
    raise JobspecError(message)


# -- --signal ----------------------------------------------------------------

def decode_signal(value):
    """A signal number from ``10``, ``SIGUSR1`` or ``USR1``.

    :raises ValueError: ``signal 'X' is invalid``.
    """
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        pass
    for name in (value, f"SIG{value}"):
        if name.startswith("SIG") and not name.startswith("SIG_"):
            number = getattr(signal, name, None)
            if isinstance(number, int):
                return int(number)
    raise ValueError(f"signal '{value}' is invalid")


def _duration(value):
    from fluxd.formats.fsd import parse_fsd
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except ValueError:
        return parse_fsd(value)


def parse_signal_option(arg):
    """``--signal=[SIG][@TIME]``: SIGUSR1 and 60 s before expiration by
    default.

    :returns: ``{"signum": N, "timeleft": SECONDS}`` (the shell option
        ``signal``).
    :raises JobspecError: ``--signal=ARG: signal 'X' is invalid`` and the
        like.
    """
    signo, timeleft = "SIGUSR1", 60
    if arg is not None:
        sig, _, time = arg.partition("@")
        if time:
            timeleft = time
        if sig:
            signo = sig
    try:
        signum = decode_signal(signo)
        if signum <= 0:
            raise ValueError("signal must be > 0")
        timeleft = _duration(timeleft)
    except ValueError as exc:
        _fail(f"--signal={arg}: {exc}")
    return {"signum": signum, "timeleft": timeleft}


# -- --rlimit ----------------------------------------------------------------

def _rlimits(name="*", getrlimit=None):
    import resource
    getrlimit = getrlimit or resource.getrlimit
    pattern = f"RLIMIT_{name}".upper()
    limits = {}
    for key in fnmatch.filter(list(vars(resource)), pattern):
        limits[key[7:].lower()] = getrlimit(getattr(resource, key))[0]
    if not limits:
        _fail(f'No corresponding rlimit matching "{name}"')
    return limits


def _glob_or_regex(pattern):
    if not any(c in pattern for c in "*?[/"):
        return pattern.__eq__   # a plain name (compiled regexes cost)
    if pattern.startswith("/"):
        return re.compile(pattern[1:].rstrip("/")).match
    return re.compile(fnmatch.translate(pattern)).match


def filtered_rlimits(rules=None, getrlimit=None):
    """The soft limits a job inherits, after ``--rlimit`` rules.

    Every limit is propagated except :data:`RLIMIT_DEFAULT_RULES`; a rule
    ``-PATTERN`` drops matching limits, ``NAME`` adds the current value of
    matching limits and ``NAME=VALUE`` sets one (``unlimited``,
    ``infinity`` or ``inf`` for no limit).  Rules may be comma-joined.

    :param rules: the ``--rlimit`` arguments, or None.
    :param getrlimit: ``resource.getrlimit`` (tests inject their own).
    :returns: name -> soft limit (-1 for unlimited), the shell option
        ``rlimit``.
    :raises JobspecError: ``Invalid rlimit "X"``, ``Invalid value in
        X=Y``, ``No corresponding rlimit matching "X"``.
    """
    import resource
    all_rules = list(RLIMIT_DEFAULT_RULES)
    for item in rules or ():
        all_rules.extend(item.split(","))
    limits = _rlimits(getrlimit=getrlimit)
    for rule in all_rules:
        if rule.startswith("-"):
            match = _glob_or_regex(rule[1:].lower())
            limits = {k: v for k, v in limits.items() if not match(k)}
            continue
        name, sep, value = rule.partition("=")
        if not sep:
            limits.update(_rlimits(name.lower(), getrlimit))
            continue
        if not hasattr(resource, f"RLIMIT_{name}".upper()):
            _fail(f'Invalid rlimit "{name}"')
        if value in ("unlimited", "infinity", "inf"):
            number = resource.RLIM_INFINITY
        else:
            try:
                number = int(value)
            except ValueError:
                _fail(f"Invalid value in {name}={value}")
        limits[name.lower()] = number
    return limits


# -- --dependency, --taskmap, --begin-time ------------------------------------

def _number(value):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def uri_entry(uri, name):
    """An RFC 26 style entry from ``SCHEME:VALUE[?KEY=VAL...]``.

    :param name: ``dependency`` or ``taskmap``, for the message.
    :returns: ``{"scheme": S, "value": V, KEY: VAL...}`` (query values are
        numbers when they parse, lists when repeated).
    :raises JobspecError: ``Invalid dependency URI "X"``.
    """
    if ":" not in uri:
        uri += ":"
    # (imported here: every flux run pays for the module's imports)
    from urllib.parse import parse_qs, urlparse
    # urlparse() refuses an all-digit path after the scheme: pad it
    parsed = urlparse(uri.replace(":", ":FXX", 1))
    if not parsed.scheme or not parsed.path:
        _fail(f'Invalid {name} URI "{uri}"')
    entry = {"scheme": parsed.scheme,
             "value": parsed.path.replace("FXX", "", 1)}
    if parsed.query:
        for key, values in parse_qs(parsed.query).items():
            entry[key] = ([_number(x) for x in values] if len(values) > 1
                          else _number(values[0]))
    return entry


_TIME_OF_DAY = (
    r"(?P<h>\d{1,2})(?::(?P<m>\d{2})(?::(?P<s>\d{2}))?)?\s*(?P<ampm>[ap]m)?")


def _time_of_day(text):
    if text == "noon":
        return 12, 0, 0
    if text == "midnight":
        return 0, 0, 0
    match = re.fullmatch(_TIME_OF_DAY, text)
    if not match or (match["m"] is None and match["ampm"] is None):
        return None
    hour, minute = int(match["h"]), int(match["m"] or 0)
    second = int(match["s"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match["ampm"] == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def parse_datetime(text, now=None):
    """A point in time from ``+FSD``, ``-FSD``, ``now`` or a date and time.

    Absolute forms: ISO 8601 (``2025-03-01``, ``2025-03-01T14:30``...), a
    time of day (``14:30``, ``3pm``, ``3:30pm``, ``noon``, ``midnight``)
    today, and ``today``/``tomorrow`` optionally with a time of day (a bare
    day means its midnight).  flux-core parses absolute times with the
    ``parsedatetime`` package, which knows more phrasings.

    :param now: the reference time (an aware datetime; default now).
    :returns: an aware datetime in the local zone.
    :raises JobspecError: ``Invalid datetime: "X"`` or an FSD error.
    """
    from datetime import datetime, timedelta
    from fluxd.formats.fsd import parse_fsd
    if now is None:
        now = datetime.now().astimezone()
    text = text.strip()
    if text == "now":
        return now
    if text[:1] in ("+", "-"):
        try:
            seconds = parse_fsd(text[1:])
        except ValueError as exc:
            _fail(str(exc))
        sign = 1 if text[0] == "+" else -1
        return datetime.fromtimestamp(now.timestamp()
                                      + sign * seconds).astimezone()
    lowered = text.lower()
    day, _, rest = lowered.partition(" ")
    if day not in ("today", "tomorrow"):
        rest, _, day = lowered.rpartition(" ")
        if day not in ("today", "tomorrow"):
            day, rest = "today", lowered
    base = now.date() + timedelta(days=1 if day == "tomorrow" else 0)
    clock = (0, 0, 0) if not rest else _time_of_day(rest.strip())
    if clock is not None:
        return datetime(base.year, base.month, base.day, *clock).astimezone()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        _fail(f'Invalid datetime: "{text}"')
    return value.astimezone() if value.tzinfo is None else value


def begin_time_uri(text, now=None):
    """``--begin-time=TIME`` as the dependency URI flux-core adds for it."""
    return "begin-time:" + str(parse_datetime(text, now).timestamp())


# -- --add-file ----------------------------------------------------------------

def fileref(data, perms=0o600, encoding=None):
    """An RFC 37 file object (``Fileref``): ``data`` is the content when
    ``encoding`` is given, else a path whose content is read (UTF-8 when
    it decodes, else base64).
    """
    ref = {"mode": perms | stat.S_IFREG}
    if encoding is not None:
        ref["data"], ref["encoding"] = data, encoding
        return ref
    info = os.stat(data)
    ref["size"], ref["mode"] = info.st_size, info.st_mode
    with open(data, "rb") as stream:
        raw = stream.read()
    try:
        ref["data"], ref["encoding"] = raw.decode("utf-8"), "utf-8"
    except UnicodeError:
        ref["data"] = base64.b64encode(raw).decode("ascii")
        ref["encoding"] = "base64"
    return ref


def add_file(jobspec, arg):
    """``--add-file=[NAME=]PATH`` or ``NAME=CONTENT`` (content has a
    newline): add ``attributes.system.files.NAME``.

    :raises JobspecError: ``--add-file=ARG: ...`` when PATH cannot be read.
    """
    name, _, data = arg.partition("=")
    if not data:
        if "\n" in name:
            _fail("--add-file: file name missing")
        data, name = name, os.path.basename(name)
    system = jobspec["attributes"]["system"]
    files = system.get("files", {})
    try:
        files[name] = fileref(data, encoding="utf-8" if "\n" in data
                              else None)
    except OSError as exc:
        _fail(f"--add-file={arg}: {exc}")
    system["files"] = files


# -- all of them ---------------------------------------------------------------

def _is_idset(text):
    from fluxd.formats.idset import IDset
    try:
        IDset(text)
    except ValueError:
        return False
    return True


def apply_options(jobspec, args, *, duration=None, getrlimit=None):
    """Apply ``flux submit``'s options after resources, environment and
    working directory, in flux-core's order.

    :param args: the parsed options (``rlimit signal taskmap dependency
        requires input output error label_io unbuffered setopt queue
        bank setattr add_file`` and ``job_name``).
    :param duration: the time limit in seconds (None: unset).
    :raises JobspecError: for any bad option, with flux-core's message.
    """
    rlimits = filtered_rlimits(getattr(args, "rlimit", None), getrlimit)
    if rlimits:
        set_shell_option(jobspec, "rlimit", rlimits)
    if getattr(args, "signal", None):
        set_shell_option(jobspec, "signal", parse_signal_option(args.signal))
    if getattr(args, "taskmap", None) is not None:
        set_shell_option(jobspec, "taskmap",
                         uri_entry(args.taskmap, "taskmap"))
    if getattr(args, "dependency", None) is not None:
        set_attribute(jobspec, "system.dependencies",
                      [uri_entry(uri, "dependency")
                       for uri in args.dependency])
    if getattr(args, "requires", None) is not None:
        from fluxd.formats.constraint import parse_constraint
        query = " ".join(args.requires)
        try:
            set_attribute(jobspec, "system.constraints",
                          parse_constraint(query))
        except ValueError as exc:
            _fail(f"--requires='{query}': {exc}")
    if duration is not None:
        set_attribute(jobspec, "system.duration", duration_seconds(duration))
    if args.job_name is not None:
        set_attribute(jobspec, "system.job.name", args.job_name)
    if getattr(args, "input", None) is not None \
            and not _is_idset(args.input):
        set_shell_option(jobspec, "input.stdin.type", "file")
        set_shell_option(jobspec, "input.stdin.path", args.input)
    label = getattr(args, "label_io", False)
    output = getattr(args, "output", None)
    if output is not None and output not in ("none", "kvs"):
        set_shell_option(jobspec, "output.stdout.type", "file")
        set_shell_option(jobspec, "output.stdout.path", output)
        if label:
            set_shell_option(jobspec, "output.stdout.label", True)
    if getattr(args, "error", None) is not None:
        set_shell_option(jobspec, "output.stderr.type", "file")
        set_shell_option(jobspec, "output.stderr.path", args.error)
        if label:
            set_shell_option(jobspec, "output.stderr.label", True)
    if getattr(args, "unbuffered", False):
        set_shell_option(jobspec, "output.stdout.buffer.type", "none")
        set_shell_option(jobspec, "output.stderr.buffer.type", "none")
        set_shell_option(jobspec, "output.batch-timeout", 0.05)
    _apply_keyvals(jobspec, "--setopt", args.setopt or [], set_shell_option)
    if args.queue is not None:
        set_attribute(jobspec, "system.queue", args.queue)
    items = []
    if getattr(args, "bank", None) is not None:
        items.append(("system.bank", args.bank))
    items.extend(args.setattr or [])
    _apply_keyvals(jobspec, "--setattr", items, set_attribute)
    for arg in getattr(args, "add_file", None) or ():
        add_file(jobspec, arg)
    return jobspec
