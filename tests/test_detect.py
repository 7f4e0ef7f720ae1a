"""Format detection (dedup/io/detect.py): by name, by content, or as declared."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import URL, plain_page, seeds, write_jsonl, write_warc

from dedup.config import ReadConfig
from dedup.io import read_inputs
from dedup.io.detect import detect_format, sniff
from dedup.types import Doc


def test_auto_detects_formats_of_files_without_telling_names(
    seeds_dir: Path, tmp_path: Path
) -> None:
    s = seeds(seeds_dir)
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"id": ["p0"], "text": [s[2][1]]}), folder / "part-00000")
    write_jsonl(folder / "part-00001", [{"id": "j0", "text": s[3][1]}])
    (folder / "part-00002").write_bytes(gzip.compress(b'{"id": "g0", "text": "gz"}\n'))
    warc = write_warc(
        tmp_path / "w.warc.gz", [(URL.format("w"), plain_page(s[4][1]).encode(), "text/html")]
    )
    (folder / "crawl-segment").write_bytes(warc.read_bytes())
    (folder / "note.txt").write_text('{"id": "t", "text": "a .txt file stays text"}')
    found = {
        name: detect_format(str(folder / name), name)
        for name in ("part-00000", "part-00001", "part-00002", "crawl-segment", "note.txt")
    }
    assert found == {
        "part-00000": "parquet",
        "part-00001": "jsonl",
        "part-00002": "jsonl",
        "crawl-segment": "warc",
        "note.txt": "text",
    }
    ids = [d.id for d in read_inputs([str(folder)], ReadConfig()) if isinstance(d, Doc)]
    assert ids == [URL.format("w"), "note.txt", "p0", "j0", "g0"]


def test_declared_format_overrides_the_name(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"id": "a", "text": "b"}])
    (doc,) = read_inputs([str(path)], ReadConfig(format="text"))
    assert isinstance(doc, Doc) and doc.id == "x.jsonl" and doc.text.startswith("{")


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"PAR1\x15\x04", "parquet"),
        (b"WARC/1.0\r\nWARC-Type: warcinfo\r\n", "warc"),
        (gzip.compress(b"WARC/1.1\r\n"), "warc"),
        (b'\xef\xbb\xbf  {"id": 1, "text": "x"}\n{"id": 2', "jsonl"),
        (b'{"not": "closed"', "text"),
        (b"[1, 2, 3]\n", "text"),
        ("一段中文".encode(), "text"),
    ],
)
def test_sniff(head: bytes, fmt: str) -> None:
    assert sniff(head) == fmt
