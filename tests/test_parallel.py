"""ordered_map: map's results in map's order over worker processes, and a pool that always ends.

Whatever stops a run (the end of the input, an exception in a worker, a worker that dies, a
consumer that stops early, Ctrl-C), the workers must be gone afterwards and nothing may wait
forever. Every test runs under a hang guard (SIGALRM) instead of a timing goal.
"""

from __future__ import annotations

import ctypes
import faulthandler
import itertools
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import dedup
from dedup.errors import InputError
from dedup.parallel import Background, WorkerDied, batched, ordered_map

HANG_S = 120  # the hang guard: far beyond what any test here needs, even on a busy machine
PACKAGE_ROOT = str(Path(dedup.__file__).resolve().parent.parent)


def _running() -> Iterator[tuple[int, int, int, bytes]]:
    """(pid, parent's pid, process group, command line) of each process that has not exited."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        state, ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if state != "Z":
            yield int(entry.name), int(ppid), int(pgrp), cmdline


def _live_children() -> list[int]:
    """This process's children, but for the resource tracker that spawn starts once."""
    me = os.getpid()
    return [
        pid for pid, ppid, _, cmd in _running() if ppid == me and b"resource_tracker" not in cmd
    ]


def _group_alive(pgid: int) -> list[int]:
    return [pid for pid, _, pgrp, _ in _running() if pgrp == pgid]


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    """Fail a test that hangs rather than hang the suite; check it left no worker behind."""

    def hung(signum: int, frame: object) -> None:
        raise AssertionError(f"hung: still running after {HANG_S} s")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert mp.active_children() == []
    assert _live_children() == []


# --- functions the workers run (closures too: forked workers inherit them) ------------------------


def _square(x: int) -> tuple[int, int]:
    return x, x * x


def _pid(x: object) -> int:
    return os.getpid()


def _reverse(s: str) -> str:
    return s[::-1]


class _TwoArguments(Exception):
    """Pickle alone cannot rebuild it: __init__ needs two arguments, args holds one."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(a)
        self.b = b


def _fail_at_5(x: int) -> int:
    if x == 5:
        raise ValueError("bad item", x)
    return x


def _input_error(x: int) -> int:
    raise InputError("a.jsonl", "not JSON", line=x)


def _two_arguments_error(x: int) -> int:
    raise _TwoArguments(x, -x)


def _local_error(x: int) -> int:
    class Local(Exception):
        pass

    raise Local(x)


def _error_holding_a_lock(x: int) -> int:
    raise ValueError(threading.Lock())


def _returns_a_lock(x: int) -> object:
    return threading.Lock()


def _die_at_5(how: str) -> object:
    def die(x: int) -> int:
        if x == 5:
            if how == "SIGKILL":
                os.kill(os.getpid(), signal.SIGKILL)
            elif how == "exit":
                os._exit(3)
            else:
                faulthandler.disable()  # a plain crash, without pytest's traceback dump
                ctypes.string_at(0)  # reads address 0: SIGSEGV
        return x

    return die


def _block_from(first: int, ignore_sigterm: bool = False) -> object:
    """Items below `first` return the worker's pid; from `first` on the worker never returns."""

    def work(x: int) -> int:
        if x < first:
            return os.getpid()
        if ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
        return x

    return work


# --- results ------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2, 3, 4])
@pytest.mark.parametrize("ahead", [None, 1, 2, 3, 7])
def test_results_equal_map_in_order(jobs: int, ahead: int | None) -> None:
    items = list(range(-20, 23))
    assert list(ordered_map(_square, iter(items), jobs, ahead)) == list(map(_square, items))


@pytest.mark.parametrize("jobs", [2, 3])
def test_items_and_results_larger_than_a_pipe_buffer(jobs: int) -> None:
    # Several items and results of 300 KB in flight at once: pipes fill up in both directions.
    rng = random.Random(0)
    items = ["".join(rng.choices("去重文本中的近似重复", k=100_000)) for _ in range(12)]
    assert list(ordered_map(_reverse, items, jobs, ahead=2 * jobs)) == [s[::-1] for s in items]


