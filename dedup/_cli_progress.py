"""Rendering of progress events for the command line (stderr only, never the output files).

On a terminal: one line rewritten in place (documents/s, MB/s, ETA). Elsewhere (CI, pipes):
a plain log line every `interval` seconds, so short runs stay silent and long ones leave a
trace without a wall of carriage returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from .progress import ProgressEvent


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def describe(event: ProgressEvent, elapsed: float) -> str:
    """One line: what is running, documents and bytes read, rates and (while reading) ETA."""
    mb = event.bytes_read / 1e6
    parts = [f"{event.documents:,} documents"]
    if event.total_bytes:
        share = min(1.0, event.bytes_read / event.total_bytes)
        parts.append(f"{mb:,.1f}/{event.total_bytes / 1e6:,.1f} MB ({share:.0%})")
    else:
        parts.append(f"{mb:,.1f} MB")
    if elapsed > 0:
        parts.append(f"{event.documents / elapsed:,.0f} docs/s, {mb / elapsed:,.2f} MB/s")
    if event.stage == "read" and event.total_bytes and event.bytes_read and elapsed > 0:
        left = max(0, event.total_bytes - event.bytes_read)
        parts.append(f"ETA {_duration(left * elapsed / event.bytes_read)}")
    parts.append(f"elapsed {_duration(elapsed)}")
    return f"dedup [{event.stage}] " + ", ".join(parts)


class ProgressPrinter:
    """A progress callback writing to `stream`: in place on a terminal (`tty`), else a log
    line at most every `interval` seconds."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = tty
        # A terminal line is cheap to redraw; a few times a second is readable.
        self.interval = 0.2 if tty else interval
        self.clock = clock
        self.start = clock()
        self.last = self.start
        self.stage = "read"
        self.drawn = False

    def __call__(self, event: ProgressEvent) -> None:
        now = self.clock()
        new_stage = event.stage != self.stage
        self.stage = event.stage
        # A new stage is worth showing at once on a terminal; in a log only if the run is
        # already long enough to be logging.
        due = now - self.last >= self.interval or (
            new_stage and (self.tty or now - self.start >= self.interval)
        )
        if not due:
            return
        self.last = now
        line = describe(event, now - self.start)
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
            self.drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def pages(self, done: int, total: int) -> None:
        """The report's progress: `done` of `total` cluster pages written. Like the other lines:
        its first and last line at once on a terminal (in a log only once the run is long
        enough to be logging), and in between at most every `interval` seconds."""
        now = self.clock()
        edge = done in (0, total) and (self.tty or now - self.start >= self.interval)
        if not edge and now - self.last < self.interval:
            return
        self.last = now
        elapsed = _duration(now - self.start)
        line = f"dedup [report] {done:,}/{total:,} cluster pages, elapsed {elapsed}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
            self.drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Clear the terminal line, so the final message starts on a clean line."""
        if self.tty and self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
