# -*- test-case-name: tests.unit.cli.test_jobinfo -*-
"""The job model of ``flux jobs``: a job-list record and what is derived
from it (flux-core's ``flux.job.info.JobInfo``).

job-list answers raw attributes (state and result bits, timestamps, wait
status...); the fields ``flux jobs -o`` shows are computed from them on
demand: ``status`` (the state while active, the result once inactive),
``runtime``, ``returncode`` (exit code, -signal, -128 for a job canceled
before it ran, 1 for one that failed before it ran), ``contextual_info``
(``priority-wait``, ``depends:...``, ``eta:...``, ``held``,
``priority-hold`` or the nodelist), ``contextual_time``,
``inactive_reason``, ``t_remaining``, the emoji forms, ``annotations``
with its ``sched``/``user`` short hands (missing keys render empty) and
``id`` in every RFC 19 encoding.  Missing attributes take flux's defaults
(0.0 for times, "" for the rest), so ``{nnodes:h}`` of a pending job is
``-``.

:data:`HEADINGS` maps each field to its column heading;
:func:`fields_to_attrs` gives the job-list attributes a set of fields
needs.  Pure Python: no Twisted.
"""

import json
import os
import pwd
import signal
import sys
import time
from datetime import datetime

from fluxd.cli._instance import InstanceInfo, instance_heading
from fluxd.formats import fluid
from fluxd.formats.fsd import fsd_brief
from fluxd.job import jobs as J

__all__ = ["JobID", "JobInfo", "HEADINGS", "fields_to_attrs", "headings_for",
           "AnnotationsInfo", "EmptyObject"]


class JobID(int):
    """A job id: ``{id}`` is decimal, ``{id.f58}``, ``{id.hex}``... the
    other RFC 19 encodings."""

    def __new__(cls, value):
        return super().__new__(cls, value)

    def _encode(self, to):
        return fluid.encode(int(self), to)

    dec = property(lambda self: self._encode("dec"))
    hex = property(lambda self: self._encode("hex"))
    f58 = property(lambda self: self._encode("f58"))
    f58plain = property(lambda self: self._encode("f58plain"))
    kvs = property(lambda self: self._encode("kvs"))
    dothex = property(lambda self: self._encode("dothex"))
    words = property(lambda self: self._encode("words"))
    emoji = property(lambda self: self._encode("emoji"))


class InstanceURI(str):
    """A job's ``uri`` with ``.local`` and ``.remote`` forms."""

    @property
    def local(self):
        """``local://PATH`` ("" for a job that is not an instance)."""
        from fluxd.cli._uri import JobURI
        return JobURI(self).local if self else ""

    @property
    def remote(self):
        """``ssh://HOST/PATH`` ("" for a job that is not an instance)."""
        from fluxd.cli._uri import JobURI
        return JobURI(self).remote if self else ""


class EmptyObject:
    """Whatever is looked up in it: renders as the empty string (a missing
    annotation)."""

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return EmptyObject()

    def __str__(self):
        return ""

    __repr__ = __str__

    def __format__(self, spec):
        # a numeric presentation type cannot apply to "": drop it
        return format("", spec.rstrip("bcdoxXeEfFgGn%"))


class AnnotationsInfo:
    """Annotations with attribute access: ``{annotations.sched.t_estimate}``;
    a missing key is an :class:`EmptyObject`, a sub-object another
    AnnotationsInfo, the whole renders as compact JSON ("" when empty)."""

    def __init__(self, annotations):
        self.annotations_dict = annotations if isinstance(annotations,
                                                          dict) else {}

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        value = self.__dict__["annotations_dict"].get(attr, EmptyObject())
        return AnnotationsInfo(value) if isinstance(value, dict) else value

    def __str__(self):
        return json.dumps(self.annotations_dict) if self.annotations_dict \
            else ""

    __repr__ = __str__

    def __format__(self, spec):
        return format(str(self), spec)


