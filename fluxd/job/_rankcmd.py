# -*- test-case-name: tests.unit.job.test_perilog -*-
"""One command run on a set of broker ranks through their ``rexec``
services (:mod:`fluxd.job.rexec`): perilog.so's prolog and epilog and the
job manager's housekeeping.

:class:`RankCommands` starts the command on every rank at once, hands
each line of output and each rank's wait status to its owner, and
signals what still runs (with ``exit_on_first_error``, as soon as one
rank fails): :meth:`RankCommands.terminate` sends SIGTERM
and, ``kill_timeout`` seconds later, SIGKILL; :meth:`RankCommands.cancel`
ends the requests (the ranks SIGKILL their commands).  A rank that cannot
run the command (offline, lost) ends with :data:`LOST`.
"""

import signal

from twisted.logger import Logger

from fluxd.errors import FluxError

__all__ = ["RankCommands", "LOST"]

#: the wait status of a rank whose command could not run or was lost
LOST = 1 << 8


class RankCommands:
    """``cmd`` on ``ranks``.

    :param router: the broker's router.
    :param clock: IReactorTime (the kill timer).
    :param cmd: the argv.
    :param ranks: the ranks (iterable of ints).
    :param env: extra environment (a dict of strings).
    :param on_line: ``on_line(rank, stream, line)`` per output line.
    :param on_rank: ``on_rank(rank, status)`` as each rank ends.
    :param on_done: ``on_done(statuses)`` once all ended (``{rank:
        status}``).
    :param kill_timeout: seconds from SIGTERM to SIGKILL.
    :param on_kill_timeout: ``on_kill_timeout(ranks)`` when
        ``kill_timeout`` has passed with the command still running on
        ``ranks`` (a list), just before they get SIGKILL.
    :param exit_on_first_error: terminate the other ranks' commands when
        one fails.
    """

    log = Logger()

    def __init__(self, router, clock, cmd, ranks, env, on_line=None,
                 on_rank=None, on_done=None, kill_timeout=60.0,
                 exit_on_first_error=False, on_kill_timeout=None):
        self.router = router
        self.clock = clock
        self.cmd = list(cmd)
        self.ranks = sorted(ranks)
        self.env = dict(env)
        self.on_line = on_line or (lambda rank, stream, line: None)
        self.on_rank = on_rank or (lambda rank, status: None)
        self.on_done = on_done or (lambda statuses: None)
        self.kill_timeout = kill_timeout
        self.on_kill_timeout = on_kill_timeout or (lambda ranks: None)
        self.exit_on_first_error = exit_on_first_error
        self.pids = {}
        #: rank -> the host name its rexec service gave
        self.hosts = {}
        self.statuses = {}
        self.streams = {}
        self._partial = {}
        self._kill_timer = None

    def start(self):
        """Start the command on every rank."""
        for rank in self.ranks:
            stream = self.router.stream(
                "rexec.exec", {"cmd": self.cmd, "env": self.env},
                cred=self.router.instance_cred, nodeid=rank,
                on_response=lambda r, rank=rank: self._response(rank, r))
            self.streams[rank] = stream
            stream.done.addCallbacks(self._ended, self._lost,
                                     callbackArgs=(rank,),
                                     errbackArgs=(rank,))
        if not self.ranks:
            self.on_done({})

    @property
    def running(self):
        """The ranks whose command has not ended."""
        return [r for r in self.ranks if r not in self.statuses]

    def _response(self, rank, resp):
        kind = resp.get("type")
        if kind == "started":
            self.pids[rank] = resp.get("pid")
            if isinstance(resp.get("hostname"), str):
                self.hosts[rank] = resp["hostname"]
        elif kind == "output":
            key = (rank, resp.get("stream"))
            text = self._partial.pop(key, "") + (resp.get("data") or "")
            *lines, rest = text.split("\n")
            if rest:
                self._partial[key] = rest
            for line in lines:
                self.on_line(rank, resp.get("stream"), line)
        elif kind == "finished":
            self._finish(rank, resp.get("status", LOST))

    def _ended(self, _, rank):
        self._finish(rank, LOST)

    def _lost(self, failure, rank):
        failure.trap(FluxError)
        self.log.warn("rexec on rank {rank} failed: {why}", rank=rank,
                      why=failure.getErrorMessage())
        self.on_line(rank, "stderr", f"rank {rank}: "
                     f"{failure.getErrorMessage()}")
        self._finish(rank, LOST)

    def _finish(self, rank, status):
        if rank in self.statuses:
            return
        for (r, stream), rest in list(self._partial.items()):
            if r == rank:
                del self._partial[(r, stream)]
                self.on_line(rank, stream, rest)
        self.statuses[rank] = status if isinstance(status, int) else LOST
        self.on_rank(rank, self.statuses[rank])
        if self.statuses[rank] and self.exit_on_first_error \
                and self.running:
            self.terminate()
        if not self.running:
            if self._kill_timer is not None and self._kill_timer.active():
                self._kill_timer.cancel()
            self.on_done(dict(self.statuses))

    def signal(self, signum, ranks=None):
        """Signal the command on every rank where it still runs (or on
        those of them in ``ranks``, a set of ints)."""
        for rank in self.running:
            if ranks is not None and rank not in ranks:
                continue
            pid = self.pids.get(rank)
            if pid is not None:
                self.router.call("rexec.kill", {"pid": pid, "signum": signum},
                                 cred=self.router.instance_cred,
                                 nodeid=rank).addErrback(lambda f: None)

    def terminate(self):
        """SIGTERM now, SIGKILL after ``kill_timeout`` seconds."""
        self.signal(signal.SIGTERM)
        if self._kill_timer is None and self.running:
            self._kill_timer = self.clock.callLater(self.kill_timeout,
                                                    self._kill_now)

    def _kill_now(self):
        running = self.running
        if running:
            self.on_kill_timeout(running)
        self.signal(signal.SIGKILL)

    def cancel(self):
        """End every request (the ranks SIGKILL what still runs)."""
        if self._kill_timer is not None and self._kill_timer.active():
            self._kill_timer.cancel()
        for rank in self.running:
            self.streams[rank].cancel()
