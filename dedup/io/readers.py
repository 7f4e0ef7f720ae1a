"""Input readers: folders, text files, JSONL (plain, .gz, .zst), Parquet, WARC/WET and stdin
-> Doc records.

Everything streams: at most one file's content (for JSONL one line, for Parquet one row group,
for WARC one record) is held in memory.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, cast

from ..config import ReadConfig
from ..errors import InputError
from ..types import Doc, RawLines, Skip
from .detect import JSONL_SUFFIXES, Compression, compression, detect_format
from .encoding import NotTextError, decode_text
from .records import json_kind, record_to_doc, reject

STDIN_NAME = "<stdin>"

_CHUNK = 1 << 16


def read_inputs(
    inputs: Sequence[str], cfg: ReadConfig, stdin: BinaryIO | None = None, jobs: int = 1
) -> Iterator[Doc | Skip]:
    """Yield a Doc for every document in `inputs`, in a deterministic order.

    Each input is a folder (read recursively in sorted path order, hidden names ignored), a
    text file, a JSONL file (.jsonl, .jsonl.gz, .jsonl.zst), a Parquet file, a WARC or WET
    file, or `-` for stdin (JSONL, or WARC/text with cfg.format). cfg.format "auto" tells each
    file's format by its name, else by its first bytes. A malformed record raises InputError,
    or with on_error="skip" is yielded as a Skip; an input that does not exist always raises,
    before anything is read. `jobs` processes extract the text of WARC HTML pages (the order
    and the documents never depend on it).
    """
    return cast(Iterator[Doc | Skip], _read_all(inputs, cfg, stdin, jobs, raw=False))


def read_items(
    inputs: Sequence[str], cfg: ReadConfig, stdin: BinaryIO | None = None, jobs: int = 1
) -> Iterator[Doc | Skip | RawLines]:
    """`read_inputs`, but JSONL lines come out unparsed, in blocks (RawLines) for
    `parse_lines` in whatever process: reading stays with the caller, parsing can move to
    the workers."""
    return _read_all(inputs, cfg, stdin, jobs, raw=True)


def _read_all(
    inputs: Sequence[str], cfg: ReadConfig, stdin: BinaryIO | None, jobs: int, raw: bool
) -> Iterator[Doc | Skip | RawLines]:
    for given in inputs:
        if given != "-" and not os.path.exists(given):
            raise InputError(given, "no such file or directory")
        if given == "-" and cfg.format == "parquet":
            raise InputError(STDIN_NAME, "Parquet cannot be read from stdin: give a file name")
    seen_uris: set[str] = set()  # WARC target URIs, so a re-crawled page gets a distinct id
    for given in inputs:
        if given == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            yield from _read_stdin(stream, cfg, seen_uris, jobs, raw)
        elif os.path.isdir(given):
            files, unreadable = folder_files(given)
            for e in unreadable:
                yield reject(cfg, e.filename or given, f"cannot read: {e.strerror or e}")
            for rel in files:
                yield from _read_one(os.path.join(given, rel), rel, cfg, seen_uris, jobs, raw)
        else:
            yield from _read_one(given, os.path.basename(given), cfg, seen_uris, jobs, raw)


def input_formats(inputs: Sequence[str], cfg: ReadConfig) -> set[str]:
    """The formats `read_inputs` will read these inputs as (stdin counts as JSONL unless
    cfg.format names another). Missing or unreadable inputs are left out."""
    found: set[str] = set()
    for given in inputs:
        if given == "-":
            found.add("jsonl" if cfg.format == "auto" else cfg.format)
        elif os.path.isdir(given):
            for rel in folder_files(given)[0]:
                found.add(detect_format(os.path.join(given, rel), rel, cfg.format))
        elif os.path.exists(given):
            found.add(detect_format(given, os.path.basename(given), cfg.format))
    return found


def _read_stdin(
    stream: BinaryIO, cfg: ReadConfig, seen_uris: set[str], jobs: int, raw: bool = False
) -> Iterator[Doc | Skip | RawLines]:
    fmt = "jsonl" if cfg.format == "auto" else cfg.format
    if fmt == "jsonl":
        yield from _jsonl_records(stream, STDIN_NAME, STDIN_NAME, cfg, raw)
    elif fmt == "warc":
        from .warc import read_warc

        yield from read_warc(stream, STDIN_NAME, cfg, seen_uris, jobs)
    else:
        yield _text_doc(stream.read(), STDIN_NAME, STDIN_NAME, cfg)


def is_jsonl(name: str) -> bool:
    """Whether a file of this name is read as JSONL rather than as one text document."""
    return name.lower().endswith(JSONL_SUFFIXES)


def folder_files(folder: str) -> tuple[list[str], list[OSError]]:
    """Relative POSIX paths of the non-hidden files under `folder`, sorted as strings so the
    order never depends on how the file system lists a directory; and the directories that
    could not be listed."""
    found: list[str] = []
    unreadable: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable.append):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = os.path.relpath(dirpath, folder)
        for name in filenames:
            if not name.startswith("."):
                rel = name if rel_dir == "." else os.path.join(rel_dir, name)
                found.append(Path(rel).as_posix())
    found.sort()
    return found, unreadable


def read_file(
    path: str, name: str, cfg: ReadConfig, seen_uris: set[str], jobs: int = 1
) -> Iterator[Doc | Skip]:
    """One file: JSONL records, Parquet rows, WARC records, or a single text document whose
    id is `name`."""
    return cast(Iterator[Doc | Skip], _read_one(path, name, cfg, seen_uris, jobs, raw=False))


def _read_one(
    path: str, name: str, cfg: ReadConfig, seen_uris: set[str], jobs: int, raw: bool
) -> Iterator[Doc | Skip | RawLines]:
    fmt = detect_format(path, name, cfg.format)
    if fmt == "jsonl":
        compressed = compression(path, name)
        try:
            with _open_jsonl(path, compressed) as lines:
                if raw and compressed is None and _is_regular(lines):
                    yield from _jsonl_spans(cast(io.BufferedIOBase, lines), path, name, cfg)
                else:
                    yield from _jsonl_records(lines, path, name, cfg, raw)
        except OSError as e:  # opening failed; read errors are reported with their line
            yield reject(cfg, path, f"cannot read: {e.strerror or e}")
        return
    if fmt == "parquet":
        from .parquet import read_parquet

        yield from read_parquet(path, name, cfg)
        return
    if fmt == "warc":
        from .warc import read_warc

        yield from read_warc(path, path, cfg, seen_uris, jobs)
        return
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        yield reject(cfg, path, f"cannot read: {e.strerror or e}")
        return
    yield _text_doc(data, path, name, cfg)


def _text_doc(data: bytes, source: str, name: str, cfg: ReadConfig) -> Doc | Skip:
    try:
        text = decode_text(data)
    except NotTextError as e:
        return reject(cfg, source, e.reason)
    return Doc(id=name, text=text, record={"id": name, "text": text}, source=source)


class _CorruptStream(Exception):
    """A compressed stream that cannot be decompressed to its end."""


@contextmanager
def _open_jsonl(path: str, compressed: Compression | None) -> Iterator[Iterable[bytes]]:
    """The lines of the decompressed file, read through a buffer."""
    with open(path, "rb") as raw:
        # Read front to back: let the kernel read further ahead. A 3 GB file not in the page
        # cache read at 1.3-2.2 GB/s without this and 3.2-3.3 GB/s with it.
        with suppress(OSError, AttributeError):
            os.posix_fadvise(raw.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        if compressed == "gzip":
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield gz
        elif compressed == "zstd":
            yield io.BufferedReader(_ZstdReader(raw), buffer_size=_CHUNK)
        else:
            yield raw


class _ZstdReader(io.RawIOBase):
    """Raw zstd decompression, frame after frame. Unlike zstandard's stream_reader it notices
    a stream cut off inside a frame (a truncated download) instead of ending quietly."""

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._raw = raw
        self._zstd = zstandard
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._in_frame = False
        self._out = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out:
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                if self._in_frame:
                    raise _CorruptStream("zstd stream ends in the middle of a frame")
                return 0
            self._out = memoryview(self._decompress(chunk))
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _decompress(self, chunk: bytes) -> bytes:
        parts = []
        while chunk:
            self._in_frame = True
            try:
                parts.append(self._obj.decompress(chunk))
            except self._zstd.ZstdError as e:
                raise _CorruptStream(str(e)) from e
            chunk = b""
            if self._obj.eof:  # a frame ended; what follows starts the next one
                chunk = self._obj.unused_data
                self._obj = self._dctx.decompressobj()
                self._in_frame = False
        return b"".join(parts)


def _jsonl_records(
    lines: BinaryIO | Iterable[bytes], source: str, name: str, cfg: ReadConfig, raw: bool = False
) -> Iterator[Doc | Skip | RawLines]:
    """One Doc per non-empty line of a JSONL stream (with `raw`, blocks of lines as RawLines);
    `name` prefixes generated ids."""
    if raw:
        yield from _jsonl_blocks(cast(BinaryIO, lines), source, name, cfg)
        return
    lineno = 0
    it = iter(lines)
    while True:
        lineno += 1
        try:
            data = next(it)
        except StopIteration:
            return
        except _READ_ERRORS as e:
            yield _read_failure(cfg, source, e, lineno)
            return
        if lineno == 1 and data.startswith(_BOM):
            data = data[3:]
        if data and not data.isspace():
            # Without its newline, as in blocks: a JSON error's column is on this line.
            yield parse_line(data.removesuffix(b"\n"), source, name, lineno, cfg)


_BOM = b"\xef\xbb\xbf"
_BLOCK = 1 << 18
_CORRUPT = (_CorruptStream, gzip.BadGzipFile, EOFError, zlib.error)
_READ_ERRORS = (*_CORRUPT, OSError)


def _read_failure(cfg: ReadConfig, source: str, e: Exception, lineno: int) -> Skip:
    """The Skip (or InputError) of a stream that fails before line `lineno` is complete."""
    if isinstance(e, _CORRUPT):
        return reject(cfg, source, f"corrupt or truncated file: {e}", lineno)
    return reject(cfg, source, f"cannot read: {getattr(e, 'strerror', None) or e}", lineno)


def _jsonl_blocks(
    stream: BinaryIO, source: str, name: str, cfg: ReadConfig
) -> Iterator[RawLines | Skip]:
    """The stream's whole lines in blocks of about `_BLOCK` bytes: reading without looking at
    each line. A stream that fails is reported at the first line not read whole, as by line."""
    read = getattr(stream, "read1", stream.read)  # read1: what is there, up to a block
    lineno = 1
    pending: list[bytes] = []  # a line longer than a block, in pieces
    while True:
        try:
            chunk = read(_BLOCK)
        except _READ_ERRORS as e:
            yield _read_failure(cfg, source, e, lineno)
            return
        if lineno == 1 and not pending and chunk.startswith(_BOM):
            chunk = chunk[3:]
        if not chunk:
            if pending:  # the last line has no newline
                yield RawLines(source, name, lineno, 1, b"".join(pending))
            return
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            pending.append(chunk)
            continue
        block = b"".join((*pending, chunk[:cut])) if pending else chunk[:cut]
        pending = [chunk[cut:]] if cut < len(chunk) else []
        count = block.count(b"\n")
        yield RawLines(source, name, lineno, count, block)
        lineno += count


def _is_regular(stream: Iterable[bytes]) -> bool:
    fileno = getattr(stream, "fileno", None)
    return fileno is not None and stat.S_ISREG(os.fstat(fileno()).st_mode)


def _jsonl_spans(
    stream: io.BufferedIOBase, source: str, name: str, cfg: ReadConfig
) -> Iterator[RawLines | Skip]:
    """`_jsonl_blocks` of a plain file, as spans: the whole lines of about `_BLOCK` bytes at a
    time, by where they lie in the file (`RawLines.span`), so the lines are counted here and
    read again only by the process that parses them. One buffer serves every read."""
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    lineno = 1
    start = pos = 0  # file offsets: of the first byte in no block yet, after the last read
    while True:
        try:
            got = stream.readinto(view)
        except _READ_ERRORS as e:
            yield _read_failure(cfg, source, e, lineno)
            return
        if pos == 0 and buf.startswith(_BOM, 0, got):
            start = 3
        if not got:
            if start < pos:  # the last line has no newline
                yield RawLines(source, name, lineno, 1, b"", (start, pos - start))
            return
        cut = buf.rfind(b"\n", 0, got) + 1
        pos += got
        if cut:
            end = pos - got + cut
            count = buf.count(b"\n", 0, cut)
            yield RawLines(source, name, lineno, count, b"", (start, end - start))
            lineno += count
            start = end


def parse_lines(block: RawLines, cfg: ReadConfig) -> Iterator[Doc | Skip]:
    """The Doc (or Skip) of every non-empty line of a block, as `read_inputs` reads them. A
    span is read from its file here; a file that became shorter since it was counted fails
    at the block's first line."""
    lines = block.data
    if block.span is not None:
        offset, size = block.span
        try:
            with open(block.source, "rb") as f:
                lines = os.pread(f.fileno(), size, offset)
        except OSError as e:
            yield reject(cfg, block.source, f"cannot read: {e.strerror or e}", block.line)
            return
        if len(lines) < size:
            yield reject(cfg, block.source, "the file became shorter while it was read", block.line)
            return
    for k, data in enumerate(lines.split(b"\n")):
        if data and not data.isspace():
            yield parse_line(data, block.source, block.name, block.line + k, cfg)


def parse_line(raw: bytes, source: str, name: str, lineno: int, cfg: ReadConfig) -> Doc | Skip:
    """The Doc of one JSONL line (a Skip, or InputError, when it is malformed). Invalid UTF-8
    inside a line is dirty but usable, like in a text file."""
    line = raw.decode("utf-8", errors="replace")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        return reject(cfg, source, f"not valid JSON: {e.msg} at column {e.colno}", lineno)
    except RecursionError:
        return reject(cfg, source, "not valid JSON: nested too deeply", lineno)
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        return reject(cfg, source, f"not valid JSON: {e}", lineno)
    if not isinstance(record, dict):
        return reject(cfg, source, f"a {json_kind(record)}, not a JSON object", lineno)
    return record_to_doc(record, source, name, lineno, cfg)
