"""The local engine's pass-one copy of every record, so that outputs can be routed after
clustering without holding documents in memory or reading the input twice (stdin included).

Worker processes write it (`spool_records`: each record as its output JSON line for JSONL
output, or pickled for Parquet output so that values keep their types); `Spool` keeps where
each batch went, in input order, and merges the Arrow schemas of Parquet rows as they pass (a
file whose columns clash with earlier ones stops the run at once).
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .io.outdir import PARQUET_ROW, RERENDER, record_line
from .io.parquet import Row, merge_schema, output_schema
from .store import Extent, append_bytes, read_bytes
from .types import Doc


@dataclass(frozen=True)
class Spooled:
    """Where a worker wrote a batch's records: the spool file and byte offset, the size of
    each record, and its flags (io.outdir: RERENDER, PARQUET_ROW)."""

    extent: Extent
    sizes: np.ndarray
    flags: bytes


def spool_records(docs: list[Doc], fmt: str, directory: Path) -> Spooled:
    """Append each document's record to this process's spool file in `directory`, as the
    output pass will need it."""
    parts: list[bytes] = []
    flags = bytearray()
    for d in docs:
        record: Mapping[str, Any] = d.record or {"id": d.id, "text": d.text}
        is_row = isinstance(record, Row)
        if fmt == "jsonl":
            data, flag = record_line(record, is_row)
        else:
            plain = record if type(record) is dict else dict(record)
            data = pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)
            flag = (PARQUET_ROW if is_row else 0) | RERENDER
        parts.append(data)
        flags.append(flag)
    sizes = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    return Spooled(append_bytes(directory, "spool", b"".join(parts)), sizes, bytes(flags))


class Spool:
    """Every batch's `Spooled`, in input order, and the merged schema of the Parquet rows."""

    def __init__(self, directory: Path, fmt: str) -> None:
        self.directory = directory
        self.format = fmt
        self.batches: list[Spooled] = []
        self.count = 0
        self.schema: Any = None  # merged Arrow schema of the Parquet rows
        self._last: Any = None

    def observe(self, doc: Doc) -> None:
        """Merge the schema of a Parquet row's file (once per file)."""
        record = doc.record
        if isinstance(record, Row) and record.schema is not self._last:
            self._last = record.schema
            self.schema = merge_schema(self.schema, record.schema, doc.source)

    def add(self, spooled: Spooled) -> None:
        self.batches.append(spooled)
        self.count += spooled.sizes.size

    def blobs(self) -> Iterator[tuple[Spooled, bytes]]:
        """Every batch and its spooled records back to back, in input order."""
        for batch in self.batches:
            yield batch, read_bytes(self.directory, batch.extent, int(batch.sizes.sum()))

    def entries(self) -> Iterator[tuple[bytes, int]]:
        """(spooled record, flags) of every document, in input order."""
        for batch, blob in self.blobs():
            pos = 0
            for size, flags in zip(batch.sizes.tolist(), batch.flags, strict=True):
                yield blob[pos : pos + size], flags
                pos += size

    def records(self) -> Iterator[tuple[dict[str, Any], int]]:
        """(record, flags) of every document, in input order."""
        load = pickle.loads if self.format == "parquet" else json.loads
        for data, flags in self.entries():
            yield load(data), flags

    def records_at(self, positions: Iterable[int]) -> Iterator[tuple[int, dict[str, Any]]]:
        """(position, record) of the documents at `positions` (numbers in input order,
        ascending), each read on its own: for a few records among many."""
        load = pickle.loads if self.format == "parquet" else json.loads
        firsts = np.cumsum([0] + [b.sizes.size for b in self.batches])
        starts: dict[int, np.ndarray] = {}  # where each record of a batch starts in it
        files: dict[str, int] = {}
        try:
            for k in positions:
                n = int(np.searchsorted(firsts, k, side="right")) - 1
                batch = self.batches[n]
                if n not in starts:
                    starts[n] = np.cumsum(batch.sizes) - batch.sizes
                j = k - int(firsts[n])
                name = batch.extent.segment
                if name not in files:
                    files[name] = os.open(self.directory / name, os.O_RDONLY)
                at, size = batch.extent.start + int(starts[n][j]), int(batch.sizes[j])
                data = os.pread(files[name], size, at)
                if len(data) < size:  # a read cut short: the way that reads whole
                    data = read_bytes(self.directory, Extent(name, at), size)
                yield k, load(data)
        finally:
            for fd in files.values():
                os.close(fd)

    def arrow_schema(self, id_field: str) -> Any:
        """The schema to write the records under as Parquet: the Parquet inputs' own, merged
        with one inferred from the values of the other records."""
        rows = all(f & PARQUET_ROW for b in self.batches for f in b.flags)
        others = None if rows else (r for r, f in self.records() if not f & PARQUET_ROW)
        return output_schema(self.schema, others, id_field)
