"""The spool keeps each record as its output line; the run's fields are spliced in exactly as
the writer would render the record with them (io.outdir.with_fields)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.io.outdir import with_fields
from dedup.io.writers import json_bytes
from dedup.spool import Spool, spool_records
from dedup.store import read_bytes
from dedup.types import Doc

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
_NAMES = st.sampled_from(["id", "text", "duplicate_of", "cluster", "dedup_keep", "x", "值"])


@settings(max_examples=300, deadline=None)
@given(
    record=st.dictionaries(_NAMES | st.text(max_size=3), _JSON_VALUES, min_size=1, max_size=5),
    rep=st.text(),  # ids may hold lone surrogates: the line then goes ASCII
    cluster=st.integers(0, 10**6),
    annotate=st.booleans(),
)
def test_spooled_lines_take_the_run_fields_exactly(
    record: dict, rep: str, cluster: int, annotate: bool
) -> None:

    why = [("dedup_via", rep), ("dedup_via_jaccard", cluster / 7), ("dedup_repeated_share", None)]
    fields = (
        [("dedup_cluster", cluster), ("dedup_keep", False), ("dedup_duplicate_of", rep), *why]
        if annotate
        else [("duplicate_of", rep), ("cluster", cluster)]
    )
    with tempfile.TemporaryDirectory() as tmp:
        spooled = spool_records([Doc("d", "t", record=record)], "jsonl", Path(tmp))
        line = read_bytes(Path(tmp), spooled.extent, int(spooled.sizes[0]))
    assert line == json_bytes(record)[0]
    expected = dict(record)
    expected.update(fields)
    assert with_fields(line, spooled.flags[0], fields) == json_bytes(expected)[0]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_records_at_reads_the_records_at_those_positions(fmt: str, tmp_path: Path) -> None:
    # Batches of several sizes, in input order.
    docs = [Doc(f"d{k}", f"第{k}篇" * (k % 5), record={"id": f"d{k}", "n": k}) for k in range(40)]
    spool = Spool(tmp_path, fmt)
    at = 0
    for size in (7, 1, 12, 20):
        batch = docs[at : at + size]
        spool.add(spool_records(batch, fmt, tmp_path))
        at += size
    for positions in ([], [0], [5, 6, 7, 8, 19, 20, 39], list(range(40))):
        got = list(spool.records_at(positions))
        assert got == [(k, {"id": f"d{k}", "n": k}) for k in positions]
