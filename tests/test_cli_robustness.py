"""Runs that are killed, and inputs built to hurt: what is left behind must never look finished.

Each run here is a real `python -m dedup run` subprocess. Kill points are reached by polling
the output folder (or by keeping stdin open, so the run waits in pass one), never by sleeping.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import dedup

CONTRACT = ("clusters.jsonl", "kept.jsonl", "removed.jsonl", "errors.jsonl", "summary.json")
MANIFEST = ".dedup-manifest.json"  # marks OUTDIR as dedup's: stays, whatever happens
# What summary.json says about the result (timings and the options of the command vary).
RESULT_KEYS = (
    "version",
    "documents",
    "clusters",
    "skipped",
    "candidates",
    "verified_pairs",
    "input_bytes",
    "config",
)
INTERRUPTED = "interrupted: no output was marked complete\n"
TIMEOUT = 300.0  # generous: the machine running the tests may be busy
PACKAGE_ROOT = str(Path(dedup.__file__).resolve().parent.parent)


# --- helpers ------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    return env


# The CLI with one seam: with DEDUP_TEST_PAUSE_AFTER=NAME the run stops right after the output
# file NAME got its final name (the gate file appears) and waits to be killed. Kill points in
# the writing stage are then exact, not a race; pass one is held by an open stdin instead.
PAUSING_MAIN = """
import os, sys, time
from pathlib import Path

name = os.environ["DEDUP_TEST_PAUSE_AFTER"]
gate = Path(os.environ["DEDUP_TEST_GATE"])
real_replace = os.replace


def replace(src, dst):
    real_replace(src, dst)
    if Path(dst).name == name:
        gate.touch()
        time.sleep(3600)


os.replace = replace
from dedup.cli import main

