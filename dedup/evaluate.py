"""Score a run's clusters against a labelled gold standard.

The gold file has one line per document, `{"id": ..., "cluster": ...}`, optionally with
`"noise"` (a kind or a list of kinds applied to that version) and `"hard_negative"` (a group
of documents from different clusters built to look alike, e.g. one site's boilerplate around
different articles). Documents the gold does not list are singletons.

Every figure is computed from the contingency table of (gold cluster, predicted cluster)
counts, so a cluster of k documents costs O(k), not O(k^2) pairs.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .io.writers import document_files

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class EvalResult:
    """Pairwise and partition scores of one run against the gold standard.

    A pair is two documents in the same cluster. `noise_recall[kind]` is the share of pairs
    (a version carrying `kind`, another member of its gold cluster) that the run put in one
    cluster; `noise_recall_alone` counts only pairs of a version carrying that kind and no
    other with a clean member (no noise) of its cluster, so it isolates that kind's effect.
    `missed` holds a few ids per kind of noisy versions separated from their gold cluster.
    """

    documents: int
    gold_clusters: int  # gold clusters of two or more documents
    predicted_clusters: int
    gold_pairs: int
    predicted_pairs: int
    true_pairs: int
    precision: float
    recall: float
    f1: float
    ari: float
    noise_pairs: Mapping[str, int] = field(default_factory=dict)
    noise_recall: Mapping[str, float] = field(default_factory=dict)
    noise_recall_alone: Mapping[str, float] = field(default_factory=dict)
    hard_negative_pairs: int = 0
    hard_negative_merged: int = 0
    missed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        d = asdict(self)
        d["missed"] = {k: list(v) for k, v in self.missed.items()}
        return d


@dataclass(frozen=True)
class GoldDoc:
    """One line of the gold file."""

    cluster: str
    noise: tuple[str, ...] = ()
    hard_negative: str | None = None


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _ratio(num: int, den: int) -> float:
    # No pair to find (or none claimed) means nothing was missed (or wrongly merged).
    return num / den if den else 1.0


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        fh = path.open(encoding="utf-8")
    except OSError as e:
        raise InputError(str(path), f"cannot open: {e.strerror or e}") from e
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(str(path), f"invalid JSON: {e.msg}", lineno) from e
            if not isinstance(obj, dict):
                raise InputError(str(path), "expected a JSON object", lineno)
            yield lineno, obj


def _records(path: Path, id_field: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or row number, record) of a run's JSONL or Parquet output file."""
    if path.suffix == ".parquet":
        from .io.parquet import parquet_records

        return parquet_records(path, [id_field])
    return _jsonl(path)


def read_gold(path: Path) -> dict[str, GoldDoc]:
    """Parse the gold file into id -> GoldDoc."""
    gold: dict[str, GoldDoc] = {}
    for lineno, obj in _jsonl(path):
        if "id" not in obj or "cluster" not in obj:
            raise InputError(str(path), 'each line needs "id" and "cluster"', lineno)
        raw = obj.get("noise")
        noise: tuple[str, ...]
        if raw is None:
            noise = ()
        elif isinstance(raw, str):
            noise = (raw,)
        elif isinstance(raw, list) and all(isinstance(k, str) for k in raw):
            noise = tuple(raw)
        else:
            raise InputError(str(path), '"noise" must be a string or a list of strings', lineno)
        hn = obj.get("hard_negative")
        doc_id = str(obj["id"])
        if doc_id in gold:
            raise InputError(str(path), f"duplicate id {doc_id!r}", lineno)
        gold[doc_id] = GoldDoc(
            cluster=str(obj["cluster"]),
            noise=noise,
            hard_negative=None if hn is None else str(hn),
        )
    return gold


