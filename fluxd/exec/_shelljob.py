# -*- test-case-name: tests.integration.test_exec_shells -*-
"""One job run by job shells, as rank 0's exec service drives it.

:class:`ShellJob` shares the life of a test job (:class:`~fluxd.exec.
_job.TestJob`: ``init``, ``starting``, exceptions, the time limit,
``complete``, ``done`` and the final release) and runs real shells in
between: a ``job-exec.shell-launch`` stream to the exec service of each
rank in R (the overlay carries those to other brokers), whose responses
are the shell's events (:mod:`flux_shell.shell`).  Once every shell has
said ``init``, ``shell.init`` is posted and each gets the start barrier's
``barrier`` order (it starts no task before; a job of one shell has no
barrier); past
``exec.barrier-timeout`` (30m, ``0``: none) a fatal exception names the
ranks short of init, which are drained.  Once every shell has started its
tasks, ``shell.start {taskmap}`` and the ``start`` response; each shell's
exit releases its rank, the last one gives ``finish`` with the greatest
wait status.  Output events become RFC 24 entries of
``output`` in the job's guest namespace (``job.<id>.guest.output``
through its symlink; a ``header`` first), written through the
service's batcher with the exec eventlog.  Standard input given by
``job-exec.input`` (``flux run``, ``flux job attach``) is logged in
``guest.input`` and sent to every shell for all its tasks.  A PMI
barrier (``pmi-barrier`` events) waits for every shell, then their puts
go to each in one ``job-exec.shell-order`` (``pmi``); ``pty`` events of
an interactive pty go to its :class:`~fluxd.exec._pty.PtyRelay`.

A job of another user than the instance owner needs ``[exec] imp``
(else it fails with :data:`IMP_NEEDED`): its ``shell-launch`` carries
the job's J (``job.<id>.J``), and each rank's exec service runs the shell
through the IMP as the user who signed it (:mod:`fluxd.exec._imp`).

A fatal exception, or the time limit (SIGALRM first), starts the kill
sequence: ``exec.term-signal``, then ``exec.kill-signal`` after
``exec.kill-timeout``, again with the timeout doubled (at most
``exec.max-kill-timeout``, 300 s) up to ``exec.max-kill-count`` times;
past ``5 * kill-timeout`` the shells whose tasks still run are
SIGKILLed themselves (one whose tasks are gone is only slow: the rest
are, 5 kill-timeouts later); ranks
whose processes outlive ``max-kill-count`` kill signals are drained
(``unkillable processes for job ID``) and their shells SIGKILLed.  A
shell that dies by a signal or is lost with its server raises an
``exec`` exception.

Shells outlive their brokers.  Each shell event is numbered; rank 0
acknowledges (``job-exec.shell-ack``, a request that wants no answer)
the events whose writes are durable, recording the last one in
``guest.exec.seq.<rank>`` in the same commit, and the shell server
holds every unacknowledged event for the next reader.  A job
reattached after a restart opens ``job-exec.shell-attach`` streams
instead of launching, skips the events it already has and answers
``reattached``; a rank whose broker is gone is asked again each second
and, past ``tbon.tcp_user_timeout``, its job gets a ``lost-shell``
exception.  The exec eventlog follows RFC 50:
``recoverable`` once every shell of the job is held by its shell server
or, for another user's job, by its relay (:mod:`flux_shell.relay`),
``reattach`` and
``re-starting`` on each reattach, where a job never ``recoverable``
fails at once; ``shell-exit {rank, wait_status, active_ranks}`` once
the leader shell ends.
"""

import json
import signal

from twisted.internet import defer

from fluxd.errors import FluxError, InvalidArgument
from fluxd.exec._job import TestJob
from fluxd.exec._pty import PtyRelay
from fluxd.formats import eventlog, fluid
from fluxd.security import sign
from flux_shell import taskmap as TM

__all__ = ["ShellJob", "IMP_NEEDED"]

#: the fatal exception of another user's job
IMP_NEEDED = ("jobs of users other than the instance owner need the IMP:"
              " set [exec] imp (the flux-imp launcher)")
