"""The Spark engine on a cluster: executors in their own JVMs and Python workers (Spark's
local-cluster master: two workers of one core each, on loopback), against the local engine,
with an executor killed in the middle of a run, and the part-file layout the executors
write."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from spark_helpers import SPARK_TEST_CONF, both_engines, synthetic_corpus

from dedup.cli import cli
from dedup.config import Config, OutputConfig, ReadConfig
from dedup.io.outdir import MANIFEST, record_files
from dedup.pipeline import run
from dedup.spark import run_spark, spark_session

CONTRACT = ("clusters.jsonl", "kept.jsonl", "removed.jsonl", "errors.jsonl")
SKIP = Config(read=ReadConfig(on_error="skip"), jobs=1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One local-cluster session for every test here (starting one costs seconds)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        session = spark_session(
            "local-cluster[2,1,1024]",
            {**SPARK_TEST_CONF, "spark.executor.memory": "768m"},
            quiet=True,
        )
        try:
            _wait_for_executors(2)
            yield session
        finally:
            session.stop()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A generated 20k-document corpus and the local engine's OUTDIR for it."""
    folder = tmp_path_factory.mktemp("cluster")
    synthetic_corpus(folder / "corpus", 20_000)
    run([str(folder / "corpus")], folder / "local", SKIP)
    return folder / "corpus", folder / "local"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def executor_pids() -> list[int]:
    """The executor JVMs this test process started (through the driver JVM)."""
    pids = []
    for pid in _descendants(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"CoarseGrainedExecutorBackend" in cmdline:
            pids.append(pid)
    return sorted(pids)


def _wait_for_executors(n: int, timeout: float = 120.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(pids := executor_pids()) < n:
        assert time.monotonic() < deadline, f"{len(pids)} executors started, not {n}"
        time.sleep(0.2)
    return pids


def test_executors_run_in_their_own_jvms(
    cluster: Any, seeds_dir: Path, tmp_path: Path, parts: dict[tuple[str, bool], Path]
) -> None:
    """The seeds on the cluster, into an OUTDIR that holds an earlier run's part folders
    (the annotated Parquet one's, of `parts`), against and into an index given as a file://
    URI: the executors map its segments and write the new one's parts."""
    pids = executor_pids()
    assert len(pids) == 2 and os.getpid() not in pids
    shutil.copytree(parts["parquet", True] / "parts", tmp_path / "spark")
    assert (tmp_path / "spark" / "annotated").is_dir()
    index = tmp_path / "idx"
    run([str(seeds_dir / "001_096293c0fedcb6b3.txt")], tmp_path / "o", Config(), index=index)
    summary = both_engines(
        [str(seeds_dir)], tmp_path, Config(jobs=1), cluster, index=index.as_uri()
    )
    # The indexed seed and its copy are removed, as duplicates of the indexed one.
    entry = summary["indexes"][0]
    assert (entry["removed"], entry["added"], entry["segment"]) == (2, 3, "seg-000002")
    # A run in the single layout removes the part folders the manifest lists.
    assert not (tmp_path / "spark" / "annotated").exists()
    # The tasks ran in the executors' Python workers, not in this process or its JVM.
    workers = set(
        cluster.sparkContext.parallelize(range(4), 4).map(lambda _: os.getppid()).collect()
    )
    assert workers and os.getpid() not in workers


def test_a_killed_executor_is_replaced_and_the_output_is_the_same(
    cluster: Any, corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    """The generated 20k-document corpus on the cluster, one executor killed part way: the
    output is byte for byte the local engine's (one run covers both, to keep the suite
    short)."""
    folder, local = corpus
    out = tmp_path / "spark"
    tracker = cluster.sparkContext.statusTracker()
    before = len(tracker.getJobIdsForGroup())
    done: dict[str, Any] = {}

    def job() -> None:
        try:
            done["result"] = run_spark([str(folder)], out, SKIP, spark=cluster, partition_docs=4000)
        except BaseException as e:  # re-raised below, in the test's thread
            done["error"] = e

    thread = threading.Thread(target=job)
    thread.start()
    # Once the documents are read, signed and persisted on the executors and the documents
    # in candidate pairs are being picked from them (the third job), kill one: its blocks
    # and shuffle files are lost, and Spark must recompute them.
    deadline = time.monotonic() + 300
    while len(tracker.getJobIdsForGroup()) < before + 3 and thread.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert thread.is_alive(), "the run ended before an executor could be killed"
    victim = executor_pids()[0]
    os.kill(victim, signal.SIGKILL)
    thread.join()
    if "error" in done:
        raise done["error"]
    assert victim not in executor_pids()
    for name in CONTRACT:
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["documents"]["read"] == 20_002 and summary["clusters"] > 100
    # The worker starts a new executor in its place, for the tests that follow.
    assert len(_wait_for_executors(2)) == 2


# -- --output-layout parts -----------------------------------------------------------------

# The two part-layout runs on the cluster: JSONL kept/removed into a folder, and Parquet with
# --annotate into a file:// URI (moved into place through the Hadoop FileSystem API).
PART_RUNS = [("jsonl", False), ("parquet", True)]


@pytest.fixture(scope="module")
def parts(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], Path]:
    """A small generated corpus through the local engine and, in the parts layout, through the
    cluster, for each of PART_RUNS: (format, annotate) -> a folder holding `local` and
    `parts` (OUTDIRs)."""
    folder = tmp_path_factory.mktemp("parts")
    synthetic_corpus(folder / "in", 600, seed=5)
    found = {}
    for fmt, annotate in PART_RUNS:
        base = folder / f"{fmt}-{annotate}"
        config = replace(SKIP, output=OutputConfig(format=fmt, annotate=annotate))
        run([str(folder / "in")], base / "local", config)
        out = base / "parts"
        target = out.as_uri() if annotate else str(out)
        run_spark(
            [str(folder / "in")], target, config, spark=cluster, partition_docs=150, layout="parts"
        )
        found[fmt, annotate] = base
    return found


@pytest.mark.parametrize(("fmt", "annotate"), PART_RUNS)
def test_parts_concatenated_are_the_single_files(
    parts: dict[tuple[str, bool], Path], fmt: str, annotate: bool
) -> None:
    out, local = parts[fmt, annotate] / "parts", parts[fmt, annotate] / "local"
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    files = record_files(fmt, annotate)
    assert set(summary["parts"]) == {f.split(".")[0] for f in files}
    for name in files:
        kind = name.split(".")[0]
        listed = summary["parts"][kind]
        assert len(listed) > 1 and not (out / name).exists()
        found = (p.name for p in (out / kind).iterdir() if not p.name.endswith(".crc"))
        assert listed == sorted(f"{kind}/{name}" for name in found)
        if fmt == "jsonl":
            joined = b"".join((out / p).read_bytes() for p in listed)
            assert joined == (local / name).read_bytes(), name
        else:
            ours = pa.concat_tables([pq.read_table(out / p) for p in listed])
            theirs = pq.read_table(local / name)
            assert ours.schema == theirs.schema and ours.equals(theirs), name
    for name in ("clusters.jsonl", "errors.jsonl"):
        assert (out / name).read_bytes() == (local / name).read_bytes()
    manifest = json.loads((out / MANIFEST).read_text("utf-8"))["files"]
    assert [p for ps in summary["parts"].values() for p in ps] == [f for f in manifest if "/" in f]
    assert not [p for p in out.iterdir() if p.name.startswith(".dedup-p")]


def test_parts_need_the_spark_engine(seeds_dir: Path, tmp_path: Path) -> None:
    args = ["run", str(seeds_dir), "-o", str(tmp_path / "o"), "--output-layout", "parts"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--engine spark" in result.output
    assert not (tmp_path / "o").exists()
