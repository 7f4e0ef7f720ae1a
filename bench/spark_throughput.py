"""Throughput of `dedup run --engine spark` in local mode next to the local engine's, on the
same generated corpus, and whether both wrote the same OUTDIR.

    python bench/spark_throughput.py --docs 100000 [--master 'local[*]'] [--shards 8]
        [--out bench/data] [--jobs 0] [--conf spark.driver.memory=4g ...] [--uri]

Generates (or reuses) a synthetic corpus of N Chinese articles with planted near-duplicates
(bench/gen_synthetic.py), splits it into `--shards` JSONL files (one read task each), runs the
local engine and then Spark on that folder, and prints documents/s and MB/s of input text for
both (Spark with and without the start of its JVM), Spark's per-stage seconds, and the bytes
per document that Spark holds for the sign/LSH/verify stages (signature + shingle set + text),
from which the executor memory for N documents follows. With `--uri`, Spark runs a second
time into a file:// URI OUTDIR (the Hadoop FileSystem writer) and the seconds of its write
stage are printed next to the local folder's. Nothing is asserted: on one machine
Spark's local mode is expected to be slower than the local engine (it pays for
serialisation and shuffles); the point of it is the cluster, where it scales out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
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


def rest(sc: Any, what: str) -> Any:
    """A document of the driver's REST API (the Spark UI's status store) for this app."""
    url = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/{what}"
    with urllib.request.urlopen(url, timeout=600) as r:  # a loaded driver answers slowly
        return json.load(r)


def shuffle_by_stage(sc: Any) -> dict[str, tuple[int, int]]:
    """Shuffle bytes (read, written) of each dedup stage (the jobs' descriptions, which the
    engine sets to "dedup <stage>"), over every stage attempt, retries included."""
    stages = {}
    for st in rest(sc, "stages"):
        read, write = stages.get(st["stageId"], (0, 0))
        stages[st["stageId"]] = (read + st["shuffleReadBytes"], write + st["shuffleWriteBytes"])
    totals: dict[str, tuple[int, int]] = {}
    for job in rest(sc, "jobs"):
        name = str(job.get("description", "")).removeprefix("dedup ")
        read, write = totals.get(name, (0, 0))
        for sid in set(job["stageIds"]):
            r, w = stages.pop(sid, (0, 0))  # a stage shared by jobs counts once
            read, write = read + r, write + w
        totals[name] = (read, write)
    return totals


def executor_peaks(sc: Any) -> list[tuple[str, int, int]]:
    """(executor, peak JVM heap bytes, peak Python RSS bytes) of each executor (the driver
    in local mode), from the executors' peak memory metrics."""
    found = []
    for ex in rest(sc, "allexecutors"):
        peak = ex.get("peakMemoryMetrics") or {}
        python = peak.get("ProcessTreePythonRSSMemory", 0)
        found.append((ex["id"], int(peak.get("JVMHeapMemory", 0)), int(python)))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "data")
    ap.add_argument("--jobs", type=int, default=0, help="local engine workers (0: all cores)")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--uri", action="store_true", help="also write OUTDIR as a file:// URI")
    args = ap.parse_args(argv)

    corpus = ensure_corpus(args.docs, args.out)
    folder = shard(corpus, args.shards)
    inputs = [str(folder)]
    config = Config(jobs=args.jobs)
    mb = sum(p.stat().st_size for p in folder.glob("*.jsonl")) / MB
    conf = dict(c.split("=", 1) for c in args.conf)
    conf.setdefault("spark.driver.memory", "2g")
    conf.setdefault("spark.ui.enabled", "true")  # the REST API gives the shuffle bytes
    conf.setdefault("spark.executor.processTreeMetrics.enabled", "true")

    with tempfile.TemporaryDirectory(prefix="dedup-spark-bench-") as tmp:
        t = time.perf_counter()
        run(inputs, Path(tmp) / "local", config)
        local_s = time.perf_counter() - t

        t = time.perf_counter()
        spark = spark_session(args.master, conf, quiet=True)
        start_s = time.perf_counter() - t
        sampler = StorageSampler(spark.sparkContext)
        sampler.start()
        t = time.perf_counter()
        doc = run_spark(inputs, Path(tmp) / "spark", config, spark=spark).summary
        spark_s = time.perf_counter() - t
        sampler.stopped.set()
        sampler.join()
        outs = ["spark"]
        if args.uri:
            uri_doc = run_spark(
                inputs, (Path(tmp) / "hadoop").as_uri(), config, spark=spark
            ).summary
            outs.append("hadoop")
        cores = spark.sparkContext.defaultParallelism
        time.sleep(12)  # executors report their peak memory with their heartbeats (10 s)
        try:
            shuffle = shuffle_by_stage(spark.sparkContext)
            peaks = executor_peaks(spark.sparkContext)
        except OSError as e:  # the figures above still count
            print(f"the driver's REST API did not answer: {e}", file=sys.stderr)
            shuffle, peaks = {}, []
        spark.stop()
        same = all(
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
    print(f"identical clusters/kept/removed/errors: {same}")
    if args.uri:
        print(
            f"write stage (s): local folder {doc['timings']['write']:.1f}, "
            f"file:// URI through Hadoop {uri_doc['timings']['write']:.1f}"
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
    print("shuffle bytes per document, read/written, by stage (all runs of the session):")
    runs = 2 if args.uri else 1
    for name, (read, write) in shuffle.items():
        if read or write:
            print(f"  {name or '(other)':<10}{read / n / runs:>10.0f}{write / n / runs:>10.0f}")
    for ex, heap, python in peaks:
        print(
            f"executor {ex}: peak JVM heap {heap / MB:.0f} MB, Python workers {python / MB:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
