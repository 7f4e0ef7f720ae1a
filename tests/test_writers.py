"""JSON records written out (dedup/io/writers.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from helpers import jsonl_records, seed_table

from dedup.config import Config, OutputConfig
from dedup.pipeline import run


def test_parquet_to_jsonl_writes_typed_values_as_json(seeds_dir: Path, tmp_path: Path) -> None:
    pq.write_table(seed_table(seeds_dir), tmp_path / "in.parquet")
    cfg = Config(jobs=1, output=OutputConfig(format="jsonl"))
    run([str(tmp_path / "in.parquet")], tmp_path / "out", cfg)
    (removed,) = jsonl_records(tmp_path / "out" / "removed.jsonl")
    assert removed["fetched"] == "2024-01-01T08:30:00+00:00"
    assert removed["price"] == "0.25"
    assert removed["tags"] == ["新闻", "0"] and removed["meta"] == {"site": "example", "depth": 0}
    assert removed["duplicate_of"] == "001" and removed["rank"] == 0
