"""Helpers the input/output tests share: reading inputs (both ways `dedup run` reads),
writing inputs (JSONL, WARC/WET, the seeds as a typed table) and reading outputs."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import hashlib
import html
import io
import json
from collections.abc import Iterable
from pathlib import Path
from unittest import mock

import pyarrow as pa
import zstandard
from click.testing import CliRunner
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from dedup.cli import cli
from dedup.config import Config, ReadConfig
from dedup.errors import InputError
from dedup.io import read_inputs, readers
from dedup.io.readers import parse_raw, read_items
from dedup.types import Doc, RawLines, RawPages, Skip

RAISE = ReadConfig()
SKIP = ReadConfig(on_error="skip")
URL = "http://news.example.cn/a/{}.html"
ONE_JOB = Config(jobs=1)


def read(*inputs: str | Path, cfg: ReadConfig = RAISE, stdin: bytes | None = None) -> list:
    """What read_inputs yields; every call also checks that the way `dedup run` reads (blocks
    of JSONL lines and of WARC pages, parsed and extracted later by the workers) yields the
    same, or raises the same error."""
    paths = [str(i) for i in inputs]

    def outcome(reader):  # type: ignore[no-untyped-def]
        stream = io.BytesIO(stdin) if stdin is not None else None
        try:
            return list(reader(paths, cfg, stream))
        except InputError as e:
            return e

    got = outcome(read_inputs)
    # Blocks of any size, of plain files read as spans or as bytes (as from a pipe).
    for block, spans in [(1 << 18, True), (1 << 18, False), (5, True), (5, False), (64, True)]:
        with (
            mock.patch.object(readers, "_BLOCK", block),
            mock.patch.object(readers, "_is_regular", readers._is_regular if spans else _no),
        ):
            by_block = outcome(_by_block)
        if isinstance(got, InputError):
            assert isinstance(by_block, InputError) and str(by_block) == str(got), (block, spans)
        else:
            assert by_block == got, (block, spans)
    if isinstance(got, InputError):
        raise got
    return got


def _no(_: object) -> bool:
    return False


def _by_block(paths: list[str], cfg: ReadConfig, stream: io.BytesIO | None) -> Iterable:
    for item in read_items(paths, cfg, stdin=stream):
        if isinstance(item, RawLines | RawPages):
            yield from parse_raw(item, cfg)
        else:
            yield item


def docs(items: Iterable[Doc | Skip]) -> list[Doc]:
    return [d for d in items if isinstance(d, Doc)]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def jsonl(*records: object) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def seeds(seeds_dir: Path) -> list[tuple[str, str]]:
    """(short id 000..004, text) of the seeds."""
    return [(p.name[:3], p.read_text(encoding="utf-8")) for p in sorted(seeds_dir.iterdir())]


def paragraphs_html(text: str) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())


def plain_page(text: str, charset: str = "utf-8") -> str:
    return (
        f'<html><head><meta charset="{charset}"><title>t</title></head>'
        f"<body>{paragraphs_html(text)}</body></html>"
    )


def write_warc(
    path: Path,
    pages: list[tuple[str, bytes, str]],
    *,
    extras: bool = True,
    gzipped: bool = True,
) -> Path:
    """A WARC of HTTP responses (url, body, content type), as a crawler writes it: with a
    warcinfo record, a request before each response and, with `extras`, non-HTML responses."""
    with path.open("wb") as f:
        w = WARCWriter(f, gzip=gzipped)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "test-crawler"}))
        for url, body, content_type in pages:
            req = StatusAndHeaders(
                "GET / HTTP/1.1", [("Host", "news.example.cn")], is_http_request=True
            )
            w.write_record(w.create_warc_record(url, "request", http_headers=req))
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1"
            )
            rec = w.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers
            )
            w.write_record(rec)
        if extras:
            png = b"\x89PNG\r\n\x1a\n" + bytes(64)
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1"
            )
            w.write_record(
                w.create_warc_record(
                    "http://news.example.cn/logo.png",
                    "response",
                    payload=io.BytesIO(png),
                    http_headers=headers,
                )
            )
            w.write_record(
                w.create_warc_record(
                    URL.format("000"),
                    "metadata",
                    payload=io.BytesIO(b"fetchTimeMs: 12\r\n"),
                    warc_content_type="application/warc-fields",
                )
            )
    return path


def write_wet(path: Path, docs: list[tuple[str, str]]) -> Path:
    with gzip.open(path, "wb") if path.suffix == ".gz" else path.open("wb") as f:
        w = WARCWriter(f, gzip=False)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "test"}))
        for url, text in docs:
            rec = w.create_warc_record(
                url, "conversion", payload=io.BytesIO(text.encode()), warc_content_type="text/plain"
            )
            w.write_record(rec)
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    data = jsonl(*records)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    elif path.suffix == ".zst":
        data = zst(data)
    path.write_bytes(data)
    return path


def seed_table(seeds_dir: Path) -> pa.Table:
    """The seeds with columns of many types, nulls included."""
    rows = seeds(seeds_dir)
    n = len(rows)
    return pa.table(
        {
            "id": [i for i, _ in rows],
            "text": [t for _, t in rows],
            "rank": pa.array(range(n), pa.int8()),
            "score": [0.5 * i if i != 2 else None for i in range(n)],
            "fetched": pa.array(
                [dt.datetime(2024, 1, i + 1, 8, 30, tzinfo=dt.timezone.utc) for i in range(n)],
                pa.timestamp("ms", tz="UTC"),
            ),
            "price": pa.array([decimal.Decimal(f"{i}.25") for i in range(n)], pa.decimal128(9, 2)),
            "tags": [["新闻", str(i)] for i in range(n)],
            "meta": [{"site": "example", "depth": i} for i in range(n)],
            "ok": [i % 2 == 0 for i in range(n)],
        }
    )


def cluster_ids(out: Path) -> list[tuple[str, set[str]]]:
    lines = (out / "clusters.jsonl").read_text(encoding="utf-8").splitlines()
    return [(c["representative"], {m["id"] for m in c["members"]}) for c in map(json.loads, lines)]


def jsonl_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def dedup(*args: str, input: bytes | None = None) -> tuple[int, str]:
    jobs = ["--jobs", "1"] if args[0] == "run" else []
    result = CliRunner().invoke(cli, [*args, *jobs], input=input)
    return result.exit_code, result.output


def framed_site_pages(seed: int = 7, frame: int = 200, article: int = 400) -> dict[str, str]:
    """Pages of three sites, each with its own frame (header and footer of `frame`
    characters each) around six different articles, plus a page that is only the site's
    frame, an empty page, and one article reposted bare and in every frame. Texts are random
    ideographs: only what is copied is shared."""
    import random

    rng = random.Random(seed)

    def text(n: int) -> str:
        return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(n))

    reposted = text(article)
    pages = {"repost-bare": reposted, "empty": " \n "}
    for site in ("s1", "s2", "s3"):
        header, footer = text(frame), text(frame)
        for k in range(6):
            pages[f"{site}-article{k}"] = f"{header}\n{text(article)}\n{footer}"
        pages[f"{site}-frame-only"] = f"{header}\n{footer}"
        pages[f"{site}-repost"] = f"{header}\n{reposted}\n{footer}"
    return pages


def checksum(folder: Path) -> str:
    """Every file of a folder (hidden ones included), names and bytes."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()
