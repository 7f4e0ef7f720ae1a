"""WARC and WET files (.warc, .warc.gz, .wet, .wet.gz), as Common Crawl publishes them.

A document is a WET `conversion` record (already text) or a WARC `response` / `resource`
record whose content is HTML, reduced to its main text by an extractor (resiliparse or
trafilatura). Other records (warcinfo, request, metadata, revisit, and responses that are not
HTML: images, PDFs, scripts...) are not documents. An HTML page from which nothing is
extracted is still a document, with empty text, so it is counted.

The id is the record's WARC-Target-URI; a URI already read in this run gets
`URI#<record id>` so every id stays unique and deterministic. Ids are given as the records
are read, whether or not a page's text turns out usable, so they never depend on
extraction. The record carries `id`, `text`, `url`, `date` (WARC-Date) and `warc_record_id`.

warcio and both extractors are optional: `pip install 'dedup[warc]'`. An extractor that is
not installed is a ConfigError at the first HTML page.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import sys
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..config import ReadConfig
from ..errors import ConfigError
from ..parallel import batched, ordered_map
from ..types import Doc, RawPages, Skip
from .encoding import NotTextError, decode_text
from .records import check_text, over_record_limit, reject
from .streams import CORRUPT, StreamTooLarge, decompressed, read_at_most

EXTRA = "pip install 'dedup[warc]'"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BATCH = 32  # HTML pages per extraction task
_BLOCK_BYTES = 8 << 20  # at most about this much HTML per block of pages (RawPages)
_META_SCAN = 4096  # a <meta charset> is in the head: look no further
# Labels that Chinese sites use for encodings Python knows by a superset: decoding by the
# superset reads every page the label was meant for, and pages mislabelled with it.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs", "x-gbk": "gb18030"}


def _import_warcio() -> Any:
    """warcio's ArchiveIterator, made to take a record that goes on past its Content-Length
    (a Content-Length too small) as damage to count, not a warning to print."""
    try:
        from warcio.archiveiterator import ArchiveIterator
    except ImportError as e:
        raise ConfigError(f"reading WARC files needs warcio: {EXTRA}") from e
    _quiet_logger("warcio")

    class Archive(ArchiveIterator):
        """After each record, warcio reads what is left of it (blank lines, or the rest of a
        record whose Content-Length was too small) up to the next one; it would print a
        warning to stderr and take the next non-blank line for the next record, which loses
        the rest of the file. Here every line up to the next `WARC/` line is skipped and
        counted in `overruns`, so the record that overran is reported and the next is read."""

        overruns = 0

        def _consume_blanklines(self) -> tuple[bytes | None, int]:
            skipped = 0
            overran = False
            while True:
                line = self.reader.readline()
                if not line:
                    return None, skipped
                if line.startswith(b"WARC/"):
                    return line, skipped
                skipped += len(line)
                if line.strip() and not overran:
                    overran = True
                    self.overruns += 1

    return Archive


def import_warcio_without_fsspec() -> None:
    """Import warcio with its optional fsspec support off: warcio.utils imports fsspec (and
    asyncio with it), about 40 ms of CPU, only to open files by URL, which dedup never asks
    of warcio (it hands warcio open streams). For processes dedup owns (the CLI): warcio in
    the process then opens no URL with fsspec."""
    if "warcio.utils" in sys.modules or "fsspec" in sys.modules:
        return
    sys.modules["fsspec"] = None  # type: ignore[assignment]  # importing it fails at once
    try:
        import warcio.archiveiterator  # noqa: F401
    except ImportError:  # not installed: the first WARC file read says which extra to install
        pass
    finally:
        del sys.modules["fsspec"]


def extractor(name: str) -> Callable[[str], str]:
    """The main-text extractor `name` (resiliparse or trafilatura), imported on first use."""
    if name == "resiliparse":
        try:
            from resiliparse.extract.html2text import extract_plain_text
        except ImportError as e:
            raise ConfigError(f"the resiliparse extractor is not installed: {EXTRA}") from e

        def resiliparse(page: str) -> str:
            return str(extract_plain_text(page, main_content=True, preserve_formatting=True))

        return resiliparse
    try:
        import trafilatura
    except ImportError as e:
        raise ConfigError(f"the trafilatura extractor is not installed: {EXTRA}") from e
    _quiet_logger("trafilatura")

    def extract(page: str) -> str:
        return trafilatura.extract(page, include_comments=False, include_tables=True) or ""

    return extract


def _quiet_logger(name: str) -> None:
    """Give a library's logger a handler that drops records, unless it has one: without any,
    Python prints its warnings about single pages to stderr (under -q too). A program that
    configures logging still receives them (they propagate to the root logger)."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class _Page:
    """A text record as read: its WARC fields and either its text (WET) or its HTML bytes."""

    number: int  # record number in the file, from 1
    offset: int
    id: str  # the document's id
    url: str
    record_id: str
    date: str | None
    text: str | None = None
    html: bytes = b""
    content_type: str = ""


