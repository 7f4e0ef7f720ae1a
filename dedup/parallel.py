"""Ordered parallel map with a bounded number of items in flight, over a pool that cannot hang.

`multiprocessing.Pool.imap` drains its input eagerly, which would read a whole corpus into
memory; `ordered_map` keeps at most `ahead` items in flight and yields results in input order,
so the output never depends on the number of workers.

It does not use `multiprocessing.Pool` either: the pool's queues share locks between the main
process and the workers, and its shutdown joins threads and workers with no timeout, so a
Ctrl-C at the wrong moment could leave a run waiting forever. Here each worker has its own two
pipes, nothing is shared, the main process runs no threads, and shutdown always ends: ask,
wait a moment, SIGTERM, SIGKILL.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from .errors import DedupError

T = TypeVar("T")
R = TypeVar("R")

# How long stopping workers may take at each step: asked to stop, then SIGTERM, then SIGKILL.
_GRACE_S = 1.0
_STOP = b""  # an empty message: items and results are pickles, never empty


class WorkerDied(DedupError):
    """A worker process ended without sending its result (killed, crashed, out of memory)."""


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


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], jobs: int, ahead: int | None = None
) -> Generator[R, None, None]:
    """`map(fn, items)` over `jobs` processes, in order, at most `ahead` items in flight.

    Item i goes to worker i % jobs, so reading the workers in turn gives the results in input
    order. An exception raised by `fn` is raised here, with its type; a worker that dies raises
    WorkerDied. However the generator ends (exhausted, an error, KeyboardInterrupt, closed by
    its consumer), its workers are gone within a few seconds.

    >>> list(ordered_map(abs, [-3, 1, -2], jobs=2))
    [3, 1, 2]
    """
    if jobs <= 1:
        yield from map(fn, items)
        return
    ahead = max(1, ahead or 2 * jobs)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    workers: list[_Worker] = []
    try:
        with _sigint_deferred():
            for _ in range(jobs):
                workers.append(_Worker(ctx, fn, workers))
        sent = received = 0
        for item in items:
            workers[sent % jobs].send(item)
            sent += 1
            if sent - received >= ahead:
                yield workers[received % jobs].receive()
                received += 1
        while received < sent:
            yield workers[received % jobs].receive()
            received += 1
    finally:
        with _sigint_deferred():  # a second Ctrl-C waits the few seconds this takes
            _stop(workers)


class Background(Generic[R]):
    """`fn(item)` computed in a forked process while this one goes on (`jobs` > 1 and a
    platform that forks; otherwise here, when `result` is first asked for). `fn` reads this
    process's memory as it was when the `Background` was made, so it need not be picklable;
    its result must be. `result()` waits for it and returns it, or raises what `fn` raised;
    `close()` (or leaving a `with` block) ends the process however far it got.

    >>> with Background(abs, -3, jobs=2) as job:
    ...     job.result()
    3
    """

    def __init__(self, fn: Callable[[T], R], item: T, jobs: int) -> None:
        self._fn: Callable[[Any], R] = fn
        self._item: Any = item
        self._worker: _Worker | None = None
        self._done: tuple[R] | None = None
        if jobs > 1 and "fork" in mp.get_all_start_methods():
            ctx = mp.get_context("fork")
            with _sigint_deferred():
                self._worker = _Worker(ctx, fn, [])
            self._worker.send(item)
            self._item = None

    def result(self) -> R:
        if self._done is None:
            if self._worker is None:
                self._done = (self._fn(self._item),)
            else:
                try:
                    self._done = (self._worker.receive(),)
                finally:
                    self.close()
        return self._done[0]

    def close(self) -> None:
        if self._worker is not None:
            with _sigint_deferred():
                _stop([self._worker])
            self._worker = None

    def __enter__(self) -> Background[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Worker:
    """One process with two pipes of its own: items in, results out."""

    def __init__(self, ctx: Any, fn: Callable[[Any], Any], earlier: list[_Worker]) -> None:
        tasks_end, self.tasks = ctx.Pipe(duplex=False)
        self.results, results_end = ctx.Pipe(duplex=False)
        # A forked worker inherits this process's ends of its own pipes and of the pipes of the
        # workers before it. It closes them: a write end held by a sibling would keep a worker
        # waiting for input after the main process is gone.
        inherited: list[Connection] = []
        if ctx.get_start_method() == "fork":
            inherited = [c for w in [*earlier, self] for c in (w.tasks, w.results)]
        try:
            self.process = ctx.Process(
                target=_serve,
                args=(fn, tasks_end, results_end, inherited),
                daemon=True,  # at interpreter exit: terminated, not waited for
            )
            self.process.start()
        except BaseException:
            self.close()
            raise
        finally:
            # Only the worker holds these: its death then breaks the pipes on this side.
            tasks_end.close()
            results_end.close()

    def send(self, item: Any) -> None:
        data = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
        try:
            self.tasks.send_bytes(data)
        except OSError:
            raise self._died() from None

    def receive(self) -> Any:
        ready = wait([self.results, self.process.sentinel])
        if self.results not in ready and not self.results.poll():
            raise self._died()
        try:
            data = self.results.recv_bytes()
        except (EOFError, OSError):
            raise self._died() from None
        reply = pickle.loads(data)
        if reply[0]:
            return reply[1]
        _, blob, text, tb = reply
        raise _rebuild(blob, text, tb) from _RemoteTraceback(tb)

    def close(self) -> None:
        """Ask the worker to stop, without blocking on a full pipe, and close both pipes."""
        if not self.tasks.closed:
            with contextlib.suppress(OSError):  # full, or the worker is gone: it gets EOF
                os.set_blocking(self.tasks.fileno(), False)
                self.tasks.send_bytes(_STOP)
            self.tasks.close()
        self.results.close()

    def _died(self) -> WorkerDied:
        self.process.join(_GRACE_S)  # the exit code, once it is reaped
        code = self.process.exitcode
        if code is None:
            how = "closed its pipes"
        elif code >= 0:
            how = f"exited with code {code}"
        else:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:  # a signal without a name
                how = f"was killed by signal {-code}"
        return WorkerDied(f"worker process {self.process.pid} {how} before sending its result")


def _stop(workers: list[_Worker]) -> None:
    """End every worker in bounded time: ask, then SIGTERM, then SIGKILL, waiting a moment
    after each; a worker that outlives even SIGKILL (stuck in the kernel) is left behind."""
    for w in workers:
        w.close()
    for step in ("ask", "terminate", "kill"):
        alive = [w.process for w in workers if w.process.is_alive()]
        if step != "ask":
            for p in alive:
                getattr(p, step)()
        deadline = time.monotonic() + _GRACE_S
        for p in alive:
            p.join(max(0.0, deadline - time.monotonic()))
    for w in workers:
        if not w.process.is_alive():
            w.process.close()


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold SIGINT back (it is delivered on leaving) while workers start or stop.

    Starting: a forked worker inherits the blocked signal and ignores it before unblocking, so
    a Ctrl-C to the process group never makes a worker print a traceback. Both: an interrupt
    cannot leave a started worker unrecorded, or a stop half done.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# --- in the worker ----------------------------------------------------------------------


def _serve(
    fn: Callable[[Any], Any], tasks: Connection, results: Connection, inherited: list[Connection]
) -> None:
    """The worker: call `fn` on each item received, send back each result or exception."""
    # Ctrl-C reaches the whole process group. The main process alone handles it (and ends the
    # workers); workers that raised KeyboardInterrupt too would each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    for conn in inherited:
        conn.close()
    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    threading.Thread(target=_read_tasks, args=(tasks, inbox), daemon=True).start()
    while (data := inbox.get()) is not None:
        try:
            reply = pickle.dumps((True, fn(pickle.loads(data))), pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            reply = _failure(e)
        try:
            results.send_bytes(reply)
        except OSError:  # the main process stopped listening
            return


def _read_tasks(tasks: Connection, inbox: queue.SimpleQueue[bytes | None]) -> None:
    """Take items off the pipe as they come: were this worker blocked sending a result while
    the main process is blocked sending it an item, both pipes full, both would wait forever."""
    try:
        while (data := tasks.recv_bytes()) != _STOP:
            inbox.put(data)
    except (EOFError, OSError):  # the main process closed the pipe or is gone
        pass
    inbox.put(None)


def _failure(e: Exception) -> bytes:
    """The exception as a reply: pickled if it can be rebuilt, with its traceback text."""
    tb = "".join(traceback.format_exception(e))
    blob = None
    # Pickle rebuilds an exception by calling its class with `args`, which fails for one
    # whose __init__ takes other arguments (InputError); its type, args and attributes can
    # still travel, and _exception() rebuilds it from them without calling __init__.
    for form in (e, (type(e), e.args, vars(e))):
        with contextlib.suppress(Exception):
            data = pickle.dumps(form, pickle.HIGHEST_PROTOCOL)
            _exception(data)
            blob = data
            break
    try:
        text = repr(e)
    except Exception:
        text = f"<{type(e).__qualname__}>"
    return pickle.dumps((False, blob, text, tb), pickle.HIGHEST_PROTOCOL)


def _exception(blob: bytes) -> BaseException:
    form = pickle.loads(blob)
    if isinstance(form, tuple):
        cls, args, state = form
        form = cls.__new__(cls, *args)
        form.args = args
        form.__dict__.update(state)
    if not isinstance(form, BaseException):
        raise TypeError(f"not an exception: {form!r}")
    return form


# --- back in the main process -------------------------------------------------------------


class _RemoteTraceback(Exception):
    """Shown as the cause of an exception raised in a worker: where it was raised there."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'


def _rebuild(blob: bytes | None, text: str, tb: str) -> BaseException:
    if blob is not None:
        with contextlib.suppress(Exception):
            return _exception(blob)
    return RuntimeError(f"a worker raised {text}, which could not be sent back:\n{tb}")