class ExceptionInfo:
    """``{exception.occurred}``, ``.severity``, ``.type``, ``.note``."""

    def __init__(self, occurred, severity, kind, note):
        self.occurred = occurred
        self.severity = severity
        self.type = kind
        self.note = note


class DependencyList(list):
    """Outstanding dependencies; ``begin-time=T`` shown as ``begin@HH:MM``
    (with the date when not today, seconds when not 0)."""

    def __init__(self, items):
        result = []
        for dep in items or ():
            if isinstance(dep, str) and dep.startswith("begin-time="):
                try:
                    when = datetime.fromtimestamp(
                        float(dep.partition("=")[2])).astimezone()
                except ValueError:
                    result.append(dep)
                    continue
                if when.date() == datetime.today().date():
                    dep = f"begin@{when:%H:%M}"
                else:
                    dep = f"begin@{when:%b%d-%H:%M}"
                if when.second:
                    dep += f":{when:%S}"
            result.append(dep)
        super().__init__(result)

    def __str__(self):
        return ",".join(str(dep) for dep in self)

    def __format__(self, spec):
        return format(str(self), spec)


_STATE_EMOJI = {"N": "\U0001F381", "D": "\U0001F6D1", "P": "\U0001F6A6",
                "S": "\U0001F4C5", "R": "\U0001F3C3", "C": "\U0001F5D1",
                "I": "\U0001F480"}
_RESULT_EMOJI = {"CD": ("\U0001F600", ":-)"), "F": ("\U0001F4A9", ":'-("),
                 "CA": ("\U0001F4A5", "%-|"), "TO": ("\u231B", "(-_-)"),
                 "": ("\u3000", "")}


def _can_print(text):
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


_usernames = {}


def username(userid):
    """The user's name, or the userid as text for an unknown user."""
    name = _usernames.get(userid)
    if name is None:
        try:
            name = pwd.getpwuid(userid).pw_name
        except (KeyError, TypeError, OverflowError):
            name = str(userid)
        _usernames[userid] = name
    return name


