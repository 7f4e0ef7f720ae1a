"""Progress of a run as events for a callback: documents read, then the stage being run.

The library only reports; rendering (a bar on a terminal, log lines elsewhere) is the caller's.
A callback never changes what a run writes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .types import Doc, RawLines, RawPages, Skip

# The stages after reading, in the order a run reports them.
STAGES: tuple[str, ...] = ("read", "lsh", "verify", "cluster", "write", "report", "done")


@dataclass(frozen=True)
class ProgressEvent:
    """Where a run is. `bytes_read` estimates how much of the input is consumed, comparable
    with `total_bytes` (the inputs' file sizes; None when unknown, e.g. stdin)."""

    stage: str
    documents: int
    bytes_read: int
    total_bytes: int | None


ProgressCallback = Callable[[ProgressEvent], None]


def input_size(inputs: Sequence[str]) -> int | None:
    """Summed size of the files `inputs` name (folders walked, hidden names skipped as the
    readers skip them); None when one is stdin or cannot be measured."""
    total = 0
    for given in inputs:
        if given == "-":
            return None
        try:
            if not os.path.isdir(given):
                total += os.path.getsize(given)
                continue
            for dirpath, dirnames, filenames in os.walk(given):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                total += sum(
                    os.path.getsize(os.path.join(dirpath, f))
                    for f in filenames
                    if not f.startswith(".")
                )
        except OSError:
            return None
    return total


class _Meter:
    """Input bytes consumed, estimated per file: a finished file counts its size on disk; the
    file being read counts its documents' UTF-8 text, at most the file's size."""

    def __init__(self) -> None:
        self.finished = 0
        self.source: str | None = None
        self.current = 0
        self.current_cap: int | None = None

    def add(self, source: str, text_bytes: int) -> None:
        if source != self.source:
            self._finish()
            self.source = source
            self.current = 0
            try:
                self.current_cap = os.path.getsize(source)
            except OSError:  # stdin, or a name that is not a file path
                self.current_cap = None
        self.current += text_bytes

    def _finish(self) -> None:
        self.finished += self.current if self.current_cap is None else self.current_cap

    @property
    def bytes_read(self) -> int:
        cap = self.current_cap
        return self.finished + (self.current if cap is None else min(self.current, cap))


Item = TypeVar(
    "Item", Doc, Skip, RawLines, Doc | Skip, Doc | Skip | RawLines, Doc | Skip | RawLines | RawPages
)


class Reporter:
    """Sends a run's events to `callback` (nothing when it is None): "read" events while the
    documents pass through `track`, then one event as each later stage starts."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        total_bytes: int | None,
        *,
        every: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.callback = callback
        self.total_bytes = total_bytes
        self.every = every
        self.clock = clock
        self.documents = 0
        self.bytes_read = 0

    def _emit(self, stage: str) -> None:
        if self.callback is not None:
            self.callback(ProgressEvent(stage, self.documents, self.bytes_read, self.total_bytes))

    def track(self, items: Iterable[Item], then: str = "lsh") -> Iterator[Item]:
        """Pass `items` through, reporting "read" at most every `every` seconds and once with
        the final count when the input ends, then announcing the stage `then`."""
        if self.callback is None:
            yield from items
            return
        meter = _Meter()
        last = self.clock()
        for item in items:
            if isinstance(item, RawLines | RawPages):  # not parsed yet: count the records
                self.documents += item.count
                size = item.size
            else:
                self.documents += 1
                text = item.text if isinstance(item, Doc) else ""
                size = len(text.encode("utf-8", "surrogatepass"))
            meter.add(item.source, size)
            now = self.clock()
            if now - last >= self.every:
                last = now
                self.bytes_read = meter.bytes_read
                self._emit("read")
            yield item
        meter.add("", 0)  # closes the last file: it counts its full size
        self.bytes_read = meter.bytes_read
        self._emit("read")
        self._emit(then)

    def stage(self, name: str) -> None:
        """Announce that stage `name` starts."""
        self._emit(name)
