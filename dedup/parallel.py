"""Ordered parallel map with a bounded number of batches in flight.

`multiprocessing.Pool.imap` drains its input eagerly, which would read a whole corpus into
memory; this keeps at most `ahead` batches queued and yields results in input order, so the
output never depends on the number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of `size` consecutive items (the last may be shorter); itertools.batched is 3.12+."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_jobs(jobs: int) -> int:
    """0 means all available cores."""
    return available_cores() if jobs <= 0 else jobs


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group. The main process alone handles it (and ends
    # the pool); workers that raised KeyboardInterrupt too would each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], jobs: int, ahead: int | None = None
) -> Iterator[R]:
    """`map(fn, items)` over `jobs` processes, in order, at most `ahead` items in flight."""
    if jobs <= 1:
        yield from map(fn, items)
        return
    ahead = ahead or 2 * jobs
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    pending: deque[Any] = deque()
    with ctx.Pool(jobs, initializer=_ignore_sigint) as pool:
        for item in items:
            pending.append(pool.apply_async(fn, (item,)))
            if len(pending) >= ahead:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