class JobInfo:
    """One job-list record with the fields ``flux jobs`` derives from it.

    :param record: the JSON object job-list answered (``id`` required).
    :param now: a callable returning the time (runtime of running jobs).
    """

    #: values of attributes the record lacks
    DEFAULTS = {
        "t_depend": 0.0, "t_priority": 0.0, "t_sched": 0.0, "t_run": 0.0,
        "t_cleanup": 0.0, "t_inactive": 0.0, "duration": 0.0,
        "expiration": 0.0, "name": "", "cwd": "", "queue": "",
        "project": "", "bank": "", "ntasks": "", "ncores": "", "nnodes": "",
        "priority": "", "ranks": "", "nodelist": "", "success": "",
        "result": "", "waitstatus": "",
    }
    #: what ``--json`` shows besides the defaults, in flux's order
    PROPERTIES = ("id", "t_submit", "t_remaining", "state", "result",
                  "username", "userid", "urgency", "runtime", "status",
                  "returncode", "dependencies")

    def __init__(self, record, now=time.time):
        values = dict(self.DEFAULTS)
        values.update(record)
        values["id"] = JobID(values["id"])
        if "state" in values:
            values["state_id"] = values.pop("state")
        values["result_id"] = values.pop("result")
        values["exception"] = ExceptionInfo(
            values.pop("exception_occurred", ""),
            values.pop("exception_severity", ""),
            values.pop("exception_type", ""),
            values.pop("exception_note", ""))
        values["annotations"] = AnnotationsInfo(values.get("annotations",
                                                           {}))
        values["sched"] = values["annotations"].sched
        values["user"] = values["annotations"].user
        values["dependencies"] = DependencyList(values.get("dependencies"))
        # filled in by fluxd.cli._instance.attach when a format needs it
        values.setdefault("instance", InstanceInfo())
        self._values = values
        self._now = now

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)
        try:
            return self._values[attr]
        except KeyError:
            raise AttributeError(f"invalid JobInfo attribute '{attr}'") \
                from None

    # -- states and results ---------------------------------------------------

    @property
    def state(self):
        """The state name (``SCHED``...)."""
        return J.STATE_NAMES.get(self.state_id, "")

    @property
    def state_single(self):
        """The state's letter (``S``...)."""
        return J.STATE_SINGLE.get(self.state_id, "")

    @property
    def state_emoji(self):
        """The state as an emoji (its letter where that cannot print)."""
        single = self.state_single
        emoji = _STATE_EMOJI.get(single, single)
        return emoji if _can_print(emoji) else single

    @property
    def result(self):
        """The result name once inactive (``COMPLETED``...), else ""."""
        return J.RESULT_NAMES.get(self.result_id, "")

    @property
    def result_abbrev(self):
        """The result's abbreviation (``CD``, ``F``, ``CA``, ``TO``)."""
        return J.RESULT_ABBREV.get(self.result_id, "")

    @property
    def result_emoji(self):
        """The result as an emoji (ASCII where that cannot print)."""
        emoji, ascii_ = _RESULT_EMOJI.get(self.result_abbrev, ("", ""))
        return emoji if _can_print(emoji) else ascii_

    def _active(self):
        return bool(self.state_id & J.ACTIVE)

    @property
    def status(self):
        """The state while active, the result once inactive."""
        return self.state if self._active() else self.result

    @property
    def status_abbrev(self):
        """The abbreviated status (``S``, ``R``, ``CD``...)."""
        return self.state_single if self._active() else self.result_abbrev

    @property
    def status_emoji(self):
        """The status as an emoji."""
        return self.state_emoji if self._active() else self.result_emoji

    @property
    def username(self):
        """The user's name (the userid for an unknown user)."""
        return username(self.userid)

    # -- times ---------------------------------------------------------------

    @property
    def runtime(self):
        """Seconds from RUN to CLEANUP (to now while running)."""
        if self.t_cleanup > 0 and self.t_run > 0:
            return self.t_cleanup - self.t_run
        if self.t_run > 0:
            return self._now() - self.t_run
        return 0.0

    @property
    def t_remaining(self):
        """Seconds left before expiration of a running job."""
        try:
            if self.status != "RUN":
                return 0.0
            left = self.expiration - self._now()
        except (AttributeError, TypeError):
            return 0.0
        return max(left, 0.0)

    @property
    def contextual_time(self):
        """The requested duration while pending, else the runtime."""
        if self.state in ("PRIORITY", "DEPEND", "SCHED"):
            return self.duration
        return self.runtime

    # -- outcome -------------------------------------------------------------

    @property
    def returncode(self):
        """The exit code; -signal; -128 canceled or 1 failed before
        running; "" while active."""
        status = self.waitstatus
        if not isinstance(status, int) or isinstance(status, bool):
            if self.result_id == J.CANCELED:
                return -128
            if self.result_id == J.FAILED:
                return 1
            return ""
        if os.WIFSIGNALED(status):
            return -os.WTERMSIG(status)
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
        return ""

    @property
    def contextual_info(self):
        """What the INFO column shows for the job's state."""
        state = self.state
        if state == "PRIORITY":
            return "priority-wait"
        if state == "DEPEND":
            return f"depends:{self.dependencies}"
        if state == "SCHED":
            estimate = self.sched.t_estimate
            if isinstance(estimate, (int, float)) \
                    and not isinstance(estimate, bool):
                eta = estimate - self._now()
                return "eta:" + ("now" if eta < 0 else fsd_brief(eta))
            if self.urgency == J.URGENCY_HOLD:
                return "held"
            if self.priority == 0:
                return "priority-hold"
            return ""
        return self.nodelist

    @property
    def inactive_reason(self):
        """Why an inactive job ended (``Exit 1``, ``Timeout``...)."""
        if self.state != "INACTIVE":
            return ""
        result = self.result
        exc = self.exception
        if result == "CANCELED":
            if exc.occurred and exc.type == "cancel" and exc.note:
                return f"Canceled: {exc.note}"
            return "Canceled"
        if result == "FAILED":
            if exc.occurred and exc.type != "exec" and exc.severity == 0:
                note = f" note={exc.note}" if exc.note else ""
                return f"Exception: type={exc.type}{note}"
            code = self.returncode
            if code > 128:
                try:
                    return signal.strsignal(code - 128) or \
                        f"Signaled {code - 128}"
                except ValueError:
                    return f"Signaled {code - 128}"
            if code == 126:
                return "Command invoked cannot execute"
            if code == 127:
                return "command not found"
            if code == 128:
                return "Invalid argument to exit"
            return f"Exit {code}"
        if result == "TIMEOUT":
            return "Timeout"
        return f"Exit {self.returncode}"

    @property
    def uri(self):
        """The job's instance URI (``user.uri`` annotation) or "";
        ``{uri.local}``/``{uri.remote}`` are its other forms."""
        value = self.user.uri
        return InstanceURI(value if isinstance(value, str) else "")

    # -- JSON ----------------------------------------------------------------

    def to_dict(self):
        """The job as ``flux jobs --json`` prints it: unset values left out,
        ``exception`` and ``annotations`` as objects."""
        result = {}
        for attr in list(self.DEFAULTS) + list(self.PROPERTIES):
            if attr in ("t_priority", "t_sched") and \
                    attr not in self._values:
                continue
            value = getattr(self, attr)
            if isinstance(value, DependencyList):
                value = list(value)
            elif isinstance(value, JobID):
                value = int(value)
            result[attr] = value
        annotations = self.annotations.annotations_dict
        if self.uri:
            # shown once, as "uri"
            annotations = json.loads(json.dumps(annotations))
            del annotations["user"]["uri"]
            if not annotations["user"]:
                del annotations["user"]
        result["annotations"] = annotations
        exc = self.exception
        result["exception"] = ({"occurred": True, "severity": exc.severity,
                                "type": exc.type, "note": exc.note}
                               if exc.occurred else {"occurred": False})
        if self.uri:
            result["uri"] = self.uri
        for key in list(result):
            value = result[key]
            zero_dropped = key.startswith("t_") or key in ("runtime",
                                                           "expiration")
            if (isinstance(value, str) and value == "") or (
                    zero_dropped and value == 0):
                del result[key]
        return result


