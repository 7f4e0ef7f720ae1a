"""JSONL inputs, plain, .gz and .zst (the JSONL part of dedup/io/readers.py): records and their
fields, malformed lines, corrupt streams, and the blocks of lines the workers parse."""

from __future__ import annotations

import gzip
from pathlib import Path
from unittest import mock

import pytest
from helpers import RAISE, SKIP, docs, jsonl, read, write, zst

from dedup.config import ReadConfig
from dedup.errors import InputError
from dedup.io import readers
from dedup.io.readers import parse_lines, read_items
from dedup.types import RawLines, Skip

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
    assert docs(items)[-1].id == "z.txt"  # and reading went on with the next input


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
    assert items[-1].id == "z.txt"


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
