"""Verdicts on pairs: labels.jsonl (the latest verdict on a pair wins) and `dedup eval
--labels` (precision over merged pairs, recall over pairs labelled the same article)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_serve import serve_run

from dedup.cli import cli
from dedup.errors import InputError
from dedup.evaluate import evaluate_labels, format_labels, score_labels
from dedup.labels import Label, LabelLog, pair, parse_label, read_labels

IDS = ["a1", "a2", "a3", "b1", "b2", "c"]
# The run: a1 a2 a3 in cluster 0, b1 b2 in cluster 1, c in none.
PREDICTED = {"a1": 0, "a2": 0, "a3": 0, "b1": 1, "b2": 1}


def _lines(path: Path, *labels: dict) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in labels), encoding="utf-8")
    return path


def test_the_latest_verdict_on_a_pair_wins_whatever_its_order(tmp_path: Path) -> None:
    path = _lines(
        tmp_path / "labels.jsonl",
        {"a": "x", "b": "y", "dup": True},
        {"a": "x", "b": "z", "dup": True},
        {"a": "y", "b": "x", "dup": False},
    )
    verdicts = read_labels(path)
    assert verdicts == {
        pair("x", "y"): Label("y", "x", False),
        pair("x", "z"): Label("x", "z", True),
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"a": "x", "b": "y"}', '"dup" must be true or false'),
        ('{"a": "x", "b": "y", "dup": 1}', '"dup" must be true or false'),
        ('{"a": "x", "b": "x", "dup": true}', "two different documents"),
        ('{"a": 3, "b": "x", "dup": true}', '"a" must be a document id'),
        ('["x", "y", true]', "expected an object"),
        ('{"a": "x\\ud800", "b": "y", "dup": true}', "lone surrogate"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text('{"a": "p", "b": "q", "dup": true}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 3") as e:
        read_labels(path)
    assert message in str(e.value) and str(path) in str(e.value)


def test_the_log_appends_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    log = LabelLog(path)
    log.record(parse_label({"a": "x", "b": "y", "dup": True}))
    log.record(parse_label({"a": "y", "b": "x", "dup": False}))
    assert log.verdict("x", "y") is False and log.verdict("x", "z") is None
    assert path.read_text("utf-8").count("\n") == 2
    again = LabelLog(path)
    assert again.verdict("y", "x") is False and list(again.verdicts()) == [("x", "y")]


@pytest.mark.parametrize(
    ("labels", "want"),
    [
        # (a, b, dup) -> (tp, fp, missed, apart, precision, recall)
        ([("a1", "a2", True), ("a1", "a3", True)], (2, 0, 0, 0, 1.0, 1.0)),
        ([("a1", "a2", True), ("a1", "a3", False)], (1, 1, 0, 0, 0.5, 1.0)),
        ([("a1", "b1", True), ("b1", "b2", True)], (1, 0, 1, 0, 1.0, 0.5)),
        ([("a1", "c", True)], (0, 0, 1, 0, None, 0.0)),
        ([("a1", "b1", False), ("c", "b2", False)], (0, 0, 0, 2, None, None)),
        ([("b1", "b2", False)], (0, 1, 0, 0, 0.0, None)),
    ],
)
def test_pairs_are_scored_by_where_the_run_put_them(
    labels: list[tuple[str, str, bool]], want: tuple
) -> None:
    r = score_labels(IDS, PREDICTED, [Label(*x) for x in labels])
    got = (r.true_positives, r.false_positives, r.missed, r.true_negatives)
    assert got + (r.precision, r.recall) == want
    assert r.labelled == len(labels) and r.unknown == 0
    wrong = {(w.a, w.b) for w in r.wrong}
    assert wrong == {
        (a, b) for a, b, dup in labels if dup != (PREDICTED.get(a, a) == PREDICTED.get(b, b))
    }


def test_pairs_about_unknown_documents_are_not_scored() -> None:
    r = score_labels(IDS, PREDICTED, [Label("a1", "zz", True), Label("a1", "a2", True)])
    assert (r.labelled, r.unknown, r.true_positives, r.precision) == (2, 1, 1, 1.0)


def test_eval_labels_on_a_run(tmp_path: Path) -> None:
    out = serve_run(tmp_path)
    clusters = [json.loads(x) for x in (out / "clusters.jsonl").read_text("utf-8").splitlines()]
    one, two = clusters[0], clusters[1]
    a, b = one["representative"], one["members"][-1]["id"]
    c = two["representative"]
    labels = _lines(
        tmp_path / "labels.jsonl",
        {"a": a, "b": b, "dup": True},  # merged, right
        {"a": a, "b": two["members"][-1]["id"], "dup": False},  # apart, right
        {"a": b, "b": c, "dup": True},  # apart, but the same article: missed
        {"a": c, "b": two["members"][-1]["id"], "dup": False},  # merged, wrongly
    )
    r = evaluate_labels(out, labels)
    assert (r.true_positives, r.false_positives, r.missed, r.true_negatives) == (1, 1, 1, 1)
    text = format_labels(r)
    assert "precision           0.5000  (1 of 2 labelled pairs" in text
    assert "recall              0.5000  (1 of 2 pairs labelled the same article)" in text
    assert f"cluster {one['cluster']} and cluster {two['cluster']}" in text
    assert f"wrongly merged: labelled different, both in cluster {two['cluster']}" in text
    result = CliRunner().invoke(cli, ["eval", "--labels", str(labels), str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["precision"] == 0.5 and doc["labelled"] == 4 and len(doc["wrong"]) == 2
    both = CliRunner().invoke(cli, ["eval", str(out)])
    assert both.exit_code == 2 and "--gold FILE or --labels FILE" in both.output
