"""Adversarial scale: many pages that are all alike, and what they cost `dedup run`.

    python bench/adversarial.py                       # 100,000 pages, both variants, report off/on
    python bench/adversarial.py --sizes 25000 50000 100000 --report off   # growth with N
    python bench/adversarial.py --variants identical --n 100000 --jobs 1

Two seeded corpora of N pages each:

- `frame`: every page is one site's long frame (a header and a footer of navigation, links,
  notices; `--frame-chars` characters in all) around a short body of its own
  (`--body-chars`, random characters): the boilerplate-heavy crawl where every pair of pages
  looks alike and LSH buckets hold most of the corpus;
- `identical`: N copies of one page (a mirror crawled N times).

Each corpus is run with the report off and on (`python -m dedup run CORPUS -o OUT --jobs J
[--no-report]`, measured as in throughput.py: wall time, peak RSS of the process tree sampled
from /proc, ru_maxrss) and the script prints candidate pairs, verified pairs, clusters and the
seconds of the LSH, verify and cluster stages. A bucket of more than 64 documents is paired as
a star plus a chain, so candidates, verification and clustering should grow linearly with N:
the per-page columns should stay flat across `--sizes`. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from throughput import REPO, RunResult, run_dedup

CJK = np.arange(0x4E00, 0x4E00 + 3500, dtype=np.uint32)  # common ideographs
PUNCT = np.array([ord(c) for c in "，。、：；！？"], dtype=np.uint32)


def _chars(rng: np.random.Generator, k: int) -> str:
    """k random ideographs with a punctuation mark every 8-20 characters."""
    cps = rng.choice(CJK, size=k)
    at = np.cumsum(rng.integers(8, 21, size=k // 8 + 1))
    at = at[at < k]
    cps[at] = rng.choice(PUNCT, size=at.size)
    return cps.astype("<u4").tobytes().decode("utf-32-le")


def site_frame(rng: np.random.Generator, chars: int) -> tuple[str, str]:
    """A header (site name, navigation, breadcrumbs, notice) and a footer (related links,
    copyright, ICP number) of about `chars` characters together, split 40/60."""
    header_k, footer_k = chars * 2 // 5, chars - chars * 2 // 5
    header = "\n".join(
        [
            "首页 | 新闻 | 财经 | 科技 | 体育 | 娱乐 | 登录 | 注册",
            _chars(rng, header_k // 2),
            "当前位置：首页 > 新闻中心 > 正文",
            _chars(rng, header_k - header_k // 2),
        ]
    )
    footer = "\n".join(
        [
            "相关阅读",
            _chars(rng, footer_k // 2),
            "版权所有 © 2024 示例网 京ICP备12345678号",
            _chars(rng, footer_k - footer_k // 2),
        ]
    )
    return header, footer


def pages(
    variant: str, n: int, seed: int, frame_chars: int, body_chars: tuple[int, int]
) -> Iterator[dict[str, str]]:
    """The N records of a corpus; the same arguments always give the same pages."""
    rng = np.random.default_rng(seed)
    header, footer = site_frame(rng, frame_chars)
    same = f"{header}\n{_chars(rng, body_chars[1])}\n{footer}"
    for i in range(n):
        if variant == "identical":
            text = same
        else:
            body = _chars(rng, int(rng.integers(body_chars[0], body_chars[1] + 1)))
            text = f"{header}\n{body}\n{footer}"
        yield {"id": f"p{i:07d}", "text": text}


def ensure_corpus(
    folder: Path, variant: str, n: int, seed: int, frame_chars: int, body: tuple[int, int]
) -> Path:
    """Write the corpus once (named by its parameters) and reuse it after."""
    name = f"adversarial-{variant}-n{n}-s{seed}-f{frame_chars}-b{body[0]}_{body[1]}.jsonl"
    path = folder / name
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as f:
        for rec in pages(variant, n, seed, frame_chars, body):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    partial.replace(path)
    return path


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def print_row(variant: str, report: bool, r: RunResult) -> None:
    s = r.summary
    t = r.timings
    cand, verified = int(s["candidates"]), int(s["verified_pairs"])
    stages = " ".join(f"{k} {t[k]:.2f}" for k in ("sign", "lsh", "verify", "cluster") if k in t)
    if "report" in t:
        stages += f" report {t['report']:.2f}"
    print(
        f"{variant:9} {r.documents:>8,} {'on' if report else 'off':>6} {r.wall:7.1f} "
        f"{cand:>11,} {cand / r.documents:6.2f} {verified:>11,} {int(s['clusters']):>8,} "
        f"{_gib(r.memory.peak_rss):>10} {_gib(r.ru_maxrss):>10}  {stages}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="pages per corpus")
    ap.add_argument("--sizes", type=int, nargs="+", help="several N, to see growth")
    ap.add_argument("--variants", default="frame,identical", help="frame, identical or both")
    ap.add_argument("--report", choices=["off", "on", "both"], default="both")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frame-chars", type=int, default=2000)
    ap.add_argument("--body-chars", default="50,300", help="min,max characters of a body")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "data")
    ap.add_argument("--keep-output", action="store_true", help="keep each run's OUTDIR")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    lo, hi = (int(x) for x in args.body_chars.split(","))
    reports = {"off": [False], "on": [True], "both": [False, True]}[args.report]
    figures = []
    print(
        f"{'variant':9} {'pages':>8} {'report':>6} {'wall s':>7} {'candidates':>11} "
        f"{'/page':>6} {'verified':>11} {'clusters':>8} {'tree RSS':>10} {'ru_maxrss':>10}  "
        "stage seconds"
    )
    for n in args.sizes or [args.n]:
        for variant in args.variants.split(","):
            corpus = ensure_corpus(args.out, variant, n, args.seed, args.frame_chars, (lo, hi))
            for report in reports:
                outdir = args.out / f"{corpus.stem}-out"
                r = run_dedup(corpus, outdir, args.jobs, report=report)
                print_row(variant, report, r)
                if report:
                    size = sum(p.stat().st_size for p in (outdir / "report").rglob("*"))
                    print(f"{'':9} report folder: {size / 2**20:.1f} MiB", flush=True)
                figures.append(
                    {
                        "variant": variant,
                        "pages": r.documents,
                        "report": report,
                        "wall_s": round(r.wall, 2),
                        "candidates": r.summary["candidates"],
                        "verified_pairs": r.summary["verified_pairs"],
                        "clusters": r.summary["clusters"],
                        "peak_rss_tree": r.memory.peak_rss,
                        "ru_maxrss": r.ru_maxrss,
                        "timings": r.timings,
                        "command": r.command,
                    }
                )
                if not args.keep_output:
                    shutil.rmtree(outdir)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
