"""Parquet in and out (dedup/io/parquet.py): columns and types kept, schemas inferred and
unified, ids, bad files and the missing extra."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import ONE_JOB, cluster_ids, dedup, seed_table, seeds, write_jsonl

from dedup.config import Config, OutputConfig, ReadConfig
from dedup.errors import ConfigError, InputError
from dedup.io import read_inputs
from dedup.pipeline import run
from dedup.types import Skip

# --- output ---------------------------------------------------------------------------------------


def test_parquet_output_keeps_every_column_and_type(seeds_dir: Path, tmp_path: Path) -> None:
    table = seed_table(seeds_dir)
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=2)
    run([str(tmp_path / "in.parquet")], tmp_path / "out", ONE_JOB)
    out = tmp_path / "out"
    assert not (out / "kept.jsonl").exists()
    kept = pq.read_table(out / "kept.parquet")
    removed = pq.read_table(out / "removed.parquet")
    assert kept.schema.remove_metadata() == table.schema
    assert kept.to_pylist() == [r for r in table.to_pylist() if r["id"] != "000"]
    expected = table.schema.append(pa.field("duplicate_of", pa.string()))
    assert removed.schema.remove_metadata() == expected.append(pa.field("cluster", pa.int64()))
    (row,) = removed.to_pylist()
    assert row == {**table.to_pylist()[0], "duplicate_of": "001", "cluster": 0}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outputs"] == [
        "clusters.jsonl",
        "kept.parquet",
        "removed.parquet",
        "errors.jsonl",
        "summary.json",
    ]


def test_jsonl_to_parquet_infers_columns(seeds_dir: Path, tmp_path: Path) -> None:
    records = [
        {"id": i, "text": t, "n": k, "note": None} for k, (i, t) in enumerate(seeds(seeds_dir))
    ]
    records[3]["note"] = "late string"
    write_jsonl(tmp_path / "in.jsonl", records)
    cfg = Config(jobs=1, output=OutputConfig(format="parquet"))
    run([str(tmp_path / "in.jsonl")], tmp_path / "out", cfg)
    kept = pq.read_table(tmp_path / "out" / "kept.parquet")
    assert kept.schema.field("n").type == pa.int64()
    assert kept.schema.field("note").type == pa.string()
    assert kept.column("note").to_pylist() == [None, None, "late string", None]


def test_parquet_without_id_column_gets_generated_ids(seeds_dir: Path, tmp_path: Path) -> None:
    table = seed_table(seeds_dir).drop_columns(["id"])
    pq.write_table(table, tmp_path / "noid.parquet")
    run([str(tmp_path / "noid.parquet")], tmp_path / "out", ONE_JOB)
    assert cluster_ids(tmp_path / "out") == [
        ("noid.parquet:2", {"noid.parquet:1", "noid.parquet:2"})
    ]
    kept = pq.read_table(tmp_path / "out" / "kept.parquet")
    assert kept.column("id").to_pylist() == [f"noid.parquet:{n}" for n in (2, 3, 4, 5)]


def test_integer_ids_stay_integers_in_parquet(seeds_dir: Path, tmp_path: Path) -> None:
    table = seed_table(seeds_dir).set_column(0, "id", pa.array([10, 11, 12, 13, 14], pa.int32()))
    pq.write_table(table, tmp_path / "int.parquet")
    run([str(tmp_path / "int.parquet")], tmp_path / "out", ONE_JOB)
    assert cluster_ids(tmp_path / "out") == [("11", {"10", "11"})]
    removed = pq.read_table(tmp_path / "out" / "removed.parquet")
    assert removed.schema.field("id").type == pa.int32()
    assert removed.column("duplicate_of").to_pylist() == ["11"]


# --- several inputs -------------------------------------------------------------------------------


def test_parquet_inputs_with_compatible_schemas_are_unified(
    seeds_dir: Path, tmp_path: Path
) -> None:
    table = seed_table(seeds_dir)
    (tmp_path / "in").mkdir()
    pq.write_table(table.slice(0, 2), tmp_path / "in" / "a.parquet")
    rest = table.slice(2).drop_columns(["tags"]).append_column("extra", pa.array([1, 2, 3]))
    pq.write_table(rest, tmp_path / "in" / "b.parquet")
    run([str(tmp_path / "in")], tmp_path / "out", ONE_JOB)  # a folder of Parquet files
    kept = pq.read_table(tmp_path / "out" / "kept.parquet")
    assert kept.schema.names == [*table.schema.names, "extra"]
    assert kept.column("tags").to_pylist()[1:] == [None, None, None]
    assert kept.column("extra").to_pylist() == [None, 1, 2, 3]


def test_parquet_inputs_with_clashing_columns_fail_naming_the_file(
    seeds_dir: Path, tmp_path: Path
) -> None:
    table = seed_table(seeds_dir)
    pq.write_table(table.slice(0, 2), tmp_path / "a.parquet")
    clash = table.slice(2).set_column(2, "rank", pa.array(["x", "y", "z"]))
    pq.write_table(clash, tmp_path / "b.parquet")
    code, output = dedup(
        "run",
        str(tmp_path / "a.parquet"),
        str(tmp_path / "b.parquet"),
        "-o",
        str(tmp_path / "out"),
        "--no-report",
    )
    assert code == 1
    assert "b.parquet" in output and "rank" in output and "Traceback" not in output


# --- bad input and the missing extra --------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda p: p.write_bytes(b"PAR1 this is not parquet at all"),
            "not a readable Parquet file",
        ),
        (lambda p: pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), p), "no 'text' column"),
        (lambda p: pq.write_table(pa.table({"id": ["a"], "text": [1]}), p), "not of strings"),
        (lambda p: pq.write_table(pa.table({"id": [1, None], "text": ["a", "b"]}), p), "null"),
    ],
)
def test_bad_parquet_raises_input_error_naming_the_file(
    make: Callable[[Path], object], reason: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.parquet"
    make(path)
    with pytest.raises(InputError) as err:
        list(read_inputs([str(path)], ReadConfig()))
    assert err.value.source == str(path) and reason in err.value.reason
    skipped = list(read_inputs([str(path)], ReadConfig(on_error="skip")))
    assert any(isinstance(s, Skip) and reason in s.reason for s in skipped)


def test_null_text_in_a_parquet_row_is_reported_with_the_row(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"id": ["a", "b", "c"], "text": ["x", None, "z"]}), tmp_path / "n.parquet"
    )
    with pytest.raises(InputError) as err:
        list(read_inputs([str(tmp_path / "n.parquet")], ReadConfig()))
    assert err.value.line == 2 and "'text' is null" in err.value.reason
    items = list(read_inputs([str(tmp_path / "n.parquet")], ReadConfig(on_error="skip")))
    assert [type(i).__name__ for i in items] == ["Doc", "Skip", "Doc"]


def test_missing_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pq.write_table(pa.table({"id": ["a"], "text": ["b"]}), tmp_path / "x.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ConfigError, match=r"dedup\[parquet\]"):
        run([str(tmp_path / "x.parquet")], tmp_path / "out", ONE_JOB)


def test_a_corrupt_row_group_costs_its_rows_only_each_named(tmp_path: Path) -> None:
    table = pa.table(
        {"id": [f"r{i}" for i in range(30)], "text": [f"文本{i}" * 50 for i in range(30)]}
    )
    pq.write_table(table, tmp_path / "g.parquet", row_group_size=10)
    text = pq.ParquetFile(tmp_path / "g.parquet").metadata.row_group(1).column(1)
    start = text.dictionary_page_offset or text.data_page_offset
    data = bytearray((tmp_path / "g.parquet").read_bytes())
    for k in range(start + 20, start + text.total_compressed_size - 5):  # the pages, not headers
        data[k] ^= 0x5A
    path = tmp_path / "bad.parquet"
    path.write_bytes(bytes(data))
    items = list(read_inputs([str(path)], ReadConfig(on_error="skip")))
    assert [(type(i).__name__, i.line) for i in items] == [
        ("Skip" if 11 <= n <= 20 else "Doc", n) for n in range(1, 31)
    ]
    assert [i.id for i in items if not isinstance(i, Skip)] == [
        f"r{i}" for i in (*range(10), *range(20, 30))
    ]
    assert items[10].reason.startswith("corrupt Parquet data in row group 2 of 3 (rows 11-20): ")
    with pytest.raises(InputError) as err:
        list(read_inputs([str(path)], ReadConfig()))
    assert (err.value.source, err.value.line) == (str(path), 11)


def test_a_row_group_of_giant_values_is_skipped_from_the_footer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few kilobytes of Parquet can hold a value of many megabytes: a row group whose rows
    average more than --max-record-bytes is not read (each row named); the others are."""
    giant = "长" * (2 << 20)  # 6 MiB of UTF-8, compresses to almost nothing
    texts = ["短文一", "短文二", giant, "短文四"]
    table = pa.table({"id": [f"r{i}" for i in range(4)], "text": texts})
    path = tmp_path / "g.parquet"
    pq.write_table(table, path, row_group_size=2, compression="zstd")
    assert path.stat().st_size < 64 << 10
    read_groups: list[list[int]] = []
    real = pq.ParquetFile.iter_batches

    def spied(self, *args, **kw):  # type: ignore[no-untyped-def]
        read_groups.append(kw.get("row_groups"))
        return real(self, *args, **kw)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spied)
    cfg = ReadConfig(on_error="skip", max_record_bytes=1 << 20)
    items = list(read_inputs([str(path)], cfg))
    assert [(type(i).__name__, i.line) for i in items] == [
        ("Doc", 1),
        ("Doc", 2),
        ("Skip", 3),
        ("Skip", 4),
    ]
    assert "row group 2 of 2 (rows 3-4): its rows average more than" in items[2].reason
    assert read_groups == [[0]]  # the giant row group was never decoded
    # Without a limit it is read whole.
    docs = list(read_inputs([str(path)], ReadConfig(max_record_bytes=0, max_document_chars=0)))
    assert [len(d.text) for d in docs] == [len(t) for t in texts]
