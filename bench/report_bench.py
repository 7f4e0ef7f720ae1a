"""What the default report costs: `dedup run` with and without it on a synthetic corpus.

    python bench/report_bench.py [--n 100000] [--jobs 0] [--out bench/data] [--repeat 1]

Generates (or reuses) a corpus of N Chinese web articles with planted near-duplicates
(bench/gen_synthetic.py), then runs `python -m dedup run CORPUS -o OUT --no-report` and
`python -m dedup run CORPUS -o OUT` (the default report: `--report-clusters 200` pages and the
index of every cluster) as subprocesses, alternately, `--repeat` times each. It prints, for
each, the wall time and the CPU seconds of the process tree (user + system, from
`getrusage(RUSAGE_CHILDREN)`), the report's own time from summary.json, the size of report/,
and the ratio of the two runs next to the target (at most 1.15x). On a machine shared with other
work the CPU seconds are the steadier figure; the load average is printed with them.

This is a benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gen_synthetic import ensure_corpus

TARGET = 1.15


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    report: float | None  # the report's seconds in summary.json
    report_bytes: int
    report_files: int


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(corpus: Path, out: Path, jobs: int, report: bool, pages: int | None) -> Run:
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "dedup", "run", str(corpus), "-o", str(out), "--jobs", str(jobs)]
    cmd += ["-q"] + ([] if report else ["--no-report"])
    cmd += [] if pages is None or not report else ["--report-clusters", str(pages)]
    cpu0, t0 = _cpu_children(), time.perf_counter()
    subprocess.run(cmd, check=True)
    wall, cpu = time.perf_counter() - t0, _cpu_children() - cpu0
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    files = [p for p in (out / "report").rglob("*") if p.is_file()] if report else []
    return Run(
        wall=wall,
        cpu=cpu,
        report=summary.get("timings", {}).get("report"),
        report_bytes=sum(p.stat().st_size for p in files),
        report_files=len(files),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="documents (default 100000)")
    ap.add_argument("--jobs", type=int, default=0, help="dedup run --jobs (0: all cores)")
    ap.add_argument("--out", type=Path, default=Path("bench/data"), help="corpus folder")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each kind (median shown)")
    ap.add_argument(
        "--report-clusters", type=int, default=None, help="pages (default: dedup's default)"
    )
    args = ap.parse_args(argv)

    corpus = ensure_corpus(args.n, args.out)
    runs: dict[bool, list[Run]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="dedup-report-bench-") as tmp:
        for _ in range(args.repeat):
            for report in (False, True):
                out = Path(tmp) / "out"
                runs[report].append(run_once(corpus, out, args.jobs, report, args.report_clusters))
    load = os.getloadavg()[0]

    def med(values: list[float]) -> float:
        return statistics.median(values)

    pages = "default" if args.report_clusters is None else str(args.report_clusters)
    print(f"corpus: {corpus} ({args.n:,} documents), --jobs {args.jobs}, {args.repeat} run(s) each")
    print(f"--report-clusters {pages}")
    print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores")
    print(f"{'':<16}{'wall s':>9}{'CPU s':>9}{'report s':>10}")
    for report, label in ((False, "--no-report"), (True, "default report")):
        rs = runs[report]
        rep = [r.report for r in rs if r.report is not None]
        rep_s = f"{med(rep):>10.2f}" if rep else f"{'—':>10}"
        print(
            f"{label:<16}{med([r.wall for r in rs]):>9.2f}{med([r.cpu for r in rs]):>9.2f}{rep_s}"
        )
    with_r, without = runs[True], runs[False]
    wall_ratio = med([r.wall for r in with_r]) / med([r.wall for r in without])
    cpu_ratio = med([r.cpu for r in with_r]) / med([r.cpu for r in without])
    last = with_r[-1]
    print(f"report/: {last.report_files:,} files, {last.report_bytes / 1e6:,.1f} MB")
    ratios = f"wall {wall_ratio:.3f}x, CPU {cpu_ratio:.3f}x"
    print(f"ratio with/without report: {ratios} (target <= {TARGET}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
