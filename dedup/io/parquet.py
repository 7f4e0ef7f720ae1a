"""Parquet in and out with pyarrow (optional: `pip install 'dedup[parquet]'`).

Rows stream one batch of a row group at a time. Every column is kept: a row becomes a `Row`
(its values, plus its file's Arrow schema), and the writer puts the values back under that
schema, so column types survive a run; it adds the columns a run adds.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO

from ..config import ReadConfig
from ..errors import ConfigError, InputError
from ..types import Doc, Skip
from .records import record_to_doc, reject
from .writers import atomic_path

EXTRA = "pip install 'dedup[parquet]'"
_BATCH_ROWS = 1024  # rows converted to Python at a time while reading
_GROUP_ROWS = 8192  # rows per written row group...
_GROUP_CHARS = 32 << 20  # ...or fewer, once their texts reach this many characters


def pyarrow() -> Any:
    """The pyarrow module, or a ConfigError naming the extra to install."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"Parquet input and output need pyarrow: {EXTRA}") from e
    return pyarrow


class Row(dict[str, Any]):
    """One Parquet row's values, with its file's Arrow schema so that writers keep the column
    types (the schema object is shared by every row of a file)."""

    __slots__ = ("schema",)

    def __init__(self, values: Mapping[str, Any], schema: Any) -> None:
        super().__init__(values)
        self.schema = schema


def read_parquet(path: str, name: str, cfg: ReadConfig) -> Iterator[Doc | Skip]:
    """One Doc per row of a Parquet file; `line` is the row number (from 1). The id and text
    columns are checked as JSONL fields are (an absent id becomes `name:row`). A row group
    that cannot be read is one Skip per row of it not read (the footer says how many)."""
    pa = pyarrow()
    try:
        pf = pa.parquet.ParquetFile(path)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as e:
        yield reject(cfg, path, f"not a readable Parquet file: {e}")
        return
    problem = _check_columns(schema, cfg, pa)
    if problem is not None:
        yield reject(cfg, path, problem)
        return
    id_type = schema.field(cfg.id_field).type if cfg.id_field in schema.names else None
    id_is_text = id_type is None or _is_string(id_type, pa)
    groups = pf.metadata.num_row_groups
    row = 0  # rows of the groups before this one
    for group in range(groups):
        size = pf.metadata.row_group(group).num_rows
        done = 0
        if _too_large(pf.metadata.row_group(group), cfg):
            # Its rows average more than the record limit (a hostile file can hold a 1 GiB
            # value in a few kilobytes): not read, each row named.
            where = f"row group {group + 1} of {groups} (rows {row + 1}-{row + size})"
            reason = (
                f"{where}: its rows average more than {cfg.max_record_bytes:,} bytes "
                "(the limit of --max-record-bytes); not read"
            )
            for lost in range(row + 1, row + size + 1):
                yield reject(cfg, path, reason, lost)
            row += size
            continue
        try:
            # By row group: damage in one costs only its rows, each named.
            for batch in pf.iter_batches(batch_size=_BATCH_ROWS, row_groups=[group]):
                for values in batch.to_pylist():
                    done += 1
                    if not id_is_text and values.get(cfg.id_field) is None:
                        # A generated `name:row` id cannot go into a numeric column.
                        reason = f"{cfg.id_field!r} is null in a column of {id_type}"
                        yield reject(cfg, path, reason, row + done)
                        continue
                    yield record_to_doc(Row(values, schema), path, name, row + done, cfg)
        except (pa.ArrowException, OSError) as e:
            first, last = row + done + 1, row + size
            where = f"row group {group + 1} of {groups} (rows {first}-{last})"
            for lost in range(first, last + 1):
                yield reject(cfg, path, f"corrupt Parquet data in {where}: {e}", lost)
        row += size


def _too_large(group: Any, cfg: ReadConfig) -> bool:
    """Whether a row group's rows, uncompressed, average more than the record limit (from
    the footer, before anything is read)."""
    if not cfg.max_record_bytes or group.num_rows == 0:
        return False
    return bool(group.total_byte_size > cfg.max_record_bytes * group.num_rows)


def _check_columns(schema: Any, cfg: ReadConfig, pa: Any) -> str | None:
    if cfg.text_field not in schema.names:
        return f"no {cfg.text_field!r} column (columns: {', '.join(schema.names)})"
    text_type = schema.field(cfg.text_field).type
    if not _is_string(text_type, pa):
        return f"{cfg.text_field!r} is a column of {text_type}, not of strings"
    return None


def _is_string(t: Any, pa: Any) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or _is_view(t, pa))


def _is_view(t: Any, pa: Any) -> bool:
    is_view = getattr(pa.types, "is_string_view", None)
    return bool(is_view is not None and is_view(t))


