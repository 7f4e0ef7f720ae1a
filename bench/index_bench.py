"""Benchmark of the persistent index (`dedup run --index`, `--against`) against its targets.

    python bench/index_bench.py [--indexed 100000] [--new 100000] [--jobs 2] [--repeat 2]
                                [--engine spark [--spark-master 'local[2]']]

Generates (or reuses) two synthetic corpora (`gen_synthetic.py`, seeds 0 and 1) and prints:

1. the index of the first corpus: bytes on disk, per document, and extrapolated to 1M
   documents (every file of a segment grows linearly with its documents);
2. the second corpus run plain, `--against` the index (read-only) and `--index` (matched, then
   added as a segment): wall and CPU seconds, documents/s, and the throughput of each as a
   share of the plain run's (best of `--repeat` runs, alternated);
3. the peak RSS of the whole process tree of each run (file pages of the memory-mapped index
   that are resident count in it too);
4. the cost of adding a segment: `Index.add` of k documents to indexes of two sizes;
5. `dedup index compact` of the two-segment index: wall and CPU seconds and the peak RSS
   of the process, all of it and its anonymous part (what is not file pages of the
   memory-mapped segments), beside the index's size (merging streams: it never holds it).

With `--engine spark` every run is a Spark run (`--spark-master`, default local[2]), and 4.
also times what the Spark driver does to add a segment: `Index.add_parts`, merging the parts
the executors wrote (here: the k documents in two parts) into one segment, beside `Index.add`.

Targets (issue 19): an index of 1M documents <= 1.5 GB; throughput against it >= 80% of a
plain run; memory < 2 GiB whatever the index size; adding a segment costs time proportional
to the segment. On a loaded machine compare the CPU seconds, not only wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_synthetic import ensure_corpus  # noqa: E402
from throughput import GIB, REPO, RunResult, run_dedup  # noqa: E402

TARGET_1M_BYTES = 1.5e9
TARGET_SHARE = 0.8
TARGET_RSS = 2 * GIB


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _line(name: str, r: RunResult, plain: RunResult | None = None) -> None:
    rate = r.documents / r.wall
    share = ""
    if plain is not None:
        share = f"  = {plain.wall / r.wall:.0%} of plain (wall), {plain.cpu / r.cpu:.0%} (CPU)"
    print(
        f"  {name:<22} {r.wall:7.1f} s wall {r.cpu:7.1f} s CPU  {rate:8.0f} docs/s  "
        f"peak RSS {r.memory.peak_rss / GIB:.2f} GiB{share}"
    )


def _by_file(folder: Path) -> Counter[str]:
    """Bytes on disk by file name (docs.arrow, bands.arrow, ...) over every segment."""
    out: Counter[str] = Counter()
    for p in folder.rglob("*.arrow"):
        out[p.name] += p.stat().st_size
    return out


def _status(pid: int) -> dict[str, int]:
    """VmRSS and RssAnon of a process, in bytes (empty once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rows = [line.split() for line in f if line.startswith(("VmRSS:", "RssAnon:"))]
    except OSError:
        return {}
    return {r[0].rstrip(":"): int(r[1]) * 1024 for r in rows}


def _compact(idx: Path) -> tuple[float, float, int, int]:
    """`dedup index compact IDX` in a subprocess: (wall s, CPU s, peak RSS, peak RssAnon)."""
    cmd = [sys.executable, "-m", "dedup", "index", "compact", str(idx)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_rss = peak_anon = 0
    while True:
        now = _status(proc.pid)
        peak_rss = max(peak_rss, now.get("VmRSS", 0))
        peak_anon = max(peak_anon, now.get("RssAnon", 0))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"dedup index compact failed ({proc.returncode})")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, peak_rss, peak_anon


def _best(runs: list[RunResult]) -> RunResult:
    return min(runs, key=lambda r: r.wall)


def _add_cost(
    indexes: list[Path], work: Path, sizes: list[int], parts: int = 0
) -> list[tuple[int, int, float]]:
    """(index documents, segment documents, seconds) of Index.add into a copy of each of
    `indexes` (of different sizes), of segments of `sizes` documents (taken from the last
    segment of the first index); with `parts`, of Index.add_parts of them written as so many
    parts (not timed: the executors write them)."""
    from dedup.persist import Index
    from dedup.repeats import RepeatStats
    from dedup.segment import write_segment

    out = []
    last = Index(indexes[0], None).segments[-1]
    copy = work / "add-copy"
    for source in indexes:
        for k in sizes:
            if copy.exists():
                shutil.rmtree(copy)
            shutil.copytree(source, copy)
            with Index(copy, None, write=True) as index:
                n = min(k, last.documents)
                batch = last.entries(0, n)
                if parts:
                    scratch = index.scratch("parts")
                    bounds = [n * p // parts for p in range(parts + 1)]
                    written = [scratch / f"part-{p}" for p in range(parts)]
                    for p, path in enumerate(written):
                        part = last.entries(bounds[p], bounds[p + 1])
                        write_segment(path, part, RepeatStats.none())
                    t = time.perf_counter()
                    index.add_parts(written)
                else:
                    t = time.perf_counter()
                    index.add(batch)
                out.append((len(index) - len(batch), len(batch), time.perf_counter() - t))
    shutil.rmtree(copy)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--indexed", type=int, default=100000, help="documents in the index")
    ap.add_argument("--new", type=int, default=100000, help="documents run against it")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each kind (best is shown)")
    ap.add_argument("--data", type=Path, default=REPO / "bench/data")
    ap.add_argument("--add-sizes", type=int, nargs="+", default=[10000, 20000])
    ap.add_argument("--engine", choices=["local", "spark"], default="local")
    ap.add_argument("--spark-master", default="local[2]")
    args = ap.parse_args(argv)
    engine: list[str] = []
    if args.engine == "spark":
        engine = ["--engine", "spark", "--spark-master", args.spark_master, "-q"]
        engine += ["--spark-conf", "spark.ui.enabled=false"]

    old = ensure_corpus(args.indexed, args.data, seed=0)
    new = ensure_corpus(args.new, args.data, seed=1)
    work = args.data / "index-bench"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    idx = work / "idx"
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")

    print(f"1. index of {old.name}")
    build = run_dedup(
        old, work / "o-old", args.jobs, report=False, extra=[*engine, "--index", str(idx)]
    )
    _line("build (run --index)", build)
    size = _size(idx)
    per_doc = size / build.summary["indexes"][0]["added"]
    print(
        f"  {build.summary['indexes'][0]['added']} documents, {size / 1e6:.1f} MB on disk, "
        f"{per_doc:.0f} bytes/document -> 1M documents: {per_doc * 1e6 / 1e9:.2f} GB "
        f"(target <= {TARGET_1M_BYTES / 1e9:.1f} GB)"
    )
    added = build.summary["indexes"][0]["added"]
    files = ", ".join(f"{name} {b / added:.0f}" for name, b in sorted(_by_file(idx).items()))
    print(f"  bytes/document by file: {files}")

    print(f"2-3. {new.name} against it (best of {args.repeat})")
    plain: list[RunResult] = []
    against: list[RunResult] = []
    adding: list[RunResult] = []
    for k in range(args.repeat):
        plain.append(run_dedup(new, work / "o-plain", args.jobs, report=False, extra=engine))
        against.append(
            run_dedup(
                new,
                work / "o-against",
                args.jobs,
                report=False,
                extra=[*engine, "--against", str(idx)],
            )
        )
        copy = work / f"idx-{k}"
        shutil.copytree(idx, copy)
        adding.append(
            run_dedup(
                new,
                work / "o-index",
                args.jobs,
                report=False,
                extra=[*engine, "--index", str(copy)],
            )
        )
    p, a, i = _best(plain), _best(against), _best(adding)
    _line("plain", p)
    _line("--against (read-only)", a, p)
    _line("--index (match + add)", i, p)
    removed = a.summary["indexes"][0]["removed"]
    print(f"  matched in the index: {removed}; timings of --index: {i.timings}")
    worst_rss = max(r.memory.peak_rss for r in [*plain, *against, *adding, build])
    print(f"  peak RSS of any run: {worst_rss / GIB:.2f} GiB (target < {TARGET_RSS / GIB:.0f})")

    print("4. adding a segment (Index.add, in this process)")
    for docs, k, seconds in _add_cost([idx, work / "idx-0"], work, args.add_sizes):
        print(f"  index of {docs:>7} documents + segment of {k:>6}: {seconds:6.2f} s")
    if args.engine == "spark":
        print("4b. adding a segment from parts (Index.add_parts, as the Spark driver commits)")
        for docs, k, seconds in _add_cost([idx, work / "idx-0"], work, args.add_sizes, parts=2):
            per = seconds / k * 1e6
            print(
                f"  index of {docs:>7} documents + {k:>6} in 2 parts: {seconds:6.2f} s "
                f"({per:.1f} us/document)"
            )

    print("5. dedup index compact of the two-segment index (a copy)")
    copy = work / "idx-compact"
    shutil.copytree(work / "idx-0", copy)
    before = _size(copy)
    wall, cpu, rss, anon = _compact(copy)
    print(
        f"  index {before / 1e6:.1f} MB: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS "
        f"{rss / 2**20:.0f} MiB, of it anonymous {anon / 2**20:.0f} MiB"
    )

    print("verdict")
    share = p.wall / a.wall
    cpu_share = p.cpu / a.cpu
    print(
        f"  1M-document index {per_doc * 1e6 / 1e9:.2f} GB: "
        f"{'met' if per_doc * 1e6 <= TARGET_1M_BYTES else 'MISSED'}"
    )
    print(
        f"  throughput against the index {share:.0%} (wall), {cpu_share:.0%} (CPU): "
        f"{'met' if min(share, cpu_share) >= TARGET_SHARE else 'see CPU on a loaded machine'}"
    )
    print(f"  peak RSS {worst_rss / GIB:.2f} GiB: {'met' if worst_rss < TARGET_RSS else 'MISSED'}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