def read_predicted(outdir: Path) -> tuple[list[str], dict[str, int]]:
    """All document ids of a run (kept and removed, or annotated; JSONL or Parquet) and
    id -> predicted cluster.

    Documents in no cluster are absent from the mapping (singletons).
    """
    id_field = "id"
    summary = outdir / "summary.json"
    if summary.exists():
        try:
            cfg = json.loads(summary.read_text(encoding="utf-8")).get("config", {})
        except json.JSONDecodeError as e:
            raise InputError(str(summary), f"invalid JSON: {e.msg}") from e
        id_field = cfg.get("read", {}).get("id_field", id_field)
    ids: list[str] = []
    for path in reversed(document_files(outdir)):  # kept, then removed
        for lineno, obj in _records(path, id_field):
            if id_field not in obj:
                raise InputError(str(path), f"no {id_field!r} field", lineno)
            ids.append(str(obj[id_field]))
    predicted: dict[str, int] = {}
    path = outdir / "clusters.jsonl"
    for lineno, obj in _jsonl(path):
        try:
            cid = int(obj["cluster"])
            members = [str(m["id"]) for m in obj["members"]]
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(str(path), f"malformed cluster line: {e}", lineno) from e
        for m in members:
            predicted[m] = cid
    return ids, predicted


def score(
    ids: Iterable[str], predicted: Mapping[str, object], gold: Mapping[str, GoldDoc]
) -> EvalResult:
    """Score a partition: `predicted` maps ids to cluster labels (absent: singleton).

    The documents scored are `ids` plus every id in the gold.
    """
    universe = list(dict.fromkeys([*ids, *gold]))
    # Label each document; singletons get a label of their own.
    g_label: dict[str, object] = {}
    p_label: dict[str, object] = {}
    for d in universe:
        gd = gold.get(d)
        g_label[d] = ("g", gd.cluster) if gd is not None else ("s", d)
        p = predicted.get(d)
        p_label[d] = ("p", p) if p is not None else ("s", d)

    g_size = Counter(g_label.values())
    p_size = Counter(p_label.values())
    cell = Counter((g_label[d], p_label[d]) for d in universe)

    gold_pairs = sum(_pairs(n) for n in g_size.values())
    pred_pairs = sum(_pairs(n) for n in p_size.values())
    true_pairs = sum(_pairs(n) for n in cell.values())
    precision = _ratio(true_pairs, pred_pairs)
    recall = _ratio(true_pairs, gold_pairs)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    # Adjusted Rand index (Hubert & Arabie) from the same pair counts.
    total = _pairs(len(universe))
    expected = gold_pairs * pred_pairs / total if total else 0.0
    maximum = (gold_pairs + pred_pairs) / 2
    ari = (true_pairs - expected) / (maximum - expected) if maximum != expected else 1.0

    # Per noise kind: pairs (noisy version, other member of its gold cluster), and pairs
    # (version with only this kind, clean member): the second isolates the kind's effect.
    clean = [d for d in universe if d not in gold or not gold[d].noise]
    g_clean = Counter(g_label[d] for d in clean)
    cell_clean = Counter((g_label[d], p_label[d]) for d in clean)
    found: Counter[str] = Counter()
    want: Counter[str] = Counter()
    found_alone: Counter[str] = Counter()
    want_alone: Counter[str] = Counter()
    missed: dict[str, list[str]] = defaultdict(list)
    # Examples: versions split from a clean member of their cluster, single-kind ones first.
    for d, gd in sorted(gold.items(), key=lambda item: len(set(item[1].noise))):
        if not gd.noise:
            continue
        g, p = g_label[d], p_label[d]
        n_want = g_size[g] - 1
        n_found = cell[(g, p)] - 1
        own = set(gd.noise)
        for kind in own:
            want[kind] += n_want
            found[kind] += n_found
            if len(own) == 1:
                want_alone[kind] += g_clean[g]
                found_alone[kind] += cell_clean[(g, p)]
            if cell_clean[(g, p)] < g_clean[g] and len(missed[kind]) < MAX_EXAMPLES:
                missed[kind].append(d)

    # Hard negatives: pairs in one group but different gold clusters, merged by the run.
    hn_members: dict[str, list[str]] = defaultdict(list)
    for d, gd in gold.items():
        if gd.hard_negative is not None:
            hn_members[gd.hard_negative].append(d)
    hn_pairs = 0
    hn_merged = 0
    for members in hn_members.values():
        by_gold = Counter(g_label[d] for d in members)
        by_pred = Counter(p_label[d] for d in members)
        by_both = Counter((g_label[d], p_label[d]) for d in members)
        hn_pairs += _pairs(len(members)) - sum(_pairs(n) for n in by_gold.values())
        hn_merged += sum(_pairs(n) for n in by_pred.values()) - sum(
            _pairs(n) for n in by_both.values()
        )

    kinds = sorted(want)
    return EvalResult(
        documents=len(universe),
        gold_clusters=sum(1 for n in g_size.values() if n > 1),
        predicted_clusters=sum(1 for n in p_size.values() if n > 1),
        gold_pairs=gold_pairs,
        predicted_pairs=pred_pairs,
        true_pairs=true_pairs,
        precision=precision,
        recall=recall,
        f1=f1,
        ari=ari,
        noise_pairs={k: want[k] for k in kinds},
        noise_recall={k: _ratio(found[k], want[k]) for k in kinds},
        noise_recall_alone={k: _ratio(found_alone[k], want_alone[k]) for k in sorted(want_alone)},
        hard_negative_pairs=hn_pairs,
        hard_negative_merged=hn_merged,
        missed={k: tuple(v) for k, v in sorted(missed.items())},
    )


