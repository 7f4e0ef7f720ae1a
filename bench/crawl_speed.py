"""Speed on what a crawl looks like: `dedup run` and its peers on one crawl-like corpus.

    python bench/crawl_speed.py --n 100000 [--n 1000000] [--peers datasketch,rensa,...]

For each `--n` it builds (or reuses) a corpus with bench/crawl_corpus.py: real Chinese news
text in the frames of synthetic news sites, copies lightly edited and noised as a crawl
carries them, cluster sizes drawn from a Zipf law up to `--max-cluster` (10,000) copies and
`--dup-share` (45%) duplicates. The corpus depends only on the arguments; it is written to
bench/data/ (git-ignored).

It runs `python -m dedup run CORPUS -o OUT --no-report` as a subprocess and prints the time of
every stage that summary.json reports, candidate and verified pairs, MB/s of input text, the
peak RSS summed over the process tree (sampled from /proc every 50 ms) and the CPU seconds of
the tree and of the rest of the machine meanwhile (a loaded machine inflates wall times; CPU
seconds are the fairer comparison then).

In the same run, on the same corpus, it times the peers that are installed (bench/peers.py:
datasketch batched, rensa, text-dedup, datatrove), each with a wall-time limit, and the naive
way (datasketch per-shingle update) on a sample, and prints the ratios next to the issue's
targets. A peer that is not installed is printed as skipped, with what to install. This is a
benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import crawl_corpus as cc  # noqa: E402
import peers  # noqa: E402
from throughput import (  # noqa: E402
    GIB,
    MB,
    REPO,
    RunResult,
    TreeMemory,
    TreeSampler,
    busy_seconds,
    cpu_seconds,
    run_dedup,
    stage_at,
    tree_pids,
)

# The targets, on a 2-core machine.
TARGET_MBS = 100.0  # end to end
TARGET_NAIVE = 100.0  # x the naive way
TARGET_PEER = 10.0  # x the fastest peer
TARGET_1M_SECONDS = 60.0
TARGET_1M_RSS = 2 * GIB
TARGET_FLAT = 0.20  # time per document from the smallest to the largest size
PEER_ORDER = ("datasketch", "rensa", "text-dedup", "datatrove")
DEFAULT_TEXT_DEDUP = Path.home() / ".venvs" / "text-dedup" / "bin" / "python"


@dataclass
class PeerResult:
    name: str
    status: str  # "ok", "timeout", "failed", "skipped"
    reason: str = ""
    wall: float = 0.0
    cpu: float = 0.0
    other_cpu: float = 0.0
    peak_rss: int = 0
    documents: int = 0
    input_bytes: int = 0
    removed: int = -1
    candidates: int = -1
    command: list[str] = field(default_factory=list)

    @property
    def mb_per_s(self) -> float:
        return self.input_bytes / MB / self.wall if self.wall else 0.0


# --------------------------------------------------------------------------- corpus


def corpus_dir(out: Path, cfg: cc.CrawlConfig) -> Path:
    return out / (
        f"crawl-speed-n{cfg.n}-s{cfg.seed}-d{cfg.dup_share:g}-z{cfg.zipf:g}-m{cfg.max_cluster}"
    )


def ensure_corpus(out: Path, cfg: cc.CrawlConfig, sources: str, jobs: int) -> Path:
    """The corpus folder for `cfg`, built unless a complete one with the same config is there."""
    folder = corpus_dir(out, cfg)
    manifest = folder / "manifest.json"
    if manifest.exists() and (folder / "corpus.jsonl").exists():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        if m.get("config") == asdict(cfg) and m.get("format_version") == cc.FORMAT_VERSION:
            return folder
    t0 = time.perf_counter()
    names = [s.strip() for s in sources.split(",") if s.strip()]
    src = cc.load_sources(names, cc.mc.default_cache(), lambda s: print(s, file=sys.stderr))
    plan = cc.plan_corpus([a for arts in src.values() for a in arts], cfg)
    m = cc.write_corpus(plan, cfg, src, folder, jobs)
    print(
        f"corpus built in {time.perf_counter() - t0:.1f} s: {m['documents']:,} documents, "
        f"{m['gold_clusters']:,} gold clusters, {m['duplicate_share']:.0%} duplicates, "
        f"largest {m['largest_cluster']:,}",
        flush=True,
    )
    return folder


@functools.lru_cache(maxsize=8)
def text_bytes(corpus: Path, limit: int = 0) -> tuple[int, int]:
    """(documents, UTF-8 bytes of their text) of a JSONL corpus, the first `limit` if given."""
    docs = size = 0
    for _, text in peers.read_texts(corpus):
        docs += 1
        size += len(text.encode("utf-8"))
        if limit and docs >= limit:
            break
    return docs, size


# --------------------------------------------------------------------------- peers


class CpuTreeSampler(TreeSampler):
    """TreeSampler that also keeps the CPU seconds last seen of every process of the tree:
    a tool whose workers are killed rather than waited for (a pool terminated) leaves their
    CPU time out of wait4's rusage."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.cpu_seen: dict[int, float] = {}

    def run(self) -> None:
        while not self._stop_event.is_set():
            for p in tree_pids(self.pid):
                self.cpu_seen[p] = max(self.cpu_seen.get(p, 0.0), cpu_seconds(p))
            self._stop_event.wait(self.interval)

    def start(self) -> None:
        super().start()
        self.memory_thread = TreeSampler(self.pid)
        self.memory_thread.start()

    def stop(self) -> TreeMemory:
        super().stop()
        return self.memory_thread.stop()