#: bytes of stdin held for a job whose shells have not all started
MAX_QUEUED_INPUT = 10 * 1024 * 1024
_FATAL = 2
#: the shell events that write the job's output: acknowledged once durable
_WRITES = frozenset(("output", "log", "redirect"))


class ShellJob(TestJob):
    """A job run by one job shell per rank of its R."""

    __test__ = False
    __slots__ = ("R", "ranks", "counts", "state", "taskmap", "statuses",
                 "streams", "kill_timer", "kill_count", "kill_timeout",
                 "kill_started", "spared", "released", "exit_timer",
                 "pids",
                 "input_queue", "input_size", "input_state", "pmi",
                 "pty", "away", "seqs", "acking", "barrier_timer",
                 "posted")

    def __init__(self, svc, jobid, userid, request, jobspec, R, reattach):
        super().__init__(svc, jobid, userid, request, jobspec, R, reattach)
        self.R = R
        self.ranks = []
        self.counts = {}
        self.state = {}           # rank -> spawned/init/start
        self.taskmap = None
        self.statuses = {}        # rank -> wait status of its shell
        self.streams = {}
        self.kill_timer = self.exit_timer = None
        self.kill_count = 0
        self.kill_timeout = 0.0
        self.kill_started = None
        self.spared = False       # shells whose tasks were gone, spared
        self.released = set()
        self.pids = {}            # rank -> (host, [pid...])
        self.input_queue = []     # stdin held until every shell started
        self.input_size = 0
        self.input_state = None   # None, "open", "closed"
        self.pmi = {}             # rank -> puts of the PMI barrier under way
        self.pty = None           # the PtyRelay of -o pty.interactive
        self.away = {}            # rank -> since when its broker is gone
        self.seqs = {}            # rank -> last event seq received
        self.acking = set()       # ranks with an acknowledgement on its way
        self.barrier_timer = None
        self.posted = set()       # RFC 50's at-most-once events posted

    # -- start ----------------------------------------------------------------

    def _initialized(self):
        if self.finalizing:
            return
        if self.userid != self.svc.owner \
                and getattr(self.svc, "imp_shells", None) is None:
            self.fatal(IMP_NEEDED)
            return
        try:
            self.counts = TM.tasks_per_rank(self.jobspec, self.R)
        except TM.TaskmapError as exc:
            self.fatal(f"cannot lay out the tasks: {exc}")
            return
        self.ranks = list(self.counts)
        if self.reattach:
            self._reattach_shells()
            return
        self.svc.post(self, "starting")
        self.started = True
        ntasks = sum(self.counts.values())
        self.output("header", {
            "version": 1, "encoding": {"stdout": "UTF-8", "stderr": "UTF-8"},
            "count": {"stdout": ntasks, "stderr": ntasks}, "options": {}})
        # a lone shell has no one to wait for: it starts its tasks at
        # once (flux-core's shell barrier is a no-op for one shell)
        payload = {"id": self.id, "f58": fluid.encode(self.id, "f58"),
                   "jobspec": self.jobspec, "R": self.R,
                   "barrier": len(self.ranks) > 1}
        if self.svc.barrier_timeout > 0:
            self.barrier_timer = self.svc.at(
                self, self.svc.barrier_timeout, "barrier")
        # the job manager's jobspec has no environment (only J keeps it,
        # as in flux): the shells get it back from J; the IMP of each rank
        # also checks a guest's J and runs the shell as its signer
        d = defer.Deferred.fromCoroutine(self._with_J(payload))
        d.addCallbacks(self._launch, self._no_J)

    async def _with_J(self, payload):
        J = await self.svc.read_ahead.read(self.id, self.key)
        payload = dict(payload,
                       jobspec=_with_environment(payload["jobspec"], J))
        if self.userid != self.svc.owner:
            payload["J"] = J
        return payload

    def _no_J(self, failure):
        failure.trap(FluxError)
        self.fatal(f"cannot read the job's J: {failure.getErrorMessage()}")
        for rank in self.ranks:
            self.shell_exited(rank, 0)

    def _launch(self, payload):
        if self.finalizing:
            return
        if self.exception_in_progress:
            # killed while its J was read: no shell to start
            for rank in self.ranks:
                self.shell_exited(rank, 0)
            return
        router = self.svc.router
        for shell_rank, rank in enumerate(self.ranks):
            self.state[rank] = "launch"
            stream = router.stream(
                "job-exec.shell-launch", dict(payload, shell_rank=shell_rank),
                cred=router.instance_cred, nodeid=rank,
                on_response=lambda ev, rank=rank: self.shell_events(rank, ev))
            self.streams[rank] = stream
            stream.done.addErrback(self._launch_failed, rank)
        self.jobspec = None     # the shells have it

    def _barrier_passed(self):
        """Every shell reached init: ``shell.init``, and the shells
        waiting at the start barrier start their tasks."""
        self.svc.deadlines.cancel(self.barrier_timer)
        self.barrier_timer = None
        if self.finalizing:
            return
        if not self.reattach:
            # every shell is held by its rank's shell server (or its
            # relay under the IMP), which outlives its broker
            self.svc.post(self, "recoverable")
            self.svc.post(self, "shell.init", {
                "service": f"{self.userid}-shell-{self.id}",
                "leader-rank": self.ranks[0], "size": len(self.ranks)})
        if self.exception_in_progress or len(self.ranks) == 1:
            # the kill sequence ends the waiting shells (a lone one did
            # not wait)
            return
        for rank in self.ranks:
            if self.state.get(rank) == "init":
                self.shell_order(rank, {"op": "barrier"})

    def barrier_timeout(self):
        """``exec.barrier-timeout`` passed with shells short of init: a
        fatal exception naming their ranks, which are drained."""
        self.barrier_timer = None
        if self.finalizing:
            return
        late = [r for r in self.ranks
                if self.state.get(r) not in ("init", "start")]
        if not late:
            return
        ranks = _idset(late)
        self.svc.drain(late, "job-exec: start barrier timeout for job"
                       f" {fluid.encode(self.id, 'f58')}")
        self.fatal(f"start barrier timeout waiting for rank(s) {ranks}")

    def _reattach_shells(self):
        """After a restart: take up the shells, which went on without
        their broker (``job-exec.shell-attach`` on each rank)."""
        self.svc.post(self, "re-starting")
        self.started = True
        self.jobspec = None
        for rank in self.ranks:
            self.state[rank] = "attach"
        d = defer.Deferred.fromCoroutine(self._recovered())
        d.addCallbacks(self._attach_shells, self._reattach_failed)

    async def _recovered(self):
        names = await self.svc.exec_events(self)
        return names, await self.svc.shell_seqs(self, self.ranks)

    def _attach_shells(self, found):
        names, seqs = found
        self.posted.update(names & {"shell-exit"})
        self.seqs.update(seqs)
        if self.finalizing:
            return
        router = self.svc.router
        for rank in self.ranks:
            stream = router.stream(
                "job-exec.shell-attach", {"id": self.id},
                cred=router.instance_cred, nodeid=rank,
                on_response=lambda ev, rank=rank: self.shell_events(rank, ev))
            self.streams[rank] = stream
            stream.done.addErrback(self._launch_failed, rank)
        if "recoverable" not in names:
            # RFC 50: its shells had not all started: the ones found
            # are killed
            self.fatal("job shells are not recoverable: the broker"
                       " restarted before they all started")

    def _ack_later(self, rank):
        """Record the last event of ``rank`` with what it wrote, and once
        that is durable tell its shell server (which holds the events
        until then: a broker killed meanwhile gets them again)."""
        upto = self.seqs[rank]
        # queued after the event's writes, in the same turn: in the same
        # commit.  A broker killed before the acknowledgement skips
        # exactly the events whose writes are durable when they come
        # again (a record left for a later commit let a restart write
        # an event twice)
        self.svc.guests.put_value(self, f"exec.seq.{rank}",
                                  str(upto).encode())
        self._ack_when_durable(rank)

    def _ack_when_durable(self, rank):
        """Acknowledge the events of ``rank`` received so far once what
        is queued is durable (one acknowledgement on its way at a time)."""
        if rank in self.acking:
            return
        self.acking.add(rank)
        upto = self.seqs[rank]

        def durable(_):
            self.acking.discard(rank)
            if rank in self.statuses:
                # its shell is over: the server keeps its record until
                # the job's forget (sent once the job is durable), which
                # drops these events too; one RPC a job less
                return
            router = self.svc.router
            router.notify("job-exec.shell-ack", {"id": self.id, "seq": upto},
                          cred=router.instance_cred, nodeid=rank)
            if self.seqs[rank] > upto:
                self._ack_when_durable(rank)
        self.svc.writer.flush().addCallback(durable)

    def _forget(self):
        """The job is over and durable: the servers drop its shells."""
        router = self.svc.router
        for rank in self.ranks:
            router.notify("job-exec.shell-ack", {"id": self.id, "seq": 0,
                                                 "forget": True},
                          cred=router.instance_cred, nodeid=rank)

    def _away(self, rank):
        """The broker of ``rank`` is gone while its shell runs: try
        ``shell-attach`` again each second; past ``tbon.tcp_user_timeout``
        the job fails (``lost-shell``)."""
        now = self.svc.reactor.seconds()
        since = self.away.setdefault(rank, now)
        if now - since > self.svc.lost_shell_timeout:
            self.exception("lost-shell", f"rank {rank}: its broker stayed"
                           f" away {now - since:.0f}s: job shell lost")
            self.exception_in_progress = True
            self.kill(self.svc.term_signal)
            self.shell_exited(rank, signal.SIGKILL)
            return
        self.svc.reactor.callLater(1.0, self._attach_again, rank)

    def _attach_again(self, rank):
        if rank in self.statuses or self.finalizing:
            return
        router = self.svc.router
        stream = router.stream(
            "job-exec.shell-attach", {"id": self.id},
            cred=router.instance_cred, nodeid=rank,
            on_response=lambda ev: self.shell_events(rank, ev))
        self.streams[rank] = stream
        stream.done.addErrback(self._launch_failed, rank)

    def _attached(self, rank, ev):
        """The shell of ``rank`` is ours again: ``reattached`` once every
        one is."""
        self.away.pop(rank, None)
        start = ev.get("start")
        if isinstance(start, dict):
            self.state[rank] = "start"
            self.pids[rank] = (start.get("host", self.svc.hostname),
                               start.get("pids") or [])
            if rank == self.ranks[0]:
                self.taskmap = start.get("taskmap")
        else:
            self.state[rank] = "init"
        if any(s == "attach" for s in self.state.values()) \
                or self.running or self.finalizing:
            return
        # shells that were waiting at the start barrier go on
        self._barrier_passed()
        self.running = True
        self.svc.post(self, "reattach-finish")
        self._set_expiration()
        self._respond("reattached")

    def _launch_failed(self, failure, rank):
        failure.trap(FluxError)
        if rank in self.statuses or self.finalizing:
            return
        if self.state.get(rank) != "launch":
            # the shell runs on without its broker (restarted, or gone
            # with its parent): take it up again when the broker returns
            self._away(rank)
            return
        if rank not in self.statuses:
            self.fatal(f"rank {rank}: cannot start a job shell:"
                       f" {failure.getErrorMessage()}")
            self.shell_exited(rank, signal.SIGKILL)

    def output(self, name, context):
        """Append an entry to the job's output eventlog."""
        line = eventlog.encode_entry(name, context, self.svc.reactor.seconds())
        self.svc.guests.append(self, "output", line.encode("utf-8"))

    # -- shell events ---------------------------------------------------------

    def shell_events(self, rank, body):
        """A response of the shell stream of ``rank``: one event, or
        several (``{"events": [...]}``) relayed together."""
        events = body.get("events")
        if isinstance(events, list):
            for ev in events:
                if isinstance(ev, dict):
                    self.shell_event(rank, ev)
        else:
            self.shell_event(rank, body)

    def shell_event(self, rank, ev):
        """One event of the shell of ``rank``."""
        kind = ev.get("ev")
        seq = ev.get("seq")
        if isinstance(seq, int):
            if seq <= self.seqs.get(rank, 0):
                return          # sent again after a restart: had it
            self.seqs[rank] = seq
        if kind == "output":
            for stream, taskrank, text in ev.get("data") or ():
                self.output("data", {"stream": stream, "rank": str(taskrank),
                                     "data": text})
            for stream, taskrank in ev.get("eof") or ():
                self.output("data", {"stream": stream, "rank": str(taskrank),
                                     "eof": True})
        elif kind == "attached":
            self._attached(rank, ev)
        elif kind == "init":
            if self.state.get(rank) == "start":
                return          # sent again after a restart
            self.state[rank] = "init"
            if all(s in ("init", "start") for s in self.state.values()):
                self._barrier_passed()
        elif kind == "start":
            self.state[rank] = "start"
            self.pids[rank] = (ev.get("host", ""), ev.get("pids") or [])
            if rank == self.ranks[0]:
                self.taskmap = ev.get("taskmap")
            if all(s == "start" for s in self.state.values()) \
                    and not self.running and not self.finalizing:
                self.svc.post(self, "shell.start", {"taskmap": self.taskmap})
                self.running = True
                self._set_expiration()
                self._respond("start")
                queued, self.input_queue = self.input_queue, []
                for order in queued:
                    self._send_input(order)
        elif kind == "log":
            level = int(ev.get("level", 5))
            message = str(ev.get("message", ""))
            self.output("log", {"rank": self.ranks.index(rank),
                                "level": level, "message": message})
            if level <= _FATAL:
                self.fatal(message)
        elif kind == "redirect":
            self.output("redirect", {"stream": ev.get("stream"),
                                     "rank": ev.get("ranks"),
                                     "path": ev.get("path")})
        elif kind == "pty":
            self.pty_session().event(ev)
        elif kind == "pmi-barrier":
            self.pmi_barrier(rank, ev.get("kvs"), ev.get("barrier"))
        elif kind == "shell-exit":
            status = int(ev.get("status", 0))
            if rank == self.ranks[0] and rank not in self.statuses \
                    and "shell-exit" not in self.posted:
                # RFC 50: the leader's services (stdio, MPIR) are gone
                # (only its observed end: a lost one has none)
                self.posted.add("shell-exit")
                context = {"rank": rank, "wait_status": status}
                active = [r for r in self.ranks[1:]
                          if r not in self.statuses]
                if active:
                    context["active_ranks"] = _idset(active)
                self.svc.post(self, "shell-exit", context)
            self.shell_exited(rank, status)
        elif kind == "lost":
            self.shell_exited(rank, signal.SIGKILL,
                              lost=ev.get("error") or "the shell server"
                              " exited: job shell lost")
        if kind in _WRITES and isinstance(seq, int):
            # (the others are few: the server keeps them to the end)
            self._ack_later(rank)

    def shell_exited(self, rank, status, lost=False):
        """The shell of ``rank`` is gone with wait status ``status``."""
        if rank in self.statuses:
            return
        self.statuses[rank] = status
        host = self.svc.hostname
        if lost:
            self.fatal(f"rank {rank}: {lost}")
        elif status & 0x7f:
            self.fatal(f"job shell on rank {rank} (host {host}) died by"
                       f" signal {status & 0x7f}"
                       f" ({signal.strsignal(status & 0x7f)})")
        remaining = [r for r in self.ranks if r not in self.statuses]
        if remaining:
            self.released.add(rank)
            self._respond("release", {"ranks": str(rank), "final": False})
            if rank == self.ranks[0] and self.exit_timer is None \
                    and self.svc.shell_exit_timeout > 0:
                self.exit_timer = self.svc.at(
                    self, self.svc.shell_exit_timeout, "shell-exit")
            return
        self.tasks_complete(max(self.statuses.values()))

    def input(self, data, eof):
        """Standard input for every task (``job-exec.input``): logged in
        ``guest.input`` (RFC 24), sent to the shells once they started.

        :raises InvalidArgument: after EOF, or past ``MAX_QUEUED_INPUT``
            bytes held before the shells started.
        """
        if self.input_state == "closed" or self.finalizing:
            raise InvalidArgument("stdin of the job is already closed")
        if self.input_state is None:
            self.input_state = "open"
            self.input_entry("header", {
                "version": 1, "encoding": {"stdin": "UTF-8"},
                "count": {"stdin": 1}, "options": {}})
        if data:
            self.input_entry("data", {"stream": "stdin", "rank": "all",
                                      "data": data})
        if eof:
            self.input_state = "closed"
            self.input_entry("data", {"stream": "stdin", "rank": "all",
                                      "eof": True})
        order = {"id": self.id, "data": data, "eof": eof}
        if self.running:
            self._send_input(order)
            return
        self.input_size += len(data)
        if self.input_size > MAX_QUEUED_INPUT:
            raise InvalidArgument("too much input before the job started")
        self.input_queue.append(order)

    def input_entry(self, name, context):
        line = eventlog.encode_entry(name, context, self.svc.reactor.seconds())
        self.svc.guests.append(self, "input", line.encode("utf-8"))

    def _send_input(self, order):
        router = self.svc.router
        for rank in self.ranks:
            if rank not in self.statuses:
                router.call("job-exec.shell-input", order,
                            cred=router.instance_cred, nodeid=rank
                            ).addErrback(lambda f: f.trap(FluxError))

    def pmi_barrier(self, rank, kvs, seq):
        """The shell of ``rank`` entered a PMI barrier with its puts; once
        every shell has, all of them are sent to each (one message per
        shell and barrier)."""
        self.pmi[rank] = kvs if isinstance(kvs, dict) else {}
        if len(self.pmi) < len(self.ranks) or self.finalizing:
            return
        merged = {}
        for rank_kvs in self.pmi.values():
            merged.update(rank_kvs)
        self.pmi = {}
        for rank in self.ranks:
            if rank not in self.statuses:
                self.shell_order(rank, {"op": "pmi", "barrier": seq,
                                        "kvs": merged})

    def shell_order(self, rank, order):
        """Send ``order`` to the job's shell on ``rank``
        (``job-exec.shell-order``)."""
        router = self.svc.router
        router.call("job-exec.shell-order", {"id": self.id, "order": order},
                    cred=router.instance_cred, nodeid=rank
                    ).addErrback(lambda f: f.trap(FluxError))

    def pty_session(self):
        """The job's interactive pty relay (made at the first use: a
        client may attach before the shell's first output)."""
        if self.pty is None:
            self.pty = PtyRelay()
        return self.pty

    def pty_order(self, order):
        """A keystroke or window size for task 0's terminal."""
        if self.ranks and self.ranks[0] not in self.statuses:
            self.shell_order(self.ranks[0], order)

    def hostpids(self):
        """``[[host, pid]...]`` of the started tasks, in rank order."""
        return [[host, pid] for rank in self.ranks
                for host, pids in [self.pids.get(rank, ("", []))]
                for pid in pids]

    def leader_gone(self):
        """``exec.shell-exit-timeout`` passed with shells still running
        after the leader exited."""
        self.exit_timer = None
        if not self.finalizing:
            self.fatal("leader shell exited while others are still running")

    # -- signals --------------------------------------------------------------

    def signal(self, signum):
        """Send ``signum`` to the tasks of every running shell."""
        router = self.svc.router
        for rank in self.ranks:
            if rank in self.statuses:
                continue
            d = router.call("job-exec.shell-kill",
                            {"id": self.id, "signum": int(signum)},
                            cred=router.instance_cred, nodeid=rank)
            d.addErrback(lambda f: f.trap(FluxError))

    def kill(self, signum):
        """Start the kill sequence with ``signum`` (once)."""
        if not self.started or self.finalizing or self.kill_started:
            return
        self.kill_started = self.svc.reactor.seconds()
        self.kill_timeout = self.svc.kill_timeout
        self.signal(signum)
        self.kill_timer = self.svc.at(self, self.kill_timeout, "kill")

    def escalate(self):
        """The kill timer passed: the kill signal again; past
        ``5 * kill-timeout`` the shells too; past ``max-kill-count`` kill
        signals the ranks still running are drained (unkillable
        processes) and their shells SIGKILLed."""
        self.kill_timer = None
        if self.finalizing or len(self.statuses) == len(self.ranks):
            return
        if self.kill_count >= self.svc.max_kill_count:
            left = [r for r in self.ranks if r not in self.statuses]
            self.svc.drain(left, "unkillable processes for job"
                           f" {fluid.encode(self.id, 'f58')}")
            self._kill_shells()
            return
        now = self.svc.reactor.seconds()
        if now - self.kill_started >= 5 * self.svc.kill_timeout:
            if not self.spared:
                # a shell whose tasks are all gone is only slow to say so
                # (a loaded node): it gets 5 kill-timeouts more to end
                # by itself, its status the tasks'
                self.spared = True
                self._kill_shells(live_tasks=True)
                self.kill_timer = self.svc.at(
                    self, 5 * self.svc.kill_timeout, "kill")
                return
            self._kill_shells()
            return
        self.kill_count += 1
        self.signal(self.svc.kill_signal)
        self.kill_timeout = min(2 * self.kill_timeout,
                                self.svc.max_kill_timeout)
        self.kill_timer = self.svc.at(self, self.kill_timeout, "kill")

    def _kill_shells(self, live_tasks=False):
        for rank in self.ranks:
            if rank not in self.statuses:
                self.svc.router.call(
                    "job-exec.shell-kill",
                    {"id": self.id, "signum": signal.SIGKILL,
                     "shell": True, "tasks": live_tasks},
                    cred=self.svc.router.instance_cred,
                    nodeid=rank).addErrback(lambda f: f.trap(FluxError))

    def exception_event(self, type):
        """A fatal exception of the job manager: kill the tasks."""
        if self.finalizing:
            return
        self.exception_in_progress = True
        if self.started:
            self.kill(self.svc.term_signal)
        else:
            self.finalize()

    # -- end ------------------------------------------------------------------

    def finalize(self):
        if self.pty is not None:
            self.pty.close()
        self.svc.deadlines.cancel(self.barrier_timer)
        self.svc.deadlines.cancel(self.kill_timer)
        self.svc.deadlines.cancel(self.exit_timer)
        self.kill_timer = self.exit_timer = None
        super().finalize()

    def _release(self):
        rest = [r for r in self.ranks if r not in self.released]
        self._respond("release", {"ranks": _idset(rest) if rest else "",
                                  "final": True})
        self.svc.forget(self)
        self.done.callback(None)
        self.svc.writer.flush().addCallback(lambda _: self._forget())

    def abandoned(self):
        """The job manager went away: end the shells too, unless this
        broker is stopping (they go on; the next one takes them up)."""
        for stream in self.streams.values():
            stream.cancel()
        if self.svc.running and self.started:
            self.terminate()

    def terminate(self):
        """SIGKILL the shells still running, and their tasks."""
        self._kill_shells()
        self.svc.deadlines.cancel(self.kill_timer)
        self.svc.deadlines.cancel(self.exit_timer)
        super().abandoned()


