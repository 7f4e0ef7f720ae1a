from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from dedup import Config, DedupIndex, Deduplicator, Doc, deduplicate
from dedup.config import ClusterConfig
from dedup.errors import DedupError, InputError
from dedup.stream import FIELDS
from dedup.types import Member

PAIR_OLD, PAIR_NEW = "000_fa5b47ae513dff0c.txt", "001_096293c0fedcb6b3.txt"
CONFIG = Config(jobs=1)


def _corpus(seed_texts: dict[str, str]) -> list[dict[str, Any]]:
    """The seeds plus versions of the distinct articles: a truncated copy and a copy with a
    paragraph added, so clusters have three members and the longest is not first."""
    records = [{"id": k, "text": v, "n": i} for i, (k, v) in enumerate(seed_texts.items())]
    names = sorted(seed_texts)[2:]
    for name in names:
        text = seed_texts[name]
        records.append({"id": f"{name}-cut", "text": text[: len(text) * 9 // 10], "n": -1})
    for name in names:
        text = seed_texts[name]
        records.append({"id": f"{name}-more", "text": text + "\n本文另有一段补充说明。", "n": -2})
    return records


def _expected(records: list[dict[str, Any]], config: Config) -> dict[str, tuple]:
    """The annotate fields (`FIELDS`: dedup_cluster, dedup_keep, dedup_duplicate_of, then
    why a member is in its cluster) per id, from deduplicate()."""
    result = deduplicate([Doc(r["id"], r["text"]) for r in records], config)
    cluster_of = {m.id: c.cluster for c in result.clusters for m in c.members}
    member = {m.id: m for c in result.clusters for m in c.members}
    none = (None, None, None, None)
    return {
        r["id"]: (
            cluster_of.get(r["id"]),
            r["id"] not in result.removed,
            result.removed[r["id"]][0] if r["id"] in result.removed else None,
            *(_why(member[r["id"]]) if r["id"] in member else none),
        )
        for r in records
    }


def _why(m: Member) -> tuple:
    return (m.via, m.via_jaccard, m.via_containment, m.repeated_share)


def _fields(records: list[dict[str, Any]]) -> dict[str, tuple]:
    """The annotate fields of every record, by id."""
    return {r["id"]: tuple(r[f] for f in FIELDS) for r in records}


def _fates(records: list[dict[str, Any]]) -> dict[str, tuple]:
    """(dedup_cluster, dedup_keep, dedup_duplicate_of) of every record, by id."""
    return {k: v[:3] for k, v in _fields(records).items()}


def _batches(records: list[Any], size: int) -> list[list[Any]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


@pytest.mark.parametrize("representative", ["longest", "first", "shortest"])
@pytest.mark.parametrize("size", [1, 4, 100])
def test_two_pass_equals_deduplicate(
    seed_texts: dict[str, str], representative: str, size: int
) -> None:
    config = Config(cluster=ClusterConfig(representative), jobs=1)  # type: ignore[arg-type]
    records = _corpus(seed_texts)
    expected = _expected(records, config)
    assert sum(1 for v in expected.values() if not v[1]) == 7  # the corpus has duplicates
    index = DedupIndex(config)
    for batch in _batches(records, size):
        index.add(batch)
    index.finish()
    annotated = [r for batch in _batches(records, size) for r in index.annotate(batch)]
    assert _fields(annotated) == expected
    # Original fields come back unchanged, in order.
    assert [{k: r[k] for k in ("id", "text", "n")} for r in annotated] == records


def test_two_pass_longest_kept_on_seeds(seed_texts: dict[str, str]) -> None:
    records = [{"id": k, "text": v} for k, v in seed_texts.items()]
    index = DedupIndex(CONFIG)
    index.add(records)
    index.finish()
    annotated = index.annotate(records)
    got = _fates(annotated)
    assert got[PAIR_NEW] == (0, True, None)
    assert got[PAIR_OLD] == (0, False, PAIR_NEW)
    assert {v for k, v in got.items() if k not in (PAIR_OLD, PAIR_NEW)} == {(None, True, None)}
    why = {k: v[3:] for k, v in _fields(annotated).items()}
    assert why[PAIR_NEW] == (None, None, None, 0.0)  # the representative: in, but via nothing
    assert why[PAIR_OLD][0] == PAIR_NEW and 0.6 < why[PAIR_OLD][1] < why[PAIR_OLD][2] <= 1
    assert why["002_330fed40d821b570.txt"] == (None, None, None, None)  # in no cluster


def _as(kind: str, records: list[dict[str, Any]]) -> Any:
    if kind == "records":
        return records
    if kind == "columns":
        return {k: [r[k] for r in records] for k in records[0]}
    if kind == "arrow-batch":
        return pa.RecordBatch.from_pylist(records)
    if kind == "arrow-table":
        return pa.Table.from_pylist(records)
    return pd.DataFrame(records)


def _rows(kind: str, batch: Any) -> list[dict[str, Any]]:
    if kind == "records":
        return batch
    if kind == "columns":
        return [dict(zip(batch, row, strict=True)) for row in zip(*batch.values(), strict=True)]
    if kind.startswith("arrow"):
        return batch.to_pylist()
    return [
        {k: (None if v is pd.NA else v) for k, v in row.items()}
        for row in batch.astype(object).to_dict("records")
    ]


KINDS = ["records", "columns", "arrow-batch", "arrow-table", "pandas"]
TYPES = {
    "records": list,
    "columns": dict,
    "arrow-batch": pa.RecordBatch,
    "arrow-table": pa.Table,
    "pandas": pd.DataFrame,
}


@pytest.mark.parametrize("kind", KINDS)
def test_batch_types_round_trip(seed_texts: dict[str, str], kind: str) -> None:
    records = _corpus(seed_texts)
    expected = _expected(records, CONFIG)
    batches = [_as(kind, b) for b in _batches(records, 3)]
    index = DedupIndex(CONFIG)
    for batch in batches:
        index.add(batch)
    index.finish()
    out = [index.annotate(b) for b in batches]
    assert all(type(b) is TYPES[kind] for b in out)
    rows = [r for kind_batch in out for r in _rows(kind, kind_batch)]
    assert _fields(rows) == expected
    assert [r["n"] for r in rows] == [r["n"] for r in records]


@pytest.mark.parametrize("kind", ["arrow-batch", "arrow-table"])
def test_arrow_types_are_fixed_even_without_duplicates(kind: str) -> None:
    records = [{"id": "x", "text": "一篇独立的文章，没有别的版本。"}]
    index = DedupIndex(CONFIG)
    index.add(_as(kind, records))
    index.finish()
    out = index.annotate(_as(kind, records))
    schema = out.schema
    assert schema.field("dedup_cluster").type == pa.int64()
    assert schema.field("dedup_keep").type == pa.bool_()
    assert schema.field("dedup_duplicate_of").type == pa.string()  # the id column's type
    assert schema.field("dedup_via").type == pa.string()
    assert schema.field("dedup_via_jaccard").type == pa.float64()
    assert schema.field("dedup_repeated_share").type == pa.float64()
    assert out.to_pylist() == [{**records[0], "dedup_cluster": None, "dedup_keep": True,
                                "dedup_duplicate_of": None, "dedup_via": None,
                                "dedup_via_jaccard": None, "dedup_via_containment": None,
                                "dedup_repeated_share": None}]  # fmt: skip


def test_without_ids_positions_are_ids(seed_texts: dict[str, str]) -> None:
    texts = [{"text": t} for t in seed_texts.values()]
    index = DedupIndex(CONFIG)
    index.add(texts[:2])
    index.add(texts[2:])
    index.finish()
    out = index.annotate(texts[:3]) + index.annotate(texts[3:])
    assert [r["dedup_duplicate_of"] for r in out] == [1, None, None, None, None]
    with pytest.raises(InputError, match="more documents annotated"):
        index.annotate(texts[:1])


def test_index_misuse_is_a_typed_error(tmp_path: Path) -> None:
    index = DedupIndex(CONFIG, workdir=tmp_path)
    with pytest.raises(DedupError, match="before finish"):
        index.annotate([{"id": "a", "text": "x"}])
    with pytest.raises(InputError, match="duplicate id 'a'"):
        index.add([{"id": "a", "text": "一"}, {"id": "a", "text": "二"}])
    with pytest.raises(InputError, match="batched=True"):
        index.add({"id": "b", "text": "一个记录"})
    with pytest.raises(InputError, match="no 'text'"):
        index.add([{"id": "c", "body": "正文"}])
    index.finish()
    assert list(tmp_path.iterdir()) == []  # shingle sets are gone after finish
    with pytest.raises(InputError, match="'zzz' was not added"):
        index.annotate([{"id": "zzz", "text": "x"}])
    with pytest.raises(DedupError, match="after finish"):
        index.add([{"id": "d", "text": "x"}])


def test_custom_field_names(seed_texts: dict[str, str]) -> None:
    records = [{"key": k, "body": v} for k, v in seed_texts.items()]
    index = DedupIndex(CONFIG, text_field="body", id_field="key")
    index.add(records)
    index.finish()
    out = {r["key"]: r["dedup_duplicate_of"] for r in index.annotate(records)}
    assert out[PAIR_OLD] == PAIR_NEW


def _online(records: list[dict[str, Any]], size: int, tmp_path: Path) -> list[dict[str, Any]]:
    tmp_path.mkdir(exist_ok=True)
    with Deduplicator(CONFIG, workdir=tmp_path) as d:
        return [r for batch in _batches(records, size) for r in d.annotate(batch)]


def test_online_first_seen_is_kept(seed_texts: dict[str, str], tmp_path: Path) -> None:
    records = _corpus(seed_texts)
    got = _fates(_online(records, 4, tmp_path))
    # One pass cannot wait for the longest version: the first one seen stays.
    assert got[PAIR_OLD] == (None, True, None)
    assert got[PAIR_NEW] == (0, False, PAIR_OLD)
    for name in sorted(seed_texts)[2:]:
        assert got[name] == (None, True, None)
        assert got[f"{name}-cut"][1:] == (False, name)
        assert got[f"{name}-more"][1:] == (False, name)
        assert got[f"{name}-cut"][0] == got[f"{name}-more"][0] is not None
    # Cluster numbers in order of first duplicate.
    assert sorted({v[0] for v in got.values() if v[0] is not None}) == [0, 1, 2, 3]
    assert list(tmp_path.iterdir()) == []  # closed: shingle sets removed


def test_online_does_not_depend_on_batches(seed_texts: dict[str, str], tmp_path: Path) -> None:
    records = _corpus(seed_texts)
    one = _online(records, 1, tmp_path / "a")
    assert _online(records, 5, tmp_path / "b") == one
    assert _online(records, len(records), tmp_path / "c") == one


def test_online_points_to_the_kept_document(tmp_path: Path) -> None:
    """A version that only matches an earlier duplicate still points to the kept one."""
    base = "".join(f"第{i}段讲的是一件完全不同的事情，细节编号{i * 7}。" for i in range(40))
    half = len(base) // 2
    records = [
        {"id": "a", "text": base[: half + 200]},
        {"id": "b", "text": base},  # contains a: a duplicate of a
        {"id": "c", "text": base[half - 200 :]},  # contained in b only
    ]
    (first, second, third) = _online(records, 1, tmp_path)
    assert (second["dedup_keep"], second["dedup_duplicate_of"]) == (False, "a")
    assert (third["dedup_keep"], third["dedup_duplicate_of"]) == (False, "a")
    assert first["dedup_keep"] and first["dedup_cluster"] is None
    # Why: c was verified against b (it is contained in b), not against the kept a; one pass
    # sets no repeated text aside.
    assert (second["dedup_via"], second["dedup_via_containment"]) == ("a", 1.0)
    assert (third["dedup_via"], third["dedup_via_containment"]) == ("b", 1.0)
    assert third["dedup_via_jaccard"] < 1.0 and third["dedup_repeated_share"] == 0.0
    assert first["dedup_via"] is None and first["dedup_repeated_share"] is None


def test_online_rejects_duplicate_ids(tmp_path: Path) -> None:
    with Deduplicator(CONFIG, workdir=tmp_path) as d:
        d.annotate([{"id": 1, "text": "一"}])
        with pytest.raises(InputError, match="duplicate id 1"):
            d.annotate([{"id": 1, "text": "二"}])


def test_the_integer_1_and_the_string_1_are_one_id(tmp_path: Path) -> None:
    index = DedupIndex(CONFIG, workdir=tmp_path)
    with pytest.raises(InputError, match="duplicate id '1'"):
        index.add([{"id": 1, "text": "一篇"}, {"id": "1", "text": "另一篇"}])
    index.add([{"id": 7, "text": "一篇"}])
    index.finish()
    (out,) = index.annotate([{"id": "7", "text": "一篇"}])  # found by its text form
    assert out["dedup_keep"] is True


def test_two_pass_says_why_as_deduplicate_does() -> None:
    # C matches B (B holds most of C), not A, the member kept: joined via B.
    rng = random.Random(5)
    x, own = (
        "".join(chr(rng.randrange(0x4E00, 0x4E00 + 3000)) for _ in range(k)) for k in (3000, 600)
    )
    records = [
        {"id": "A", "text": x},
        {"id": "B", "text": x[:1800]},
        {"id": "C", "text": x[:1500] + own},
    ]
    config = Config(cluster=ClusterConfig("longest"), jobs=1)
    index = DedupIndex(config)
    index.add(records[:2])
    index.add(records[2:])
    index.finish()
    got = _fields(index.annotate(records))
    assert got == _expected(records, config)
    assert got["C"][:4] == (0, False, "A", "B") and got["B"][3] == "A"