# Where a record's content holds the end of a record and the start of the next: its
# Content-Length ran past its own end.
_NEXT_RECORD = re.compile(rb"\r\n\r\nWARC/1\.[01]\r\n")


@dataclass(frozen=True)
class _Broken:
    """A record that is not read: damaged, too large, or the last one of a file that cannot
    be read past it."""

    number: int
    reason: str


class _RecordError(Exception):
    """One record cannot be read; the records after it can."""


@dataclass(frozen=True)
class _Extract:
    """Picklable, for worker processes: the main text of each HTML page of a batch, or why its
    extraction failed. The extractor is looked up in the worker, never pickled."""

    name: str

    def __call__(self, pages: list[_Page]) -> list[tuple[str, str | None]]:
        if not pages:
            return []
        extract = extractor(self.name)
        out: list[tuple[str, str | None]] = []
        for page in pages:
            try:
                out.append((extract(decode_html(page.html, page.content_type)), None))
            except Exception as e:  # an extractor bug on one page must not end the run
                out.append(("", f"HTML extraction failed (record at byte {page.offset}): {e}"))
        return out


def read_warc(
    src: str | BinaryIO,
    source: str,
    cfg: ReadConfig,
    seen_uris: set[str],
    jobs: int = 1,
    raw: bool = False,
) -> Iterator[Doc | Skip | RawPages]:
    """One Doc per text record of a WARC or WET file (a path, or a binary stream such as
    stdin), in file order; HTML is extracted in batches over `jobs` processes, or with `raw`
    not here: the HTML pages come out in blocks (RawPages) for `extract_pages` in whatever
    process. A record that cannot be read (a content encoding that does not decode, a
    Content-Length too small, over the record limit) raises InputError naming the record
    number, or with on_error="skip" is yielded as a Skip and reading goes on; a file damaged
    past a record (truncated, corrupt compression) ends there with one Skip."""
    archive_iterator = _import_warcio()
    if not isinstance(src, str):
        yield from _read_stream(src, source, cfg, seen_uris, jobs, archive_iterator, raw)
        return
    try:
        f = open(src, "rb")  # noqa: SIM115 (closed below, after the generator is done)
    except OSError as e:
        yield reject(cfg, source, f"cannot read: {e.strerror or e}")
        return
    with f:
        yield from _read_stream(f, source, cfg, seen_uris, jobs, archive_iterator, raw)


def extract_pages(block: RawPages, cfg: ReadConfig) -> Iterator[Doc | Skip]:
    """The Doc (or Skip) of every page of a block `read_warc` gave out, as it reads them."""
    pages = list(block.pages)
    yield from _docs(pages, _Extract(cfg.extractor)(pages), block.source, cfg)


def _docs(
    pages: list[_Page], extracted: list[tuple[str, str | None]], source: str, cfg: ReadConfig
) -> Iterator[Doc | Skip]:
    """The Doc of each HTML page from its extracted text, or the Skip of its failure."""
    for page, (text, error) in zip(pages, extracted, strict=True):
        yield (
            reject(cfg, source, error, page.number)
            if error is not None
            else _doc(page, text, source, cfg)
        )


