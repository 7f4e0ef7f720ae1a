"""Throughput of `dedup run --engine spark` in local mode next to the local engine's, on the
same generated corpus, and whether both wrote the same OUTDIR.

    python bench/spark_throughput.py --docs 100000 [--master 'local[*]'] [--shards 8]
        [--out bench/data] [--jobs 0] [--conf spark.driver.memory=4g ...] [--uri] [--no-local]
        [--index other|same]

Generates (or reuses) a synthetic corpus of N Chinese articles with planted near-duplicates
(bench/gen_synthetic.py), splits it into `--shards` JSONL files (one read task each), runs the
local engine and then Spark on that folder, and prints documents/s and MB/s of input text for
both (Spark with and without the start of its JVM), Spark's per-stage seconds, and the bytes
per document that Spark holds for the sign/LSH/verify stages (signature + shingle set + text),
from which the executor memory for N documents follows, and from Spark's event log, per dedup
stage: the Spark jobs, stages and tasks it ran, the stages' seconds, the shuffle bytes written
and read (and per document), and each executor's peak memory (`--no-local` skips the local
engine and the comparison). With `--uri`, Spark runs a second
time into a file:// URI OUTDIR (the Hadoop FileSystem writer) and the seconds of its write
stage are printed next to the local folder's. With `--index other`, both engines run
against and into a copy of one index made by the local engine from a second corpus of as
many documents (seed 1: nothing matches); with `--index same`, from this corpus (every
document matches). Spark's rows "index" (matching, settling) and "index_stage" (the new
segment's parts) show what the index costs, and the driver's merge and commit of the segment
(after summary.json) is printed. Nothing is asserted: on one machine
Spark's local mode is expected to be slower than the local engine (it pays for
serialisation and shuffles); the point of it is the cluster, where it scales out.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gen_synthetic import ensure_corpus

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dedup.config import Config  # noqa: E402
from dedup.pipeline import run  # noqa: E402
from dedup.sign import sign_texts  # noqa: E402
from dedup.spark import run_spark, spark_session  # noqa: E402

CONTRACT = ("clusters.jsonl", "kept.jsonl", "removed.jsonl", "errors.jsonl")
MB = 1e6


def shard(corpus: Path, shards: int) -> Path:
    """The corpus split into `shards` JSONL files in a folder next to it (cached)."""
    folder = corpus.with_name(corpus.name.removesuffix(".jsonl") + f"-shards{shards}")
    if folder.is_dir() and (folder / ".done").exists():
        return folder
    folder.mkdir(exist_ok=True)
    with open(corpus, "rb") as f:
        lines = f.readlines()
    per = -(-len(lines) // shards)
    for k in range(shards):
        (folder / f"part-{k:04d}.jsonl").write_bytes(b"".join(lines[k * per : (k + 1) * per]))
    (folder / ".done").write_text("")  # hidden: neither engine reads it
    return folder


def bytes_per_doc(corpus: Path, config: Config, sample: int = 2000) -> dict[str, float]:
    """Mean bytes per document of what Spark persists: text (twice: the text and the record
    written out), signature, shingle set."""
    texts = []
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            texts.append(json.loads(line)["text"])
            if len(texts) >= sample:
                break
    signed = sign_texts(texts, config.normalize, config.shingle, config.signature)
    sets = signed.sets()
    text = sum(len(t.encode("utf-8")) for t in texts) / len(texts)
    shingles = sum(s.size * 4 for s in sets) / len(texts)
    return {"text": text, "signature": config.signature.num_perm * 4, "shingles": shingles}


class StorageSampler(threading.Thread):
    """Polls the memory and disk size of every persisted RDD of a SparkContext; keeps the
    peak of the total (what the executors held for the run at one time)."""

    def __init__(self, sc: Any, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.sc = sc
        self.interval = interval
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                infos = self.sc._jsc.sc().getRDDStorageInfo()
                total = sum(int(i.memSize()) + int(i.diskSize()) for i in infos)
            except Exception:  # the context is stopping
                return
            self.peak = max(self.peak, total)


class EventLog:
    """Spark's event log of one application (`spark.eventLog.enabled`, JSON lines): per dedup
    stage (the jobs' descriptions, which the engine sets to "dedup <stage>"), the Spark jobs,
    Spark stages and tasks it ran, their wall seconds, and the shuffle bytes its stage attempts
    wrote and read (retries included); and each executor's peak JVM heap and Python RSS."""

    def __init__(self, folder: Path) -> None:
        self.jobs: dict[str, int] = {}  # dedup stage -> Spark jobs
        self.stages: dict[str, dict[str, float]] = {}
        self.peaks: dict[str, tuple[int, int]] = {}
        owner: dict[int, str] = {}  # Spark stage id -> dedup stage (its first job's)
        # One file, or a folder of rolled files (events_<n>_<app>) in Spark 4's layout.
        files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
        for path in sorted(files, key=lambda p: [int(s) for s in re.findall(r"_(\d+)_", p.name)]):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    self._event(json.loads(line), owner)

    def _event(self, ev: dict[str, Any], owner: dict[int, str]) -> None:
        kind = ev["Event"]
        if kind == "SparkListenerJobStart":
            props = ev.get("Properties") or {}
            name = str(props.get("spark.job.description") or "(other)").removeprefix("dedup ")
            self.jobs[name] = self.jobs.get(name, 0) + 1
            for sid in ev["Stage IDs"]:
                owner.setdefault(sid, name)
        elif kind == "SparkListenerStageCompleted":
            info = ev["Stage Info"]
            name = owner.get(info["Stage ID"], "(other)")
            row = self.stages.setdefault(
                name, {"stages": 0, "tasks": 0, "seconds": 0.0, "written": 0, "read": 0}
            )
            acc = {a["Name"]: a.get("Value", 0) for a in info.get("Accumulables", [])}
            row["stages"] += 1
            row["tasks"] += info["Number of Tasks"]
            row["seconds"] += (info["Completion Time"] - info["Submission Time"]) / 1000
            row["written"] += int(acc.get("internal.metrics.shuffle.write.bytesWritten", 0))
            row["read"] += int(acc.get("internal.metrics.shuffle.read.remoteBytesRead", 0)) + int(
                acc.get("internal.metrics.shuffle.read.localBytesRead", 0)
            )
        elif kind == "SparkListenerStageExecutorMetrics":
            metrics = ev["Executor Metrics"]
            heap, python = self.peaks.get(ev["Executor ID"], (0, 0))
            self.peaks[ev["Executor ID"]] = (
                max(heap, int(metrics.get("JVMHeapMemory", 0))),
                max(python, int(metrics.get("ProcessTreePythonRSSMemory", 0))),
            )


def _own_cpu() -> float:
    """User + system CPU seconds of this process and the children it reaped."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _tree_cpu(root: int) -> float:
    """CPU seconds of process `root` and its descendants alive now, each with the children it
    reaped (Spark's JVM is not reaped by this process until it ends)."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            fields = stat[stat.rindex(b")") + 2 :].split()
            parent[int(name)] = int(fields[1])
            cpu[int(name)] = sum(int(f) for f in fields[11:15]) / ticks
    tree, todo = {root}, [root]
    while todo:
        node = todo.pop()
        for pid, ppid in parent.items():
            if ppid == node and pid not in tree:
                tree.add(pid)
                todo.append(pid)
    return sum(cpu.get(pid, 0.0) for pid in tree)


def _time_commits() -> list[float]:
    """Seconds of each `Index.add_parts` (the Spark driver's merge and commit of the new
    segment, after summary.json) in this process, as they happen."""
    from dedup.persist import Index

    seconds: list[float] = []
    add_parts = Index.add_parts

    def timed(self: Index, *args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return add_parts(self, *args, **kw)
        finally:
            seconds.append(time.perf_counter() - t)

    Index.add_parts = timed  # type: ignore[method-assign]
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "data")
    ap.add_argument("--jobs", type=int, default=0, help="local engine workers (0: all cores)")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--uri", action="store_true", help="also write OUTDIR as a file:// URI")
    ap.add_argument("--no-local", action="store_true", help="run Spark only (nothing compared)")
    ap.add_argument(
        "--index",
        choices=["other", "same"],
        help="against and into an index of another corpus (nothing matches) or of this one",
    )
    args = ap.parse_args(argv)

    corpus = ensure_corpus(args.docs, args.out)
    folder = shard(corpus, args.shards)
    inputs = [str(folder)]
    config = Config(jobs=args.jobs)
    mb = sum(p.stat().st_size for p in folder.glob("*.jsonl")) / MB
    conf = dict(c.split("=", 1) for c in args.conf)
    conf.setdefault("spark.driver.memory", "2g")
    conf.setdefault("spark.ui.enabled", "false")
    conf.setdefault("spark.executor.processTreeMetrics.enabled", "true")

    with tempfile.TemporaryDirectory(prefix="dedup-spark-bench-") as tmp:
        # The shuffle bytes, stages and peak memory come from Spark's event log.
        events = Path(tmp) / "events"
        events.mkdir()
        conf |= {
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": events.as_uri(),
            "spark.eventLog.compress": "false",
            "spark.eventLog.logStageExecutorMetrics": "true",
        }
        local_s = math.nan
        indexes: list[dict[str, Any]] = [{}, {}]  # the local run's, Spark's
        if args.index:
            other = corpus if args.index == "same" else ensure_corpus(args.docs, args.out, seed=1)
            made = Path(tmp) / "index"
            run([str(other)], Path(tmp) / "index-out", config, index=made)
            for k, kw in enumerate(indexes):
                shutil.copytree(made, Path(tmp) / f"index-{k}")
                kw["index"] = Path(tmp) / f"index-{k}"
        local_cpu = math.nan
        if not args.no_local:
            t, cpu = time.perf_counter(), _own_cpu()
            run(inputs, Path(tmp) / "local", config, **indexes[0])
            local_s, local_cpu = time.perf_counter() - t, _own_cpu() - cpu

        commits = _time_commits()
        t, cpu0 = time.perf_counter(), _own_cpu()
        spark = spark_session(args.master, conf, quiet=True)
        start_s = time.perf_counter() - t
        sampler = StorageSampler(spark.sparkContext)
        sampler.start()
        t = time.perf_counter()
        doc = run_spark(inputs, Path(tmp) / "spark", config, spark=spark, **indexes[1]).summary
        spark_s = time.perf_counter() - t
        spark_cpu = _own_cpu() + _tree_cpu(spark.sparkContext._gateway.proc.pid) - cpu0
        commit_s = sum(commits)
        sampler.stopped.set()
        sampler.join()
        outs = ["spark"]
        if args.uri:
            uri_doc = run_spark(
                inputs, (Path(tmp) / "hadoop").as_uri(), config, spark=spark
            ).summary
            outs.append("hadoop")
        cores = spark.sparkContext.defaultParallelism
        spark.stop()  # the event log is complete
        log = EventLog(events)
        same = not args.no_local and all(
            (Path(tmp) / "local" / n).read_bytes() == (Path(tmp) / out / n).read_bytes()
            for n in CONTRACT
            for out in outs
        )

    n = args.docs
    print(f"corpus: {n} documents, {mb:.1f} MB of JSONL in {args.shards} shards ({folder})")
    print(f"{'engine':<28}{'seconds':>10}{'docs/s':>12}{'MB/s':>10}")
    rows = [
        (f"local (jobs={args.jobs or 'all'})", local_s),
        (f"spark {args.master} ({cores} cores)", spark_s),
        ("spark incl. JVM start", spark_s + start_s),
    ]
    for name, s in rows:
        print(f"{name:<28}{s:>10.1f}{n / s:>12.0f}{mb / s:>10.2f}")
    print(
        f"CPU seconds (this process, its reaped children, Spark's JVM and its Python workers): "
        f"local {local_cpu:.1f}, spark incl. JVM start {spark_cpu:.1f}"
    )
    print(f"identical clusters/kept/removed/errors: {same}")
    if args.uri:
        print(
            f"write stage (s): local folder {doc['timings']['write']:.1f}, "
            f"file:// URI through Hadoop {uri_doc['timings']['write']:.1f}"
        )
    if args.index:
        added = doc["indexes"][0]["added"]
        print(
            f"index: {doc['indexes'][0]['removed']} documents matched, {added} added; the "
            f"driver's merge and commit {commit_s:.2f} s ({commit_s / max(added, 1) * 1e6:.0f} "
            "us per added document)"
        )
    stages = {k: v for k, v in doc["timings"].items() if not k.endswith("_cpu")}
    print("spark stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    per = bytes_per_doc(corpus, config)
    total = sum(per.values()) + per["text"]  # the text is held as text and in the record
    print(
        "persisted per document (bytes): "
        + ", ".join(f"{k} {v:.0f}" for k, v in per.items())
        + f"; about {total:.0f} with the record, before Python/pickle overhead"
    )
    print(
        f"peak persisted by Spark (memory + disk, sampled): {sampler.peak / MB:.0f} MB, "
        f"{sampler.peak / n:.0f} bytes per document"
    )
    runs = 2 if args.uri else 1
    print(f"Spark work by dedup stage (from the event log; per run, of {runs}):")
    head = (
        "stage",
        "jobs",
        "stages",
        "tasks",
        "stage s",
        "shuffle W",
        "shuffle R",
        "W/doc",
        "R/doc",
    )
    print(f"  {head[0]:<9}" + "".join(f"{h:>10}" for h in head[1:]))
    for name, row in log.stages.items():
        w, r = row["written"] / runs, row["read"] / runs
        cells = [log.jobs.get(name, 0) / runs, row["stages"] / runs, row["tasks"] / runs]
        print(
            f"  {name:<9}"
            + "".join(f"{c:>10.0f}" for c in cells)
            + f"{row['seconds'] / runs:>10.1f}{w:>10.0f}{r:>10.0f}{w / n:>10.0f}{r / n:>10.0f}"
        )
    for ex, (heap, python) in sorted(log.peaks.items()):
        print(
            f"executor {ex}: peak JVM heap {heap / MB:.0f} MB, Python workers {python / MB:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
