"""JSONL inputs, plain, .gz and .zst (the JSONL part of dedup/io/readers.py): records and their
fields, malformed lines, corrupt streams, and the blocks of lines the workers parse."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest
import zstandard
from helpers import RAISE, SKIP, dedup, docs, jsonl, read, write, zst

from dedup.config import ReadConfig
from dedup.errors import InputError
from dedup.io import read_inputs, readers
from dedup.io.readers import parse_lines, read_items
from dedup.types import Doc, RawLines, Skip

# --- records --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".jsonl", lambda b: b), (".jsonl.gz", gzip.compress), (".jsonl.zst", zst)],
    ids=["plain", "gz", "zst"],
)
def test_jsonl_records_keep_every_field(tmp_path: Path, suffix: str, compress) -> None:
    data = jsonl(
        {"id": "a", "text": "甲", "url": "http://x", "meta": {"n": [1, 2]}},
        {"id": 7, "text": "乙"},
        {"text": "丙", "lang": "zh"},
    )
    data = data.replace(b"\n", b"\n\n", 1)  # a blank line still counts as a line
    path = write(tmp_path / f"crawl{suffix}", compress(data))
    items = read(path)
    assert [(d.id, d.text, d.line) for d in items] == [
        ("a", "甲", 1),
        ("7", "乙", 3),
        (f"crawl{suffix}:4", "丙", 4),
    ]
    assert items[0].record == {"id": "a", "text": "甲", "url": "http://x", "meta": {"n": [1, 2]}}
    assert items[1].record == {"id": 7, "text": "乙"}  # unchanged: the int stays an int
    assert items[2].record == {"id": f"crawl{suffix}:4", "text": "丙", "lang": "zh"}
    assert all(d.source == str(path) for d in items)


def test_zst_with_several_frames(tmp_path: Path) -> None:
    data = zst(jsonl({"id": "a", "text": "1"})) + zst(jsonl({"id": "b", "text": "2"}))
    path = write(tmp_path / "x.jsonl.zst", data)
    assert [d.id for d in read(path)] == ["a", "b"]


def test_custom_id_and_text_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jsonl", jsonl({"doc": "d1", "body": "正文"}, {"body": "b"}))
    cfg = ReadConfig(id_field="doc", text_field="body")
    items = read(path, cfg=cfg)
    assert [(d.id, d.text) for d in items] == [("d1", "正文"), ("x.jsonl:2", "b")]
    assert items[1].record == {"doc": "x.jsonl:2", "body": "b"}
    with pytest.raises(InputError, match="no 'body' field"):
        read(write(tmp_path / "y.jsonl", jsonl({"text": "t"})), cfg=cfg)


def test_null_id_counts_as_missing(tmp_path: Path) -> None:
    [doc] = read(write(tmp_path / "x.jsonl", jsonl({"id": None, "text": "t"})))
    assert doc.id == "x.jsonl:1"
    assert doc.record == {"id": "x.jsonl:1", "text": "t"}


def test_jsonl_with_bom_and_crlf(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + jsonl({"id": "a", "text": "x"}, {"id": "b", "text": "y"})
    path = write(tmp_path / "x.jsonl", data.replace(b"\n", b"\r\n"))
    assert [(d.id, d.text) for d in read(path)] == [("a", "x"), ("b", "y")]


def test_jsonl_line_with_invalid_utf8_is_kept_with_replacement(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jsonl", b'{"id": "a", "text": "ok\xff\xfeok"}\n')
    [doc] = read(path)
    assert doc.text == "ok\ufffd\ufffdok"


def test_jsonl_splits_lines_only_on_newline(tmp_path: Path) -> None:
    # U+2028 and U+0085 are line breaks to str.splitlines but legal inside a JSON string
    text = "a\u2028b\u0085c\rd"
    path = write(tmp_path / "x.jsonl", jsonl({"id": "a", "text": text}))
    assert [d.text for d in read(path)] == [text]


def test_empty_and_blank_jsonl(tmp_path: Path) -> None:
    assert read(write(tmp_path / "a.jsonl", b"")) == []
    assert read(write(tmp_path / "b.jsonl", b"\n  \n\r\n")) == []
    [doc] = read(write(tmp_path / "c.jsonl", jsonl({"id": "e", "text": ""})))
    assert doc.text == ""


# --- malformed records ----------------------------------------------------------------------------


MALFORMED = [
    ("not JSON", b'{"id": "x", "text": ', "not valid JSON: "),
    ("truncated string", b'{"id": "x", "text": "abc', "not valid JSON: "),
    ("trailing garbage", b'{"text": "a"} x', "not valid JSON: "),
    ("array", b'["text", "a"]', "a list, not a JSON object"),
    ("string", b'"just text"', "a str, not a JSON object"),
    ("no text", b'{"id": "x", "body": "a"}', "no 'text' field"),
    ("int text", b'{"id": "x", "text": 5}', "'text' is int, not a string"),
    ("null text", b'{"id": "x", "text": null}', "'text' is null, not a string"),
    ("list text", b'{"id": "x", "text": ["a"]}', "'text' is list, not a string"),
    ("float id", b'{"id": 1.5, "text": "a"}', "'id' is float, not a string or an integer"),
    ("bool id", b'{"id": true, "text": "a"}', "'id' is bool, not a string or an integer"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "not valid JSON: "),
]


@pytest.mark.parametrize(("case", "bad", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_record_names_file_and_line(
    tmp_path: Path, case: str, bad: bytes, reason: str
) -> None:
    data = (
        jsonl({"id": "ok1", "text": "a"}) + b"\n" + bad + b"\n" + jsonl({"id": "ok2", "text": "b"})
    )
    path = write(tmp_path / "sub" / "bad.jsonl", data)
    with pytest.raises(InputError) as info:
        read(path)
    err = info.value
    assert (err.source, err.line) == (str(path), 3)
    assert err.reason.startswith(reason)
    assert str(err).startswith(f"{path}, line 3: {reason}")
    # skip mode: the bad line becomes a Skip with the same reason and reading goes on
    items = read(path, cfg=SKIP)
    assert [type(i).__name__ for i in items] == ["Doc", "Skip", "Doc"]
    assert items[1] == Skip(source=str(path), line=3, reason=err.reason)
    assert [d.id for d in docs(items)] == ["ok1", "ok2"]


def test_json_error_detail_is_short(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jsonl", b'{"text": "a",}\n')
    with pytest.raises(InputError, match=r"line 1: not valid JSON: .+ at column \d+$"):
        read(path)


# --- corrupt compressed streams -------------------------------------------------------------------


def _gz_lines(n: int) -> bytes:
    records = [{"id": f"r{i}", "text": f"文本 {i} " + "填充" * 50} for i in range(n)]
    return gzip.compress(jsonl(*records))


CORRUPT = {
    "gz truncated": (".jsonl.gz", lambda: _gz_lines(500)[:-2000]),
    "gz not gzip": (".jsonl.gz", lambda: b"this is not gzip at all\n" * 10),
    "zst truncated": (
        ".jsonl.zst",
        lambda: zst(jsonl(*[{"text": f"{i}" * 50} for i in range(500)]))[:-40],
    ),
    "zst not zstd": (".jsonl.zst", lambda: b"this is not zstd at all\n" * 10),
}


@pytest.mark.parametrize("case", CORRUPT)
def test_corrupt_compressed_stream(tmp_path: Path, case: str) -> None:
    suffix, make = CORRUPT[case]
    path = write(tmp_path / f"a{suffix}", make())
    after = write(tmp_path / "z.txt", b"after")
    with pytest.raises(InputError) as info:
        read(path, after)
    err = info.value
    assert err.source == str(path)
    assert err.line is not None and err.line >= 1
    assert f"{path}, line {err.line}: " in str(err)
    # the line reached: every line before it was read
    items = read(path, after, cfg=SKIP)
    skips = [i for i in items if isinstance(i, Skip)]
    assert len(skips) == 1 and skips[0].line == err.line and skips[0].reason == err.reason
    read_ok = [d for d in docs(items) if d.source == str(path)]
    assert len(read_ok) == err.line - 1
    assert docs(items)[-1].id == str(after)  # and reading went on with the next input


def test_garbled_gz_is_an_error_and_skip_mode_goes_on(tmp_path: Path) -> None:
    # garbage can decompress to garbage lines before the checksum gives it away
    good = _gz_lines(500)
    path = write(tmp_path / "a.jsonl.gz", good[:500] + bytes(300) + good[800:])
    after = write(tmp_path / "z.txt", b"after")
    with pytest.raises(InputError) as info:
        read(path, after)
    assert info.value.source == str(path) and info.value.line is not None
    items = read(path, after, cfg=SKIP)
    assert isinstance(items[-2], Skip) and items[-2].source == str(path)
    assert items[-1].id == str(after)  # several inputs: ids lead with the input


def test_truncated_zst_is_not_taken_for_a_short_file(tmp_path: Path) -> None:
    data = zst(jsonl(*[{"id": str(i), "text": "x" * 10} for i in range(1000)]))
    path = write(tmp_path / "a.jsonl.zst", data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt or truncated"):
        read(path)


# --- blocks of lines ------------------------------------------------------------------------------


def test_a_plain_file_cut_short_after_counting_fails_at_the_block(tmp_path: Path) -> None:
    # A plain file's lines are counted by the reader and read again where they are parsed.
    path = write(tmp_path / "a.jsonl", jsonl(*({"id": i, "text": "文"} for i in range(3))))
    with mock.patch.object(readers, "_BLOCK", 20):
        blocks = list(read_items([str(path)], RAISE))
    assert all(isinstance(b, RawLines) and b.span and not b.data for b in blocks)
    assert [b.line for b in blocks] == [1, 2, 3]
    path.write_bytes(path.read_bytes()[:30])
    assert [d.id for d in parse_lines(blocks[0], RAISE)] == ["0"]
    with pytest.raises(InputError, match="became shorter") as e:
        list(parse_lines(blocks[1], RAISE))
    assert (e.value.source, e.value.line) == (str(path), 2)
    path.unlink()
    [skip] = parse_lines(blocks[2], SKIP)
    assert isinstance(skip, Skip) and skip.line == 3 and "cannot read" in skip.reason


# --- damage around intact records (issue 17) ------------------------------------------------------


def _records(n: int) -> list[dict]:
    return [{"id": f"r{i}", "text": f"文本 {i} " + "填充" * 40} for i in range(n)]


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".jsonl.gz", lambda b: gzip.compress(b, mtime=0)), (".jsonl.zst", zst)],
    ids=["gz", "zst"],
)
def test_garbage_after_the_stream_costs_no_record(tmp_path: Path, suffix: str, compress) -> None:
    # 2000 records of about 250 bytes: several 64 KiB chunks, the last one cut by the garbage.
    path = write(tmp_path / f"a{suffix}", compress(jsonl(*_records(2000))) + b"garbage!" * 8)
    items = read(path, cfg=SKIP)
    assert [d.id for d in docs(items)] == [f"r{i}" for i in range(2000)]
    [skip] = [i for i in items if isinstance(i, Skip)]
    assert skip.line == 2001 and "the rest of the file is not read" in skip.reason


def test_zst_damage_keeps_the_records_before_it(tmp_path: Path) -> None:
    data = zstandard.ZstdCompressor(write_checksum=True).compress(jsonl(*_records(2000)))
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF
    items = read(write(tmp_path / "a.jsonl.zst", bytes(damaged)), cfg=SKIP)
    *before, last = items
    # Records before the damage came out (the checksum at the frame's end catches the damage,
    # so records decompressed just before it may be altered: docs or malformed lines); every
    # line up to the one where reading stopped is accounted for, and that skip says so.
    assert [d.id for d in docs(items)[:500]] == [f"r{i}" for i in range(500)]
    assert isinstance(last, Skip) and "the rest of the file is not read" in last.reason
    assert [i.line for i in before] == list(range(1, last.line))


# --- the limits (issue 17) ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_a_line_over_the_record_limit_is_skipped_naming_its_line(
    tmp_path: Path, suffix: str
) -> None:
    huge = {"id": "huge", "text": "长" * 100_000}  # 300 KB: more than a block of lines
    data = jsonl({"id": "a", "text": "前"}, huge, {"id": "b", "text": "x" * 950}, huge)
    data += b'{"id": "c", "text": "' + b"y" * 1000 + b'"}'  # over by its last bytes, no newline
    compress = {".jsonl": bytes, ".jsonl.gz": gzip.compress, ".jsonl.zst": zst}[suffix]
    path = write(tmp_path / f"x{suffix}", compress(data))
    items = read(path, cfg=ReadConfig(max_record_bytes=1000, on_error="skip"))
    assert [(type(i).__name__, i.line) for i in items] == [
        ("Doc", 1),
        ("Skip", 2),
        ("Doc", 3),
        ("Skip", 4),
        ("Skip", 5),
    ]
    assert items[1].reason == "a line of more than 1,000 bytes (the limit of --max-record-bytes)"
    with pytest.raises(InputError) as info:
        read(path, cfg=ReadConfig(max_record_bytes=1000))
    assert (info.value.source, info.value.line) == (str(path), 2)


def test_a_gz_that_expands_to_one_huge_line_is_never_held_whole(tmp_path: Path) -> None:
    # 16 MiB of one line from 16 KB of gzip; with a 1 MiB limit at most about that is held.
    line = b'{"id": "bomb", "text": "' + b"a" * (16 << 20) + b'"}\n'
    path = write(tmp_path / "bomb.jsonl.gz", gzip.compress(line + jsonl({"id": "ok", "text": "t"})))
    cfg = ReadConfig(max_record_bytes=1 << 20, on_error="skip")
    tracemalloc.start()
    try:
        items = list(read_items([str(path)], cfg))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert [type(i).__name__ for i in items] == ["Skip", "RawLines"]
    assert items[0].line == 1
    skip, ok = read_inputs([str(path)], cfg)
    assert isinstance(skip, Skip) and skip.line == 1 and isinstance(ok, Doc) and ok.id == "ok"


def test_a_text_over_the_document_limit_is_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.jsonl", jsonl({"id": "a", "text": "长" * 11}, {"id": "b", "text": "短"})
    )
    items = read(path, cfg=ReadConfig(max_document_chars=10, on_error="skip"))
    assert isinstance(items[0], Skip) and items[0].line == 1
    assert items[0].reason == "a text of 11 characters, over the limit of 10 (--max-document-chars)"
    assert [d.id for d in docs(items)] == ["b"]


def test_a_decompressed_stream_over_its_limit_stops_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jsonl.gz", gzip.compress(jsonl(*_records(100))))
    items = read(path, cfg=ReadConfig(max_stream_bytes=10_000, on_error="skip"))
    [skip] = [i for i in items if isinstance(i, Skip)]
    assert "more than 10,000 bytes" in skip.reason and "--max-stream-bytes" in skip.reason
    assert skip.line == len(docs(items)) + 1 and 0 < len(docs(items)) < 100


# --- files that are not JSONL (issue 17) ----------------------------------------------------------


NOT_JSONL = [
    ("utf-16", '{"id": "a", "text": "文"}\n'.encode("utf-16"), "is UTF-16 text, not UTF-8"),
    ("utf-16-le", '{"id": "a", "text": "x"}\n'.encode("utf-16-le"), "is UTF-16 text, not UTF-8"),
    ("parquet", b"PAR1\x15\x04" + bytes(100) + b"PAR1", "looks like Parquet, not JSONL"),
    ("warc", gzip.compress(b"WARC/1.0\r\nWARC-Type: warcinfo\r\n"), "looks like a WARC file"),
]


@pytest.mark.parametrize(("case", "data", "reason"), NOT_JSONL, ids=[c[0] for c in NOT_JSONL])
def test_a_file_named_jsonl_that_is_not_gets_a_clear_message(
    tmp_path: Path, case: str, data: bytes, reason: str
) -> None:
    path = write(tmp_path / "x.jsonl", data)
    with pytest.raises(InputError) as info:
        read(path)
    assert info.value.reason.startswith(reason) and info.value.line is None
    assert "column" not in str(info.value)


def test_json_messages_never_say_at_at(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jsonl", b'{"id": "a", "text": "open\n')
    with pytest.raises(InputError) as info:
        read(path)
    assert info.value.reason == "not valid JSON: Unterminated string starting at column 21"


# --- FIFOs and stdin (issue 17) -------------------------------------------------------------------


def _through_fifo(path: Path, data: bytes, read: Callable[[], list]) -> list:
    """What `read` gives while `data` is written to the FIFO `path`; fails, not hangs, when
    reading never ends (a reader that opens the FIFO twice waits for a second writer)."""
    os.mkfifo(path)

    def feed() -> None:
        with open(path, "wb") as f:
            f.write(data)

    got: list = []
    threading.Thread(target=feed, daemon=True).start()
    reader = threading.Thread(target=lambda: got.append(read()), daemon=True)
    reader.start()
    reader.join(timeout=20)
    if reader.is_alive():  # let it end: a writer that writes nothing
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading the FIFO hangs")
    return got[0]


@pytest.mark.parametrize(
    "compress", [bytes, lambda b: gzip.compress(b, mtime=0), zst], ids=["plain", "gz", "zst"]
)
@pytest.mark.parametrize("raw", [False, True], ids=["records", "blocks"])
def test_a_fifo_is_read_from_its_first_byte(tmp_path: Path, compress, raw: bool) -> None:
    data = jsonl({"id": "a", "text": "甲"}, {"id": "b", "text": "乙"})
    path = tmp_path / "pipe"  # no suffix: sniffed, as `<(zcat ...)` is

    def read_all() -> list:
        if not raw:
            return list(read_inputs([str(path)], SKIP))
        return [d for b in read_items([str(path)], SKIP) for d in parse_lines(b, SKIP)]

    items = _through_fifo(path, compress(data), read_all)
    assert [(type(d).__name__, d.id) for d in items] == [("Doc", "a"), ("Doc", "b")]
    assert [d.text for d in items] == ["甲", "乙"]


@pytest.mark.parametrize("compress", [lambda b: gzip.compress(b, mtime=0), zst], ids=["gz", "zst"])
def test_compressed_jsonl_on_stdin(compress) -> None:
    data = compress(jsonl({"id": "a", "text": "甲"}, {"id": "b", "text": "乙"}))
    assert [d.id for d in read("-", stdin=data)] == ["a", "b"]


def test_the_limits_are_options_of_dedup_run(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.jsonl", jsonl({"id": "a", "text": "长" * 100}, {"id": "b", "text": "短"})
    )
    out = tmp_path / "out"
    code, output = dedup(
        "run", str(path), "-o", str(out), "--no-report", "--max-record-bytes", "100"
    )
    assert code == 1 and f"{path}, line 1: a line of more than 100 bytes" in output
    assert "Traceback" not in output
    code, output = dedup(
        "run", str(path), "-o", str(out), "--no-report", "--on-error", "skip",
        "--max-document-chars", "50", "--max-stream-bytes", "0",
    )  # fmt: skip
    assert code == 0, output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"] == [
        {
            "source": str(path),
            "line": 1,
            "reason": "a text of 100 characters, over the limit of 50 (--max-document-chars)",
        }
    ]
    assert summary["options"]["max-document-chars"] == 50