def evaluate(outdir: Path, gold: Path) -> EvalResult:
    """Score the output directory of `dedup run` against GOLD.jsonl."""
    ids, predicted = read_predicted(Path(outdir))
    return score(ids, predicted, read_gold(Path(gold)))


def format_table(result: EvalResult) -> str:
    """A plain-text table of the scores, for the terminal."""
    r = result
    lines = [
        f"documents           {r.documents}",
        f"clusters            gold {r.gold_clusters}, predicted {r.predicted_clusters}",
        f"pairs               gold {r.gold_pairs}, predicted {r.predicted_pairs}, "
        f"correct {r.true_pairs}",
        f"precision           {r.precision:.4f}",
        f"recall              {r.recall:.4f}",
        f"F1                  {r.f1:.4f}",
        f"adjusted Rand index {r.ari:.4f}",
        f"hard negatives      {r.hard_negative_merged} of {r.hard_negative_pairs} pairs merged",
    ]
    if r.noise_recall:
        width = max(len(k) for k in r.noise_recall)
        lines.append("")
        lines.append(f"{'noise':<{width}}  {'pairs':>7}  {'recall':>7}  {'alone':>7}  missed")
        for kind, rec in r.noise_recall.items():
            alone = r.noise_recall_alone.get(kind)
            alone_s = f"{alone:7.4f}" if alone is not None else f"{'-':>7}"
            ex = ", ".join(r.missed.get(kind, ()))
            lines.append(
                f"{kind:<{width}}  {r.noise_pairs[kind]:>7}  {rec:7.4f}  {alone_s}  {ex}".rstrip()
            )
    return "\n".join(lines)


# -- reviewers' verdicts on pairs (labels.jsonl) ---------------------------------------------


@dataclass(frozen=True)
class WrongPair:
    """A labelled pair the run got wrong, with the clusters it put the two documents in."""

    a: str
    b: str
    dup: bool  # the verdict: true = same article (the run split them), false = merged wrongly
    cluster_a: int | None
    cluster_b: int | None


