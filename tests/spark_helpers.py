"""What the Spark tests share: running both engines and comparing their OUTDIRs byte for
byte, and a generated corpus with planted near-duplicates."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from helpers import checksum

from dedup.config import Config
from dedup.persist import index_path
from dedup.pipeline import run
from dedup.spark import run_spark

# The test sessions' Spark settings. The data is small: two partitions per stage, no UI. No
# waiting for an executor that holds a task's data (`spark.locality.wait`, 3 s by default): on
# a cluster most of a short stage's time went to that wait. The JVMs compile with C1 only and
# collect garbage with one thread: the jobs are short, and the cores are better spent on them.
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
SPARK_TEST_CONF = {
    "spark.default.parallelism": "2",
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.locality.wait": "0s",
    "spark.driver.extraJavaOptions": JVM_OPTIONS,
    "spark.executor.extraJavaOptions": JVM_OPTIONS,
}

# Summary keys that may differ between two identical runs (or between the engines).
VARYING = ("timings", "throughput", "engine")
# The pairs each engine verified, and how many matched: the local engine skips a pair whose
# documents earlier matches already join, Spark verifies every candidate pair.
WORK = ("candidates", "verified_pairs")


def both_engines(
    inputs: list[str],
    tmp_path: Path,
    config: Config,
    spark: Any,
    *,
    stdin: bytes | None = None,
    uri: bool = False,
    spark_inputs: list[str] | None = None,
    index: str | Path | None = None,
    against: Sequence[str | Path] = (),
    **kw: Any,
) -> dict[str, Any]:
    """Run both engines (the Spark one into a file:// URI with `uri`, on `spark_inputs` when
    given) and assert that they wrote the same files, byte for byte, and the same summary
    (but for the inputs named); return the summary. With `index` (made when missing) each
    engine starts from the same index, and they must leave the same files in it; the
    `against` indexes must not change."""
    local_out, spark_out = tmp_path / "local", tmp_path / "spark"
    local_in = None if stdin is None else io.BytesIO(stdin)
    spark_in = None if stdin is None else io.BytesIO(stdin)
    indexes: dict[str, Any] = {"against": list(against)}
    if index is not None:
        indexes["index"] = index
        folder, before = index_path(index), tmp_path / "index-before"
        if folder.exists():
            shutil.copytree(folder, before)
    sums = [checksum(index_path(a)) for a in against]
    run(inputs, local_out, config, stdin=local_in, **indexes)
    if index is not None:  # the Spark run starts from the index as it was
        folder.rename(tmp_path / "index-local")
        if before.exists():
            before.rename(folder)
    target = spark_out.as_uri() if uri else spark_out
    run_spark(spark_inputs or inputs, target, config, spark=spark, stdin=spark_in, **indexes, **kw)
    if index is not None:
        assert checksum(folder) == checksum(tmp_path / "index-local")
    assert [checksum(index_path(a)) for a in against] == sums
    local_summary = json.loads((local_out / "summary.json").read_text(encoding="utf-8"))
    spark_summary = json.loads((spark_out / "summary.json").read_text(encoding="utf-8"))
    for name in local_summary["outputs"]:
        if name != "summary.json":
            assert (spark_out / name).read_bytes() == (local_out / name).read_bytes(), name
    for name in local_summary["outputs"]:
        if name.endswith(".parquet"):
            ours, theirs = pq.read_table(spark_out / name), pq.read_table(local_out / name)
            assert ours.schema == theirs.schema and ours.equals(theirs), name
    assert spark_summary["engine"]["name"] == "spark"
    for key in (*VARYING, "inputs") if spark_inputs else VARYING:
        local_summary.pop(key, None)
        spark_summary.pop(key, None)
    for key in WORK:
        assert spark_summary.pop(key) >= local_summary.pop(key), key
    assert spark_summary == local_summary
    return spark_summary


def synthetic_corpus(folder: Path, n: int, seed: int = 7) -> dict[str, int]:
    """`n` short documents of random CJK text in JSONL files (one gzipped) with planted
    near-duplicates (edited, truncated, exact and one bucket larger than max_bucket) and a few
    malformed lines. Returns counts of what was planted."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    docs: list[dict[str, Any]] = []
    originals: list[np.ndarray] = []
    boiler = rng.integers(0x4E00, 0x9FA5, 60)
    planted = boilerplate = 0
    for i in range(n):
        r = rng.random()
        if i >= 100 and r < 0.15:
            src = originals[int(rng.integers(len(originals)))].copy()
            kind = rng.integers(3)
            if kind == 0:  # a few characters replaced
                pos = rng.integers(0, src.size, max(1, src.size // 40))
                src[pos] = rng.integers(0x4E00, 0x9FA5, pos.size)
            elif kind == 1:  # truncated
                src = src[: int(src.size * rng.uniform(0.8, 0.95))]
            cps = src
            planted += 1
        elif i % 200 == 0:  # boilerplate pages: one LSH bucket of about n/200 members
            cps = boiler
            boilerplate += 1
        else:
            cps = rng.integers(0x4E00, 0x9FA5, int(rng.integers(40, 160)))
            originals.append(cps)
        text = "".join(map(chr, cps.tolist()))
        doc: dict[str, Any] = {"id": f"d{i}", "text": text}
        if i % 3 == 0:
            doc["lang"] = "zh"
        if i % 97 == 0:
            del doc["id"]  # gets a generated id, name:line
        docs.append(doc)
    files = 5
    per = -(-n // files)
    for f in range(files):
        lines = [json.dumps(d, ensure_ascii=False) for d in docs[f * per : (f + 1) * per]]
        if f == 1:
            lines.insert(10, "{not json")
            lines.insert(20, json.dumps({"id": "x", "text": 5}))
        data = ("\n".join(lines) + "\n").encode("utf-8")
        if f == 3:
            (folder / f"part-{f}.jsonl.gz").write_bytes(gzip.compress(data))
        else:
            (folder / f"part-{f}.jsonl").write_bytes(data)
    return {"planted": planted, "boilerplate": boilerplate}
