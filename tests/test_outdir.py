"""The output folder's contract: --annotate, byte-identical reruns, and eval and report reading
every kind of output."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import ONE_JOB, dedup, jsonl_records, seed_table, seeds, write_jsonl

from dedup.config import Config, OutputConfig
from dedup.pipeline import run

# --- --annotate -----------------------------------------------------------------------------------


def test_annotate_writes_every_record_with_its_fate(seeds_dir: Path, tmp_path: Path) -> None:
    records = [{"id": i, "text": t, "src": "x"} for i, t in seeds(seeds_dir)]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    run([str(path)], out, ONE_JOB)  # an earlier split run in the same folder
    assert (out / "kept.jsonl").exists()
    result = run([str(path)], out, Config(jobs=1, output=OutputConfig(annotate=True)))
    assert not (out / "kept.jsonl").exists() and not (out / "removed.jsonl").exists()
    rows = jsonl_records(out / "annotated.jsonl")
    assert [r["id"] for r in rows] == ["000", "001", "002", "003", "004"]
    assert [(r["dedup_cluster"], r["dedup_keep"], r["dedup_duplicate_of"]) for r in rows] == [
        (0, False, "001"),
        (0, True, None),
        (None, True, None),
        (None, True, None),
        (None, True, None),
    ]
    assert all(
        r["src"] == "x" and r["text"] == rec["text"] for r, rec in zip(rows, records, strict=False)
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"] == {"read": 5, "kept": 4, "removed": 1, "skipped": 0}
    assert summary["outputs"] == [
        "clusters.jsonl",
        "annotated.jsonl",
        "errors.jsonl",
        "summary.json",
    ]
    assert summary["config"]["output"] == {"format": "auto", "annotate": True}
    assert sum(r["dedup_keep"] for r in rows) == result.counts.kept


def test_annotate_parquet_adds_typed_columns(seeds_dir: Path, tmp_path: Path) -> None:
    table = seed_table(seeds_dir)
    pq.write_table(table, tmp_path / "in.parquet")
    run(
        [str(tmp_path / "in.parquet")],
        tmp_path / "out",
        Config(jobs=1, output=OutputConfig(annotate=True)),
    )
    out = pq.read_table(tmp_path / "out" / "annotated.parquet")
    assert out.schema.names == [
        *table.schema.names,
        "dedup_cluster",
        "dedup_keep",
        "dedup_duplicate_of",
    ]
    assert out.schema.field("dedup_cluster").type == pa.int64()
    assert out.schema.field("dedup_keep").type == pa.bool_()
    assert out.column("dedup_keep").to_pylist() == [False, True, True, True, True]
    assert out.column("dedup_duplicate_of").to_pylist() == ["001", None, None, None, None]
    assert out.select(table.schema.names).to_pylist() == table.to_pylist()


# --- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("annotate", [False, True])
@pytest.mark.parametrize("source", ["parquet", "jsonl"])
def test_two_runs_write_identical_bytes(
    source: str, annotate: bool, seeds_dir: Path, tmp_path: Path
) -> None:
    table = seed_table(seeds_dir)
    if source == "parquet":
        path = tmp_path / "in.parquet"
        pq.write_table(table, path, row_group_size=3)
    else:
        path = write_jsonl(
            tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in seeds(seeds_dir)]
        )
    cfg = Config(jobs=1, output=OutputConfig(annotate=annotate))
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        run([str(path)], out, cfg)
    names = json.loads((outs[0] / "summary.json").read_text())["outputs"]
    assert any(n.startswith("annotated" if annotate else "kept") for n in names)
    for name in names:
        if name != "summary.json":
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


# --- eval and report read Parquet and annotated runs ----------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--annotate"], ["--output-format", "parquet"]])
def test_eval_and_report_read_every_output_kind(
    extra: list[str], seeds_dir: Path, tmp_path: Path
) -> None:
    pq.write_table(seed_table(seeds_dir), tmp_path / "in.parquet")
    out = tmp_path / "out"
    code, output = dedup("run", str(tmp_path / "in.parquet"), "-o", str(out), *extra)
    assert code == 0, output
    gold = write_jsonl(
        tmp_path / "gold.jsonl", [{"id": "000", "cluster": 1}, {"id": "001", "cluster": 1}]
    )
    code, output = dedup("eval", "--gold", str(gold), "--json", str(out))
    assert code == 0, output
    scores = json.loads(output)
    assert scores["documents"] == 5 and scores["precision"] == scores["recall"] == 1.0
    code, output = dedup("report", str(out))
    assert code == 0, output
    page = (out / "report" / "clusters" / "000000.md").read_text(encoding="utf-8")
    first_line = dict(seeds(seeds_dir))["001"].strip().splitlines()[0].strip()
    assert first_line[:8] in page
