# -*- test-case-name: tests.unit.cli.test_submit -*-
"""The progress bar of ``flux submit --progress`` (flux-core
``flux.progress``): one status line kept on the terminal's last row with
vt100 scroll regions, redrawn as jobs are submitted or change state.

Layout: ``BEFORE│███▌     │AFTER`` where BEFORE and AFTER are format
strings given ``total``, ``count``, ``percent``, ``elapsed`` (seconds,
whose ``dt`` is a ``timedelta``) and any extra fields.
"""

import datetime
import shutil
import time

__all__ = ["ProgressBar"]

_STYLE = " ▏▎▍▌▋▊▉█"


class Elapsed(float):
    """Seconds since the bar started; ``dt`` is a rounded timedelta."""

    @property
    def dt(self):
        return datetime.timedelta(seconds=round(self))


class ProgressBar:
    """A bottom-line progress bar.

    :param stream: the terminal's text stream.
    :param total: the count at 100 %.
    :param before: format string left of the bar.
    :param after: format string right of the bar.
    :param fields: extra format fields, changed with :meth:`update`.
    :param clock: ``time.time``.
    """

    def __init__(self, stream, total, before="", after=" {percent:5.1f}%",
                 clock=time.time, **fields):
        self.stream = stream
        self.total = total
        self.count = 0
        self.before = before
        self.after = after
        self.fields = fields
        self.clock = clock
        self.t0 = None
        self._size = None
        self._running = False

    @property
    def elapsed(self):
        """:returns: an :class:`Elapsed` since :meth:`start`."""
        return Elapsed(self.clock() - (self.t0 or self.clock()))

    def render(self, width):
        """The bar's text for a terminal ``width`` columns wide."""
        fraction = self.count / self.total if self.total else 0.0
        values = dict(self.fields, total=self.total, count=self.count,
                      elapsed=self.elapsed, percent=100 * fraction)
        before = self.before.format(**values)
        after = self.after.format(**values)
        length = max(width - len(before) - len(after) - 2, 0)
        fill = int(length * fraction)
        filled = _STYLE[-1] * fill
        part = int(length * len(_STYLE) * fraction) - fill * len(_STYLE)
        if part:
            fill += 1
            filled += _STYLE[part]
        return (f"{before}\u2502{filled}{_STYLE[0] * (length - fill)}"
                f"\u2502{after}")

    def _setup(self, size):
        self._size = size
        self.stream.write("\0337\033[r\0338\033D\033M\0337"
                          f"\033[1;{size.lines - 1}r\0338")

    def redraw(self):
        """Draw the bar on the last row."""
        size = shutil.get_terminal_size()
        if size != self._size:
            self._setup(size)
        self.stream.write(f"\0337\033[{size.lines};1H\033[2K\033[?7l\033[0m"
                          f"{self.render(size.columns)}\033[?7h\0338")
        self.stream.flush()

    def start(self):
        """Start drawing; returns self."""
        self._running = True
        self.t0 = self.clock()
        self.redraw()
        return self

    def update(self, advance=1, **fields):
        """Advance the count and change fields, then redraw."""
        self.count += advance
        self.fields.update(fields)
        if self._running:
            self.redraw()

    def stop(self):
        """Restore the terminal and leave the final bar on its own line."""
        if not self._running:
            return
        self._running = False
        lines = self._size.lines if self._size else 24
        columns = self._size.columns if self._size else 80
        self.stream.write(f"\0337\033[{lines};1H\033[K\033[r\0338"
                          f"{self.render(columns)}\n")
        self.stream.flush()