def _python_has(python: str, module: str) -> bool:
    if python == sys.executable:
        return importlib.util.find_spec(module) is not None
    probe = [
        python,
        "-c",
        f"import importlib.util,sys; sys.exit(not importlib.util.find_spec({module!r}))",
    ]  # noqa: E501
    return subprocess.run(probe, capture_output=True).returncode == 0


def missing(name: str, text_dedup_python: str | None) -> str | None:
    """Why peer `name` cannot run here, or None."""
    if name == "text-dedup":
        if not text_dedup_python or not Path(text_dedup_python).exists():
            return (
                "no text-dedup interpreter (python -m venv ~/.venvs/text-dedup && "
                "~/.venvs/text-dedup/bin/pip install text-dedup, or --text-dedup-python)"
            )
        if not _python_has(text_dedup_python, "text_dedup"):
            return f"{text_dedup_python} has no text_dedup module"
        return None
    modules = {
        "naive": ["datasketch"],
        "datasketch": ["datasketch"],
        "rensa": ["rensa"],
        "datatrove": ["datatrove", "tokenizers", "orjson"],
    }[name]
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if absent:
        return f"not installed: pip install {' '.join(absent)}"
    return None


def measure_command(
    cmd: list[str], timeout: float, log: Path, env: dict[str, str] | None = None
) -> tuple[str, float, float, float, TreeMemory]:
    """Run `cmd` in its own session, sampling its tree; (status, wall, cpu, other cpu, memory).
    A command still running after `timeout` seconds is killed with its process group."""
    busy0 = busy_seconds()
    started = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=err, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        sampler = CpuTreeSampler(proc.pid)
        sampler.start()
        status = "ok"
        while True:
            pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout:
                status = "timeout"
                os.killpg(proc.pid, signal.SIGKILL)
                _, code, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - started
        memory = sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(code)
    if status == "ok" and proc.returncode != 0:
        status = "failed"
    # wait4 counts the waited-for descendants, the samples every process seen alive.
    cpu = max(usage.ru_utime + usage.ru_stime, sum(sampler.cpu_seen.values()))
    return status, wall, cpu, max(0.0, busy_seconds() - busy0 - cpu), memory