@pytest.mark.parametrize("jobs", [2, 3, 4])
def test_item_i_goes_to_worker_i_mod_jobs(jobs: int) -> None:
    pids = list(ordered_map(_pid, range(5 * jobs), jobs))
    assert len(set(pids)) == jobs
    assert all(pids[i] == pids[i % jobs] for i in range(len(pids)))
    assert os.getpid() not in pids


def test_no_items() -> None:
    assert list(ordered_map(_square, [], 3)) == []


def test_spawn_where_fork_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mp, "get_all_start_methods", lambda: ["spawn"])
    assert list(ordered_map(abs, range(-10, 10), 2)) == [abs(x) for x in range(-10, 10)]
    with pytest.raises(ValueError, match="invalid literal"):
        list(ordered_map(int, ["1", "x"], 2))


@pytest.mark.parametrize(("jobs", "ahead"), [(1, None), (2, 1), (2, 3), (3, 5), (4, None)])
def test_lazy_at_most_ahead_items_in_flight(jobs: int, ahead: int | None) -> None:
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for i in range(30):
            pulled += 1
            yield i

    limit = 1 if jobs == 1 else ahead or 2 * jobs
    for consumed, (x, _) in enumerate(ordered_map(_square, items(), jobs, ahead)):
        assert x == consumed
        # Result `consumed` arrives with at most `limit` items taken and not yet returned,
        # and as many as that while the input lasts: the workers are kept busy.
        assert pulled == min(30, consumed + limit)


def test_an_endless_input_is_fine() -> None:
    results = ordered_map(_square, itertools.count(), 2)
    assert [next(results) for _ in range(10)] == [(i, i * i) for i in range(10)]
    results.close()


def test_batched() -> None:
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []


# --- exceptions ---------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_an_exception_is_raised_with_its_type_after_the_results_before_it(jobs: int) -> None:
    got: list[int] = []
    with pytest.raises(ValueError) as info:
        for x in ordered_map(_fail_at_5, range(20), jobs, ahead=4):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]
    assert info.value.args == ("bad item", 5)
    if jobs > 1:  # where it was raised, in the worker
        assert "_fail_at_5" in str(info.value.__cause__)


def test_a_dedup_error_keeps_its_type_and_fields() -> None:
    # InputError's __init__ does not take its args back: pickle alone cannot rebuild it.
    with pytest.raises(InputError) as info:
        list(ordered_map(_input_error, [7, 8], 2))
    assert (info.value.source, info.value.line, info.value.reason) == ("a.jsonl", 7, "not JSON")
    assert str(info.value) == "a.jsonl, line 7: not JSON"
    with pytest.raises(_TwoArguments) as other:
        list(ordered_map(_two_arguments_error, [3, 4], 2))
    assert (other.value.args, other.value.b) == ((3,), -3)


@pytest.mark.parametrize(
    ("fn", "shown"),
    [(_local_error, "Local(3)"), (_error_holding_a_lock, "ValueError(<unlocked")],
)
def test_an_exception_that_cannot_travel_becomes_a_runtime_error(fn: object, shown: str) -> None:
    with pytest.raises(RuntimeError) as info:
        list(ordered_map(fn, [3, 4], 2))  # type: ignore[arg-type]
    message = str(info.value)
    assert shown in message
    assert f"in {fn.__name__}" in message  # type: ignore[attr-defined]  # the traceback


def test_a_result_that_cannot_be_pickled_raises() -> None:
    with pytest.raises(TypeError, match="pickle"):
        list(ordered_map(_returns_a_lock, [1, 2, 3], 2))


def test_an_item_that_cannot_be_pickled_raises() -> None:
    with pytest.raises(TypeError, match="pickle"):
        list(ordered_map(_square, [1, threading.Lock()], 2))  # type: ignore[list-item]


