"""Encoding and binary detection (dedup/io/encoding.py), directly and through the readers."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from helpers import SKIP, docs, read, write

from dedup.errors import InputError
from dedup.io.encoding import NotTextError, decode_text
from dedup.types import Skip

SEED_000 = "000_fa5b47ae513dff0c.txt"


def encode_folder(folder: Path, texts: dict[str, str], encoding: dict[str, str]) -> None:
    for name, text in texts.items():
        write(folder / name, text.encode(encoding.get(name, "utf-8"), errors="replace"))


# --- encodings ------------------------------------------------------------------------------------


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


def test_detection_is_deterministic(seed_texts: dict[str, str]) -> None:
    data = seed_texts[SEED_000].encode("big5", errors="replace")
    assert len({decode_text(data) for _ in range(5)}) == 1


# --- binary files ---------------------------------------------------------------------------------


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
