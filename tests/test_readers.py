"""Reading inputs (dedup/io/readers.py): folders, text files, stdin, several inputs, and the
dispatch of every format to its reader."""

from __future__ import annotations

import gzip
import io
import json
import random
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from helpers import (
    ONE_JOB,
    RAISE,
    SKIP,
    URL,
    cluster_ids,
    docs,
    jsonl,
    plain_page,
    read,
    seeds,
    write,
    write_jsonl,
    write_warc,
    write_wet,
    zst,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup.config import ReadConfig
from dedup.errors import InputError
from dedup.io import read_inputs
from dedup.pipeline import run
from dedup.types import Doc, Skip

# --- folders --------------------------------------------------------------------------------------


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


def test_hidden_files_and_folders_are_recorded_as_skipped_not_read(tmp_path: Path) -> None:
    write(tmp_path / "seen.txt", b"seen")
    write(tmp_path / ".hidden.txt", b"no")
    write(tmp_path / ".git" / "config", b"no")
    write(tmp_path / ".git" / "objects" / "ab" / "cdef", b"no")
    write(tmp_path / "sub" / ".cache" / "x.txt", b"no")
    write(tmp_path / "sub" / ".DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(100))
    for cfg in (RAISE, SKIP):  # a rule, not an error: recorded in either mode
        items = read(tmp_path, cfg=cfg)
        assert [d.id for d in docs(items)] == ["seen.txt"]
        # A hidden folder is one skip, whatever it holds.
        assert [(s.source, s.line) for s in items if isinstance(s, Skip)] == [
            (str(tmp_path / n), None)
            for n in (".git", ".hidden.txt", "sub/.DS_Store", "sub/.cache")
        ]
        assert {s.reason for s in items if isinstance(s, Skip)} == {
            "hidden (its name starts with '.'): not read"
        }


def test_a_symlinked_folder_is_read_like_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "in"
    write(root / "a.txt", b"a")
    write(tmp_path / "elsewhere" / "x.txt", b"x")
    write(tmp_path / "elsewhere" / "deep" / "y.txt", b"y")
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (root / "file-link.txt").symlink_to(tmp_path / "elsewhere" / "x.txt")
    assert [d.id for d in read(root)] == [
        "a.txt",
        "file-link.txt",
        "linked/deep/y.txt",
        "linked/x.txt",
    ]


def test_a_symlink_loop_is_recorded_naming_the_link(tmp_path: Path) -> None:
    root = tmp_path / "in"
    write(root / "sub" / "x.txt", b"x")
    (root / "sub" / "back").symlink_to(root, target_is_directory=True)  # in -> sub -> in ...
    (root / "self").symlink_to(".", target_is_directory=True)
    items = read(root, cfg=SKIP)
    assert [d.id for d in docs(items)] == ["sub/x.txt"]
    skips = [(s.source, s.line) for s in items if isinstance(s, Skip)]
    assert skips == [(str(root / "self"), None), (str(root / "sub" / "back"), None)]
    assert all("symbolic link loop" in s.reason for s in items if isinstance(s, Skip))
    with pytest.raises(InputError, match="symbolic link loop"):
        read(root)


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


# --- single files and stdin -----------------------------------------------------------------------


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
    assert [d.id for d in items] == ["j", "s", str(t)]  # several inputs: the path as given


def test_parquet_on_stdin_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="stdin"):
        next(read_inputs(["-"], ReadConfig(format="parquet"), stdin=io.BytesIO(b"PAR1")))


# --- dirty but usable -----------------------------------------------------------------------------


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


def test_very_long_single_line(tmp_path: Path) -> None:
    # Over the default limits (README, "Limits"): read whole when they are lifted.
    text = "长" * (50 * 1024 * 1024 // 3)  # 50 MB of UTF-8
    write(tmp_path / "long.txt", text.encode())
    write(tmp_path / "long.jsonl", jsonl({"id": "l", "text": text}, {"id": "m", "text": "短"}))
    unlimited = ReadConfig(max_record_bytes=0, max_document_chars=0)
    got = [(d.id, len(d.text)) for d in read(tmp_path, cfg=unlimited)]
    assert got == [("l", len(text)), ("m", 1), ("long.txt", len(text))]


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [RAISE, SKIP], ids=["raise", "skip"])
def test_missing_input_always_raises_before_reading(tmp_path: Path, cfg: ReadConfig) -> None:
    good = write(tmp_path / "good.txt", b"x")
    missing = tmp_path / "nope"
    items = read_inputs([str(good), str(missing)], cfg)
    with pytest.raises(InputError) as info:
        next(items)  # nothing is yielded before every input is known to exist
    assert info.value.source == str(missing)
    assert "no such file or directory" in str(info.value)


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


# --- the seeds in every format --------------------------------------------------------------------


def _warc(tmp: Path, s: list[tuple[str, str]]) -> tuple[Path, Callable[[str], str]]:
    pages = [(URL.format(i), plain_page(t).encode(), "text/html; charset=utf-8") for i, t in s]
    return write_warc(tmp / "seeds.warc.gz", pages), URL.format


def _warc_plain(tmp: Path, s: list[tuple[str, str]]) -> tuple[Path, Callable[[str], str]]:
    pages = [(URL.format(i), plain_page(t).encode(), "text/html") for i, t in s]
    return write_warc(tmp / "seeds.warc", pages, gzipped=False), URL.format


def _wet(tmp: Path, s: list[tuple[str, str]]) -> tuple[Path, Callable[[str], str]]:
    return write_wet(tmp / "seeds.wet.gz", [(URL.format(i), t) for i, t in s]), URL.format


def _wet_plain(tmp: Path, s: list[tuple[str, str]]) -> tuple[Path, Callable[[str], str]]:
    return write_wet(tmp / "seeds.wet", [(URL.format(i), t) for i, t in s]), URL.format


def _parquet(tmp: Path, s: list[tuple[str, str]]) -> tuple[Path, Callable[[str], str]]:
    table = pa.table({"id": [i for i, _ in s], "text": [t for _, t in s]})
    pq.write_table(table, tmp / "seeds.parquet", row_group_size=2)
    return tmp / "seeds.parquet", str


def _jsonl_gz(tmp: Path, s: list[tuple[str, str]]) -> tuple[Path, Callable[[str], str]]:
    return write_jsonl(tmp / "seeds.jsonl.gz", [{"id": i, "text": t} for i, t in s]), str


def _jsonl_zst(tmp: Path, s: list[tuple[str, str]]) -> tuple[Path, Callable[[str], str]]:
    return write_jsonl(tmp / "seeds.jsonl.zst", [{"id": i, "text": t} for i, t in s]), str


@pytest.mark.parametrize(
    "pack", [_warc, _warc_plain, _wet, _wet_plain, _parquet, _jsonl_gz, _jsonl_zst]
)
def test_seeds_in_every_format_give_one_cluster(
    pack: Callable[..., tuple[Path, Callable[[str], str]]], seeds_dir: Path, tmp_path: Path
) -> None:
    path, ident = pack(tmp_path, seeds(seeds_dir))
    result = run([str(path)], tmp_path / "out", ONE_JOB)
    assert cluster_ids(tmp_path / "out") == [(ident("001"), {ident("000"), ident("001")})]
    assert result.read == 5 and not result.skipped
    assert result.detail is not None
    assert dict(result.detail.removed) == {ident("000"): (ident("001"), 0)}


# --- any bytes ------------------------------------------------------------------------------------


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


_WARC_HEAD = (
    b"WARC/1.0\r\nWARC-Type: response\r\nContent-Type: application/http; msgtype=response\r\n"
)


def _fuzz_payloads() -> st.SearchStrategy[bytes]:
    raw = st.binary(max_size=2000)
    return st.one_of(
        raw,
        raw.map(lambda b: _WARC_HEAD + b),
        raw.map(lambda b: gzip.compress(_WARC_HEAD + b, mtime=0)),
        raw.map(lambda b: b"PAR1" + b + b"PAR1"),
        raw.map(lambda b: gzip.compress(b, mtime=0)),
    )


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_fuzz_payloads())
def test_any_bytes_in_warc_parquet_or_unnamed_files(tmp_path: Path, data: bytes) -> None:
    for name in ("x.warc", "x.warc.gz", "x.wet.gz", "x.parquet", "part-00000"):
        path = tmp_path / name
        path.write_bytes(data)
        for cfg in (ReadConfig(), ReadConfig(on_error="skip")):
            try:
                items = list(read_inputs([str(path)], cfg))
            except InputError as e:
                assert e.source == str(path)
                continue
            assert all(isinstance(i, Doc | Skip) for i in items)
            for d in items:
                if isinstance(d, Doc):
                    assert isinstance(d.id, str) and isinstance(d.text, str)