# --- workers that die ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("SIGKILL", "was killed by SIGKILL"),
        ("exit", "exited with code 3"),
        ("crash", "was killed by SIGSEGV"),
    ],
)
def test_a_worker_that_dies_raises(how: str, said: str) -> None:
    got: list[int] = []
    with pytest.raises(WorkerDied, match=said):
        for x in ordered_map(_die_at_5(how), range(40), 2, ahead=4):  # type: ignore[arg-type]
            got.append(x)
    assert got == list(range(len(got))) and len(got) <= 5


def test_a_worker_killed_from_outside_raises() -> None:
    results = ordered_map(_pid, range(1000), 2, ahead=4)
    victim = next(results)
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(WorkerDied, match="SIGKILL"):
        for _ in results:
            pass


# --- stopping -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "drop"])
@pytest.mark.parametrize("workers", ["idle", "busy", "ignoring SIGTERM"])
def test_a_consumer_stopping_early_leaves_no_worker(how: str, workers: str) -> None:
    jobs = 3
    first = 10**9 if workers == "idle" else jobs
    fn = _block_from(first, ignore_sigterm=workers == "ignoring SIGTERM")
    results = ordered_map(fn, itertools.count(), jobs)  # type: ignore[arg-type]
    pids = [next(results) for _ in range(jobs)]
    assert len(set(pids)) == jobs and set(pids) <= set(_live_children())
    if how == "close":
        results.close()
    else:
        del results  # garbage: closed by the interpreter
    assert _live_children() == []


def test_keyboard_interrupt_from_the_input_while_items_are_in_flight() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise KeyboardInterrupt

    got: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        for pid in ordered_map(_block_from(2), items(), 2):  # type: ignore[arg-type]
            got.append(pid)
    assert len(got) == 2  # items 0 and 1; 2, 3 and 4 were in the busy workers


def test_sigint_while_waiting_for_a_result() -> None:
    # Item 2 never returns, so the main thread waits on the result pipe; SIGINT lands there.
    results = ordered_map(_block_from(2), range(10), 2)  # type: ignore[arg-type]
    assert len({next(results), next(results)}) == 2
    main = threading.main_thread().ident
    assert main is not None

    def interrupt_the_wait() -> None:
        while sys._current_frames()[main].f_code.co_name != "select":  # selectors' select
            time.sleep(0.01)
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=interrupt_the_wait, daemon=True)
    with pytest.raises(KeyboardInterrupt):
        thread.start()
        next(results)
    thread.join()
    assert results.gi_frame is None  # it went through the generator, which ended its workers
    assert _live_children() == []


def _sends_itself_sigint(x: int) -> int:
    os.kill(os.getpid(), signal.SIGINT)
    return x


def test_workers_ignore_sigint() -> None:
    # Ctrl-C reaches every process of the group: only the main process may act on it.
    assert list(ordered_map(_sends_itself_sigint, range(8), 2)) == list(range(8))


# What test_sigint_at_any_moment runs: pools over and over, until SIGINT.
CONSUMER = """
import signal, sys
from dedup.parallel import ordered_map

def work(x):
    return x, sum(range(20000)), "字" * 30000  # results larger than a pipe buffer

def items(n):
    for i in range(n):
        yield i, "文" * 30000

signal.signal(signal.SIGINT, signal.default_int_handler)
print("ready", flush=True)
try:
    n = 0
    while True:
        n = n % 37 + 1
        got = [r[0][0] for r in ordered_map(work, items(n), 2, ahead=n % 5 or None)]
        assert got == list(range(n)), got
except KeyboardInterrupt:
    sys.exit(130)
"""


def _script(source: str) -> subprocess.Popen[bytes]:
    """`python -c source` with this dedup, in a session of its own (so its workers can be
    found by process group)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", source],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )


def _outputs(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    """stdout and stderr once the script has exited; killed (with its group) if it hangs."""
    try:
        out, err = proc.communicate(timeout=HANG_S / 2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return out.decode(), err.decode()


def test_sigint_at_any_moment_ends_the_run() -> None:
    """Starting, feeding, reading, stopping: SIGINT in any of them ends the run, no worker
    left. Over multiprocessing.Pool this script hung in about one run in four: terminate()
    waited for a queue lock that a worker it had just terminated was holding."""
    rng = random.Random(4)
    for _ in range(12):
        proc = _script(CONSUMER)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.5))  # a random moment, not a timing goal
        proc.send_signal(signal.SIGINT)
        _, err = _outputs(proc)
        assert (proc.returncode, err) == (130, "")
        assert _group_alive(proc.pid) == []


# A script that exits while its pool runs: worker 0 idle, worker 1 busy with a long item.
ABANDONED = """
import sys, time
from dedup.parallel import ordered_map

