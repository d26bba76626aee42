# -*- test-case-name: tests.unit.exec.test_guest_namespace -*-
"""Each job's guest namespace, as rank 0's exec service keeps it.

A job's exec eventlog, output and input (and the ``exec.seq.<rank>``
marks of its shells' acknowledged events) live in the namespace
``job-<decimal id>``, owned by the job's user, who may read it (``flux
kvs -N job-<id> get output``) and nobody else but the instance owner.
``job.<id>.guest`` in ``primary`` is a symlink to its root while the job
runs, so every reader of the primary paths (``flux job attach``, ``flux
job eventlog -p exec``, job-info) goes on working; kvs-watch follows the
symlink.  When the job ends, the namespace's final root is copied into
``job.<id>.guest`` (a ``dirref`` to the same blobs) and the namespace
removed, before ``done`` is posted there.

Everything goes through the exec service's
:class:`~fluxd.job.kvsbatch.KVSBatcher`, in order, in the same
multi-namespace commits as every other job's writes: no commit of its
own per job.  Namespaces are durable: a job reattached after a restart
writes on into its own; :meth:`GuestNamespaces.recover` folds back, at
start, the namespaces of the jobs that ended while the broker was down.

A job whose whole life fits between two commits (a short job under
load: commits are 20 ms apart or more, such a job holds its cores a few
ms) never has a namespace at all: its create is still queued when it
ends, so the batcher drops it and writes the job's exec eventlog and
output straight into ``job.<id>.guest``
(:meth:`~fluxd.job.kvsbatch.KVSBatcher.fold_namespace`), as they would
be after the copy.  Nobody could have read the namespace: it was in no
commit.
"""

from twisted.logger import Logger

from fluxd.errors import NotFound
from fluxd.formats import eventlog, fluid
from fluxd.storage import treeobj as T
from fluxd.storage.errors import NoNamespace

__all__ = ["GuestNamespaces", "GUEST_PREFIX"]

#: a job's guest namespace is ``job-<decimal id>``
GUEST_PREFIX = "job-"


def guest_namespace(jobid):
    """The name of job ``jobid``'s guest namespace."""
    return f"{GUEST_PREFIX}{jobid}"


class GuestNamespaces:
    """The guest namespaces of rank 0's jobs.

    A job (:class:`~fluxd.exec._job.TestJob`) has ``key`` (its primary
    directory), ``guest`` (its namespace), ``userid`` and ``moved`` (its
    namespace folded back already).

    :param clock: IReactorTime (eventlog timestamps).
    :param kvs: the broker's :class:`~fluxd.interfaces.IKVS`.
    :param writer: the :class:`~fluxd.job.kvsbatch.KVSBatcher` written
        through.
    :param cred: the instance owner's credential (reads).
    """

    log = Logger(namespace="fluxd.exec.service")

    def __init__(self, clock, kvs, writer, cred):
        self.clock, self.kvs, self.writer, self.cred = clock, kvs, writer, cred

    def open(self, job):
        """Create the job's namespace and link ``job.<id>.guest`` to it
        (queued before anything the job writes)."""
        self.writer.create_namespace(job.guest, job.userid)
        self.writer.put(job.key + ".guest", T.create_symlink(".", job.guest))

    def close(self, job):
        """Fold the job's namespace back into ``primary``: its final root
        becomes ``job.<id>.guest``, the namespace goes (when the job's
        whole life is still queued in one batch, the namespace is never
        made: its writes go straight to ``job.<id>.guest``)."""
        if job.moved:
            return
        job.moved = True
        self.writer.fold_namespace(job.guest, job.key + ".guest")

    async def exists(self, job):
        """Whether the job's namespace exists (a reattached job)."""
        try:
            await self.kvs.namespace(job.guest)
        except NoNamespace:
            return False
        return True

    def append(self, job, key, data, note=None):
        """Append ``data`` to ``key`` of the job's guest directory."""
        if job.moved:
            self.writer.append(f"{job.key}.guest.{key}", data, note=note)
        else:
            self.writer.append(key, data, note=note, namespace=job.guest)

    def put_value(self, job, key, data):
        """Set ``key`` of the job's guest directory to ``data``."""
        if job.moved:
            self.writer.put_value(f"{job.key}.guest.{key}", data)
        else:
            self.writer.put_value(key, data, namespace=job.guest)

    async def recover(self, running):
        """At start, before any job: fold back the namespaces of the jobs
        that finished (``finish`` in their eventlog) while the broker was
        down, remove those of jobs that are gone; the jobs still running
        are reattached and keep theirs.  A job that ended before its exec
        eventlog had ``done`` gets it.

        :param running: a container of the job ids the service runs.
        """
        for info in self.kvs.namespaces():
            name = info["namespace"]
            digits = name[len(GUEST_PREFIX):]
            if not name.startswith(GUEST_PREFIX) or not digits.isdigit():
                continue
            jobid = int(digits)
            key = fluid.encode(jobid, "kvs")
            try:
                names = await self._event_names(key + ".eventlog")
            except NotFound:
                names = None
            if jobid in running or (names is not None
                                    and "finish" not in names):
                continue
            if names is None:
                self.log.info("job-exec: removing the guest namespace {ns}"
                              " of a job that is gone", ns=name)
                self.writer.remove_namespace(name)
                continue
            try:
                done = "done" in await self._event_names(
                    key + ".guest.exec.eventlog")
            except NotFound:
                done = False
            self.log.info("job-exec: job {id} ended while the broker was"
                          " down: its guest namespace is moved",
                          id=fluid.encode(jobid, "f58plain"))
            self.writer.copy_namespace(name, key + ".guest")
            self.writer.remove_namespace(name)
            if not done:
                line = eventlog.encode_entry("done", None, self.clock.seconds())
                self.writer.append(key + ".guest.exec.eventlog",
                                   line.encode("utf-8"))
        await self.writer.flush()

    async def _event_names(self, key):
        obj = await self.kvs.lookup("primary", key, cred=self.cred)
        return {entry["name"] for entry in
                eventlog.decode(T.decode_val(obj).rstrip(b"\0"))}