#: field -> column heading (the valid ``-o`` fields; ``annotations.*``,
#: ``sched.*`` and ``user.*`` are added as they are used)
HEADINGS = {
    "id": "JOBID", "id.dec": "JOBID", "id.hex": "JOBID", "id.f58": "JOBID",
    "id.f58plain": "JOBID", "id.emoji": "JOBID", "id.kvs": "JOBID",
    "id.words": "JOBID", "id.dothex": "JOBID",
    "userid": "UID", "username": "USER", "urgency": "URG", "priority": "PRI",
    "state": "STATE", "state_single": "S", "state_emoji": "STATE",
    "name": "NAME", "cwd": "CWD", "queue": "QUEUE", "project": "PROJECT",
    "bank": "BANK", "ntasks": "NTASKS", "ncores": "NCORES",
    "duration": "DURATION", "nnodes": "NNODES", "expiration": "EXPIRATION",
    "t_remaining": "T_REMAINING", "ranks": "RANKS", "nodelist": "NODELIST",
    "success": "SUCCESS", "result": "RESULT", "result_abbrev": "RS",
    "result_emoji": "RESULT", "t_submit": "T_SUBMIT", "t_depend": "T_DEPEND",
    "t_priority": "T_PRIORITY", "t_sched": "T_SCHED", "t_run": "T_RUN",
    "t_cleanup": "T_CLEANUP", "t_inactive": "T_INACTIVE",
    "runtime": "RUNTIME", "status": "STATUS", "status_abbrev": "ST",
    "status_emoji": "STATUS", "waitstatus": "WSTATUS", "returncode": "RC",
    "exception.occurred": "EXCEPTION-OCCURRED",
    "exception.severity": "EXCEPTION-SEVERITY",
    "exception.type": "EXCEPTION-TYPE", "exception.note": "EXCEPTION-NOTE",
    "annotations": "ANNOTATIONS", "dependencies": "DEPENDENCIES",
    "contextual_info": "INFO", "contextual_time": "TIME",
    "inactive_reason": "INACTIVE-REASON",
    "annotations.sched.t_estimate": "T_ESTIMATE",
    "annotations.sched.reason_pending": "REASON",
    "annotations.sched.resource_summary": "RESOURCES",
    "sched": "SCHED", "sched.t_estimate": "T_ESTIMATE",
    "sched.reason_pending": "REASON", "sched.resource_summary": "RESOURCES",
    "user": "USER", "uri": "URI", "uri.local": "URI",
    "instance.stats.total": "NJOBS", "instance.utilization": "CORE%",
    "instance.gpu_utilization": "GPU%", "instance.progress": "PROG",
    "instance.resources.all.ncores": "CORES",
    "instance.resources.all.ngpus": "GPUS",
    "instance.resources.all.nnodes": "NODES",
    **{f"instance.resources.{state}.{what}": heading
       for state, heading in (("up", "UP"), ("down", "DOWN"),
                              ("allocated", "USED"), ("free", "FREE"))
       for what in ("ncores", "ngpus", "nnodes")},
}