results = ordered_map(time.sleep, iter([0, 3600, 0, 0]), 2)  # never closed
print(next(results), flush=True)
sys.exit(130)
"""


def test_exiting_with_the_pool_running_leaves_no_worker() -> None:
    # Nothing closes the generator before the interpreter's exit handlers run.
    proc = _script(ABANDONED)
    out, err = _outputs(proc)
    assert (proc.returncode, out, err) == (130, "None\n", "")
    assert _group_alive(proc.pid) == []


# --- pipes --------------------------------------------------------------------------------


def _pipe_ends(pid: int) -> set[tuple[int, str]]:
    """(inode, "r" or "w") of the pipes process `pid` holds, except on fds 0, 1 and 2."""
    ends = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        if int(fd.name) <= 2:
            continue
        try:
            target = os.readlink(fd)
            flags = (Path(f"/proc/{pid}/fdinfo") / fd.name).read_text()
        except OSError:
            continue
        if target.startswith("pipe:["):
            mode = int(flags.split("flags:")[1].split()[0], 8) & os.O_ACCMODE
            ends.add((int(target[6:-1]), "w" if mode == os.O_WRONLY else "r"))
    return ends


def _my_pipe_ends(x: int) -> set[tuple[int, str]]:
    return _pipe_ends(os.getpid())


def test_each_pipe_of_the_pool_has_one_process_at_each_end() -> None:
    # A second holder of a write end keeps the reader waiting after the writer is gone: a
    # worker whose sibling held its task pipe would outlive the main process, and a main
    # process holding a result pipe's write end would not see its worker die.
    results = ordered_map(_my_pipe_ends, range(3), 3)
    held = [next(results), next(results), next(results)]  # worker i answers item i
    main = _pipe_ends(os.getpid())
    # The pool's own pipes, told apart from multiprocessing's (each Process has two).
    workers = results.gi_frame.f_locals["workers"]  # type: ignore[union-attr]
    pipes = [
        (os.fstat(w.tasks.fileno()).st_ino, os.fstat(w.results.fileno()).st_ino) for w in workers
    ]
    results.close()
    for k, (tasks, out) in enumerate(pipes):
        assert {(tasks, "w"), (out, "r")} <= main
        assert not {(tasks, "r"), (out, "w")} & main
        for j, ends in enumerate(held):
            mine = {(tasks, "r"), (out, "w")} if j == k else set()
            assert {e for e in ends if e[0] in (tasks, out)} == mine, (k, j)


# --- Background ----------------------------------------------------------------------------


def test_background_computes_in_another_process_meanwhile() -> None:
    with Background(lambda x: (x * 2, os.getpid()), 21, jobs=2) as job:
        assert len(_live_children()) == 1  # started at once
        value, pid = job.result()
        assert job.result() == (value, pid)  # asked again: the same, not computed again
    assert value == 42 and pid != os.getpid()
    assert _live_children() == []
    with Background(lambda x: (x, os.getpid()), 1, jobs=1) as job:
        assert _live_children() == [] and job.result() == (1, os.getpid())


def test_background_raises_what_it_raised_and_ends_when_closed() -> None:
    def fail(path: str) -> None:
        raise InputError(path, "bad line", 3)

    with (
        pytest.raises(InputError, match="bad line") as caught,
        Background(fail, "f", jobs=2) as job,
    ):
        job.result()
    assert caught.value.line == 3
    assert _live_children() == []
    with Background(_block_from(0), 0, jobs=2):  # never returns: ended on leaving
        assert len(_live_children()) == 1
    assert _live_children() == []