def _read_stream(
    file: BinaryIO,
    source: str,
    cfg: ReadConfig,
    seen_uris: set[str],
    jobs: int,
    archive_iterator: Any,
    raw: bool,
) -> Iterator[Doc | Skip | RawPages]:
    with ExitStack() as stack:
        try:
            stream: Any = file
            if _is_gzip(stream):
                # Decompressed here, so that a file gzipped whole reads like one gzipped per
                # record (Common Crawl's layout), which is all warcio reads itself.
                gz = decompressed(stream, "gzip", cfg.max_stream_bytes)
                stream = stack.enter_context(gz)
            if not hasattr(stream, "peek"):
                stream = stack.enter_context(io.BufferedReader(stream))
            head = stream.peek(5)[:5]
        except (OSError, StreamTooLarge, *CORRUPT) as e:
            yield reject(cfg, source, f"cannot read: {e}")
            return
        if head and head != b"WARC/":
            # warcio would read other bytes as an old ARC file and find nothing in them.
            yield reject(cfg, source, f"not a WARC or WET file (it starts with {head!r})")
            return
        pages = _pages(archive_iterator(stream, check_digests=False), cfg, seen_uris)
        if raw:
            yield from _blocks(pages, source, cfg, file)
            return
        queued: deque[list[_Page | _Broken]] = deque()

        def html_batches() -> Iterator[list[_Page]]:
            """Only the HTML pages travel to the workers; the batch waits in `queued`."""
            for batch in batched(pages, _BATCH):
                queued.append(batch)
                yield [p for p in batch if isinstance(p, _Page) and p.text is None]

        extractions = ordered_map(_Extract(cfg.extractor), html_batches(), jobs)
        with closing(extractions):  # a consumer that stops ends the workers at once
            for extracted in extractions:
                results = iter(extracted)
                for page in queued.popleft():
                    if isinstance(page, _Broken):
                        yield reject(cfg, source, page.reason, page.number)
                    elif page.text is not None:
                        yield _doc(page, page.text, source, cfg)
                    else:
                        yield from _docs([page], [next(results)], source, cfg)


def _blocks(
    pages: Iterator[_Page | _Broken], source: str, cfg: ReadConfig, file: BinaryIO
) -> Iterator[Doc | Skip | RawPages]:
    """`pages` in file order, the HTML ones in blocks of up to _BATCH pages (or _BLOCK_BYTES
    of HTML): the WET records and the records that cannot be read as they come, each after
    the block before it."""
    block: list[_Page] = []
    held = 0
    start = _position(file)

    def flush() -> RawPages:
        nonlocal start, held
        held = 0
        end = _position(file)
        if start is not None and end is not None and end >= start:
            size = end - start
        else:
            size = sum(len(p.html) for p in block)
        start = end
        out = RawPages(source, tuple(block), size)
        block.clear()
        return out

    for page in pages:
        if isinstance(page, _Page) and page.text is None:
            block.append(page)
            held += len(page.html)
            if len(block) >= _BATCH or held >= _BLOCK_BYTES:
                yield flush()
            continue
        if block:
            yield flush()
        if isinstance(page, _Broken):
            yield reject(cfg, source, page.reason, page.number)
        else:
            yield _doc(page, page.text or "", source, cfg)
    if block:
        yield flush()


def _position(file: BinaryIO) -> int | None:
    """How far into the input file reading is (read ahead included), if it can say."""
    try:
        return file.tell()
    except (OSError, ValueError, AttributeError):
        return None


# What warcio raises on a stream it cannot read on (it trips over some malformed headers, a
# response without a target URI, with AttributeError and the like): damage, not a crash.
_STREAM_ERRORS = (
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    AttributeError,
    TypeError,
    KeyError,
    IndexError,
    *CORRUPT,
)


