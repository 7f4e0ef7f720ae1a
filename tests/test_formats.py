"""The format tests now live in test_<module>.py (test_readers, test_jsonl, test_parquet,
test_warc, test_detect, test_writers, test_outdir). This file only keeps the name that
test_spark.py imports; remove it once that import reads `from helpers import seed_table`."""

from __future__ import annotations

from helpers import seed_table

__all__ = ["seed_table"]
