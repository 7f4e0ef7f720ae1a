"""Which reader a file needs: by its name, and where the name says nothing, by its first bytes.

>>> format_by_name("CC-MAIN-0001.warc.gz"), format_by_name("part-0.parquet"), format_by_name("a")
('warc', 'parquet', None)
"""

from __future__ import annotations

import codecs
import io
import json
import os
import stat
import zlib
from typing import Literal

from .encoding import utf16_nul_pattern

Format = Literal["text", "jsonl", "parquet", "warc"]
Compression = Literal["gzip", "zstd"]

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".ndjson.gz", ".ndjson.zst")
PARQUET_SUFFIXES = (".parquet", ".pq")
WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")
# Files that are one document each, whatever their first bytes (an HTML page stays text; a
# .json file is one JSON document, not JSON lines).
TEXT_SUFFIXES = (".txt", ".text", ".md", ".html", ".htm", ".json")
COMPRESSED_SUFFIXES = (".gz", ".zst")

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"(\xb5/\xfd"
PARQUET_MAGIC = b"PAR1"
HEAD = 1 << 16  # bytes looked at (after decompression) to tell formats apart


def format_by_name(name: str) -> Format | None:
    """The format a file name announces, or None when it announces none."""
    lower = name.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(WARC_SUFFIXES):
        return "warc"
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(TEXT_SUFFIXES):
        return "text"
    return None


def detect_format(path: str, name: str, declared: str = "auto") -> Format:
    """`declared` unless it is "auto"; else the name's format; else sniffed from the content.

    Content: Parquet's PAR1 magic; after gzip or zstd decompression, `WARC/` (a WARC or WET
    file) or, for a name without a suffix (`part-00000`) or with only a compression suffix, a
    first line that is a JSON object (JSONL); anything else is one text document. A file that
    cannot be read is called text: its reader then reports why. So is a FIFO or a device,
    which is not opened here: its first bytes can be read once only, by its reader.
    """
    if declared != "auto":
        return declared  # type: ignore[return-value]
    by_name = format_by_name(name)
    if by_name is not None:
        return by_name
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "text"
        with open(path, "rb") as f:
            raw = f.read(HEAD)
    except OSError:
        return "text"
    return sniff_named(raw, name)


def sniff_named(raw: bytes, name: str) -> Format:
    """The format of a file named `name` (a name that announces none) starting with `raw`."""
    base = name.lower().rsplit("/", 1)[-1]
    compressed = base.endswith(COMPRESSED_SUFFIXES)
    return sniff(raw, json_lines=compressed or "." not in base)


def sniff(raw: bytes, json_lines: bool = True) -> Format:
    """The format of a file whose first bytes are `raw` (JSONL only if `json_lines`)."""
    if raw.startswith(PARQUET_MAGIC):
        return "parquet"
    head = decompressed_head(raw)
    if head.startswith(b"WARC/"):
        return "warc"
    if json_lines and _starts_json_object(head):
        return "jsonl"
    return "text"


def compression(name: str, head: bytes) -> Compression | None:
    """gzip or zstd, by the name's suffix, else by the magic bytes `head` starts with."""
    lower = name.lower()
    if lower.endswith(".gz"):
        return "gzip"
    if lower.endswith(".zst"):
        return "zstd"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def not_jsonl(raw: bytes) -> str | None:
    """Why a file read as JSONL whose first bytes are `raw` is something else (Parquet, WARC,
    UTF-16 text), or None. Its first line would fail as "not valid JSON at column 1", which
    does not say what to do."""
    if raw.startswith(PARQUET_MAGIC):
        return "looks like Parquet, not JSONL: use --format parquet or rename it to .parquet"
    head = decompressed_head(raw)
    if head.startswith(b"WARC/"):
        return "looks like a WARC file, not JSONL: use --format warc or rename it to .warc"
    even = head[: len(head) & ~1]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or utf16_nul_pattern(even):
        return "is UTF-16 text, not UTF-8: convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"
    return None


def decompressed_head(raw: bytes) -> bytes:
    """The first bytes of the decompressed stream (raw itself when not compressed); empty
    when the compressed data is damaged."""
    import zstandard

    try:
        if raw.startswith(GZIP_MAGIC):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, HEAD)
        if raw.startswith(ZSTD_MAGIC):
            # Read through a bounded reader: a few KiB of zstd can decompress to gigabytes.
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)) as r:
                return r.read(HEAD)
    except (zlib.error, zstandard.ZstdError):
        return b""
    return raw


def _starts_json_object(head: bytes) -> bool:
    """Whether the first line is a JSON object (or an object longer than the head)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text.startswith(b"{"):
        return False
    line, newline, _ = text.partition(b"\n")
    if not newline and len(head) >= HEAD:
        return True  # a first line longer than the head: cannot check it whole
    try:
        return isinstance(json.loads(line.decode("utf-8", errors="replace")), dict)
    except ValueError:
        return False
