"""WARC and WET files (.warc, .warc.gz, .wet, .wet.gz), as Common Crawl publishes them.

A document is a WET `conversion` record (already text) or a WARC `response` / `resource`
record whose content is HTML, reduced to its main text by an extractor (trafilatura or
resiliparse). Other records (warcinfo, request, metadata, revisit, and responses that are not
HTML: images, PDFs, scripts...) are not documents. An HTML page from which nothing is
extracted is still a document, with empty text, so it is counted.

The id is the record's WARC-Target-URI; a URI already seen in this run gets
`URI#<record id>` so every id stays unique and deterministic. The record carries `id`, `text`,
`url`, `date` (WARC-Date) and `warc_record_id`.

warcio and the extractor are optional: `pip install 'dedup[warc]'`.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from ..config import ReadConfig
from ..errors import ConfigError
from ..parallel import batched, ordered_map
from ..types import Doc, Skip
from .encoding import NotTextError, decode_text
from .records import reject

EXTRA = "pip install 'dedup[warc]'"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BATCH = 32  # HTML pages per extraction task
_META_SCAN = 4096  # a <meta charset> is in the head: look no further
# Labels that Chinese sites use for encodings Python knows by a superset: decoding by the
# superset reads every page the label was meant for, and pages mislabelled with it.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs", "x-gbk": "gb18030"}


def _import_warcio() -> Any:
    try:
        from warcio.archiveiterator import ArchiveIterator
    except ImportError as e:
        raise ConfigError(f"reading WARC files needs warcio: {EXTRA}") from e
    return ArchiveIterator


def extractor(name: str) -> Callable[[str], str]:
    """The main-text extractor `name` (trafilatura or resiliparse), imported on first use."""
    if name == "resiliparse":
        try:
            from resiliparse.extract.html2text import extract_plain_text
        except ImportError as e:
            raise ConfigError(f"extracting HTML with resiliparse needs it: {EXTRA}") from e

        def resiliparse(page: str) -> str:
            return str(extract_plain_text(page, main_content=True, preserve_formatting=True))

        return resiliparse
    try:
        import trafilatura
    except ImportError as e:
        raise ConfigError(f"extracting HTML with trafilatura needs it: {EXTRA}") from e

    def extract(page: str) -> str:
        return trafilatura.extract(page, include_comments=False, include_tables=True) or ""

    return extract


@dataclass(frozen=True)
class _Page:
    """A text record as read: its WARC fields and either its text (WET) or its HTML bytes."""

    number: int  # record number in the file, from 1
    offset: int
    url: str
    record_id: str
    date: str | None
    text: str | None = None
    html: bytes = b""
    content_type: str = ""


@dataclass(frozen=True)
class _Broken:
    """The file cannot be read past this record."""

    number: int
    reason: str


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
    src: str | BinaryIO, source: str, cfg: ReadConfig, seen_uris: set[str], jobs: int = 1
) -> Iterator[Doc | Skip]:
    """One Doc per text record of a WARC or WET file (a path, or a binary stream such as
    stdin), in file order; HTML is extracted in batches over `jobs` processes. A damaged
    record raises InputError naming the record number, or with on_error="skip" is yielded as a
    Skip; the rest of that file cannot be trusted and is not read."""
    archive_iterator = _import_warcio()
    if not isinstance(src, str):
        yield from _read_stream(src, source, cfg, seen_uris, jobs, archive_iterator)
        return
    try:
        f = open(src, "rb")  # noqa: SIM115 (closed below, after the generator is done)
    except OSError as e:
        yield reject(cfg, source, f"cannot read: {e.strerror or e}")
        return
    with f:
        yield from _read_stream(f, source, cfg, seen_uris, jobs, archive_iterator)


def _read_stream(
    raw: BinaryIO,
    source: str,
    cfg: ReadConfig,
    seen_uris: set[str],
    jobs: int,
    archive_iterator: Any,
) -> Iterator[Doc | Skip]:
    with ExitStack() as stack:
        try:
            stream: Any = raw
            if _is_gzip(stream):
                # Decompressed here, so that a file gzipped whole reads like one gzipped per
                # record (Common Crawl's layout), which is all warcio reads itself.
                stream = stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
            if not hasattr(stream, "peek"):
                stream = stack.enter_context(io.BufferedReader(stream))
            head = stream.peek(5)[:5]
        except (OSError, EOFError, zlib.error) as e:
            yield reject(cfg, source, f"cannot read: {e}")
            return
        if head and head != b"WARC/":
            # warcio would read other bytes as an old ARC file and find nothing in them.
            yield reject(cfg, source, f"not a WARC or WET file (it starts with {head!r})")
            return
        pages = _pages(archive_iterator(stream, check_digests=False))
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
                        continue
                    text, error = (page.text, None) if page.text is not None else next(results)
                    if error is not None:
                        yield reject(cfg, source, error, page.number)
                    else:
                        yield _doc(page, text, source, seen_uris)


def _pages(records: Any) -> Iterator[_Page | _Broken]:
    """The text records of a WARC stream; a _Broken last if the stream is damaged."""
    from warcio.exceptions import ArchiveLoadFailed

    number = 0
    while True:
        number += 1
        try:
            record = next(records)
            wanted = _wanted(record)
            payload = record.content_stream().read() if wanted else b""
            offset = records.get_record_offset()  # reads to the record's end: after payload
            if getattr(record.raw_stream, "limit", 0) > 0:
                raise EOFError(f"the record at byte {offset} ends before its Content-Length")
        except StopIteration:
            return
        # warcio also trips over some malformed headers (a response without a target URI)
        # with AttributeError and the like: still a damaged record, not a crash.
        except (
            ArchiveLoadFailed,
            EOFError,
            OSError,
            ValueError,
            zlib.error,
            AttributeError,
            TypeError,
            KeyError,
            IndexError,
        ) as e:
            first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), repr(e))
            yield _Broken(number, f"corrupt or truncated WARC (record {number}): {first}")
            return
        if not wanted:
            continue
        headers = record.rec_headers
        page = _Page(
            number=number,
            offset=offset,
            url=headers.get_header("WARC-Target-URI") or "",
            record_id=(headers.get_header("WARC-Record-ID") or "").strip("<>"),
            date=headers.get_header("WARC-Date"),
        )
        if record.rec_type == "conversion":
            yield replace(page, text=_decode_text(payload))
        else:
            yield replace(page, html=payload, content_type=_content_type(record))


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


def _doc(page: _Page, text: str, source: str, seen_uris: set[str]) -> Doc:
    doc_id = page.url or page.record_id
    if doc_id in seen_uris:
        doc_id = f"{page.url}#{page.record_id}"
    seen_uris.add(doc_id)
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