@dataclass(frozen=True)
class LabelResult:
    """A run scored on labelled pairs.

    A pair the run put in one cluster is a true positive when labelled the same article and a
    false positive when labelled different; a pair labelled the same article that the run
    left apart is missed. Precision is over the labelled pairs the run merged, recall over
    the pairs labelled the same article. Pairs naming a document the run does not have are
    counted apart and not scored.
    """

    labelled: int
    true_positives: int
    false_positives: int
    missed: int
    true_negatives: int
    unknown: int
    precision: float | None  # None: no labelled pair in one cluster
    recall: float | None  # None: no pair labelled the same article
    wrong: tuple[WrongPair, ...]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["wrong"] = [asdict(w) for w in self.wrong]
        return d


def score_labels(
    ids: Iterable[str], predicted: Mapping[str, int], labels: Iterable[Any]
) -> LabelResult:
    """Score `predicted` (id -> cluster, absent: a document in no cluster) on verdicts
    (`labels.Label`s: a, b, dup) about documents of `ids`."""
    known = set(ids)
    tp = fp = fn = tn = unknown = 0
    wrong: list[WrongPair] = []
    total = 0
    for label in labels:
        total += 1
        if label.a not in known or label.b not in known:
            unknown += 1
            continue
        ca, cb = predicted.get(label.a), predicted.get(label.b)
        together = ca is not None and ca == cb
        if together and label.dup:
            tp += 1
        elif together:
            fp += 1
        elif label.dup:
            fn += 1
        else:
            tn += 1
        if together != label.dup:
            wrong.append(WrongPair(label.a, label.b, label.dup, ca, cb))
    return LabelResult(
        labelled=total,
        true_positives=tp,
        false_positives=fp,
        missed=fn,
        true_negatives=tn,
        unknown=unknown,
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / (tp + fn) if tp + fn else None,
        wrong=tuple(wrong),
    )


def evaluate_labels(outdir: Path, labels: Path) -> LabelResult:
    """Score the run in OUTDIR on the verdicts of a labels file (`dedup serve` writes one)."""
    from .labels import read_labels

    verdicts = read_labels(Path(labels))
    ids, predicted = read_predicted(Path(outdir))
    return score_labels(ids, predicted, verdicts.values())


def format_labels(result: LabelResult, limit: int = 50) -> str:
    """A plain-text account of a run on labelled pairs, with the pairs it got wrong."""
    r = result

    def ratio(x: float | None, num: int, den: int, over: str) -> str:
        if x is None:
            return f"n/a: no {over}"
        return f"{x:.4f}  ({num} of {den} {over})"

    merged = r.true_positives + r.false_positives
    same = r.true_positives + r.missed
    unknown = f" ({r.unknown} name a document not in this run: not scored)" if r.unknown else ""
    lines = [
        f"labelled pairs      {r.labelled}{unknown}",
        "precision           "
        + ratio(r.precision, r.true_positives, merged, "labelled pairs the run put in one cluster"),
        "recall              "
        + ratio(r.recall, r.true_positives, same, "pairs labelled the same article"),
        f"wrongly merged      {r.false_positives}",
        f"missed              {r.missed}",
        f"correctly apart     {r.true_negatives}",
    ]
    if r.wrong:
        lines += ["", "pairs the run got wrong:"]

        def where(c: int | None) -> str:
            return "no cluster" if c is None else f"cluster {c}"

        for w in r.wrong[:limit]:
            if not w.dup:
                what = f"wrongly merged: labelled different, both in cluster {w.cluster_a}"
            elif w.cluster_a is None and w.cluster_b is None:
                what = "missed: labelled the same article, neither is in a cluster"
            else:
                what = "missed: labelled the same article, the run put them in "
                what += f"{where(w.cluster_a)} and {where(w.cluster_b)}"
            a, b = (json.dumps(x, ensure_ascii=False) for x in (w.a, w.b))
            lines.append(f"  {a}  {b}  {what}")
        if len(r.wrong) > limit:
            lines.append(f"  ... and {len(r.wrong) - limit} more (--json lists them all)")
    return "\n".join(lines)