# --- damaged compressed streams (issue 17) --------------------------------------------------------


def _damage(data: bytes, kind: str, at: float, garbage: bytes) -> bytes:
    cut = max(1, int(len(data) * at))  # an empty file is empty, not damaged
    if kind == "truncated":
        return data[:cut]
    if kind == "appended":
        return data + garbage
    if kind == "flipped":
        return (
            data[:cut]
            + bytes([data[cut] ^ (garbage[0] if garbage else 0xFF) or 1])
            + data[cut + 1 :]
        )
    return data[:cut] + garbage + data[cut:]  # inserted


_damages = st.tuples(
    st.sampled_from(["truncated", "appended", "flipped", "inserted"]),
    st.floats(0.0, 0.999),
    st.binary(min_size=1, max_size=64),
)


def _accounted(items: list, n: int) -> None:
    """Every line of the n written is a Doc or a Skip, or lies past a skip that ends the file;
    line numbers only grow."""
    lines = [i.line for i in items]
    assert all(isinstance(i, Doc | Skip) for i in items)
    assert lines == sorted(lines) and len(set(lines)) == len(lines)
    rest = [i.line for i in items if isinstance(i, Skip) and "the rest of the file" in i.reason]
    assert len(rest) <= 1 and (not rest or rest[0] == lines[-1])
    end = rest[0] if rest else n + 1
    assert set(range(1, min(end, n + 1))) <= set(lines)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 30),
    codec=st.sampled_from(["gz", "zst"]),
    damage=_damages,
)
def test_damaged_compressed_jsonl_loses_only_what_it_counts(
    tmp_path: Path, n: int, codec: str, damage: tuple[str, float, bytes]
) -> None:
    records = [{"id": f"r{i}", "text": f"第{i}篇 " + "文字" * (i * 7 % 60)} for i in range(n)]
    data = jsonl(*records)
    packed = (
        gzip.compress(data, mtime=0)
        if codec == "gz"
        else zstandard.ZstdCompressor(write_checksum=True).compress(data)
    )
    path = write(tmp_path / f"x.jsonl.{codec}", _damage(packed, *damage))
    try:
        read(path)
    except InputError as e:
        assert e.source == str(path)
    items = read(path, cfg=SKIP)
    _accounted(items, n)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(1, 5), damage=_damages)