_STATUS = ("state", "result")
_FIELD_ATTRS = {
    "username": ("userid",),
    "state_single": ("state",), "state_emoji": ("state",),
    "returncode": ("waitstatus", "result"),
    "exception.occurred": ("exception_occurred",),
    "exception.severity": ("exception_severity",),
    "exception.type": ("exception_type",),
    "exception.note": ("exception_note",),
    "result_abbrev": ("result",), "result_emoji": ("result",),
    "runtime": ("t_run", "t_cleanup"),
    "status": _STATUS, "status_abbrev": _STATUS, "status_emoji": _STATUS,
    "expiration": ("expiration",) + _STATUS,
    "t_remaining": ("expiration",) + _STATUS,
    "contextual_info": ("state", "dependencies", "annotations", "nodelist",
                        "priority", "urgency"),
    "contextual_time": ("state", "t_run", "t_cleanup", "duration"),
    "inactive_reason": ("state", "result", "waitstatus",
                        "exception_occurred", "exception_severity",
                        "exception_type", "exception_note"),
    "sched": ("annotations",), "user": ("annotations",),
    "uri": ("annotations",), "uri.local": ("annotations",),
}


def headings_for(fields):
    """:data:`HEADINGS` plus the headings of the ``annotations.X``,
    ``sched.X`` and ``user.X`` fields among ``fields``."""
    headings = dict(HEADINGS)
    for field in fields:
        if not field or field in headings:
            continue
        if field.startswith("annotations."):
            headings[field] = field[len("annotations."):].upper()
        elif field.startswith(("sched.", "user.")):
            headings[field] = field.upper()
        elif field.startswith("instance."):
            headings[field] = instance_heading(field)
    return headings


def fields_to_attrs(fields):
    """The job-list attributes ``fields`` (output fields, sort keys) need.

    :returns: a sorted list (``id`` is always answered, so never in it).
    """
    attrs = set()
    for field in fields:
        if field.startswith(("annotations.", "sched.", "user.")):
            attrs.add("annotations")
        elif field.startswith("instance."):
            attrs.update(("annotations", "state", "result"))
        elif field.startswith("id"):
            continue
        elif field in _FIELD_ATTRS:
            attrs.update(_FIELD_ATTRS[field])
        else:
            attrs.add(field)
    return sorted(attrs)