def run_peer(
    name: str, corpus: Path, work: Path, timeout: float, text_dedup_python: str | None, procs: int
) -> PeerResult:
    why = missing(name, text_dedup_python)
    if why is not None:
        return PeerResult(name, "skipped", why)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    documents, size = text_bytes(corpus)
    result_cmd: list[str] | None = None
    env = None
    if name == "text-dedup":
        assert text_dedup_python is not None
        prepare, cmd, result_cmd = peers.text_dedup_commands(text_dedup_python, corpus, work, procs)
        env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
        subprocess.run(prepare, check=True, capture_output=True, env=env)
    else:
        if name == "datatrove":
            peers.prepare_datatrove(corpus, work)
        cmd = [sys.executable, str(HERE / "peers.py"), name, str(corpus), str(work)]
    log = work / "log.txt"
    status, wall, cpu, other, memory = measure_command(cmd, timeout, log, env)
    r = PeerResult(name, status, wall=wall, cpu=cpu, other_cpu=other, peak_rss=memory.peak_rss)
    r.documents, r.input_bytes, r.command = documents, size, cmd
    if status == "failed":
        r.reason = log.read_text(errors="replace").strip().splitlines()[-1][-300:]
    elif status == "timeout":
        r.reason = f"stopped after {timeout:g} s"
    else:
        if result_cmd is not None:
            out = subprocess.run(
                result_cmd, capture_output=True, text=True, check=True, env=env
            ).stdout
            found = json.loads(out)
        else:
            found = json.loads((work / "result.json").read_text())
        r.removed, r.candidates = int(found["removed"]), int(found["candidates"])
    shutil.rmtree(work, ignore_errors=True)
    return r


def sample_file(corpus: Path, k: int, out: Path) -> Path:
    """The first `k` lines of the corpus (the order is shuffled, so it is a fair sample)."""
    with open(corpus, "rb") as src, open(out, "wb") as dst:
        for i, line in enumerate(src):
            if i >= k:
                break
            dst.write(line)
    return out


# --------------------------------------------------------------------------- printing


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def print_dedup(r: RunResult, manifest: dict[str, Any]) -> None:
    print(f"\n== dedup run --jobs {r.jobs}: {r.documents:,} documents, {r.mb:,.1f} MB of text ==")
    print(f"   {' '.join(r.command)}")
    sizes = ", ".join(f"{k}: {v:,}" for k, v in manifest["cluster_sizes"].items())
    print(
        f"   corpus: {manifest['gold_clusters']:,} gold clusters ({sizes}), "
        f"{manifest['duplicate_share']:.0%} duplicates, largest {manifest['largest_cluster']:,}"
    )
    print(f"\n   {'stage':<18}{'seconds':>9}{'share':>7}{'µs/doc':>9}{'MB/s':>9}")
    for stage, seconds in r.timings.items():
        if stage.endswith("_cpu"):
            continue
        rate = f"{r.mb / seconds:9.1f}" if seconds > 0 else f"{'-':>9}"
        print(
            f"   {stage:<18}{seconds:9.2f}{seconds / r.wall:7.0%}"
            f"{seconds / r.documents * 1e6:9.1f}{rate}"
        )
    print(
        f"   {'end to end':<18}{r.wall:9.2f}{1:7.0%}{r.wall / r.documents * 1e6:9.1f}"
        f"{r.mb / r.wall:9.1f}"
    )
    s = r.summary
    print(
        f"\n   candidates {s.get('candidates', 0):,}, "
        f"verified pairs {s.get('verified_pairs', 0):,}, "
        f"removed {s['documents']['removed']:,} in {s['clusters']:,} clusters"
    )
    print(
        f"   peak RSS of the process tree {_gib(r.memory.peak_rss)} "
        f"({r.memory.peak_procs} processes; at {r.memory.peak_at:.1f} s, during "
        f"{stage_at(r, r.memory.peak_at)}); largest process {_gib(r.ru_maxrss)}"
    )
    print(
        f"   CPU {r.cpu:.1f} s in the tree ({r.mb / r.cpu:.1f} MB per CPU-second), "
        f"other processes {r.other_cpu:.1f} CPU-s meanwhile"
    )


