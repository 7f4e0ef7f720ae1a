"""Input readers: folders, text files, JSONL (plain, .gz, .zst), Parquet, WARC/WET and stdin
-> Doc records.

Everything streams: at most one file's content (for JSONL one line, for Parquet one row group,
for WARC one record), and never more than cfg.max_record_bytes of it, is held in memory.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, cast

from ..config import ReadConfig
from ..errors import InputError
from ..types import Doc, RawLines, RawPages, Skip
from .detect import (
    HEAD,
    JSONL_SUFFIXES,
    PARQUET_MAGIC,
    Format,
    compression,
    decompressed_head,
    detect_format,
    format_by_name,
    not_jsonl,
    sniff_named,
)
from .encoding import NotTextError, decode_text
from .records import check_text, json_kind, over_record_limit, record_to_doc, reject
from .streams import CORRUPT, StreamTooLarge, decompressed, lines, peek, read_at_most

STDIN_NAME = "<stdin>"


# The reason recorded for a hidden name of folder input: left out by rule, not an error.
HIDDEN = "hidden (its name starts with '.'): not read"


def read_inputs(
    inputs: Sequence[str], cfg: ReadConfig, stdin: BinaryIO | None = None, jobs: int = 1
) -> Iterator[Doc | Skip]:
    """Yield a Doc for every document in `inputs`, in a deterministic order.

    Each input is a folder (read recursively in sorted path order, symlinked folders followed;
    hidden names are not read and are yielded as Skips, whatever cfg.on_error), a text file, a
    JSONL file (.jsonl, .jsonl.gz, .jsonl.zst), a Parquet file, a WARC or WET file, or `-` for
    stdin (JSONL, or WARC when it starts so; or what cfg.format says). cfg.format "auto" tells
    each file's format by its name, else by its first bytes (read once: FIFOs and stdin lose
    nothing). A malformed record, or one over cfg's size limits, raises InputError, or with
    on_error="skip" is yielded as a Skip; an input that does not exist always raises, before
    anything is read. `jobs` processes extract the text of WARC HTML pages (the order and the
    documents never depend on it).
    """
    return cast(Iterator[Doc | Skip], _read_all(inputs, cfg, stdin, jobs, raw=False))


def read_items(
    inputs: Sequence[str], cfg: ReadConfig, stdin: BinaryIO | None = None, jobs: int = 1
) -> Iterator[Doc | Skip | RawLines | RawPages]:
    """`read_inputs`, but JSONL lines come out unparsed, in blocks (RawLines), and WARC HTML
    pages unextracted, in blocks (RawPages), for `parse_raw` in whatever process: reading
    stays with the caller, parsing and extraction can move to the workers (`jobs` is then
    not used)."""
    return _read_all(inputs, cfg, stdin, jobs, raw=True)


def _read_all(
    inputs: Sequence[str], cfg: ReadConfig, stdin: BinaryIO | None, jobs: int, raw: bool
) -> Iterator[Doc | Skip | RawLines | RawPages]:
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
            hidden: list[str] = []
            files, unreadable = folder_files(given, hidden)
            for e in unreadable:
                yield reject(cfg, e.filename or given, f"cannot read: {e.strerror or e}")
            for path in hidden:  # left out by rule, not an error: recorded in either mode
                yield Skip(path, None, HIDDEN)
            several = len(inputs) > 1
            for rel in files:
                name = id_name(given, rel, several)
                yield from _read_one(os.path.join(given, rel), name, cfg, seen_uris, jobs, raw)
        else:
            name = id_name(given, "", len(inputs) > 1)
            yield from _read_one(given, name, cfg, seen_uris, jobs, raw)


def id_name(given: str, rel: str, several: bool) -> str:
    """The name a file is known by: the id of a text document, the `<name>:<line>` of a JSONL
    record without an id. `rel` is the file's path inside the folder `given` ("" when `given`
    is the file). With one input it is the path inside the folder, or the file's base name;
    when the run is given several inputs, the input as given leads, so two folders that both
    hold `part-0.txt` give the documents `a/part-0.txt` and `b/part-0.txt`."""
    label = given.rstrip("/") if "://" in given else Path(os.path.normpath(given)).as_posix()
    if not several:
        return rel or label.rsplit("/", 1)[-1]
    return f"{label}/{rel}" if rel else label


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
) -> Iterator[Doc | Skip | RawLines | RawPages]:
    """stdin: JSONL, or WARC when it starts so, each possibly gzip or zstd compressed (or the
    format cfg.format declares). Its first bytes are looked at without losing them."""
    try:
        head, stream = peek(stream, HEAD, _tells_magic)
    except OSError as e:
        yield reject(cfg, STDIN_NAME, f"cannot read: {e.strerror or e}")
        return
    fmt: Format
    if cfg.format != "auto":
        fmt = cfg.format
    elif head.startswith(PARQUET_MAGIC):
        raise InputError(STDIN_NAME, "Parquet cannot be read from stdin: give a file name")
    else:
        fmt = "warc" if decompressed_head(head).startswith(b"WARC/") else "jsonl"
    yield from _read_stream(stream, head, fmt, STDIN_NAME, STDIN_NAME, cfg, seen_uris, jobs, raw)


def is_jsonl(name: str) -> bool:
    """Whether a file of this name is read as JSONL rather than as one text document."""
    return name.lower().endswith(JSONL_SUFFIXES)


def folder_files(folder: str, hidden: list[str] | None = None) -> tuple[list[str], list[OSError]]:
    """Relative POSIX paths of the files under `folder`, sorted as strings so the order never
    depends on how the file system lists a directory; and the directories that could not be
    listed. Symlinked folders are followed as if they were there; one that leads back to a
    folder it is inside (a loop) is not, and is among the errors (ELOOP, naming the link).
    Names starting with "." are not read: with `hidden`, their paths (a hidden folder once,
    not its files) are appended to it."""
    found: list[str] = []
    unreadable: list[OSError] = []
    # The real folders on the path from `folder` down to the one being listed: a link to any
    # of them is a loop. os.walk goes depth first, so the path is rebuilt from `dirpath`.
    real: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(
        folder, onerror=unreadable.append, followlinks=True
    ):
        rel_dir = os.path.relpath(dirpath, folder)
        here = os.path.realpath(dirpath)
        real[rel_dir] = here
        ancestors = {real.get(a) for a in _ancestors(rel_dir)} | {here}
        keep = []
        for d in sorted(dirnames):
            path = os.path.join(dirpath, d)
            if d.startswith("."):
                if hidden is not None:
                    hidden.append(path)
            elif os.path.islink(path) and os.path.realpath(path) in ancestors:
                loop = f"symbolic link loop: leads back to {os.path.realpath(path)}"
                unreadable.append(OSError(errno.ELOOP, loop, path))
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            rel = name if rel_dir == "." else os.path.join(rel_dir, name)
            if name.startswith("."):
                if hidden is not None:
                    hidden.append(os.path.join(dirpath, name))
            else:
                found.append(Path(rel).as_posix())
    found.sort()
    if hidden is not None:
        hidden.sort()
    return found, unreadable


def _ancestors(rel: str) -> Iterator[str]:
    """ "a/b/c" -> "a/b", "a", "." (the folders above a relative path, as relpath names them)."""
    while rel != ".":
        rel = os.path.dirname(rel) or "."
        yield rel


def read_file(
    path: str, name: str, cfg: ReadConfig, seen_uris: set[str], jobs: int = 1
) -> Iterator[Doc | Skip]:
    """One file: JSONL records, Parquet rows, WARC records, or a single text document whose
    id is `name`."""
    return cast(Iterator[Doc | Skip], _read_one(path, name, cfg, seen_uris, jobs, raw=False))


def _read_one(
    path: str, name: str, cfg: ReadConfig, seen_uris: set[str], jobs: int, raw: bool
) -> Iterator[Doc | Skip | RawLines | RawPages]:
    fmt = format_by_name(name) if cfg.format == "auto" else cfg.format
    if fmt == "parquet":
        yield from _read_parquet(path, name, cfg)
        return
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below, after the generator is done)
    except OSError as e:
        yield reject(cfg, path, f"cannot read: {e.strerror or e}")
        return
    with f:
        # Read front to back: let the kernel read further ahead. A 3 GB file not in the page
        # cache read at 1.3-2.2 GB/s without this and 3.2-3.3 GB/s with it.
        with suppress(OSError, AttributeError):
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        try:
            # The first bytes tell the format and the compression; a FIFO gives them once.
            head, stream = peek(f, HEAD, _tells_magic if fmt else _tells_first_line)
        except OSError as e:
            yield reject(cfg, path, f"cannot read: {e.strerror or e}")
            return
        if fmt is None:
            fmt = sniff_named(head, name)
            if fmt == "parquet":
                yield from _read_parquet(path, name, cfg)
                return
        yield from _read_stream(stream, head, fmt, path, name, cfg, seen_uris, jobs, raw)


def _tells_magic(head: bytes) -> bool:
    """Whether `head` is enough to tell a compression, Parquet, WARC or UTF-16 (a pipe's
    first bytes, read before what it says is known)."""
    return len(decompressed_head(head)) >= 16


def _tells_first_line(head: bytes) -> bool:
    """... and also whether the first line is a JSON object (a name without a suffix)."""
    first = decompressed_head(head)
    return len(first) >= HEAD or (len(first) >= 16 and b"\n" in first)


def _read_parquet(path: str, name: str, cfg: ReadConfig) -> Iterator[Doc | Skip]:
    from .parquet import read_parquet

    return read_parquet(path, name, cfg)


def _read_stream(
    stream: BinaryIO,
    head: bytes,
    fmt: Format,
    source: str,
    name: str,
    cfg: ReadConfig,
    seen_uris: set[str],
    jobs: int,
    raw: bool,
) -> Iterator[Doc | Skip | RawLines | RawPages]:
    """The records of an opened input whose first bytes are `head` (not consumed), in `fmt`."""
    if fmt == "parquet":
        yield reject(cfg, source, "Parquet cannot be read from a stream: give a file name")
    elif fmt == "warc":
        from .warc import read_warc

        yield from read_warc(stream, source, cfg, seen_uris, jobs, raw)
    elif fmt == "jsonl":
        problem = not_jsonl(head)
        if problem is not None:
            yield reject(cfg, source, problem)
            return
        compressed = compression(name, head)
        content = decompressed(stream, compressed, cfg.max_stream_bytes)
        if raw and compressed is None and source != STDIN_NAME and _is_regular(stream):
            yield from _jsonl_spans(cast(io.BufferedIOBase, content), source, name, cfg)
        else:
            yield from _jsonl_records(content, source, name, cfg, raw)
    else:
        try:
            data = read_at_most(stream, cfg.max_record_bytes)
        except OSError as e:
            yield reject(cfg, source, f"cannot read: {e.strerror or e}")
            return
        if isinstance(data, int):
            yield reject(cfg, source, over_record_limit(cfg, "a file"))
        else:
            yield _text_doc(data, source, name, cfg)


def _text_doc(data: bytes, source: str, name: str, cfg: ReadConfig) -> Doc | Skip:
    try:
        text = decode_text(data)
    except NotTextError as e:
        return reject(cfg, source, e.reason)
    over = check_text(cfg, source, text, None)
    if over is not None:
        return over
    return Doc(id=name, text=text, record={"id": name, "text": text}, source=source)


def _jsonl_records(
    stream: BinaryIO, source: str, name: str, cfg: ReadConfig, raw: bool = False
) -> Iterator[Doc | Skip | RawLines | RawPages]:
    """One Doc per non-empty line of a JSONL stream (with `raw`, blocks of lines as RawLines);
    `name` prefixes generated ids. A line over the record limit is never held whole."""
    if raw:
        yield from _jsonl_blocks(stream, source, name, cfg)
        return
    lineno = 0
    it = lines(stream, cfg.max_record_bytes)
    while True:
        lineno += 1
        try:
            data = next(it)
        except StopIteration:
            return
        except _READ_ERRORS as e:
            yield _read_failure(cfg, source, e, lineno)
            return
        if isinstance(data, int):
            yield reject(cfg, source, over_record_limit(cfg), lineno)
            continue
        if lineno == 1 and data.startswith(_BOM):
            data = data[3:]
        if data and not data.isspace():
            # Without its newline, as in blocks: a JSON error's column is on this line.
            yield parse_line(data.removesuffix(b"\n"), source, name, lineno, cfg)


_BOM = b"\xef\xbb\xbf"
_BLOCK = 1 << 18
_READ_ERRORS = (*CORRUPT, StreamTooLarge, OSError)


def _read_failure(cfg: ReadConfig, source: str, e: Exception, lineno: int) -> Skip:
    """The Skip (or InputError) of a stream that fails before line `lineno` is complete:
    every line before it was read, nothing from it on can be."""
    if isinstance(e, StreamTooLarge):
        return reject(cfg, source, str(e), lineno)
    if isinstance(e, CORRUPT):
        reason = f"corrupt or truncated file: {e}; the rest of the file is not read"
        return reject(cfg, source, reason, lineno)
    return reject(cfg, source, f"cannot read: {getattr(e, 'strerror', None) or e}", lineno)


def _jsonl_blocks(
    stream: BinaryIO, source: str, name: str, cfg: ReadConfig
) -> Iterator[RawLines | Skip]:
    """The stream's whole lines in blocks of about `_BLOCK` bytes: reading without looking at
    each line. A stream that fails is reported at the first line not read whole, as by line.
    A line that grows past the record limit is dropped as it is read, then reported."""
    read = getattr(stream, "read1", stream.read)  # read1: what is there, up to a block
    limit = cfg.max_record_bytes
    lineno = 1
    pending: list[bytes] = []  # a line longer than a block, in pieces
    size = 0  # bytes of the line in `pending` (or of the one dropped)
    dropped = False  # the line is over the limit: only counted
    while True:
        try:
            chunk = read(_BLOCK)
        except _READ_ERRORS as e:
            yield _read_failure(cfg, source, e, lineno)
            return
        if lineno == 1 and not size and chunk.startswith(_BOM):
            chunk = chunk[3:]
        if not chunk:
            if dropped:
                yield reject(cfg, source, over_record_limit(cfg), lineno)
            elif pending:  # the last line has no newline
                yield RawLines(source, name, lineno, 1, b"".join(pending))
            return
        if dropped:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            yield reject(cfg, source, over_record_limit(cfg), lineno)
            lineno += 1
            chunk = chunk[end + 1 :]
            size = 0
            dropped = False
        cut = chunk.rfind(b"\n") + 1
        if cut:
            block = b"".join((*pending, chunk[:cut])) if pending else chunk[:cut]
            pending = [chunk[cut:]] if cut < len(chunk) else []
            size = len(chunk) - cut
            count = block.count(b"\n")
            yield RawLines(source, name, lineno, count, block)
            lineno += count
        elif chunk:
            pending.append(chunk)
            size += len(chunk)
        if limit and size > limit:
            pending = []
            dropped = True


def _is_regular(stream: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # no file descriptor: not a plain file
        return False


def _jsonl_spans(
    stream: io.BufferedIOBase, source: str, name: str, cfg: ReadConfig
) -> Iterator[RawLines | Skip]:
    """`_jsonl_blocks` of a plain file, as spans: the whole lines of about `_BLOCK` bytes at a
    time, by where they lie in the file (`RawLines.span`), so the lines are counted here and
    read again only by the process that parses them. One buffer serves every read. A line
    that grows past the record limit is reported, never handed on."""
    limit = cfg.max_record_bytes
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    lineno = 1
    start = pos = 0  # file offsets: of the first byte in no block yet, after the last read
    dropped = False  # the line from `start` is over the limit
    while True:
        try:
            got = stream.readinto(view)
        except _READ_ERRORS as e:
            yield _read_failure(cfg, source, e, lineno)
            return
        if pos == 0 and buf.startswith(_BOM, 0, got):
            start = 3
        if not got:
            if dropped:
                yield reject(cfg, source, over_record_limit(cfg), lineno)
            elif start < pos:  # the last line has no newline
                yield RawLines(source, name, lineno, 1, b"", (start, pos - start))
            return
        base = pos
        pos += got
        if dropped:
            end = buf.find(b"\n", 0, got)
            if end < 0:
                continue
            yield reject(cfg, source, over_record_limit(cfg), lineno)
            lineno += 1
            start = base + end + 1
            dropped = False
        cut = buf.rfind(b"\n", 0, got) + 1
        if cut and base + cut > start:
            end = base + cut
            count = buf.count(b"\n", max(0, start - base), cut)
            yield RawLines(source, name, lineno, count, b"", (start, end - start))
            lineno += count
            start = end
        if limit and pos - start > limit:
            dropped = True


def parse_raw(block: RawLines | RawPages, cfg: ReadConfig) -> Iterator[Doc | Skip]:
    """The Doc (or Skip) of every record of a block `read_items` gave out."""
    if isinstance(block, RawLines):
        return parse_lines(block, cfg)
    from .warc import extract_pages

    return extract_pages(block, cfg)


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
    if cfg.max_record_bytes and len(raw) > cfg.max_record_bytes:
        return reject(cfg, source, over_record_limit(cfg), lineno)
    line = raw.decode("utf-8", errors="replace")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        # Some of json's messages end in "at" ("Unterminated string starting at").
        at = "column" if e.msg.endswith(" at") else "at column"
        return reject(cfg, source, f"not valid JSON: {e.msg} {at} {e.colno}", lineno)
    except RecursionError:
        return reject(cfg, source, "not valid JSON: nested too deeply", lineno)
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        return reject(cfg, source, f"not valid JSON: {e}", lineno)
    if not isinstance(record, dict):
        return reject(cfg, source, f"a {json_kind(record)}, not a JSON object", lineno)
    return record_to_doc(record, source, name, lineno, cfg)