def test_damaged_warc_gz_loses_only_what_it_counts(
    tmp_path: Path, n: int, damage: tuple[str, float, bytes]
) -> None:
    pages = [
        (URL.format(k), plain_page(f"第{k}篇文章。" * 20).encode(), "text/html") for k in range(n)
    ]
    data = write_warc(tmp_path / "w.warc.gz", pages, extras=False).read_bytes()
    path = write(tmp_path / "x.warc.gz", _damage(data, *damage))
    try:
        list(read_inputs([str(path)], RAISE))
    except InputError as e:
        assert e.source == str(path)
    items = list(read_inputs([str(path)], SKIP))
    assert all(isinstance(i, Doc | Skip) for i in items)
    lines = [i.line for i in items]
    assert lines == sorted(lines)
    # Records: warcinfo, then a request and a response per page (the response is 2k + 3).
    read_pages = {i.line for i in items if isinstance(i, Doc)}
    skipped = [i.line for i in items if isinstance(i, Skip)]
    for k in range(n):
        record = 2 * k + 3
        assert record in read_pages or any(s is None or s <= record for s in skipped)


def test_warc_on_stdin_is_told_by_its_first_bytes(tmp_path: Path) -> None:
    page = (URL.format("s"), plain_page("标准输入的网页。" * 10).encode(), "text/html")
    data = write_warc(tmp_path / "s.warc.gz", [page], extras=False).read_bytes()
    [doc] = read_inputs(["-"], RAISE, stdin=io.BytesIO(data))
    assert isinstance(doc, Doc) and doc.id == URL.format("s")