sys.argv[0] = "dedup"
main()
"""


def _start(
    *args: str, stdin: int | None = None, pause: str = "", gate: Path | None = None
) -> subprocess.Popen[bytes]:
    """`dedup run ARGS` in its own process group (so its workers can be found), stopping at
    the output file named `pause` (see PAUSING_MAIN) when given."""
    env = _env()
    if pause:
        assert gate is not None
        env.update(DEDUP_TEST_PAUSE_AFTER=pause, DEDUP_TEST_GATE=str(gate))
    return subprocess.Popen(
        [sys.executable, "-c", PAUSING_MAIN, "run", *args]
        if pause
        else [sys.executable, "-m", "dedup", "run", *args],
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )


def _run(*args: str) -> None:
    proc = _start(*args)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()


def _wait_until(cond: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    """Poll until `cond()`; fail if the run ends first (the kill point was never reached)."""
    deadline = time.monotonic() + TIMEOUT
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies excluded)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            alive.append(int(entry.name))
    return alive


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """After the parent is gone, its workers must go too; kill any straggler, then fail."""
    deadline = time.monotonic() + 60
    while _alive_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _alive_in_group(proc.pid)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not left, f"processes of a killed run still running: {left}"


def _comparable(out: Path) -> dict[str, object]:
    """The contract files of a finished run; of summary.json what describes the result."""
    files: dict[str, object] = {}
    for name in CONTRACT:
        path = out / name
        if name == "summary.json":
            summary = json.loads(path.read_text(encoding="utf-8"))
            for key in ("jobs", "batch_size"):  # they never change the output
                summary["config"].pop(key, None)
            files[name] = {k: summary.get(k) for k in RESULT_KEYS}
        else:
            files[name] = path.read_bytes()
    return files


def _check_nothing_looks_finished(out: Path, clean: dict[str, object]) -> None:
    """Either the run got as far as summary.json and everything equals a clean run, or there is
    no summary.json and every contract file present is already complete (equal to a clean
    run's): a file never exists under its name half written, and nothing is stale."""
    if (out / "summary.json").exists():
        assert _comparable(out) == clean
        return
    for name in CONTRACT[:-1]:
        if (out / name).exists():
            assert (out / name).read_bytes() == clean[name], name


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def _records(n: int, seed: int = 0) -> Iterator[dict[str, object]]:
    """Random Chinese documents; every third is a trimmed copy of the one before (a cluster)."""
    rng = random.Random(seed)
    alphabet = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    previous = ""
    for i in range(n):
        if i % 3 == 2:
            text = previous[rng.randrange(len(previous) // 10) :] + "。转载自网络"
        else:
            text = "".join(rng.choices(alphabet, k=600))
        previous = text
        yield {"id": f"d{i:06d}", "text": text, "n": i}


def _jsonl_bytes(records: Iterator[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 1,500 documents, 500 clusters: a few seconds with the report (one page per cluster).
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    path.write_bytes(_jsonl_bytes(_records(1500)))
    return path


@pytest.fixture(scope="module")
def clean(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("clean") / "out"
    _run(str(corpus), "-o", str(out), "--jobs", "2", "--no-report")
    result = _comparable(out)
    summary = result["summary.json"]
    assert isinstance(summary, dict) and summary["clusters"] == 500
    return result


@pytest.fixture(scope="module")
def clean_report(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("clean_report") / "out"
    _run(str(corpus), "-o", str(out), "--jobs", "2", "--max-chars", "300")
    root = out / "report"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _finished_seed_run(out: Path, seeds_dir: Path, report: bool) -> None:
    """OUT holding a finished run of other input, as a user's earlier run would."""
    _run(str(seeds_dir), "-o", str(out), "--jobs", "1", *([] if report else ["--no-report"]))
    assert (out / "summary.json").exists()


def _start_on_open_stdin(out: Path, corpus: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A run reading JSONL from a pipe that stays open: it waits in pass one, spool written."""
    proc = _start("-", "-o", str(out), "--jobs", "2", "--batch-size", "50", *extra, stdin=-1)
    assert proc.stdin is not None
    lines = corpus.read_bytes().splitlines(keepends=True)
    proc.stdin.write(b"".join(lines[:400]))
    proc.stdin.flush()

    def spooled() -> bool:  # pass one has written to its temporary folder
        try:
            return any(p.is_file() and p.stat().st_size for p in out.glob(".dedup-*/**/*"))
        except FileNotFoundError:
            return False

    _wait_until(spooled, proc, "pass one started")
    return proc


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    proc.stdin = None  # closed: communicate() must not flush it
    _, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, err.decode()


# --- killed runs --------------------------------------------------------------------------


def test_sigint_in_pass_one_exits_130_and_leaves_nothing(
    tmp_path: Path, corpus: Path, clean: dict[str, object], seeds_dir: Path
) -> None:
    out = tmp_path / "out"
    _finished_seed_run(out, seeds_dir, report=False)
    proc = _start_on_open_stdin(out, corpus)
    proc.send_signal(signal.SIGINT)  # as `kill -INT`: to the main process only
    code, err = _finish(proc)
    assert code == 130
    assert err == INTERRUPTED
    _reap(proc)
    # The earlier run's files are gone (no stale summary.json); the temporary folder was
    # cleaned up on the way out; nothing else was written but the manifest.
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST]

    _run(str(corpus), "-o", str(out), "--jobs", "2", "--no-report")
    assert _comparable(out) == clean


def test_sigkill_in_pass_one_leaves_only_a_hidden_temporary_folder(
    tmp_path: Path, corpus: Path, clean: dict[str, object], seeds_dir: Path
) -> None:
    out = tmp_path / "out"
    _finished_seed_run(out, seeds_dir, report=False)
    proc = _start_on_open_stdin(out, corpus)
    proc.kill()
    code, _ = _finish(proc)
    assert code == -signal.SIGKILL
    _reap(proc)
    # A killed process cannot clean up: its `.dedup-*` folder (spool, shingle store) and its
    # lock file stay, hidden, beside the manifest; no contract file, old or new, is there.
    left = [n for n in _leftovers(out) if n not in (MANIFEST, ".dedup-lock")]
    assert len(left) == 1 and left[0].startswith(".dedup-"), left
    assert not [name for name in CONTRACT if (out / name).exists()]

    # A rerun into the same folder is unaffected by the leftover.
    _run(str(corpus), "-o", str(out), "--jobs", "2", "--no-report")
    assert _comparable(out) == clean
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]
    assert _leftovers(out) == [MANIFEST]


# Where a run is stopped and killed (pass one is in the tests above): kept.jsonl renamed but
# removed.jsonl still partial; every file but summary.json; the report about to be built;
# the report complete, summary.json (always last) not yet written.
KILL_POINTS = {
    "writing": ("kept.jsonl", ["--no-report"]),
    "before summary": ("errors.jsonl", ["--no-report"]),
    "before report": ("errors.jsonl", ["--max-chars", "300"]),
    "after report": ("index.html", ["--max-chars", "300"]),
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_at_any_stage_nothing_looks_finished(
    tmp_path: Path,
    corpus: Path,
    clean: dict[str, object],
    seeds_dir: Path,
    point: str,
    sig: signal.Signals,
) -> None:
    out = tmp_path / "out"
    gate = tmp_path / "paused"
    _finished_seed_run(out, seeds_dir, report=False)
    pause, extra = KILL_POINTS[point]
    args = (str(corpus), "-o", str(out), "--jobs", "2", "--batch-size", "50", *extra)
    proc = _start(*args, pause=pause, gate=gate)
    _wait_until(gate.exists, proc, f"the {point} stage")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=TIMEOUT)
    _reap(proc)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and err.decode() == INTERRUPTED
    else:
        assert proc.returncode == -signal.SIGKILL
    _check_nothing_looks_finished(out, clean)
    assert not (out / "summary.json").exists()  # written last, after the report
    assert (out / pause).exists() or (out / "report" / pause).exists()  # complete files stay
    if sig == signal.SIGINT:  # cleaned up on the way out
        assert _leftovers(out) == [MANIFEST]
    else:
        assert all(name.startswith((".dedup-", ".removed.jsonl.")) for name in _leftovers(out))

    _run(str(corpus), "-o", str(out), "--jobs", "1", "--no-report")
    assert _comparable(out) == clean


def _report_files(out: Path) -> dict[str, bytes]:
    root = out / "report"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("point", ["pass one", "mid-report"])
def test_report_never_looks_finished_after_a_kill(
    tmp_path: Path,
    corpus: Path,
    clean_report: dict[str, bytes],
    seeds_dir: Path,
    point: str,
) -> None:
    out = tmp_path / "out"
    _finished_seed_run(out, seeds_dir, report=True)
    if point == "pass one":
        proc = _start_on_open_stdin(out, corpus, "--max-chars", "300")
    else:
        args = (str(corpus), "-o", str(out), "--jobs", "2", "--max-chars", "300")
        proc = _start(*args)
        pages = out / "report" / "clusters"
        # 500 clusters, two files each: 100 files is well inside the report stage.

        def reporting() -> bool:
            try:
                return len(list(pages.iterdir())) >= 100
            except FileNotFoundError:  # not yet made (or an earlier report being removed)
                return False

        _wait_until(reporting, proc, "the report stage")
    proc.kill()
    if proc.stdin is not None:
        _finish(proc)
    proc.communicate(timeout=TIMEOUT)
    _reap(proc)
    # A report with an index page is this run's complete report, or there is none.
    for index in ("index.html", "index.md"):
        if (out / "report" / index).exists():
            assert _report_files(out) == clean_report


def test_ctrl_c_to_the_process_group_prints_one_line(tmp_path: Path, corpus: Path) -> None:
    out = tmp_path / "out"
    proc = _start_on_open_stdin(out, corpus)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code, err = _finish(proc)
    _reap(proc)
    assert code == 130
    assert err == INTERRUPTED


@contextlib.contextmanager
def _busy(processes: int) -> Iterator[None]:
    """`processes` busy loops beside the run: a loaded machine, as CI's was when a run hung."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def _unread(proc: subprocess.Popen[bytes]) -> int:
    """Bytes written to the run's stdin that it has not read yet."""
    assert proc.stdin is not None
    got = fcntl.ioctl(proc.stdin.fileno(), termios.FIONREAD, b"\0" * 4)
    return int(struct.unpack("i", got)[0])


HANG_GUARD = 120.0  # SIGINT ends a run in a few seconds; this only tells a hang from slowness


@pytest.mark.parametrize("rerun", [1, 2])
@pytest.mark.parametrize("moment", ["pass one started", "stdin drained"])
@pytest.mark.parametrize("load", [0, 2], ids=["idle", "busy"])
def test_sigint_with_stdin_kept_open_always_exits_130(
    tmp_path: Path, corpus: Path, load: int, moment: str, rerun: int
) -> None:
    # The run that once hung in CI: `kill -INT` while it waits on an open stdin pipe. Unlike
    # the tests above, stdin stays open until the run has exited, so an interrupt that is
    # lost cannot be rescued by the end of input.
    out = tmp_path / "out"
    with _busy(load):
        proc = _start_on_open_stdin(out, corpus)
        if moment == "stdin drained":  # then it is reading stdin, or about to
            _wait_until(lambda: _unread(proc) == 0, proc, "stdin read")
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"no exit {HANG_GUARD:.0f} s after SIGINT") from None
        finally:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
    assert proc.stderr is not None
    assert (code, proc.stderr.read().decode()) == (130, INTERRUPTED)
    proc.stderr.close()
    _reap(proc)
    # The temporary folder was cleaned up on the way out; the manifest stays.
    assert [p.name for p in out.iterdir()] == [MANIFEST]


# --- one huge document --------------------------------------------------------------------


def _huge_line(target_bytes: int, seed: int = 0) -> str:
    """One line of about `target_bytes` of UTF-8: Chinese runs with ASCII word runs between."""
    rng = random.Random(seed)
    cjk = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)] + ["，", "。"]
    words = ["data", "dedup", "HTTP/1.1", "2024", "the", "near", "copy", "web", "text", "OK"]
    parts: list[str] = []
    size = 0
    while size < target_bytes:
        if rng.random() < 0.8:
            part = "".join(rng.choices(cjk, k=400))
            size += 3 * len(part)
        else:
            part = " " + " ".join(rng.choices(words, k=60)) + " "
            size += len(part)
        parts.append(part)
    return "".join(parts)


def _near_copy(text: str, seed: int = 1) -> str:
    """The first 95% of `text` with one character in 200 replaced."""
    rng = random.Random(seed)
    chars = list(text[: len(text) * 95 // 100])
    for _ in range(len(chars) // 200):
        chars[rng.randrange(len(chars))] = "变"
    return "".join(chars)


def test_50_mb_single_line_documents(tmp_path: Path) -> None:
    text = _huge_line(50 * 2**20)
    assert len(text.encode("utf-8")) >= 50 * 2**20 and "\n" not in text
    records = [{"id": "big", "text": text, "lang": "zh"}, {"id": "small", "text": "一篇短文。"}]
    (tmp_path / "big.jsonl").write_bytes(_jsonl_bytes(iter(records)))
    (tmp_path / "copy.txt").write_text(_near_copy(text), encoding="utf-8")
    out = tmp_path / "out"
    max_chars = 20_000
    # Past the default record and document limits (README, Limits): lifted here, as a user
    # who means to keep such documents does.
    args = ("--jobs", "1", "--max-chars", str(max_chars))
    args += ("--max-record-bytes", "0", "--max-document-chars", "0")
    with open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dedup", "run", str(tmp_path / "big.jsonl")]
            + [str(tmp_path / "copy.txt"), "-o", str(out), *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=_env(),
        )
        # wait4, for the peak memory of this run alone (its rusage, workers included).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, (tmp_path / "stderr").read_text()

    [cluster] = [json.loads(line) for line in (out / "clusters.jsonl").open(encoding="utf-8")]
    assert cluster["representative"] == "big"
    copy_id = str(tmp_path / "copy.txt")  # two inputs: the file's id is its path as given
    assert [m["id"] for m in cluster["members"]] == ["big", copy_id]
    assert cluster["members"][1]["containment"] > 0.9
    with (out / "kept.jsonl").open(encoding="utf-8") as f:
        kept = {r["id"]: r for r in map(json.loads, f)}
    assert set(kept) == {"big", "small"}
    assert kept["big"]["text"] == text and kept["big"]["lang"] == "zh"
    [removed] = [json.loads(line) for line in (out / "removed.jsonl").open(encoding="utf-8")]
    assert (removed["id"], removed["duplicate_of"]) == (copy_id, "big")

    # The report shows the heads only: a few characters of markup per character shown.
    report = [p for p in (out / "report").rglob("*") if p.is_file()]
    assert any(p.name == "index.html" for p in report)
    assert sum(p.stat().st_size for p in report) < 100 * max_chars
    # Memory stays a small multiple of the input (about 100 MB here), not a copy per stage.
    assert usage.ru_maxrss * 1024 < 2.5 * 2**30
