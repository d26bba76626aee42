"""A fake broker handle speaking the job services of JOBS.md, for unit
tests of the submission and job-control commands.

It answers ``job-ingest.submit`` (single and batch forms, with ingest's
checks), ``job-info.eventlog-watch`` (streams, multiplexed like the real
client's ``next_response``) and the ``job-manager.*`` methods the
commands use.  Time is simulated: when a command waits and nothing is
queued, the next scripted event of the oldest unfinished job is posted.
``script(jobspec)`` decides a job's life after ``priority``: the default
runs it to ``finish`` with status 0.
"""

import errno
import itertools
import json
import os

from fluxd.errors import FluxError, from_errno
from fluxd.formats.fluid import encode
from fluxd.security.sign import unwrap

#: the instance owner is whoever runs the tests (commands default to getuid)
OWNER = os.getuid()
GUEST = OWNER + 1000
ANY_USER = 0xFFFFFFFF
ENODATA = 61


def f58(jobid):
    return encode(jobid, "f58")


def run_ok(status=0):
    """Events of a job that runs and exits with wait status ``status``
    (``exec.NAME``: exec eventlog, ``output.NAME``: guest.output)."""
    return [("alloc", {}), ("exec.init", {}), ("exec.starting", {}),
            ("start", {}), ("exec.complete", {"status": status}),
            ("exec.done", {}), ("finish", {"status": status}),
            ("release", {"ranks": "all", "final": True}), ("free", {}),
            ("clean", {})]


def run_with_output(lines, status=0):
    """A job whose shell writes ``lines`` (stream, rank, text)."""
    output = [("output.header", {"version": 1})]
    output += [("output.data", {"stream": stream, "rank": rank,
                                "data": text})
               for stream, rank, text in lines]
    output += [("output.data", {"stream": "stdout", "rank": "0",
                                "eof": True})]
    return [("alloc", {}), ("exec.init", {}), ("exec.starting", {}),
            ("start", {}), output[0], ("exec.shell.init",
                                       {"leader-rank": 0, "service": "x"}),
            *output[1:], ("exec.complete", {"status": status}),
            ("exec.done", {}), ("finish", {"status": status}),
            ("release", {"ranks": "all", "final": True}), ("free", {}),
            ("clean", {})]


def fails_before_start(kind="alloc", note="unsatisfiable request"):
    """Events of a job refused a fatal exception before it runs."""
    return [("exception", {"type": kind, "severity": 0, "note": note,
                           "userid": OWNER}), ("clean", {})]


class Job:
    def __init__(self, jobid, userid, urgency, flags, jobspec, script):
        self.id, self.userid = jobid, userid
        self.urgency, self.flags, self.jobspec = urgency, flags, jobspec
        self.eventlog = []
        self.exec_eventlog = []
        self.output = None        # guest.output, once the "shell" writes
        self.pending = list(script)
        self.state = "SCHED"

    @property
    def inactive(self):
        return any(e["name"] == "clean" for e in self.eventlog)