def _pages(records: Any, cfg: ReadConfig, seen_uris: set[str]) -> Iterator[_Page | _Broken]:
    """The text records of a WARC stream, each with its id, and a _Broken for each one that
    cannot be read; a _Broken last if the stream is damaged past a record."""
    from warcio.exceptions import ArchiveLoadFailed

    number = 0
    while True:
        number += 1
        problem = None
        try:
            record = next(records)
            wanted = _wanted(record)
            if wanted:
                try:
                    payload = _payload(record, cfg)
                except _RecordError as e:
                    problem = str(e)
            overruns = records.overruns
            offset = records.get_record_offset()  # reads to the record's end: after payload
            if getattr(record.raw_stream, "limit", 0) > 0:
                raise EOFError(f"the record at byte {offset} ends before its Content-Length")
        except StopIteration:
            return
        except StreamTooLarge as e:
            yield _Broken(number, f"record {number}: the file {e}")
            return
        except (ArchiveLoadFailed, *_STREAM_ERRORS) as e:
            first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), repr(e))
            yield _Broken(number, f"corrupt or truncated WARC (record {number}): {first}")
            return
        if not wanted:
            continue
        swallowed = len(_NEXT_RECORD.findall(payload)) if problem is None else 0
        if swallowed:
            # A Content-Length too large: the record runs into the records after it, which
            # are lost with it, each counted (the reader goes on at the next record start).
            problem = (
                f"the record at byte {offset} has a Content-Length that runs into the "
                f"next {swallowed} record(s), lost with it"
            )
            yield _Broken(number, f"record {number}: {problem}")
            for k in range(1, swallowed + 1):
                yield _Broken(number + k, f"record {number + k}: inside record {number}'s length")
            number += swallowed
            continue
        if records.overruns > overruns:
            problem = (
                f"the record at byte {offset} goes on past its Content-Length "
                "(too small?): it would be cut short"
            )
        if problem is not None:
            yield _Broken(number, f"record {number}: {problem}")
            continue
        headers = record.rec_headers
        url = headers.get_header("WARC-Target-URI") or ""
        record_id = (headers.get_header("WARC-Record-ID") or "").strip("<>")
        doc_id = url or record_id
        if doc_id in seen_uris:
            doc_id = f"{url}#{record_id}"
        seen_uris.add(doc_id)
        date = headers.get_header("WARC-Date")
        if record.rec_type == "conversion":
            text = _decode_text(payload)
            yield _Page(number, offset, doc_id, url, record_id, date, text=text)
        else:
            html, kind = payload, _content_type(record)
            yield _Page(number, offset, doc_id, url, record_id, date, html=html, content_type=kind)


def _payload(record: Any, cfg: ReadConfig) -> bytes:
    """A record's content: de-chunked and decoded from its HTTP Content-Encoding here rather
    than by warcio, so that an encoding that fails (br without a working brotli, a damaged
    gzip body) costs this record only, and the content is never held past the record limit."""
    stream = record.raw_stream
    encoding = ""
    http = record.http_headers
    if http is not None:
        if (http.get_header("Transfer-Encoding") or "").strip().lower() == "chunked":
            from warcio.bufferedreaders import ChunkedDataReader

            stream = ChunkedDataReader(stream)
        encoding = (http.get_header("Content-Encoding") or "").strip().lower()
    body = read_at_most(stream, cfg.max_record_bytes)
    if isinstance(body, int):
        raise _RecordError(over_record_limit(cfg, "content"))
    return decode_content(body, encoding, cfg)


def decode_content(body: bytes, encoding: str, cfg: ReadConfig) -> bytes:
    """`body` decoded from an HTTP Content-Encoding (gzip, deflate, br, zstd); `body` itself
    for an identity or unknown one, or when it is plainly not encoded (an HTML page sent with
    a stale header, as warcio allows). _RecordError when it does not decode or decodes to more
    than the record limit."""
    if encoding not in ("gzip", "x-gzip", "deflate", "br", "zstd"):
        return body
    limit = cfg.max_record_bytes
    try:
        out = _decode(body, encoding, limit + 1 if limit else 0)
    except _RecordError:
        raise
    except Exception as e:  # each codec has its own errors; any of them means the same
        if body[:64].lstrip().startswith(b"<"):
            return body
        raise _RecordError(f"cannot decode its Content-Encoding {encoding}: {e}") from e
    if limit and len(out) > limit:
        raise _RecordError(over_record_limit(cfg, "content"))
    return out


