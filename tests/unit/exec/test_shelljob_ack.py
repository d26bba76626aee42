"""ShellJob's acknowledgements of its shells' events
(``job-exec.shell-ack``): sent once their writes are durable, not for a
shell already over (the job's forget drops its events)."""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from fluxd.exec._guest import GuestNamespaces
from fluxd.exec._shelljob import ShellJob


class _Writer:
    def __init__(self):
        self.puts, self.appends, self.flushes = [], [], []

    def put_value(self, key, data, namespace="primary"):
        self.puts.append((namespace, key, data))

    def append(self, key, data, note=None, namespace="primary"):
        self.appends.append((namespace, key, data))

    def flush(self):
        d = defer.Deferred()
        self.flushes.append(d)
        return d


class _Router:
    instance_cred = object()

    def __init__(self):
        self.calls = []

    def notify(self, topic, payload, cred=None, nodeid=None):
        self.calls.append((topic, payload, nodeid))


class _Svc:
    def __init__(self):
        self.reactor = Clock()
        self.writer = _Writer()
        self.router = _Router()
        self.guests = GuestNamespaces(self.reactor, None, self.writer,
                                      _Router.instance_cred)


def _job():
    svc = _Svc()
    job = ShellJob(svc, 1234, 0, None, {}, {}, False)
    job.ranks = [0]
    return svc, job


def _output(seq):
    return {"ev": "output", "seq": seq, "data": [],
            "eof": [["stdout", 0], ["stderr", 0]]}


class AckTests(SynchronousTestCase):

    def test_acknowledged_once_durable(self):
        svc, job = _job()
        job.shell_event(0, _output(3))
        self.assertEqual(svc.writer.puts,
                         [(job.guest, "exec.seq.0", b"3")])
        self.assertEqual(svc.router.calls, [])
        svc.writer.flushes[0].callback(None)
        self.assertEqual(svc.router.calls, [
            ("job-exec.shell-ack", {"id": 1234, "seq": 3}, 0)])

    def test_later_events_acknowledged_after(self):
        svc, job = _job()
        job.shell_event(0, _output(3))
        job.shell_event(0, _output(4))      # while the first is on its way
        svc.writer.flushes[0].callback(None)
        svc.writer.flushes[1].callback(None)
        self.assertEqual([c[1]["seq"] for c in svc.router.calls], [3, 4])
        self.assertEqual([p[2] for p in svc.writer.puts], [b"3", b"4"])

    def test_each_write_event_records_its_seq_in_its_commit(self):
        """Queued right after the event's output, before any flush: a
        broker killed once that commit is durable skips the event when
        it comes again (no output written twice)."""
        svc, job = _job()
        job.shell_event(0, _output(3))
        job.shell_event(0, _output(4))      # while the first is on its way
        self.assertEqual([p[2] for p in svc.writer.puts], [b"3", b"4"])

    def test_no_ack_for_a_shell_already_over(self):
        """The seq key is still written (a restarted broker skips those
        events), but the shell's exit came before the write was durable:
        no acknowledgement, its server drops the events at the forget."""
        svc, job = _job()
        job.shell_event(0, _output(3))
        job.statuses[0] = 0             # its shell-exit came meanwhile
        svc.writer.flushes[0].callback(None)
        self.assertEqual(svc.writer.puts,
                         [(job.guest, "exec.seq.0", b"3")])
        self.assertEqual(svc.router.calls, [])
        self.assertEqual(job.acking, set())
