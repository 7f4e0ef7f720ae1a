"""Detection quality of `dedup run` next to baselines, on a labelled corpus.

    python bench/quality.py --corpus DIR                 # dedup with defaults + baselines
    python bench/quality.py --corpus DIR -- --ngram 4    # options passed to dedup run
    python bench/quality.py --corpus DIR --sweep         # parameter sweep of dedup run

DIR holds corpus.jsonl and gold.jsonl from bench/make_corpus.py (built there with default
settings if missing). Baselines: datasketch MinHashLSH on character 5-gram shingles of the
raw text (what one writes first), and text-dedup's MinHash when `--text-dedup-python` names
a Python interpreter that has text-dedup installed (it is kept out of dedup's environment).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from dedup.evaluate import EvalResult, evaluate, read_gold, read_predicted, score  # noqa: E402

TARGET_F1, TARGET_PRECISION, TARGET_NOISE_RECALL = 0.97, 0.99, 0.9


@dataclass(frozen=True)
class Row:
    """One method's scores on the corpus."""

    method: str
    result: EvalResult
    seconds: float
    banding: str = "-"  # LSH bands x rows
    crawl: dict[str, Any] | None = None  # figures of a crawl_corpus.py gold (kind, original)


def read_corpus(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [(str(o["id"]), str(o["text"])) for o in map(json.loads, fh) if o]


# --------------------------------------------------------------------------- methods


DEDUP_COMMAND = [sys.executable, "-m", "dedup"]


def run_dedup(
    corpus: Path,
    gold: Path,
    options: Sequence[str],
    label: str = "",
    command: Sequence[str] = DEDUP_COMMAND,
) -> Row:
    """`python -m dedup run` in a subprocess (wall-clock time includes start-up)."""
    with tempfile.TemporaryDirectory(prefix="dedup-quality-") as tmp:
        out = Path(tmp) / "out"
        cmd = [*command, "run", str(corpus), "-o", str(out), "--no-report"]
        t0 = time.perf_counter()
        proc = subprocess.run([*cmd, *options], capture_output=True, text=True, cwd=HERE.parent)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"dedup run {' '.join(options)} failed:\n{proc.stderr[-2000:]}")
        result = evaluate(out, gold)
        crawl = crawl_figures(out, gold, corpus)
        lsh = json.loads((out / "summary.json").read_text(encoding="utf-8")).get("lsh", {})
    banding = f"{lsh['bands']}x{lsh['rows']}" if {"bands", "rows"} <= set(lsh) else "-"
    return Row(label or ("dedup " + " ".join(options)).strip(), result, seconds, banding, crawl)


CONTENT_KINDS = ("article", "record")  # kinds of a crawl gold that are not junk pages


