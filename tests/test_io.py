"""Input readers and encoding detection (dedup/io/readers.py, dedup/io/encoding.py)."""

from __future__ import annotations

import gzip
import io
import json
import random
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from unittest import mock

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup.config import ReadConfig
from dedup.errors import InputError
from dedup.io import read_inputs, readers
from dedup.io.encoding import NotTextError, decode_text
from dedup.io.readers import parse_lines, read_items
from dedup.types import Doc, RawLines, Skip

RAISE = ReadConfig()
SKIP = ReadConfig(on_error="skip")
SEED_000 = "000_fa5b47ae513dff0c.txt"


def read(*inputs: str | Path, cfg: ReadConfig = RAISE, stdin: bytes | None = None) -> list:
    """What read_inputs yields; every call also checks that the way `dedup run` reads (blocks
    of JSONL lines, parsed later by the workers) yields the same, or raises the same error."""
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
        if isinstance(item, RawLines):
            yield from parse_lines(item, cfg)
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


def encode_folder(folder: Path, texts: dict[str, str], encoding: dict[str, str]) -> None:
    for name, text in texts.items():
        write(folder / name, text.encode(encoding.get(name, "utf-8"), errors="replace"))


# --- folders ------------------------------------------------------------------------------


def test_folder_is_read_recursively_with_relative_posix_ids(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    write(root / "b.txt", b"bee")
    write(root / "sub" / "x.txt", "深层".encode())
    write(root / "sub" / "deeper" / "y.md", b"why")
    write(root / "a.txt", b"ay")
    items = read(root)
    assert [(d.id, d.text) for d in items] == [
        ("a.txt", "ay"),
        ("b.txt", "bee"),
        ("sub/deeper/y.md", "why"),
        ("sub/x.txt", "深层"),
    ]
    x = items[3]
    assert x.record == {"id": "sub/x.txt", "text": "深层"}
    assert x.source == str(root / "sub" / "x.txt")
    assert x.line is None


def test_folder_source_keeps_the_path_as_given(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path / "corpus" / "sub" / "x.txt", b"x")
    monkeypatch.chdir(tmp_path)
    [doc] = read("corpus/")
    assert doc.id == "sub/x.txt"
    assert doc.source == "corpus/sub/x.txt"


def test_hidden_files_and_folders_are_ignored(tmp_path: Path) -> None:
    write(tmp_path / "seen.txt", b"seen")
    write(tmp_path / ".hidden.txt", b"no")
    write(tmp_path / ".git" / "config", b"no")
    write(tmp_path / "sub" / ".cache" / "x.txt", b"no")
    write(tmp_path / "sub" / ".DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(100))
    assert [d.id for d in read(tmp_path)] == ["seen.txt"]


def test_order_is_sorted_posix_paths_whatever_the_creation_order(tmp_path: Path) -> None:
    names = ["b.txt", "a.txt", "a/b.txt", "a-b.txt", "A.txt", "z/a/1.txt", "z/0.txt", "中.txt"]
    orders = [names, list(reversed(names)), random.Random(7).sample(names, len(names))]
    results = []
    for i, order in enumerate(orders):
        for name in order:
            write(tmp_path / str(i) / name, name.encode())
        results.append([d.id for d in read(tmp_path / str(i))])
    # "a.txt" sorts before "a/b.txt" because "." < "/": a global sort, not a per-folder walk
    assert results[0] == sorted(names)
    assert results[0].index("a.txt") < results[0].index("a/b.txt")
    assert results[1] == results[0] and results[2] == results[0]


def test_jsonl_files_in_a_folder_are_read_as_records(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", b"plain")
    write(tmp_path / "sub" / "b.jsonl", jsonl({"text": "one"}, {"id": "k", "text": "two"}))
    write(tmp_path / "sub" / "c.jsonl.gz", gzip.compress(jsonl({"id": 3, "text": "three"})))
    write(tmp_path / "sub" / "d.jsonl.zst", zst(jsonl({"id": "z", "text": "four"})))
    write(tmp_path / "sub" / "e.json", b'{"id": "not records", "text": "x"}')
    items = read(tmp_path)
    assert [(d.id, d.text) for d in items] == [
        ("a.txt", "plain"),
        ("sub/b.jsonl:1", "one"),  # generated ids use the path inside the folder
        ("k", "two"),
        ("3", "three"),
        ("z", "four"),
        ("sub/e.json", '{"id": "not records", "text": "x"}'),
    ]


# --- single files and stdin ---------------------------------------------------------------


def test_text_file_is_one_document_named_after_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "dir" / "article.txt", "正文\n第二行\n".encode())
    [doc] = read(path)
    assert doc == Doc(
        id="article.txt",
        text="正文\n第二行\n",
        record={"id": "article.txt", "text": "正文\n第二行\n"},
        source=str(path),
        line=None,
    )


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


def test_stdin(tmp_path: Path) -> None:
    data = jsonl({"id": "a", "text": "甲", "x": 1}, {"text": "乙"})
    items = read("-", stdin=data)
    assert [(d.id, d.text, d.source, d.line) for d in items] == [
        ("a", "甲", "<stdin>", 1),
        ("<stdin>:2", "乙", "<stdin>", 2),
    ]
    assert items[0].record == {"id": "a", "text": "甲", "x": 1}


def test_several_inputs_in_the_order_given(tmp_path: Path) -> None:
    t = write(tmp_path / "one.txt", b"1")
    j = write(tmp_path / "two.jsonl", jsonl({"id": "j", "text": "2"}))
    items = read(j, "-", t, stdin=jsonl({"id": "s", "text": "3"}))
    assert [d.id for d in items] == ["j", "s", "one.txt"]


# --- encodings ----------------------------------------------------------------------------


def test_gb18030_folder_reads_like_the_utf8_folder(
    tmp_path: Path, seed_texts: dict[str, str]
) -> None:
    encode_folder(tmp_path / "utf8", seed_texts, {})
    encode_folder(tmp_path / "gb", seed_texts, dict.fromkeys(seed_texts, "gb18030"))
    utf8 = [(d.id, d.text) for d in read(tmp_path / "utf8")]
    gb = [(d.id, d.text) for d in read(tmp_path / "gb")]
    assert utf8 == sorted(seed_texts.items())
    assert gb == utf8


def test_mixed_folder_big5_and_utf8(tmp_path: Path, seed_texts: dict[str, str]) -> None:
    encode_folder(tmp_path, seed_texts, {SEED_000: "big5"})
    got = {d.id: d.text for d in read(tmp_path)}
    big5 = seed_texts[SEED_000].encode("big5", errors="replace")
    expected = big5.decode("big5")
    assert "?" in expected and expected != seed_texts[SEED_000]  # Big5 lacks some characters
    assert got[SEED_000] == expected
    assert got[SEED_000] != big5.decode("gb18030")  # would also decode, as nonsense
    assert {k: v for k, v in got.items() if k != SEED_000} == {
        k: v for k, v in seed_texts.items() if k != SEED_000
    }


@pytest.mark.parametrize("encoding", ["gb18030", "big5", "utf-16-le", "utf-16-be", "utf-16"])
def test_every_seed_in_every_encoding(seed_texts: dict[str, str], encoding: str) -> None:
    for name, text in seed_texts.items():
        data = text.encode(encoding, errors="replace")
        expected = data.decode(encoding)  # only differs from text for Big5's '?'
        assert decode_text(data) == expected, name


@pytest.mark.parametrize(
    ("name", "data", "text"),
    [
        ("utf-16-le with BOM", b"\xff\xfe" + "中文 text\n".encode("utf-16-le"), "中文 text\n"),
        ("utf-16-be with BOM", b"\xfe\xff" + "中文 text\n".encode("utf-16-be"), "中文 text\n"),
        ("utf-16-le, ASCII", "plain text\n".encode("utf-16-le"), "plain text\n"),
        ("utf-16-be, ASCII", "plain text\n".encode("utf-16-be"), "plain text\n"),
        ("utf-8 BOM is stripped", b"\xef\xbb\xbf" + "正文".encode(), "正文"),
        ("utf-32 with BOM", "正文 x".encode("utf-32"), "正文 x"),
        ("NUL bytes kept", "a\x00b 中\x00文".encode(), "a\x00b 中\x00文"),
        ("lone NUL kept", b"ab\x00c", "ab\x00c"),
        ("empty", b"", ""),
        ("whitespace only", b" \n\t\r\n", " \n\t\r\n"),
        ("short GBK", "你好，世界".encode("gbk"), "你好，世界"),
        ("short Big5", "你好，世界".encode("big5"), "你好，世界"),
        ("one GBK word in ASCII", "Hello 中文 world".encode("gbk"), "Hello 中文 world"),
        ("ESC and form feed are text", b"a\x1b[0mb\x0c", "a\x1b[0mb\x0c"),
    ],
)
def test_decode_table(name: str, data: bytes, text: str) -> None:
    assert decode_text(data) == text


def test_seed_in_utf16_without_bom(tmp_path: Path, seed_texts: dict[str, str]) -> None:
    encode_folder(tmp_path / "le", seed_texts, dict.fromkeys(seed_texts, "utf-16-le"))
    encode_folder(tmp_path / "be", seed_texts, dict.fromkeys(seed_texts, "utf-16-be"))
    for folder in ("le", "be"):
        assert {d.id: d.text for d in read(tmp_path / folder)} == seed_texts


def test_invalid_utf8_bytes_become_replacement_characters(seed_texts: dict[str, str]) -> None:
    for name, text in seed_texts.items():
        data = text.encode()
        cut = len(text[:50].encode())  # a character boundary
        damaged = data[:cut] + b"\xff\xfe" + data[cut:200] + b"\x80" + data[200:]
        got = decode_text(damaged)
        assert got.count("\ufffd") >= 3, name  # stays UTF-8: not read as GBK
        assert got.startswith(data[:cut].decode()), name
        assert got.endswith(text[-200:]), name


def test_utf8_with_some_damage_is_not_read_as_gbk() -> None:
    # a short UTF-8 text in which a tenth of the characters are broken
    text = "这是一段很普通的中文文字，用来检查编码。" * 5
    data = bytearray(text.encode())
    for i in range(0, len(data), 30):
        data[i] = 0xFF
    got = decode_text(bytes(data))
    assert "\ufffd" in got and "普通的中文" in got


def _zip_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", text)
    return buf.getvalue()


def _png_bytes(text: str) -> bytes:
    body = zlib.compress(text.encode())
    chunk = struct.pack(">I", len(body)) + b"IDAT" + body + struct.pack(">I", zlib.crc32(body))
    return b"\x89PNG\r\n\x1a\n" + chunk


def _elf_bytes(text: str) -> bytes:
    header = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 2, 0x3E, 1)
    return header + bytes(40) + zlib.compress(text.encode()) + bytes(64)


BINARIES = {
    "png": _png_bytes,
    "zip": _zip_bytes,
    "elf": _elf_bytes,
    "elf header alone, valid UTF-8": lambda text: _elf_bytes("")[:64],
    "zlib, no signature": lambda text: zlib.compress(text.encode()),
    "random": lambda text: random.Random(len(text)).randbytes(4096),
}


@pytest.mark.parametrize("kind", BINARIES)
def test_binary_is_detected(seed_texts: dict[str, str], kind: str) -> None:
    for text in seed_texts.values():
        with pytest.raises(NotTextError):
            decode_text(BINARIES[kind](text))


def test_detection_is_deterministic(seed_texts: dict[str, str]) -> None:
    data = seed_texts[SEED_000].encode("big5", errors="replace")
    assert len({decode_text(data) for _ in range(5)}) == 1


# --- dirty but usable ---------------------------------------------------------------------


def test_dirty_text_files_are_documents(tmp_path: Path) -> None:
    write(tmp_path / "empty.txt", b"")
    write(tmp_path / "nul.txt", "前\x00后".encode())
    write(tmp_path / "space.txt", b"   \n")
    write(tmp_path / "broken.txt", "好".encode() + b"\xff" + "好".encode())
    write(tmp_path / "bad.txt", "前".encode() + b"\xc0" + "后".encode())
    got = {d.id: d.text for d in read(tmp_path)}
    assert got == {
        "bad.txt": "前\ufffd后",
        "broken.txt": "好\ufffd好",
        "empty.txt": "",
        "nul.txt": "前\x00后",
        "space.txt": "   \n",
    }


def test_empty_and_blank_jsonl(tmp_path: Path) -> None:
    assert read(write(tmp_path / "a.jsonl", b"")) == []
    assert read(write(tmp_path / "b.jsonl", b"\n  \n\r\n")) == []
    [doc] = read(write(tmp_path / "c.jsonl", jsonl({"id": "e", "text": ""})))
    assert doc.text == ""


def test_very_long_single_line(tmp_path: Path) -> None:
    text = "长" * (50 * 1024 * 1024 // 3)  # 50 MB of UTF-8
    write(tmp_path / "long.txt", text.encode())
    write(tmp_path / "long.jsonl", jsonl({"id": "l", "text": text}, {"id": "m", "text": "短"}))
    got = [(d.id, len(d.text)) for d in read(tmp_path)]
    assert got == [("l", len(text)), ("m", 1), ("long.txt", len(text))]


# --- errors -------------------------------------------------------------------------------

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


def test_binary_file_in_a_folder(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", b"before")
    write(tmp_path / "b.png", _png_bytes("图片"))
    write(tmp_path / "c.txt", b"after")
    with pytest.raises(InputError, match=r"b\.png: binary file, not text$"):
        read(tmp_path)
    items = read(tmp_path, cfg=SKIP)
    assert [d.id for d in docs(items)] == ["a.txt", "c.txt"]
    assert items[1] == Skip(
        source=str(tmp_path / "b.png"), line=None, reason="binary file, not text"
    )


def test_binary_file_given_directly(tmp_path: Path) -> None:
    path = write(tmp_path / "prog", _elf_bytes("x" * 100))
    with pytest.raises(InputError) as info:
        read(path)
    assert (info.value.source, info.value.reason) == (str(path), "binary file, not text")
    assert read(path, cfg=SKIP) == [Skip(str(path), None, "binary file, not text")]


@pytest.mark.parametrize("cfg", [RAISE, SKIP], ids=["raise", "skip"])
def test_missing_input_always_raises_before_reading(tmp_path: Path, cfg: ReadConfig) -> None:
    good = write(tmp_path / "good.txt", b"x")
    missing = tmp_path / "nope"
    items = read_inputs([str(good), str(missing)], cfg)
    with pytest.raises(InputError) as info:
        next(items)  # nothing is yielded before every input is known to exist
    assert info.value.source == str(missing)
    assert "no such file or directory" in str(info.value)


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


def test_skip_mode_goes_on_across_files(tmp_path: Path) -> None:
    write(tmp_path / "1.jsonl", b'{"text": 1}\n{"id": "a", "text": "A"}\n')
    write(tmp_path / "2.bin", bytes(range(256)) * 4)
    write(tmp_path / "3.txt", b"three")
    items = read(tmp_path, cfg=SKIP)
    assert [(type(i).__name__, i.source, i.line) for i in items] == [
        ("Skip", str(tmp_path / "1.jsonl"), 1),
        ("Doc", str(tmp_path / "1.jsonl"), 2),
        ("Skip", str(tmp_path / "2.bin"), None),
        ("Doc", str(tmp_path / "3.txt"), None),
    ]
    assert items[0].reason == "'text' is int, not a string"


# --- any bytes ----------------------------------------------------------------------------

_json_lines = st.lists(
    st.one_of(
        st.fixed_dictionaries({"text": st.text()}, optional={"id": st.integers() | st.text()}),
        st.dictionaries(st.text(max_size=5), st.integers() | st.text() | st.none()),
        st.integers() | st.text() | st.lists(st.none()),
    ).map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    max_size=5,
)
_any_bytes = st.one_of(
    st.binary(max_size=3000),
    _json_lines.map(b"\n".join),
    st.tuples(_json_lines.map(b"\n".join), st.binary(max_size=20)).map(b"".join),
    st.tuples(
        st.text(st.characters(exclude_categories=["Cs"]), max_size=500),
        st.sampled_from(["utf-8", "gb18030", "big5", "utf-16", "utf-16-be"]),
    ).map(lambda te: te[0].encode(te[1], errors="replace")),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_any_bytes)
def test_any_bytes_give_docs_skips_or_input_error(tmp_path: Path, data: bytes) -> None:
    for name in ("x.txt", "x.jsonl"):
        path = write(tmp_path / name, data)
        for cfg in (RAISE, SKIP):
            try:
                items = read(path, cfg=cfg)
            except InputError as e:
                assert cfg is RAISE and e.source == str(path)
                continue
            assert all(isinstance(i, Doc | Skip) for i in items)
            assert all(isinstance(d.text, str) and isinstance(d.id, str) for d in docs(items))
            if name == "x.txt":
                assert len(items) == 1


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
