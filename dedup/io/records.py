"""What one input record becomes: a Doc, or a rejection (an InputError, or a Skip to yield).

Every reader (text files, JSONL, Parquet, WARC/WET) rejects bad input through `reject`, and
the readers of field records (JSONL lines, Parquet rows) make their Doc with `record_to_doc`,
so the rules for ids, text fields and error handling are written once.
"""

from __future__ import annotations

from typing import Any

from ..config import ReadConfig
from ..errors import InputError
from ..types import Doc, Skip


def reject(cfg: ReadConfig, source: str, reason: str, line: int | None = None) -> Skip:
    """Raise the InputError, or with on_error="skip" return it as a Skip to yield."""
    if cfg.on_error == "skip":
        return Skip(source=source, line=line, reason=reason)
    raise InputError(source, reason, line)


def record_to_doc(
    record: dict[str, Any], source: str, name: str, lineno: int, cfg: ReadConfig
) -> Doc | Skip:
    """A Doc from a record's text and id fields (JSONL line, Parquet row). An absent or null
    id becomes `name:lineno` and is written into the record, so outputs carry it."""
    text_field, id_field = cfg.text_field, cfg.id_field
    if text_field not in record:
        return reject(cfg, source, f"no {text_field!r} field", lineno)
    text = record[text_field]
    if not isinstance(text, str):
        return reject(cfg, source, f"{text_field!r} is {json_kind(text)}, not a string", lineno)
    over = check_text(cfg, source, text, lineno)
    if over is not None:
        return over
    doc_id = record.get(id_field)
    if doc_id is None:
        doc_id = record[id_field] = f"{name}:{lineno}"
    elif isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    elif not isinstance(doc_id, str):
        reason = f"{id_field!r} is {json_kind(doc_id)}, not a string or an integer"
        return reject(cfg, source, reason, lineno)
    return Doc(id=doc_id, text=text, record=record, source=source, line=lineno)


def check_text(cfg: ReadConfig, source: str, text: str, line: int | None) -> Skip | None:
    """The Skip (or InputError) of a document whose text is over `cfg.max_document_chars`."""
    limit = cfg.max_document_chars
    if not limit or len(text) <= limit:
        return None
    reason = (
        f"a text of {len(text):,} characters, over the limit of {limit:,} (--max-document-chars)"
    )
    return reject(cfg, source, reason, line)


def over_record_limit(cfg: ReadConfig, what: str = "a line") -> str:
    """Why a record larger than `cfg.max_record_bytes` is not read."""
    return f"{what} of more than {cfg.max_record_bytes:,} bytes (the limit of --max-record-bytes)"


def json_kind(value: object) -> str:
    """The type of a JSON value, as a message names it ("'text' is int, not a string")."""
    return "null" if value is None else type(value).__name__