def _idset(ranks):
    parts, start, prev = [], None, None
    for r in sorted(ranks):
        if start is None:
            start = prev = r
        elif r == prev + 1:
            prev = r
        else:
            parts.append(f"{start}-{prev}" if prev > start else str(start))
            start = prev = r
    if start is not None:
        parts.append(f"{start}-{prev}" if prev > start else str(start))
    return ",".join(parts)


#: the last J decoded and its environment (the copies of ``flux submit
#: --cc`` share one J: it is decoded once)
_last_env = [None, None]


def _with_environment(jobspec, J):
    """``jobspec`` with the ``attributes.system.environment`` of the
    jobspec signed in ``J`` (the rest, updated since, is the manager's).

    :raises FluxError: J or its jobspec cannot be decoded.
    """
    if J is _last_env[0] or J == _last_env[0]:
        env = _last_env[1]
    else:
        try:
            signed = json.loads(sign.unwrap(J)[0])
            env = signed["attributes"]["system"].get("environment")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FluxError(f"J holds no jobspec: {exc}") from None
        _last_env[:] = J, env
    if env is None:
        return jobspec
    attributes = dict(jobspec.get("attributes") or {})
    attributes["system"] = dict(attributes.get("system") or {},
                                environment=env)
    return dict(jobspec, attributes=attributes)