def print_peers(r: RunResult, results: list[PeerResult]) -> None:
    print(f"\n== peers on the same corpus (dedup: {r.wall:.2f} s wall, {r.cpu:.1f} CPU-s) ==")
    head = (
        f"   {'tool':<12}{'wall s':>9}{'CPU s':>8}{'MB/s':>8}{'peak RSS':>11}{'removed':>10}"
        f"{'candidates':>12}{'dedup x (wall)':>16}{'x (CPU)':>9}{'other CPU-s':>13}"
    )
    print(head)
    for p in results:
        if p.status == "skipped":
            print(f"   {p.name:<12}skipped: {p.reason}")
            continue
        if p.status == "failed":
            print(f"   {p.name:<12}failed after {p.wall:.1f} s: {p.reason}")
            continue
        low = ">" if p.status == "timeout" else ""
        cand = f"{p.candidates:,}" if p.candidates >= 0 else "-"
        removed = f"{p.removed:,}" if p.removed >= 0 else "-"
        print(
            f"   {p.name:<12}{low + format(p.wall, '.1f'):>9}{p.cpu:8.1f}{p.mb_per_s:8.2f}"
            f"{_gib(p.peak_rss):>11}{removed:>10}{cand:>12}"
            f"{low + format(p.wall / r.wall, '.1f') + 'x':>16}"
            f"{low + format(p.cpu / r.cpu, '.1f') + 'x':>9}{p.other_cpu:13.1f}"
        )
        if p.status == "timeout":
            print(f"   {'':<12}({p.reason}: the ratios are lower bounds)")


def _line(name: str, value: float, target: float, unit: str, higher: bool = True) -> None:
    ok = value >= target if higher else value <= target
    sign = ">=" if higher else "<="
    print(
        f"   {name:<52}{value:10.2f} {unit:<5} (target {sign} {target:g}) "
        f"{'met' if ok else 'MISSED'}"
    )


def print_targets(
    runs: list[RunResult], peer_runs: list[list[PeerResult]], naive: PeerResult | None
) -> None:
    print("\n== targets (issue 20, 2 cores) ==")
    for r, results in zip(runs, peer_runs, strict=True):
        tag = f"N={r.documents:,}"
        _line(f"end to end MB/s, {tag}", r.mb / r.wall, TARGET_MBS, "MB/s")
        if naive is not None and naive.status == "ok":
            _line(f"x the naive way (MB/s ratio), {tag}", (r.mb / r.wall) / naive.mb_per_s,
                  TARGET_NAIVE, "x")  # fmt: skip
            per_cpu = (r.mb / r.cpu) / (naive.input_bytes / MB / naive.cpu)
            print(f"   {'(per CPU-second: MB per CPU-s, dedup / naive)':<52}{per_cpu:10.2f} x")
        done = [p for p in results if p.status in ("ok", "timeout")]
        if done:
            fastest = min(done, key=lambda p: p.wall)
            low = "(lower bound) " if fastest.status == "timeout" else ""
            _line(f"x the fastest peer ({fastest.name}) {low}wall, {tag}", fastest.wall / r.wall,
                  TARGET_PEER, "x")  # fmt: skip
            fastest_cpu = min(done, key=lambda p: p.cpu)
            print(
                f"   {'(per CPU-second: x ' + fastest_cpu.name + ')':<52}"
                f"{fastest_cpu.cpu / r.cpu:10.2f} x"
            )
        if r.documents >= 1_000_000:
            _line(f"seconds, {tag}", r.wall, TARGET_1M_SECONDS, "s", higher=False)
            _line(f"peak RSS of the tree, {tag}", r.memory.peak_rss / GIB, TARGET_1M_RSS / GIB,
                  "GiB", higher=False)  # fmt: skip
    if len(runs) > 1:
        a, b = runs[0], runs[-1]
        pa, pb = a.wall / a.documents, b.wall / b.documents
        _line(f"time per document N={b.documents:,} / N={a.documents:,}", pb / pa,
              1 + TARGET_FLAT, "", higher=False)  # fmt: skip
        ca, cb = a.cpu / a.documents, b.cpu / b.documents
        print(f"   {'(CPU time per document, same ratio)':<52}{cb / ca:10.2f}")
        print("\n   seconds per stage, and growth per document:")
        for k in [k for k in b.timings if not k.endswith("_cpu")]:
            va, vb = a.timings.get(k, 0.0), b.timings[k]
            growth = (vb / b.documents) / (va / a.documents) if va else float("nan")
            print(f"   {k:<18}{va:9.2f} s{vb:9.2f} s   x{growth:.2f} per document")


# --------------------------------------------------------------------------- driving