def _decode(body: bytes, encoding: str, most: int) -> bytes:
    """At most `most` bytes (0: all) of `body` decoded; a truncated body gives what it has."""
    if encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
        try:
            return zlib.decompressobj(wbits).decompress(body, most)
        except zlib.error:
            if encoding != "deflate":
                raise
            return zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, most)  # raw deflate
    if encoding == "zstd":
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)) as r:
            return r.read(most or -1)
    try:
        import brotli
    except ImportError:
        raise _RecordError(
            "its Content-Encoding br needs the brotli module: pip install brotli"
        ) from None
    return bytes(brotli.decompress(body))


def _is_gzip(stream: BinaryIO) -> bool:
    """Whether the stream starts with gzip's magic, without consuming it."""
    if stream.seekable():
        start = stream.tell()
        magic = stream.read(2)
        stream.seek(start)
    elif hasattr(stream, "peek"):
        magic = stream.peek(2)[:2]
    else:
        return False
    return magic == b"\x1f\x8b"


def _content_type(record: Any) -> str:
    """The HTTP Content-Type of a response, the WARC one of a resource."""
    if record.rec_type == "response":
        http = record.http_headers
        return str(http.get_header("Content-Type", "")) if http is not None else ""
    return str(record.rec_headers.get_header("Content-Type", ""))


def _wanted(record: Any) -> bool:
    """WET conversions, and HTML responses or resources."""
    kind = record.rec_type
    if kind == "conversion":
        return True
    if kind not in ("response", "resource"):
        return False
    return _content_type(record).split(";")[0].strip().lower() in _HTML_TYPES


def _doc(page: _Page, text: str, source: str, cfg: ReadConfig) -> Doc | Skip:
    over = check_text(cfg, source, text, page.number)
    if over is not None:
        return over
    doc_id = page.id
    fields = {
        "id": doc_id,
        "text": text,
        "url": page.url,
        "date": page.date,
        "warc_record_id": page.record_id,
    }
    return Doc(id=doc_id, text=text, record=fields, source=source, line=page.number)


def _decode_text(payload: bytes) -> str:
    """A WET record: UTF-8 by specification, detected like a text file if it is not."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return decode_text(payload)
        except NotTextError:
            return payload.decode("utf-8", errors="replace")


def decode_html(payload: bytes, content_type: str = "") -> str:
    """An HTML page's text: by the HTTP charset, else its <meta charset>, else detected.

    A declared legacy charset loses to valid UTF-8 (a page relabelled without re-encoding),
    and a declaration that does not decode cleanly falls through to detection.

    >>> decode_html("<meta charset=gbk><p>中文".encode("gbk"))
    '<meta charset=gbk><p>中文'
    """
    declared = [_charset(content_type.encode("latin-1", errors="replace"), _HEADER_RE)]
    declared.append(_charset(payload[:_META_SCAN], _CHARSET_RE))
    for label in declared:
        if label is None:
            continue
        if label != "utf-8" and not payload.isascii():
            try:
                return payload.decode("utf-8")
            except UnicodeDecodeError:
                pass
        try:
            return payload.decode(label)
        except UnicodeDecodeError:
            continue
    try:
        return decode_text(payload)
    except NotTextError:
        return payload.decode("utf-8", errors="replace")


_HEADER_RE = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _charset(data: bytes, pattern: re.Pattern[bytes]) -> str | None:
    """The Python codec for the charset label `pattern` finds in `data`, if it knows it."""
    m = pattern.search(data)
    if m is None:
        return None
    label = m.group(1).decode("ascii", errors="replace").lower()
    label = _SUPERSETS.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None
