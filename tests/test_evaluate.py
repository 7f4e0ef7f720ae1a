"""Scoring against a gold standard: pair counts, ARI, per-noise recall, hard negatives."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.errors import InputError
from dedup.evaluate import GoldDoc, evaluate, format_table, read_gold, score


def gold_of(clusters: dict[str, str], **extra: dict[str, object]) -> dict[str, GoldDoc]:
    out = {}
    for d, c in clusters.items():
        e = extra.get(d, {})
        noise = e.get("noise", ())
        out[d] = GoldDoc(
            cluster=c,
            noise=(noise,) if isinstance(noise, str) else tuple(noise),  # type: ignore[arg-type]
            hard_negative=e.get("hard_negative"),  # type: ignore[arg-type]
        )
    return out


def brute_force(ids: list[str], gold: dict[str, str], pred: dict[str, str]) -> tuple[int, ...]:
    """(gold pairs, predicted pairs, correct pairs) by enumerating every pair."""
    g = p = t = 0
    for a, b in itertools.combinations(ids, 2):
        same_g = a in gold and b in gold and gold[a] == gold[b]
        same_p = a in pred and b in pred and pred[a] == pred[b]
        g += same_g
        p += same_p
        t += same_g and same_p
    return g, p, t


def test_perfect_prediction_scores_one() -> None:
    gold = gold_of({"a": "x", "b": "x", "c": "y", "d": "y", "e": "z"})
    r = score(list(gold), {"a": 1, "b": 1, "c": 2, "d": 2}, gold)
    assert (r.precision, r.recall, r.f1, r.ari) == (1.0, 1.0, 1.0, 1.0)
    assert (r.gold_pairs, r.predicted_pairs, r.true_pairs) == (2, 2, 2)
    assert r.gold_clusters == 2 and r.predicted_clusters == 2


def test_nothing_found() -> None:
    gold = gold_of({"a": "x", "b": "x", "c": "x"})
    r = score(list(gold), {}, gold)
    assert r.recall == 0.0
    assert r.precision == 1.0  # nothing claimed, nothing wrong
    assert r.f1 == 0.0


def test_everything_merged() -> None:
    gold = gold_of({"a": "x", "b": "x", "c": "y", "d": "z"})
    r = score(list(gold), dict.fromkeys("abcd", 0), gold)
    assert r.recall == 1.0
    assert r.precision == pytest.approx(1 / 6)
    assert r.ari == pytest.approx(0.0)


def test_ari_matches_known_value() -> None:
    # labels_true = [0, 0, 1, 1], labels_pred = [0, 0, 1, 2]: ARI = 4/7 (Hubert & Arabie).
    gold = gold_of({"a": "0", "b": "0", "c": "1", "d": "1"})
    r = score(list(gold), {"a": 0, "b": 0, "c": 1, "d": 2}, gold)
    assert r.ari == pytest.approx(4 / 7)
    assert r.precision == 1.0 and r.recall == 0.5


def test_documents_outside_the_gold_are_singletons() -> None:
    gold = gold_of({"a": "x", "b": "x"})
    r = score(["a", "b", "extra"], {"a": 1, "b": 1, "extra": 1}, gold)
    assert r.documents == 3
    assert r.predicted_pairs == 3 and r.true_pairs == 1
    assert r.precision == pytest.approx(1 / 3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=25),
    st.lists(st.integers(0, 4), min_size=1, max_size=25),
)
def test_pair_counts_match_enumeration(gold_labels: list[int], pred_labels: list[int]) -> None:
    n = min(len(gold_labels), len(pred_labels))
    ids = [f"d{i}" for i in range(n)]
    gold = {d: f"g{gold_labels[i]}" for i, d in enumerate(ids)}
    pred = {d: f"p{pred_labels[i]}" for i, d in enumerate(ids)}
    r = score(ids, pred, gold_of(gold))
    assert (r.gold_pairs, r.predicted_pairs, r.true_pairs) == brute_force(ids, gold, pred)
    assert -1.0 <= r.ari <= 1.0 + 1e-9


def test_noise_recall_counts_pairs_with_the_cluster() -> None:
    # Cluster x: clean a, noisy b (s2t) and c (pinyin + s2t). The run misses c.
    gold = gold_of(
        {"a": "x", "b": "x", "c": "x"},
        b={"noise": "s2t"},
        c={"noise": ["pinyin", "s2t"]},
    )
    r = score(list(gold), {"a": 1, "b": 1}, gold)
    # s2t: b has 2 pairs (1 found), c has 2 pairs (0 found).
    assert r.noise_pairs == {"pinyin": 2, "s2t": 4}
    assert r.noise_recall["s2t"] == pytest.approx(1 / 4)
    assert r.noise_recall["pinyin"] == 0.0
    # Alone: only b carries a single kind, and its pair with clean a was found.
    assert r.noise_recall_alone == {"s2t": 1.0}
    assert r.missed["pinyin"] == ("c",)
    assert "b" not in r.missed["s2t"]


def test_hard_negative_merges() -> None:
    gold = gold_of(
        {"a": "x", "b": "y", "c": "z", "a2": "x"},
        a={"hard_negative": "site"},
        b={"hard_negative": "site"},
        c={"hard_negative": "site"},
        a2={"hard_negative": "site"},
    )
    # Pairs in the group from different clusters: a-b, a-c, b-c, a2-b, a2-c = 5.
    r = score(list(gold), {"a": 1, "a2": 1, "b": 1, "c": 2}, gold)
    assert r.hard_negative_pairs == 5
    assert r.hard_negative_merged == 2  # a-b and a2-b; a-a2 is a true pair
    clean = score(list(gold), {"a": 1, "a2": 1}, gold)
    assert clean.hard_negative_merged == 0


def write_run(outdir: Path, id_field: str = "id") -> None:
    outdir.mkdir()
    (outdir / "summary.json").write_text(json.dumps({"config": {"read": {"id_field": id_field}}}))
    kept = [{id_field: "a", "text": "…"}, {id_field: "c", "text": "…"}]
    removed = [{id_field: "b", "text": "…", "duplicate_of": "a", "cluster": 0}]
    (outdir / "kept.jsonl").write_text("".join(json.dumps(k) + "\n" for k in kept))
    (outdir / "removed.jsonl").write_text("".join(json.dumps(k) + "\n" for k in removed))
    cluster = {
        "cluster": 0,
        "representative": "a",
        "members": [
            {"id": "a", "jaccard": 1.0, "containment": 1.0},
            {"id": "b", "jaccard": 0.8, "containment": 0.9},
        ],
    }
    (outdir / "clusters.jsonl").write_text(json.dumps(cluster) + "\n")


def write_gold(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    return path


def test_evaluate_reads_an_output_folder(tmp_path: Path) -> None:
    write_run(tmp_path / "out", id_field="doc_id")
    gold = write_gold(
        tmp_path / "gold.jsonl",
        [
            {"id": "a", "cluster": 1},
            {"id": "b", "cluster": 1, "noise": "s2tw"},
            {"id": "c", "cluster": 1, "noise": ["truncate"]},
        ],
    )
    r = evaluate(tmp_path / "out", gold)
    assert r.documents == 3
    assert r.true_pairs == 1 and r.gold_pairs == 3
    assert r.noise_recall_alone == {"s2tw": 1.0, "truncate": 0.0}
    d = r.to_dict()
    assert json.loads(json.dumps(d))["missed"] == {"truncate": ["c"]}
    table = format_table(r)
    assert "truncate" in table and "0.3333" in table


def test_gold_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "gold.jsonl"
    bad.write_text('{"id": "a", "cluster": 1}\n{"id": "b"}\n')
    with pytest.raises(InputError) as e:
        read_gold(bad)
    assert e.value.line == 2
    bad.write_text('{"id": "a", "cluster": 1}\nnot json\n')
    with pytest.raises(InputError, match="invalid JSON"):
        read_gold(bad)
    bad.write_text('{"id": "a", "cluster": 1, "noise": 3}\n')
    with pytest.raises(InputError, match="noise"):
        read_gold(bad)


def test_missing_output_file(tmp_path: Path) -> None:
    gold = write_gold(tmp_path / "gold.jsonl", [{"id": "a", "cluster": 1}])
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError, match="kept.jsonl"):
        evaluate(tmp_path / "out", gold)