def unify(schemas: Sequence[Any]) -> Any:
    """One schema for rows of several schemas (a column missing from some becomes nullable;
    int32 and int64 become int64); ValueError naming the clash when types cannot be merged."""
    pa = pyarrow()
    try:
        return pa.unify_schemas(list(schemas), promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise ValueError(str(e)) from e


def infer_schema(records: Iterable[Mapping[str, Any]]) -> Any:
    """The Arrow schema of plain records (JSON values), batch by batch, unified."""
    pa = pyarrow()
    schemas = []
    batch: list[Mapping[str, Any]] = []
    try:
        for r in records:
            batch.append(r)
            if len(batch) >= _BATCH_ROWS:
                schemas.append(pa.Table.from_pylist(batch).schema)
                batch = []
        if batch or not schemas:
            schemas.append(pa.Table.from_pylist(batch).schema)
        return unify(schemas)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as e:
        raise ConfigError(
            f"these records cannot be written as Parquet ({e}); use --output-format jsonl"
        ) from e


def with_columns(schema: Any, columns: Sequence[tuple[str, str]]) -> Any:
    """`schema` with the named columns (name, Arrow type alias) added or retyped, as a run
    overwrites a field of that name in JSONL output."""
    pa = pyarrow()
    for name, alias in columns:
        f = pa.field(name, pa.type_for_alias(alias))
        i = schema.get_field_index(name)
        schema = schema.set(i, f) if i >= 0 else schema.append(f)
    return schema


# Opens `path` for a writer, atomically: a context manager giving a local temporary path or a
# binary stream, which becomes `path` when the block ends without error.
Opener = Callable[[Path], AbstractContextManager[Path | BinaryIO]]


def merge_schema(merged: Any, schema: Any, source: str) -> Any:
    """`merged` (the schema of the Parquet rows so far, or None) with the schema of the rows of
    `source`; InputError naming `source` when a column's types cannot be merged."""
    if merged is None:
        return schema
    try:
        return unify([merged, schema])
    except ValueError as e:
        raise InputError(source, f"columns do not match earlier Parquet input: {e}") from e


def output_schema(parquet: Any, others: Iterable[Mapping[str, Any]] | None, id_field: str) -> Any:
    """The schema to write records under as Parquet: `parquet` (the Parquet rows' merged
    schema, or None when there are none) merged with one inferred from `others` (the other
    records in input order, or None when every record is a Parquet row), plus a string
    `id_field` column when no record has one (ids generated for rows of files without it)."""
    schemas = [] if parquet is None else [parquet]
    if parquet is None or others is not None:
        schemas.append(infer_schema(() if others is None else others))
    try:
        schema = unify(schemas)
    except ValueError as e:
        raise ConfigError(
            f"Parquet and other input cannot share one Parquet schema ({e}); "
            "use --output-format jsonl"
        ) from e
    if id_field not in schema.names:
        schema = with_columns(schema, [(id_field, "string")])
    return schema


class ParquetSink:
    """Writes records under a fixed schema, a row group at a time, to a temporary name that is
    renamed over `path` only when `close` succeeds. Use as a context manager. `opener` puts
    the file elsewhere than a local folder (the Spark engine's Hadoop OUTDIR)."""

    def __init__(
        self, path: Path, schema: Any, text_field: str = "text", *, opener: Opener = atomic_path
    ) -> None:
        self._pa = pyarrow()
        self._schema = schema
        self._text_field = text_field
        self._atomic = opener(path)
        tmp = self._atomic.__enter__()
        where = str(tmp) if isinstance(tmp, Path) else tmp
        self._writer = self._pa.parquet.ParquetWriter(where, schema)
        self._rows: list[Mapping[str, Any]] = []
        self._chars = 0

    def write(self, record: Mapping[str, Any]) -> None:
        self._rows.append(record)
        text = record.get(self._text_field)
        self._chars += len(text) if isinstance(text, str) else 0
        if len(self._rows) >= _GROUP_ROWS or self._chars >= _GROUP_CHARS:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        pa = self._pa
        try:
            table = pa.Table.from_pylist(self._rows, schema=self._schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
            raise ConfigError(
                f"a record does not fit the Parquet schema ({e}); use --output-format jsonl"
            ) from e
        self._writer.write_table(table)
        self._rows = []
        self._chars = 0

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self._flush()
        finally:
            self._writer.close()
            self._atomic.__exit__(exc_type, exc, tb)


def parquet_records(
    path: Path, columns: Sequence[str] | None = None
) -> Generator[tuple[int, dict[str, Any]], None, None]:
    """(row number from 1, values) of a Parquet output file; only `columns` that exist."""
    pa = pyarrow()
    try:
        pf = pa.parquet.ParquetFile(str(path))
        names = pf.schema_arrow.names
        wanted = None if columns is None else [c for c in columns if c in names]
        row = 0
        for batch in pf.iter_batches(batch_size=_BATCH_ROWS, columns=wanted):
            for values in batch.to_pylist():
                row += 1
                yield row, values
    except (pa.ArrowException, OSError) as e:
        raise InputError(str(path), f"cannot read Parquet: {e}") from e