def main(argv: list[str] | None = None) -> int:
    d = cc.CrawlConfig()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, action="append", help="documents (repeatable; 100000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dup-share", type=float, default=d.dup_share, help="0.3-0.6 (0.45)")
    ap.add_argument("--zipf", type=float, default=d.zipf, help="exponent of cluster sizes (2.0)")
    ap.add_argument("--max-cluster", type=int, default=10000, help="largest cluster (10000)")
    ap.add_argument("--sources", default="news,debian", help="crawl_corpus.py sources")
    ap.add_argument("--jobs", type=int, default=0, help="dedup --jobs (0: all cores)")
    ap.add_argument("--out", type=Path, default=HERE / "data", help="corpora and runs")
    ap.add_argument(
        "--peers",
        default=",".join(PEER_ORDER),
        help=f"comma-separated subset of {','.join(PEER_ORDER)}, or 'none'",
    )
    ap.add_argument(
        "--peer-timeout", type=float, default=600.0, help="wall seconds a peer may take (600)"
    )
    ap.add_argument(
        "--naive-sample", type=int, default=1000, help="documents for the naive way (0: none)"
    )
    ap.add_argument(
        "--text-dedup-python",
        default=os.environ.get("TEXT_DEDUP_PYTHON", str(DEFAULT_TEXT_DEDUP)),
        help="a python with text-dedup installed ($TEXT_DEDUP_PYTHON, ~/.venvs/text-dedup)",
    )
    ap.add_argument("--keep-output", action="store_true", help="keep dedup's OUTDIR")
    ap.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = ap.parse_args(argv)
    sizes = sorted(set(args.n or [100_000]))
    chosen = [] if args.peers == "none" else [p.strip() for p in args.peers.split(",") if p]
    unknown = [p for p in chosen if p not in PEER_ORDER]
    if unknown:
        ap.error(f"unknown peers: {', '.join(unknown)} (known: {', '.join(PEER_ORDER)})")
    cores = len(os.sched_getaffinity(0))
    jobs = args.jobs or cores
    print(
        f"machine: {cores} cores, Python {sys.version.split()[0]}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    runs: list[RunResult] = []
    peer_runs: list[list[PeerResult]] = []
    naive: PeerResult | None = None
    for n in sizes:
        cfg = cc.CrawlConfig(
            n=n,
            seed=args.seed,
            dup_share=args.dup_share,
            zipf=args.zipf,
            max_cluster=args.max_cluster,
        )
        folder = ensure_corpus(args.out, cfg, args.sources, cores)
        corpus = folder / "corpus.jsonl"
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        outdir = args.out / f"{folder.name}-run"
        r = run_dedup(corpus, outdir, jobs, report=False, extra=["-q"])
        if not args.keep_output:
            shutil.rmtree(outdir, ignore_errors=True)
        runs.append(r)
        print_dedup(r, manifest)
        results = []
        for name in chosen:
            print(f"   running {name} ...", flush=True)
            work = args.out / f"{folder.name}-{name}"
            results.append(
                run_peer(name, corpus, work, args.peer_timeout, args.text_dedup_python, cores)
            )
        peer_runs.append(results)
        if chosen:
            print_peers(r, results)
        if naive is None and args.naive_sample > 0:
            sample = sample_file(corpus, args.naive_sample, args.out / f"{folder.name}-sample")
            naive = run_peer(
                "naive", sample, args.out / "naive-work", args.peer_timeout, None, cores
            )
            sample.unlink()
            if naive.status == "ok":
                print(
                    f"\n   naive way (datasketch MinHash.update per 5-gram, MinHashLSH 0.7) on "
                    f"{naive.documents:,} documents ({naive.input_bytes / MB:.1f} MB, 1 core): "
                    f"{naive.wall:.1f} s, {naive.mb_per_s:.3f} MB/s, {naive.cpu:.1f} CPU-s"
                )
            else:
                print(f"\n   naive way {naive.status}: {naive.reason}")
    print_targets(runs, peer_runs, naive)
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        doc = {
            "runs": [asdict(r) for r in runs],
            "peers": [[asdict(p) for p in ps] for ps in peer_runs],
            "naive": asdict(naive) if naive else None,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
