# -*- test-case-name: tests.unit.cli.test_job_info -*-
"""A SIGALRM deadline around a blocking read of the stdlib client (``flux
job wait-event -t``, ``flux resource eventlog -t``...)."""

import signal

from fluxd.errors import TimedOut


class Alarm:
    """Raise :class:`TimedOut` with ``message`` after ``seconds`` (None:
    never) while a blocking read waits."""

    def __init__(self, seconds, message):
        self.seconds, self.message, self._old = seconds, message, None

    def __enter__(self):
        if self.seconds is not None and self.seconds >= 0:
            def expire(signum, frame):
                raise TimedOut(self.message)
            self._old = signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 1e-6))
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)