def crawl_figures(outdir: Path, gold_path: Path, corpus: Path) -> dict[str, Any] | None:
    """What a crawl corpus's gold (bench/crawl_corpus.py: `kind`, `original`) lets one score
    besides pairs: junk pages put in clusters, clean originals kept or removed, hard-negative
    pairs merged per family of group (court, tender, accident: template records; site: pages
    of one site's frame). None for a gold without `kind`."""
    with gold_path.open(encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    if not lines or "kind" not in lines[0]:
        return None
    gold = read_gold(gold_path)
    _, predicted = read_predicted(outdir)
    representative = {}
    with (outdir / "clusters.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            c = json.loads(line)
            representative[int(c["cluster"])] = str(c["representative"])
    kind_of = {str(g["id"]): str(g["kind"]) for g in lines}

    # Junk pages (singletons in the gold) that the run put in a cluster, and among them
    # those in a cluster with an article or a record.
    content = {predicted[d] for d, k in kind_of.items() if k in CONTENT_KINDS and d in predicted}
    junk: dict[str, dict[str, int]] = {}
    for d, k in kind_of.items():
        if k not in CONTENT_KINDS:
            j = junk.setdefault(k, {"documents": 0, "in_clusters": 0, "with_content": 0})
            j["documents"] += 1
            j["in_clusters"] += d in predicted
            j["with_content"] += predicted.get(d) in content

    # Clean originals of gold clusters with copies: kept (a singleton of the run or its
    # cluster's representative, or an exact copy of it is) or removed; and, when the run
    # grouped the original with a copy of it, whether the original is the one kept.
    gold_size = Counter(gd.cluster for gd in gold.values())
    originals = [str(g["id"]) for g in lines if g.get("original")]
    originals = [d for d in originals if gold_size[gold[d].cluster] > 1]
    cell = Counter((p, gold[d].cluster) for d, p in predicted.items() if d in gold)
    kept = grouped = grouped_kept = 0
    text = dict(read_corpus(corpus if corpus.is_file() else corpus / "corpus.jsonl"))
    for d in originals:
        p = predicted.get(d)
        is_kept = p is None or text[representative[p]] == text[d]
        kept += is_kept
        if p is not None and cell[(p, gold[d].cluster)] > 1:
            grouped += 1
            grouped_kept += is_kept

    # Hard negatives per family of group, scored by dedup.evaluate on that family alone.
    families: dict[str, dict[str, int]] = {}
    for fam in sorted({gd.hard_negative.split("-")[0] for gd in gold.values() if gd.hard_negative}):
        sub = {
            d: gd
            for d, gd in gold.items()
            if gd.hard_negative and gd.hard_negative.split("-")[0] == fam
        }
        r = score(list(sub), predicted, sub)
        families[fam] = {"pairs": r.hard_negative_pairs, "merged": r.hard_negative_merged}
    return {
        "junk": junk,
        "originals": len(originals),
        "originals_kept": kept,
        "originals_grouped": grouped,
        "originals_grouped_kept": grouped_kept,
        "hard_negatives": families,
    }


def char_shingles(text: str, n: int = 5) -> set[bytes]:
    """Character n-grams of the raw text, as bytes for datasketch."""
    return {text[i : i + n].encode("utf-8") for i in range(max(1, len(text) - n + 1))}


def run_naive(
    corpus: Path, gold: Path, threshold: float = 0.7, num_perm: int = 128, ngram: int = 5
) -> Row:
    """datasketch MinHashLSH on raw character n-grams; every LSH hit is a match."""
    from datasketch import MinHash, MinHashLSH

    docs = read_corpus(corpus)
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs = {}
    for doc_id, text in docs:
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(list(char_shingles(text, ngram)))
        sigs[doc_id] = m
        lsh.insert(doc_id, m)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for doc_id, m in sigs.items():
        for other in lsh.query(m):
            a, b = find(doc_id), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    predicted = {d: find(d) for d in sigs}
    seconds = time.perf_counter() - t0
    result = score([d for d, _ in docs], predicted, read_gold(gold))
    banding = f"{lsh.b}x{lsh.r}"
    return Row(f"datasketch LSH raw {ngram}-grams t={threshold}", result, seconds, banding)


_TD_PREPARE = """
import sys
from datasets import Dataset
Dataset.from_json(sys.argv[1]).save_to_disk(sys.argv[2])
"""
_TD_CLUSTERS = """
import json, pickle, sys
with open(sys.argv[1], "rb") as f:
    uf = pickle.load(f)
print(json.dumps({str(k): str(uf.find(k)) for k in uf.parent}))
"""


def run_text_dedup(
    corpus: Path, gold: Path, python: str, threshold: float = 0.7, ngram: int = 5
) -> Row:
    """text-dedup's MinHash (its own tokenization and banding), offline, in its own venv."""
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="text-dedup-") as tmp:
        ds, out = Path(tmp) / "ds", Path(tmp) / "out"
        subprocess.run(
            [python, "-c", _TD_PREPARE, str(corpus), str(ds)],
            check=True,
            env=env,
            capture_output=True,
        )
        cmd = [
            python, "-m", "text_dedup.minhash", "--path", str(ds), "--local",
            "--output", str(out), "--column", "text", "--idx_column", "id",
            "--threshold", str(threshold), "--ngram", str(ngram), "--num_perm", "128",
            "--debug", "--num_proc", "1",
        ]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"text-dedup failed:\n{proc.stderr[-2000:]}")
        found = subprocess.run(
            [python, "-c", _TD_CLUSTERS, str(out / "uf.pkl")],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        predicted = json.loads(found.stdout)
    ids = [d for d, _ in read_corpus(corpus)]
    result = score(ids, predicted, read_gold(gold))
    return Row(f"text-dedup minhash t={threshold}", result, seconds)


# --------------------------------------------------------------------------- tables


def _worst(r: EvalResult) -> tuple[str, float]:
    scores = r.noise_recall_alone or r.noise_recall
    if not scores:
        return "-", 1.0
    kind = min(scores, key=lambda k: (scores[k], k))
    return kind, scores[kind]


def summary_table(rows: Sequence[Row]) -> str:
    """method, P, R, F1, ARI, worst single-noise recall, hard negatives merged, time."""
    width = max(len("method"), *(len(r.method) for r in rows))
    head = (
        f"{'method':<{width}}  {'prec':>6}  {'recall':>6}  {'F1':>6}  {'ARI':>6}  "
        f"{'worst noise (alone)':<26}  {'hard-neg':>9}  {'b x r':>6}  {'time s':>7}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        r = row.result
        kind, rec = _worst(r)
        hn = f"{r.hard_negative_merged}/{r.hard_negative_pairs}"
        lines.append(
            f"{row.method:<{width}}  {r.precision:6.4f}  {r.recall:6.4f}  {r.f1:6.4f}  "
            f"{r.ari:6.4f}  {kind + f' {rec:.3f}':<26}  {hn:>9}  {row.banding:>6}  "
            f"{row.seconds:7.1f}"
        )
    return "\n".join(lines)


def noise_table(rows: Sequence[Row]) -> str:
    """Recall per noise kind and method: kind alone vs clean / all pairs of the kind."""
    kinds = sorted({k for row in rows for k in row.result.noise_recall})
    if not kinds:
        return ""
    names = [f"m{i + 1}" for i in range(len(rows))]
    width = max(len(k) for k in kinds)
    lines = ["recall per noise kind: alone vs clean / all pairs of versions with the kind"]
    lines += [f"  {n} = {row.method}" for n, row in zip(names, rows, strict=True)]
    lines.append(f"{'noise':<{width}}  " + "  ".join(f"{n:>13}" for n in names))
    for k in kinds:
        cells = []
        for row in rows:
            alone = row.result.noise_recall_alone.get(k)
            total = row.result.noise_recall.get(k)
            a = f"{alone:.3f}" if alone is not None else "  -  "
            t = f"{total:.3f}" if total is not None else "  -  "
            flag = "*" if alone is not None and alone < TARGET_NOISE_RECALL else " "
            cells.append(f"{a}{flag}/{t}")
        lines.append(f"{k:<{width}}  " + "  ".join(f"{c:>13}" for c in cells))
    lines.append(f"(* below the target of {TARGET_NOISE_RECALL})")
    return "\n".join(lines)


def crawl_table(row: Row) -> str:
    """Junk pages in clusters, clean originals kept, hard negatives merged per family."""
    c = row.crawl or {}
    lines = [f"crawl corpus figures: {row.method}"]
    for kind, j in sorted(c.get("junk", {}).items()):
        lines.append(
            f"  {kind:<17} {j['in_clusters']:>5} of {j['documents']:>5} in clusters, "
            f"{j['with_content']} of them with articles or records"
        )
    n, grouped = c.get("originals", 0), c.get("originals_grouped", 0)
    lines.append(
        f"  clean originals   {c.get('originals_kept', 0)} of {n} kept; of the {grouped} grouped "
        f"with a copy, {c.get('originals_grouped_kept', 0)} kept (itself or an exact copy)"
    )
    for fam, h in sorted(c.get("hard_negatives", {}).items()):
        lines.append(
            f"  hard negatives    {fam:<9} {h['merged']:>7} of {h['pairs']:>9} pairs merged"
        )
    return "\n".join(lines)


def meets_targets(r: EvalResult) -> bool:
    """The project's quality targets."""
    return (
        r.f1 >= TARGET_F1
        and r.precision >= TARGET_PRECISION
        and all(v >= TARGET_NOISE_RECALL for v in r.noise_recall_alone.values())
        and r.hard_negative_merged == 0
    )


# --------------------------------------------------------------------------- sweep


def _floats(s: str) -> list[str]:
    return [v.strip() for v in s.split(",") if v.strip()]


def default_settings() -> dict[str, str]:
    """dedup's own defaults: the centre of a one-at-a-time sweep."""
    from dedup.config import LSHConfig, ShingleConfig, VerifyConfig

    v, sh, lsh = VerifyConfig(), ShingleConfig(), LSHConfig()
    return {
        "threshold": str(v.threshold),
        "containment": str(v.containment),
        "ngram": str(sh.ngram),
        "lsh-threshold": str(lsh.threshold),
    }


def sweep_settings(args: argparse.Namespace) -> list[dict[str, str]]:
    """Either the full grid or one parameter at a time around the defaults."""
    axes = {
        "threshold": _floats(args.thresholds),
        "containment": _floats(args.containments),
        "ngram": _floats(args.ngrams),
        "lsh-threshold": _floats(args.lsh_thresholds),
    }
    base = {k: v[0] if len(v) == 1 else args.base[k] for k, v in axes.items()}
    if args.grid:
        return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    settings = [base]
    for name, values in axes.items():
        for v in values:
            s = {**base, name: v}
            if s not in settings:
                settings.append(s)
    return settings


def sweep(corpus: Path, gold: Path, args: argparse.Namespace, extra: Sequence[str]) -> str:
    rows = []
    for s in sweep_settings(args):
        opts = [x for k, v in s.items() for x in (f"--{k}", v)]
        label = " ".join(f"{k}={v}" for k, v in s.items())
        row = run_dedup(corpus, gold, [*opts, *extra], label, args.dedup_command)
        ok = "  meets targets" if meets_targets(row.result) else ""
        print(summary_table([row]).splitlines()[-1] + ok, file=sys.stderr, flush=True)
        rows.append(row)
    lines = [summary_table(rows)]
    passing = [r for r in rows if meets_targets(r.result)]
    lines.append("")
    if passing:
        best = max(passing, key=lambda r: (r.result.f1, -r.seconds))
        lines.append(f"best meeting all targets: {best.method} (F1 {best.result.f1:.4f})")
    else:
        best = max(rows, key=lambda r: (r.result.f1, -r.seconds))
        lines.append(f"no setting meets all targets; best F1: {best.method}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def ensure_corpus(directory: Path) -> tuple[Path, Path]:
    corpus, gold = directory / "corpus.jsonl", directory / "gold.jsonl"
    if not (corpus.exists() and gold.exists()):
        print(f"building the corpus in {directory}", file=sys.stderr)
        subprocess.run(
            [sys.executable, str(HERE / "make_corpus.py"), "--out", str(directory)], check=True
        )
    return corpus, gold


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="folder with corpus/gold.jsonl")
    ap.add_argument("--no-baselines", action="store_true", help="only dedup")
    ap.add_argument("--baseline-threshold", type=float, default=0.7)
    ap.add_argument(
        "--text-dedup-python",
        default=os.environ.get("TEXT_DEDUP_PYTHON"),
        help="a python with text-dedup installed (or $TEXT_DEDUP_PYTHON)",
    )
    ap.add_argument(
        "--dedup-command",
        type=shlex.split,
        default=DEDUP_COMMAND,
        help="how to start dedup (default: this python -m dedup), e.g. another checkout's",
    )
    ap.add_argument("--json", type=Path, help="also write every result here")
    ap.add_argument("--sweep", action="store_true", help="parameter sweep of dedup run")
    ap.add_argument("--grid", action="store_true", help="sweep the full product of values")
    ap.add_argument("--thresholds", default="0.5,0.6,0.7,0.8")
    ap.add_argument("--containments", default="0.7,0.75,0.8,0.85,0.9")
    ap.add_argument("--ngrams", default="3,4,5,6")
    ap.add_argument("--lsh-thresholds", default="0.2,0.25,0.3,0.4")
    ap.add_argument(
        "--around",
        default="",
        help="centre of a one-at-a-time sweep instead of the defaults, e.g. ngram=4,threshold=0.6",
    )
    args = ap.parse_args(argv)
    args.base = default_settings()
    for item in filter(None, args.around.split(",")):
        key, _, value = item.partition("=")
        if key not in args.base or not value:
            ap.error(f"--around: expected NAME=VALUE with NAME in {', '.join(args.base)}")
        args.base[key] = value
    corpus, gold = ensure_corpus(args.corpus)

    if args.sweep:
        print(sweep(corpus, gold, args, extra))
        return 0

    rows = [run_dedup(corpus, gold, extra, command=args.dedup_command)]
    if not args.no_baselines:
        rows.append(run_naive(corpus, gold, args.baseline_threshold))
        if args.text_dedup_python:
            try:
                rows.append(
                    run_text_dedup(corpus, gold, args.text_dedup_python, args.baseline_threshold)
                )
            except (RuntimeError, subprocess.CalledProcessError) as e:
                print(f"text-dedup skipped: {e}", file=sys.stderr)
    print(summary_table(rows))
    print()
    print(noise_table(rows))
    for row in rows:
        if row.crawl is not None:
            print()
            print(crawl_table(row))
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {"method": r.method, "seconds": r.seconds, **r.result.to_dict()}
                    | ({"crawl": r.crawl} if r.crawl is not None else {})
                    for r in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
