"""Throughput of `dedup run` per stage and end to end, with peak memory, against a naive baseline.

    python bench/throughput.py --n 100000 [--jobs 0] [--out bench/data] [--baseline-sample 2000]
    python bench/throughput.py --scaling 10000 100000 1000000

Generates (or reuses) a synthetic corpus of N Chinese web articles with planted near-duplicates
(bench/gen_synthetic.py), runs `python -m dedup run CORPUS -o OUT --no-report --jobs J` as a
subprocess while sampling the resident memory of its process tree from /proc, and prints the
time of every stage that summary.json reports, in documents/s and MB/s of input text.

In the same run it times the naive way on a sample of the corpus: a datasketch `MinHash`
updated once per character 5-gram (UTF-8, datasketch's default SHA-1 hash), then a
`MinHashLSH` insert and query of every document, and prints the ratio. The fair comparison is
per core (`dedup run --jobs 1`, run as well unless `--no-jobs1`) against the single-process
baseline; the figure with all cores is printed too.

`--scaling N1 N2 ...` runs several sizes and prints the per-stage seconds side by side, to show
how each stage grows with N. This is a benchmark, not a test: nothing is asserted; the targets
are printed next to the measurements.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gen_synthetic import ensure_corpus, read_meta

REPO = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1e6
GIB = 1 << 30

# Targets on a 2-core machine, printed next to the figures.
TARGET_SIGN_MBS = 60.0  # normalize + shingle + MinHash, all cores
TARGET_E2E_MBS = 30.0  # `dedup run`, report off
TARGET_SPEEDUP = 100.0  # end to end against the naive baseline
TARGET_1M_SECONDS = 180.0
TARGET_1M_RSS = 2 * GIB

# summary.json stages that together are "signing" (normalize + shingle + MinHash); keys ending
# in `_cpu` are CPU seconds summed over the worker processes, not wall time.
SIGN_WALL = ("sign",)
# A rough disk budget per byte of corpus for one run: the corpus, dedup's spool copy of the
# input, its shingle store (4 bytes per shingle, about one shingle per character) and the
# kept/removed outputs.
DISK_FACTOR = 4.5


@dataclass
class TreeMemory:
    """Peaks of the resident memory of a process and its descendants, sampled from /proc."""

    peak_rss: int = 0  # bytes, sum over the tree (pages shared after fork counted per process)
    peak_pss: int = 0  # bytes, sum over the tree with shared pages divided among sharers
    peak_procs: int = 0
    samples: int = 0
    peak_at: float = 0.0  # seconds after the start when the RSS peak was sampled
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds, tree RSS)


class TreeSampler(threading.Thread):
    """Polls /proc every `interval` seconds until stopped; PSS is read every few samples
    because smaps_rollup walks every mapping of a process."""

    def __init__(self, pid: int, interval: float = 0.05, pss_every: int = 4) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.pss_every = pss_every
        self.memory = TreeMemory()
        # CPU seconds of the root process alone, as last sampled: the serial part of a run
        # (reading, dispatching, the stages after signing), apart from the workers.
        self.root_cpu = 0.0
        # CPU seconds of every process of the tree as last sampled, by pid: counts processes
        # that no one reaps (Spark's JVM), which wait4's figure leaves out.
        self.cpu_by_pid: dict[int, float] = {}
        self._stop_event = threading.Event()
        self._t0 = time.perf_counter()

    def stop(self) -> TreeMemory:
        self._stop_event.set()
        self.join()
        return self.memory

    def run(self) -> None:
        while not self._stop_event.is_set():
            pids = tree_pids(self.pid)
            if pids:
                m = self.memory
                m.samples += 1
                m.peak_procs = max(m.peak_procs, len(pids))
                rss = sum(_rss(p) for p in pids)
                self.root_cpu = max(self.root_cpu, cpu_seconds(self.pid))
                for p in pids:
                    self.cpu_by_pid[p] = max(self.cpu_by_pid.get(p, 0.0), cpu_seconds(p))
                now = time.perf_counter() - self._t0
                if rss > m.peak_rss:
                    m.peak_rss, m.peak_at = rss, now
                if not m.timeline or now - m.timeline[-1][0] >= 1.0:
                    m.timeline.append((round(now, 2), rss))
                if m.samples % self.pss_every == 1:
                    m.peak_pss = max(m.peak_pss, sum(_pss(p) for p in pids))
            self._stop_event.wait(self.interval)


def tree_pids(root: int) -> list[int]:
    """`root` and every descendant alive now (a scan of /proc/*/stat for parent ids)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    if not os.path.exists(f"/proc/{root}"):
        return []
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (its reaped children excluded)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rindex(b")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


@dataclass
class RunResult:
    """One `dedup run`: its summary.json figures and what was measured around it."""

    n: int
    jobs: int
    wall: float
    cpu: float  # user + system seconds of the whole process tree
    other_cpu: float  # CPU seconds other processes of the machine used meanwhile
    main_cpu: float  # user + system seconds of the dedup process alone (sampled, a lower bound)
    memory: TreeMemory
    ru_maxrss: int  # bytes, largest single process of the tree (from wait4)
    input_bytes: int
    documents: int
    timings: dict[str, float]
    summary: dict[str, Any]
    recall: float | None = None  # share of planted copies found in their source's cluster
    command: list[str] = field(default_factory=list)

    @property
    def mb(self) -> float:
        return self.input_bytes / MB


def run_dedup(
    corpus: Path, outdir: Path, jobs: int, *, report: bool, extra: Sequence[str] = ()
) -> RunResult:
    """Run `python -m dedup run` on `corpus` in a subprocess and measure it."""
    cmd = [sys.executable, "-m", "dedup", "run", str(corpus), "-o", str(outdir)]
    cmd += ["--jobs", str(jobs), *([] if report else ["--no-report"]), *extra]
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    errlog = outdir.parent / f"{outdir.name}.stderr"
    busy0 = busy_seconds()
    started = time.perf_counter()
    with open(errlog, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        # wait4, not wait: its rusage covers the process and the workers it reaped.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        memory = sampler.stop()
    busy = busy_seconds() - busy0
    if proc.returncode != 0:
        sys.exit(f"dedup run failed ({proc.returncode}):\n{errlog.read_text()[-3000:]}")
    errlog.unlink()
    summary = json.loads((outdir / "summary.json").read_text())
    # wait4 covers the workers a run reaps; the sampled sum, any process of its tree.
    cpu = max(usage.ru_utime + usage.ru_stime, sum(sampler.cpu_by_pid.values()))
    return RunResult(
        n=summary["documents"]["read"],
        jobs=jobs,
        wall=wall,
        cpu=cpu,
        other_cpu=max(0.0, busy - cpu),
        main_cpu=sampler.root_cpu,
        memory=memory,
        ru_maxrss=usage.ru_maxrss * 1024,
        input_bytes=int(summary["input_bytes"]),
        documents=int(summary["documents"]["read"]),
        timings=dict(summary["timings"]),
        summary=summary,
        command=cmd,
    )


def planted_recall(corpus: Path, outdir: Path) -> float | None:
    """Share of planted (copy, source) pairs that ended up in one cluster."""
    planted = corpus.with_name(corpus.name.split(".jsonl")[0] + ".planted.tsv")
    if not planted.exists():
        return None
    cluster: dict[str, int] = {}
    with open(outdir / "clusters.jsonl", encoding="utf-8") as f:
        for line in f:
            c = json.loads(line)
            for m in c["members"]:
                cluster[m["id"]] = c["cluster"]
    total = found = 0
    with open(planted) as f:
        for line in f:
            copy, source = line.split()
            total += 1
            found += copy in cluster and cluster.get(source) == cluster[copy]
    return found / total if total else None


def read_sample(corpus: Path, k: int) -> list[str]:
    """The texts of the first `k` documents (planted copies included: sources are near)."""
    texts: list[str] = []
    for line in _lines(corpus):
        texts.append(json.loads(line)["text"])
        if len(texts) >= k:
            break
    return texts


def _lines(corpus: Path) -> Iterator[str]:
    if corpus.name.endswith(".zst"):
        import zstandard

        with open(corpus, "rb") as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            yield from io.TextIOWrapper(reader, encoding="utf-8")
    else:
        with open(corpus, encoding="utf-8") as f:
            yield from f


@dataclass
class Baseline:
    """The naive datasketch pipeline on a sample, on one core."""

    documents: int
    input_bytes: int
    sign_seconds: float
    lsh_seconds: float
    candidates: int
    threshold: float

    @property
    def seconds(self) -> float:
        return self.sign_seconds + self.lsh_seconds

    @property
    def mb_per_s(self) -> float:
        return self.input_bytes / MB / self.seconds

    @property
    def sign_mb_per_s(self) -> float:
        return self.input_bytes / MB / self.sign_seconds


def run_baseline(texts: list[str], threshold: float, num_perm: int = 128) -> Baseline:
    """MinHash.update per character 5-gram with the default hash, then MinHashLSH."""
    from datasketch import MinHash, MinHashLSH

    started = time.perf_counter()
    sigs = []
    for text in texts:
        m = MinHash(num_perm=num_perm)
        for i in range(max(1, len(text) - 4)):
            m.update(text[i : i + 5].encode("utf-8"))
        sigs.append(m)
    signed = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for i, m in enumerate(sigs):
        lsh.insert(str(i), m)
    candidates = 0
    for i, m in enumerate(sigs):
        candidates += sum(1 for key in lsh.query(m) if key != str(i))
    done = time.perf_counter()
    return Baseline(
        documents=len(texts),
        input_bytes=sum(len(t.encode("utf-8")) for t in texts),
        sign_seconds=signed - started,
        lsh_seconds=done - signed,
        candidates=candidates // 2,
        threshold=threshold,
    )


# Printing.


def _rate(count: float, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "-"


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def print_run(r: RunResult, corpus: Path) -> None:
    meta = read_meta(corpus)
    print(f"\n== dedup run --jobs {r.jobs}: {r.documents:,} documents, {r.mb:,.1f} MB of text ==")
    print(f"   {' '.join(r.command)}")
    print(
        f"   corpus: {corpus.name} ({meta['jsonl_bytes'] / MB:,.1f} MB JSONL, "
        f"{meta['planted_copies']:,} planted copies, generated in {meta['seconds']} s)"
    )
    print(f"\n   {'stage':<18}{'seconds':>9}{'share':>7}{'docs/s':>12}{'MB/s':>9}")
    staged = 0.0
    for stage, seconds in r.timings.items():
        if stage.endswith("_cpu"):
            continue
        staged += seconds
        print(
            f"   {stage:<18}{seconds:9.2f}{seconds / r.wall:7.0%}"
            f"{_rate(r.documents, seconds):>12}{_rate(r.mb, seconds):>9}"
        )
    print(f"   {'(sum of stages)':<18}{staged:9.2f}{staged / r.wall:7.0%}")
    print(
        f"   {'end to end':<18}{r.wall:9.2f}{1:7.0%}"
        f"{_rate(r.documents, r.wall):>12}{_rate(r.mb, r.wall):>9}"
    )
    cpu_keys = [k for k in r.timings if k.endswith("_cpu")]
    if cpu_keys:
        print("\n   CPU seconds summed over the workers (MB/s per core):")
        for k in cpu_keys:
            print(f"   {k:<18}{r.timings[k]:9.2f}{'':>7}{'':>12}{_rate(r.mb, r.timings[k]):>9}")
    print(
        f"\n   peak memory of the process tree: RSS {_gib(r.memory.peak_rss)}, "
        f"PSS {_gib(r.memory.peak_pss)} ({r.memory.peak_procs} processes, "
        f"{r.memory.samples} samples); largest process (ru_maxrss) {_gib(r.ru_maxrss)}"
    )
    print(
        f"   RSS peak at {r.memory.peak_at:.1f} s of {r.wall:.1f} s, "
        f"during {stage_at(r, r.memory.peak_at)}"
    )
    busy = " (the machine was busy: wall times are inflated)" if r.other_cpu > 0.1 * r.wall else ""
    print(
        f"   CPU: {r.cpu:.1f} s in the tree ({r.cpu / r.wall:.2f} cores busy on average, "
        f"{r.mb / r.cpu:.1f} MB per CPU-second); other processes on the machine used "
        f"{r.other_cpu:.1f} CPU-s meanwhile{busy}"
    )
    print(
        f"   of which the main process {r.main_cpu:.1f} s ({r.main_cpu / r.wall:.0%} of the wall "
        f"time: the serial part) and the workers {r.cpu - r.main_cpu:.1f} s"
    )
    s = r.summary
    found = f", planted copies found {r.recall:.1%}" if r.recall is not None else ""
    print(
        f"   result: {s['documents']['removed']:,} removed in {s['clusters']:,} clusters, "
        f"{s.get('candidates', 0):,} candidate pairs, {s.get('verified_pairs', 0):,} verified"
        f"{found}"
    )


def stage_at(r: RunResult, at: float) -> str:
    """The stage running `at` seconds after the start, assuming start-up (imports) comes
    first and the stages follow in summary.json order; read and sign interleave."""
    walls = [(k, v) for k, v in r.timings.items() if not k.endswith("_cpu")]
    clock = r.wall - sum(v for _, v in walls)
    if at < clock:
        return "start-up"
    for k, v in walls:
        clock += v
        if at < clock:
            return "read + sign" if k in ("read", *SIGN_WALL) else k
    return walls[-1][0] if walls else "?"


def sign_seconds(r: RunResult) -> float | None:
    """Wall seconds of normalize + shingle + MinHash, as summary.json reports them."""
    keys = [k for k in SIGN_WALL if k in r.timings]
    return sum(r.timings[k] for k in keys) if keys else None


def print_verdict(
    main: RunResult, single: RunResult | None, base: Baseline | None, cores: int
) -> None:
    print("\n== targets ==")

    def line(name: str, value: float, target: float, unit: str, higher: bool = True) -> None:
        ok = value >= target if higher else value <= target
        sign = ">=" if higher else "<="
        verdict = "met" if ok else "MISSED"
        print(f"   {name:<48}{value:10.1f} {unit:<6} (target {sign} {target:g}) {verdict}")

    sign = sign_seconds(main)
    if sign:
        line(
            f"signing, --jobs {main.jobs} ({cores} cores)", main.mb / sign, TARGET_SIGN_MBS, "MB/s"
        )
    read_sign = main.timings.get("read", 0.0) + (sign or 0.0)
    if read_sign:
        print(f"   {'(read + signing, pass one)':<48}{main.mb / read_sign:10.1f} MB/s")
    line(f"end to end, --jobs {main.jobs}", main.mb / main.wall, TARGET_E2E_MBS, "MB/s")
    if base is not None:
        print(
            f"\n   naive baseline on {base.documents:,} documents ({base.input_bytes / MB:.1f} MB, "
            f"1 core): MinHash.update per 5-gram {base.sign_seconds:.1f} s "
            f"({base.sign_mb_per_s:.3f} MB/s), MinHashLSH(threshold={base.threshold}) "
            f"insert + query {base.lsh_seconds:.2f} s; {base.mb_per_s:.3f} MB/s overall"
        )
        if single is not None:
            line(
                "end to end per core: --jobs 1 vs baseline",
                (single.mb / single.wall) / base.mb_per_s,
                TARGET_SPEEDUP,
                "x",
            )
            print(
                f"   {'(same, per CPU-second of the tree, contention-proof)':<48}"
                f"{(single.mb / single.cpu) / base.mb_per_s:10.1f} x"
            )
            s1 = sign_seconds(single)
            if s1:
                print(
                    f"   {'(signing per core: --jobs 1 vs baseline signing)':<48}"
                    f"{(single.mb / s1) / base.sign_mb_per_s:10.1f} x"
                )
        line(
            f"end to end, --jobs {main.jobs} vs baseline",
            (main.mb / main.wall) / base.mb_per_s,
            TARGET_SPEEDUP,
            "x",
        )
    if main.documents >= 1_000_000:
        line("1M documents end to end", main.wall, TARGET_1M_SECONDS, "s", higher=False)
        line(
            "1M documents peak RSS (tree)",
            main.memory.peak_rss / GIB,
            TARGET_1M_RSS / GIB,
            "GiB",
            higher=False,
        )


def print_scaling(runs: list[RunResult]) -> None:
    """Per-stage seconds side by side, and how much each grows per growth of N."""
    print("\n== scaling: seconds per stage (µs per document) ==")
    stages: list[str] = []
    for r in runs:
        stages += [k for k in r.timings if k not in stages]
    head = "".join(f"{f'N={r.documents:,}':>22}" for r in runs)
    growth_head = "".join(
        f"{f'x{b.documents / a.documents:g} N':>10}" for a, b in zip(runs, runs[1:], strict=False)
    )
    print(f"   {'stage':<18}{head}{growth_head}")
    rows = [(k, [r.timings.get(k) for r in runs]) for k in stages]
    rows.append(("end to end", [r.wall for r in runs]))
    for name, values in rows:
        cells = ""
        for r, v in zip(runs, values, strict=True):
            cells += f"{'-':>22}" if v is None else f"{v:10.2f} s {v / r.documents * 1e6:7.1f} µs"
        growth = ""
        for a, b in zip(values, values[1:], strict=False):
            growth += f"{b / a:>9.1f}x" if a and b else f"{'-':>10}"
        print(f"   {name:<18}{cells}{growth}")
    mem = "".join(f"{_gib(r.memory.peak_rss):>22}" for r in runs)
    print(f"   {'peak RSS (tree)':<18}{mem}")
    mbs = "".join(f"{r.mb / r.wall:>17.1f} MB/s" for r in runs)
    print(f"   {'end to end MB/s':<18}{mbs}")


# Driving.


def _check_disk(out: Path, n: int) -> None:
    need = n * 3100 * DISK_FACTOR
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    if free < need:
        sys.exit(f"{out}: {free / 1e9:.0f} GB free, about {need / 1e9:.0f} GB needed for N={n}")


def measure(
    corpus: Path, out: Path, jobs: int, *, report: bool, keep_output: bool, tag: str = ""
) -> RunResult:
    n = read_meta(corpus)["documents"]
    outdir = out / f"run-n{n}-j{jobs}{tag}"
    r = run_dedup(corpus, outdir, jobs, report=report)
    r.recall = planted_recall(corpus, outdir)
    if not keep_output:
        shutil.rmtree(outdir, ignore_errors=True)
    return r


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="documents (default 10000)")
    ap.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    ap.add_argument("--jobs", type=int, default=0, help="dedup --jobs (0: all cores)")
    ap.add_argument(
        "--out", type=Path, default=Path("bench/data"), help="corpora and runs (git-ignored)"
    )
    ap.add_argument(
        "--baseline-sample", type=int, default=2000, help="documents for the baseline (0: none)"
    )
    ap.add_argument("--baseline-threshold", type=float, default=0.5, help="MinHashLSH threshold")
    ap.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="let dedup write its report (off by default, as the targets assume)",
    )
    ap.add_argument(
        "--jobs1",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run with --jobs 1 for the per-core comparison (default on)",
    )
    ap.add_argument("--scaling", type=int, nargs="+", metavar="N", help="run several sizes")
    ap.add_argument("--zst", action="store_true", help="use a .jsonl.zst corpus")
    ap.add_argument("--keep-output", action="store_true", help="keep dedup's OUTDIR")
    ap.add_argument("--delete-corpus", action="store_true", help="delete each corpus after its run")
    ap.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = ap.parse_args(argv)

    cores = _cores()
    jobs = args.jobs or cores
    print(
        f"machine: {cores} cores, Python {sys.version.split()[0]}, "
        f"dedup from {REPO}; load average {os.getloadavg()[0]:.2f}"
    )
    sizes = args.scaling or [args.n]
    runs: list[RunResult] = []
    single: RunResult | None = None
    base: Baseline | None = None
    for n in sizes:
        _check_disk(args.out, n)
        t = time.perf_counter()
        corpus = ensure_corpus(n, args.out, seed=args.seed, zst=args.zst)
        print(f"\ncorpus ready in {time.perf_counter() - t:.1f} s: {corpus}")
        r = measure(corpus, args.out, jobs, report=args.report, keep_output=args.keep_output)
        print_run(r, corpus)
        runs.append(r)
        if not args.scaling:
            if args.jobs1 and jobs != 1:
                single = measure(
                    corpus, args.out, 1, report=args.report, keep_output=args.keep_output
                )
                print_run(single, corpus)
            if args.baseline_sample > 0:
                texts = read_sample(corpus, args.baseline_sample)
                print(f"\nnaive baseline on {len(texts):,} documents ...", flush=True)
                base = run_baseline(texts, args.baseline_threshold)
            print_verdict(r, single if jobs != 1 else r, base, cores)
        if args.delete_corpus:
            for p in corpus.parent.glob(corpus.name.split(".jsonl")[0] + ".*"):
                p.unlink()
    if len(runs) > 1:
        print_scaling(runs)
        big = max(runs, key=lambda r: r.documents)
        if big.documents >= 1_000_000:
            print_verdict(big, None, None, cores)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\n(this script itself: peak RSS {_gib(ru.ru_maxrss * 1024)})")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": [asdict(r) for r in runs],
                    "jobs1": asdict(single) if single else None,
                    "baseline": asdict(base) if base else None,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