class FakeJobBroker:
    """A broker handle (``rpc``, ``send``, ``wait``, ``start_stream``,
    ``next_response``, ``cancel``) over an in-memory job table.

    :param userid: the caller's uid; ``owner`` its role.
    :param script: jobspec -> list of (event, context) after ``priority``.
    """

    def __init__(self, userid=OWNER, owner=True, script=None):
        self.userid, self.owner = userid, owner
        self.script = script or (lambda jobspec: run_ok())
        self.jobs = {}
        self.calls = []
        self._ids = itertools.count(1000)
        self._time = itertools.count(100)
        self._tokens = itertools.count(1)
        self._answers = {}
        self._streams = {}
        self._queue = []
        self.closed = False
        self.queue = {"enable": True, "start": True}
        self.idle_ticks = 0

    # -- handle API -------------------------------------------------------------

    def close(self):
        self.closed = True

    def rpc(self, topic, payload=None, nodeid=None, flags=0, timeout=None):
        self.calls.append((topic, payload))
        method = getattr(self, "do_" + topic.replace(".", "_")
                         .replace("-", "_"), None)
        if method is None:
            raise from_errno(errno.ENOSYS, f"No service matching {topic}")
        return json.loads(json.dumps(method(payload or {})))

    def send(self, topic, payload=None, nodeid=None, flags=0):
        token = (next(self._tokens), next(self._tokens))
        try:
            self._answers[token] = json.dumps(self.rpc(topic, payload))
        except FluxError as exc:
            self._answers[token] = exc
        return token

    def wait(self, token, timeout=None):
        answer = self._answers.pop(token)
        if isinstance(answer, FluxError):
            raise answer
        return answer.encode()

    def start_stream(self, topic, payload=None, nodeid=None):
        assert topic == "job-info.eventlog-watch", topic
        self.calls.append((topic, payload))
        token = (next(self._tokens), next(self._tokens))
        job = self.jobs.get(payload["id"])
        path = payload["path"]
        if job is None:
            self._queue.append((token, None, from_errno(
                errno.ENOENT, "No such file or directory")))
            return token
        if job.userid != self.userid and not self.owner:
            self._queue.append((token, None, from_errno(
                errno.EPERM, "Operation not permitted")))
            return token
        if path == "guest.output" and job.output is None:
            self._queue.append((token, None, from_errno(
                errno.ENOENT, "No such file or directory")))
            return token
        self._streams[token] = (job, path)
        for entry in self._log(job, path):
            self._queue.append((token, {"event": self._line(entry)}, None))
        if job.inactive and path in ("eventlog", "guest.output"):
            # as job-info: the logs of an inactive job end once read
            self._queue.append((token, None, None))
            del self._streams[token]
        return token

    def cancel(self, token):
        if token in self._streams:
            del self._streams[token]
            self._queue.append((token, None, None))

    def next_response(self, tokens, timeout=None):
        while True:
            for item in self._queue:
                if item[0] in tokens:
                    self._queue.remove(item)
                    return item
            if not self._advance():
                if timeout is None:
                    raise AssertionError("the command would wait forever")
                self.idle_ticks += 1
                if self.idle_ticks > 1000:
                    raise AssertionError("the command keeps waiting")
                return None

    # -- simulation -------------------------------------------------------------

    @staticmethod
    def _line(entry):
        return json.dumps(entry, separators=(",", ":")) + "\n"

    @staticmethod
    def _log(job, path):
        if path == "guest.output":
            if job.output is None:
                job.output = []
            return job.output
        return job.eventlog if path == "eventlog" else job.exec_eventlog

    def post(self, job, name, context=None, path="eventlog"):
        entry = {"timestamp": float(next(self._time)), "name": name,
                 "context": context or {}}
        self._log(job, path).append(entry)
        for token, (watched, watched_path) in list(self._streams.items()):
            if watched is job and watched_path == path:
                self._queue.append((token, {"event": self._line(entry)},
                                    None))
        if name == "clean" and path == "eventlog":
            # job-info ends the watches of a job once it is inactive
            # (the exec log's end is left to the script's exec.done)
            for token, (watched, wpath) in list(self._streams.items()):
                if watched is job and wpath != "guest.exec.eventlog":
                    self._queue.append((token, None, None))
                    del self._streams[token]
        if name == "start":
            job.state = "RUN"
        if name == "clean":
            job.state = "INACTIVE"

    def _advance(self):
        for job in sorted(self.jobs.values(), key=lambda j: j.id):
            if job.pending and job.urgency != 0 and self.queue["start"]:
                name, context = job.pending.pop(0)
                prefix, _, rest = name.partition(".")
                path = {"exec": "guest.exec.eventlog",
                        "output": "guest.output"}.get(prefix)
                if path is None:
                    self.post(job, name, context)
                else:
                    self.post(job, rest, context, path)
                return True
        return False

    # -- services ---------------------------------------------------------------

    def _ingest(self, entry):
        payload, userid, _ = unwrap(entry["J"])
        urgency, flags = entry.get("urgency", 16), entry.get("flags", 0)
        if not self.queue["enable"]:
            raise from_errno(errno.EINVAL, "job submission is disabled: "
                             + self.queue.get("disable_reason", ""))
        if not 0 <= urgency <= 31:
            raise from_errno(errno.EINVAL, "urgency range is [0:31]")
        if urgency > 16 and not self.owner:
            raise from_errno(errno.EPERM, "only the instance owner can"
                             " submit with urgency >16")
        if userid != self.userid:
            raise from_errno(errno.EPERM, f"signer={userid} !="
                             f" requestor={self.userid}")
        jobspec = json.loads(payload)
        job = Job(next(self._ids), userid, urgency, flags, jobspec,
                  self.script(jobspec))
        self.jobs[job.id] = job
        self.post(job, "submit", {"urgency": urgency, "userid": userid,
                                  "flags": flags, "version": 1})
        for name in ("validate", "depend"):
            self.post(job, name)
        self.post(job, "priority", {"priority": urgency})
        return job.id

    def do_job_ingest_submit(self, payload):
        if "jobs" not in payload:
            return {"id": self._ingest(payload)}
        results = []
        for entry in payload["jobs"]:
            try:
                results.append({"id": self._ingest(entry)})
            except FluxError as exc:
                results.append({"errnum": exc.errno, "errstr": str(exc)})
        return {"jobs": results}

    def _job(self, jobid, what="operate on"):
        job = self.jobs.get(jobid)
        if job is None:
            raise from_errno(errno.ENOENT, "unknown job id")
        if what is None:
            return job
        if job.userid != self.userid and not self.owner:
            raise from_errno(errno.EPERM, f"guests can only {what} their"
                             " own jobs")
        return job

    def do_job_manager_raise(self, payload):
        job = self._job(payload["id"], "raise exceptions on")
        if job.inactive:
            raise from_errno(errno.EINVAL, "job is inactive")
        self.post(job, "exception", {"type": payload["type"],
                                     "severity": payload["severity"],
                                     "note": payload.get("note", ""),
                                     "userid": self.userid})
        if payload["severity"] == 0:
            job.pending = []
            self.post(job, "clean")
        return {}

    def do_job_manager_urgency(self, payload):
        urgency = payload["urgency"]
        if not 0 <= urgency <= 31:
            raise from_errno(errno.EINVAL, "urgency value is out of range")
        job = self._job(payload["id"], "reprioritize")
        if job.inactive:
            raise from_errno(errno.EINVAL, "job is inactive")
        if not self.owner and urgency > max(16, job.urgency):
            raise from_errno(errno.EPERM, "guests can only adjust urgency <="
                             " default")
        old, job.urgency = job.urgency, urgency
        self.post(job, "urgency", {"userid": self.userid,
                                   "urgency": urgency})
        return {"old_urgency": old}

    def do_job_manager_kill(self, payload):
        job = self._job(payload["id"], "kill")
        if job.state != "RUN":
            raise from_errno(errno.EINVAL, "job is not running")
        return {}

    def _matching(self, payload, what="raise exceptions on"):
        userid = payload["userid"]
        if userid != self.userid and not self.owner:
            raise from_errno(errno.EPERM, f"guests can only {what} their own"
                             " jobs")
        bits = {"SCHED": 8, "RUN": 16, "INACTIVE": 64}
        states = payload.get("states", 62)
        return [job for job in self.jobs.values()
                if bits[job.state] & states
                and (userid == ANY_USER or job.userid == userid)]

    def do_job_manager_raiseall(self, payload):
        jobs = self._matching(payload)
        if not payload["dry_run"]:
            for job in jobs:
                self.do_job_manager_raise(dict(payload, id=job.id))
        return {"count": len(jobs), "errors": 0}

    def do_job_manager_killall(self, payload):
        jobs = [job for job in self._matching(dict(payload, states=16),
                                              "kill")]
        return {"count": len(jobs), "errors": 0}

    def do_job_manager_purge(self, payload):
        self._owner_only()
        inactive = [j for j in self.jobs.values() if j.inactive]
        if "jobs" in payload:
            targets = []
            for jobid in payload["jobs"]:
                job = self.jobs.get(jobid)
                if job is None:
                    raise from_errno(errno.ENOENT, f"{f58(jobid)}: unknown"
                                     " job id")
                if not job.inactive:
                    raise from_errno(errno.EINVAL, f"{f58(jobid)}: job is"
                                     " not inactive")
                targets.append(job)
        else:
            limit = payload.get("num_limit")
            targets = inactive[:max(len(inactive) - limit, 0)] \
                if limit is not None else []
        if payload.get("force"):
            for job in targets:
                del self.jobs[job.id]
        remaining = len(inactive) - (len(targets) if payload.get("force")
                                     else 0)
        return {"count": len(targets), "remaining": remaining}

    def do_job_manager_wait(self, payload):
        if payload["id"] == 0xFFFFFFFFFFFFFFFF:
            waitable = [j for j in self.jobs.values() if j.flags & 4]
            if not waitable:
                raise from_errno(errno.ECHILD, "there are no more waitable"
                                 " jobs")
        else:
            job = self.jobs.get(payload["id"])
            if job is not None:
                self._job(job.id, "wait for")
            if job is not None and not job.inactive and not job.flags & 4:
                raise from_errno(errno.ECHILD, "job was not submitted with"
                                 " FLUX_JOB_WAITABLE")
            if job is None or not job.flags & 4:
                raise from_errno(errno.ECHILD, "invalid job id, or job may be"
                                 " inactive and not waitable")
            waitable = [job]
        job = waitable[0]
        while not job.inactive:
            if not self._advance():
                raise AssertionError("the wait would last forever")
        job.flags &= ~4
        status = next((e["context"]["status"] for e in job.eventlog
                       if e["name"] == "finish"), None)
        if status == 0:
            return {"id": job.id, "success": True, "errstr": ""}
        fatal = [e["context"] for e in job.eventlog if e["name"] ==
                 "exception" and e["context"]["severity"] == 0]
        if fatal:
            errstr = (f"Fatal exception type={fatal[0]['type']}"
                      f" {fatal[0]['note']}").rstrip()
        elif status & 0x7F:
            errstr = f"task(s) killed by signal {status & 0x7F}"
        else:
            errstr = f"task(s) exited with exit code {status >> 8}"
        return {"id": job.id, "success": False, "errstr": errstr}

    def _owner_only(self):
        if not self.owner:
            raise from_errno(errno.EPERM, "Request requires owner"
                             " credentials")

    def do_job_manager_queue_list(self, payload):
        return {"queues": []}

    @staticmethod
    def _no_queues(payload):
        if payload.get("name") is not None:
            raise from_errno(errno.EINVAL,
                             f"'{payload['name']}' is not a valid queue")

    def do_job_manager_queue_status(self, payload):
        self._no_queues(payload)
        running = sum(1 for j in self.jobs.values() if j.state == "RUN")
        pending = sum(1 for j in self.jobs.values() if j.state == "SCHED")
        return dict(self.queue, alloc_queued=pending, alloc_pending=0,
                    running=running)

    def do_job_manager_alloc_query(self, payload):
        status = self.do_job_manager_queue_status({})
        return {"queue_length": status["alloc_queued"],
                "alloc_pending": status["alloc_pending"],
                "running": status["running"]}

    def do_job_manager_queue_enable(self, payload):
        self._owner_only()
        self._no_queues(payload)
        self.queue["enable"] = payload["enable"]
        if payload["enable"]:
            self.queue.pop("disable_reason", None)
        else:
            self.queue["disable_reason"] = (payload.get("reason")
                                            or "disabled by administrator")
        return {}

    def do_job_manager_queue_start(self, payload):
        self._owner_only()
        self._no_queues(payload)
        self.queue["start"] = payload["start"]
        self.queue.pop("stop_reason", None)
        if not payload["start"] and payload.get("reason"):
            self.queue["stop_reason"] = payload["reason"]
        return {}

    def do_job_manager_drain(self, payload):
        while any(not j.inactive for j in self.jobs.values()):
            if not self._advance():
                raise from_errno(errno.ETIMEDOUT, "Connection timed out")
        return {}

    def do_job_manager_idle(self, payload):
        while any(j.state == "RUN" for j in self.jobs.values()):
            if not self._advance():
                raise from_errno(errno.ETIMEDOUT, "Connection timed out")
        pending = sum(1 for j in self.jobs.values() if not j.inactive)
        return {"pending": pending}
