"""Input and output formats: WARC/WET, Parquet, compressed JSONL, --format detection,
--output-format and --annotate (dedup/io/warc.py, dedup/io/parquet.py, dedup/io/detect.py)."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import html
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from dedup.cli import cli
from dedup.config import Config, OutputConfig, ReadConfig
from dedup.errors import ConfigError, InputError
from dedup.io import read_inputs
from dedup.io.detect import detect_format, sniff
from dedup.io.warc import decode_html
from dedup.pipeline import run
from dedup.types import Doc, Skip

URL = "http://news.example.cn/a/{}.html"
ONE_JOB = Config(jobs=1)


# --- helpers ----------------------------------------------------------------------------------


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


NAV = "".join(
    f'<li><a href="/c/{i}/">{name}</a></li>'
    for i, name in enumerate(("首页", "新闻", "财经", "科技", "体育", "娱乐", "汽车", "房产"))
)
SIDEBAR = "".join(
    f'<li><a href="/a/{i}.html">{t}</a></li>'
    for i, t in enumerate(
        ("全省经济运行稳中向好", "春季招聘会本周六举行", "城市更新项目进展顺利", "暴雨预警发布")
    )
)


def site_page(title: str, text: str) -> str:
    """An article among a news site's chrome: menus, breadcrumb, sidebar, share bar, footer."""
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} - 华夏新闻网</title>"
        "<style>.nav li{display:inline}</style><script>var _hmt=[];</script></head><body>"
        '<div class="top">欢迎访问华夏新闻网！ <a href="/login">登录</a> | 注册 | 设为首页</div>'
        f'<header><nav class="nav"><ul>{NAV}</ul></nav>'
        '<div class="crumb">当前位置：<a href="/">首页</a> &gt; 新闻 &gt; 正文</div></header>'
        f'<div class="wrap"><main><article><h1>{html.escape(title)}</h1>'
        f"{paragraphs_html(text)}</article></main>"
        f'<aside class="side"><h3>热门文章</h3><ul>{SIDEBAR}</ul></aside></div>'
        '<div class="share">分享到：微信 微博 QQ空间 【打印】【关闭】</div>'
        '<footer><p><a href="/about">关于我们</a> | 联系我们 | 广告服务 | 网站地图</p>'
        "<p>Copyright © 2005-2024 华夏新闻网 版权所有 京ICP备12345678号</p></footer>"
        "</body></html>"
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
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    elif path.suffix == ".zst":
        data = zstandard.ZstdCompressor().compress(data)
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


# --- the seeds in every format ---------------------------------------------------------------


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


def test_warc_html_with_site_chrome_gives_the_same_cluster(seeds_dir: Path, tmp_path: Path) -> None:
    """Every page carries the same navigation, sidebar and footer: only extraction keeps the
    three distinct articles apart and the two versions together."""
    pages = [
        (URL.format(i), site_page(t.splitlines()[0], t).encode(), "text/html; charset=UTF-8")
        for i, t in seeds(seeds_dir)
    ]
    path = write_warc(tmp_path / "site.warc.gz", pages)
    result = run([str(path)], tmp_path / "out", ONE_JOB)
    assert cluster_ids(tmp_path / "out") == [
        (URL.format("001"), {URL.format(i) for i in ("000", "001")})
    ]
    # warcinfo, request, metadata and image records are not documents
    assert result.read == 5
    kept = jsonl_records(tmp_path / "out" / "kept.jsonl")
    assert [r["id"] for r in kept] == [URL.format(i) for i in ("001", "002", "003", "004")]
    for r in kept:
        assert set(r) == {"id", "text", "url", "date", "warc_record_id"}
        assert r["url"] == r["id"] and r["warc_record_id"].startswith("urn:uuid:")
        assert r["date"].startswith("20")
        assert "版权所有" not in r["text"] and "热门文章" not in r["text"]
    longest = max(dict(seeds(seeds_dir))["002"].splitlines(), key=len)
    assert longest[200:240] in kept[1]["text"]


def test_a_recrawled_uri_gets_the_record_id(seeds_dir: Path, tmp_path: Path) -> None:
    s = seeds(seeds_dir)
    page = (URL.format("002"), plain_page(s[2][1]).encode(), "text/html")
    a = write_warc(tmp_path / "a.warc.gz", [page], extras=False)
    b = write_warc(tmp_path / "b.warc.gz", [page, page], extras=False)
    docs = [d for d in read_inputs([str(a), str(b)], ReadConfig()) if isinstance(d, Doc)]
    assert docs[0].id == URL.format("002")
    assert [d.id.split("#")[0] for d in docs[1:]] == [URL.format("002")] * 2
    assert [d.id.split("#")[1] for d in docs[1:]] == [d.record["warc_record_id"] for d in docs[1:]]
    assert len({d.id for d in docs}) == 3
    again = [d.id for d in read_inputs([str(a), str(b)], ReadConfig()) if isinstance(d, Doc)]
    assert again == [d.id for d in docs]


def test_an_html_page_with_no_main_text_is_still_a_document(tmp_path: Path) -> None:
    page = (
        URL.format("empty"),
        b"<html><body><nav><a href='/'>home</a></nav></body></html>",
        "text/html",
    )
    path = write_warc(tmp_path / "e.warc.gz", [page], extras=False)
    items = list(read_inputs([str(path)], ReadConfig()))
    assert len(items) == 1 and isinstance(items[0], Doc)
    assert items[0].id == URL.format("empty") and len(items[0].text) < 10


# --- HTML decoding ------------------------------------------------------------------------------

ARTICLE = "国务院办公厅印发通知，要求各地区各部门认真贯彻落实。繁體字測試：發展與資訊。"


@pytest.mark.parametrize(
    ("encoding", "body_charset", "header"),
    [
        ("gbk", "gbk", "text/html"),  # <meta charset> only
        ("gb18030", "gb2312", "text/html"),  # labelled gb2312, characters beyond it
        ("gbk", None, "text/html; charset=GBK"),  # HTTP header only
        ("big5", "big5", "text/html"),
        ("big5", None, "text/html"),  # no label at all: detected
        ("gbk", None, "text/html"),
        ("utf-8", "gbk", "text/html; charset=gb2312"),  # relabelled, never re-encoded
    ],
)
def test_html_decodes_by_header_meta_or_detection(
    encoding: str, body_charset: str | None, header: str
) -> None:
    text = ARTICLE if encoding != "big5" else "繁體中文網頁，發展與資訊。" * 3
    meta = f'<meta charset="{body_charset}">' if body_charset else ""
    page = f"<html><head>{meta}<title>標題</title></head><body><p>{text}</p></body></html>"
    assert text in decode_html(page.encode(encoding), header)


def test_a_gbk_page_in_a_warc_is_read_right(tmp_path: Path) -> None:
    body = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
        f"</head><body><article><h1>通知</h1>{paragraphs_html((ARTICLE + chr(10)) * 8)}"
        "</article></body></html>"
    ).encode("gbk")
    path = write_warc(tmp_path / "gbk.warc.gz", [(URL.format("gbk"), body, "text/html")])
    (doc,) = [d for d in read_inputs([str(path)], ReadConfig()) if isinstance(d, Doc)]
    assert ARTICLE in doc.text


# --- Parquet --------------------------------------------------------------------------------


def test_parquet_output_keeps_every_column_and_type(seeds_dir: Path, tmp_path: Path) -> None:
    table = seed_table(seeds_dir)
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=2)
    run([str(tmp_path / "in.parquet")], tmp_path / "out", ONE_JOB)
    out = tmp_path / "out"
    assert not (out / "kept.jsonl").exists()
    kept = pq.read_table(out / "kept.parquet")
    removed = pq.read_table(out / "removed.parquet")
    assert kept.schema.remove_metadata() == table.schema
    assert kept.to_pylist() == [r for r in table.to_pylist() if r["id"] != "000"]
    expected = table.schema.append(pa.field("duplicate_of", pa.string()))
    assert removed.schema.remove_metadata() == expected.append(pa.field("cluster", pa.int64()))
    (row,) = removed.to_pylist()
    assert row == {**table.to_pylist()[0], "duplicate_of": "001", "cluster": 0}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outputs"] == [
        "clusters.jsonl",
        "kept.parquet",
        "removed.parquet",
        "errors.jsonl",
        "summary.json",
    ]


def test_parquet_to_jsonl_writes_typed_values_as_json(seeds_dir: Path, tmp_path: Path) -> None:
    pq.write_table(seed_table(seeds_dir), tmp_path / "in.parquet")
    cfg = Config(jobs=1, output=OutputConfig(format="jsonl"))
    run([str(tmp_path / "in.parquet")], tmp_path / "out", cfg)
    (removed,) = jsonl_records(tmp_path / "out" / "removed.jsonl")
    assert removed["fetched"] == "2024-01-01T08:30:00+00:00"
    assert removed["price"] == "0.25"
    assert removed["tags"] == ["新闻", "0"] and removed["meta"] == {"site": "example", "depth": 0}
    assert removed["duplicate_of"] == "001" and removed["rank"] == 0


def test_jsonl_to_parquet_infers_columns(seeds_dir: Path, tmp_path: Path) -> None:
    records = [
        {"id": i, "text": t, "n": k, "note": None} for k, (i, t) in enumerate(seeds(seeds_dir))
    ]
    records[3]["note"] = "late string"
    write_jsonl(tmp_path / "in.jsonl", records)
    cfg = Config(jobs=1, output=OutputConfig(format="parquet"))
    run([str(tmp_path / "in.jsonl")], tmp_path / "out", cfg)
    kept = pq.read_table(tmp_path / "out" / "kept.parquet")
    assert kept.schema.field("n").type == pa.int64()
    assert kept.schema.field("note").type == pa.string()
    assert kept.column("note").to_pylist() == [None, None, "late string", None]


def test_parquet_without_id_column_gets_generated_ids(seeds_dir: Path, tmp_path: Path) -> None:
    table = seed_table(seeds_dir).drop_columns(["id"])
    pq.write_table(table, tmp_path / "noid.parquet")
    run([str(tmp_path / "noid.parquet")], tmp_path / "out", ONE_JOB)
    assert cluster_ids(tmp_path / "out") == [
        ("noid.parquet:2", {"noid.parquet:1", "noid.parquet:2"})
    ]
    kept = pq.read_table(tmp_path / "out" / "kept.parquet")
    assert kept.column("id").to_pylist() == [f"noid.parquet:{n}" for n in (2, 3, 4, 5)]


def test_integer_ids_stay_integers_in_parquet(seeds_dir: Path, tmp_path: Path) -> None:
    table = seed_table(seeds_dir).set_column(0, "id", pa.array([10, 11, 12, 13, 14], pa.int32()))
    pq.write_table(table, tmp_path / "int.parquet")
    run([str(tmp_path / "int.parquet")], tmp_path / "out", ONE_JOB)
    assert cluster_ids(tmp_path / "out") == [("11", {"10", "11"})]
    removed = pq.read_table(tmp_path / "out" / "removed.parquet")
    assert removed.schema.field("id").type == pa.int32()
    assert removed.column("duplicate_of").to_pylist() == ["11"]


def test_parquet_inputs_with_compatible_schemas_are_unified(
    seeds_dir: Path, tmp_path: Path
) -> None:
    table = seed_table(seeds_dir)
    (tmp_path / "in").mkdir()
    pq.write_table(table.slice(0, 2), tmp_path / "in" / "a.parquet")
    rest = table.slice(2).drop_columns(["tags"]).append_column("extra", pa.array([1, 2, 3]))
    pq.write_table(rest, tmp_path / "in" / "b.parquet")
    run([str(tmp_path / "in")], tmp_path / "out", ONE_JOB)  # a folder of Parquet files
    kept = pq.read_table(tmp_path / "out" / "kept.parquet")
    assert kept.schema.names == [*table.schema.names, "extra"]
    assert kept.column("tags").to_pylist()[1:] == [None, None, None]
    assert kept.column("extra").to_pylist() == [None, 1, 2, 3]


def test_parquet_inputs_with_clashing_columns_fail_naming_the_file(
    seeds_dir: Path, tmp_path: Path
) -> None:
    table = seed_table(seeds_dir)
    pq.write_table(table.slice(0, 2), tmp_path / "a.parquet")
    clash = table.slice(2).set_column(2, "rank", pa.array(["x", "y", "z"]))
    pq.write_table(clash, tmp_path / "b.parquet")
    code, output = dedup(
        "run",
        str(tmp_path / "a.parquet"),
        str(tmp_path / "b.parquet"),
        "-o",
        str(tmp_path / "out"),
        "--no-report",
    )
    assert code == 1
    assert "b.parquet" in output and "rank" in output and "Traceback" not in output


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda p: p.write_bytes(b"PAR1 this is not parquet at all"),
            "not a readable Parquet file",
        ),
        (lambda p: pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), p), "no 'text' column"),
        (lambda p: pq.write_table(pa.table({"id": ["a"], "text": [1]}), p), "not of strings"),
        (lambda p: pq.write_table(pa.table({"id": [1, None], "text": ["a", "b"]}), p), "null"),
    ],
)
def test_bad_parquet_raises_input_error_naming_the_file(
    make: Callable[[Path], object], reason: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.parquet"
    make(path)
    with pytest.raises(InputError) as err:
        list(read_inputs([str(path)], ReadConfig()))
    assert err.value.source == str(path) and reason in err.value.reason
    skipped = list(read_inputs([str(path)], ReadConfig(on_error="skip")))
    assert any(isinstance(s, Skip) and reason in s.reason for s in skipped)


def test_null_text_in_a_parquet_row_is_reported_with_the_row(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"id": ["a", "b", "c"], "text": ["x", None, "z"]}), tmp_path / "n.parquet"
    )
    with pytest.raises(InputError) as err:
        list(read_inputs([str(tmp_path / "n.parquet")], ReadConfig()))
    assert err.value.line == 2 and "'text' is null" in err.value.reason
    items = list(read_inputs([str(tmp_path / "n.parquet")], ReadConfig(on_error="skip")))
    assert [type(i).__name__ for i in items] == ["Doc", "Skip", "Doc"]


# --- bad WARC ----------------------------------------------------------------------------------


def test_truncated_warc_raises_naming_the_file_and_keeps_what_came_before(
    seeds_dir: Path, tmp_path: Path
) -> None:
    s = seeds(seeds_dir)
    pages = [(URL.format(i), plain_page(t).encode(), "text/html") for i, t in s]
    data = write_warc(tmp_path / "full.warc.gz", pages, extras=False).read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError) as err:
        list(read_inputs([str(cut)], ReadConfig()))
    assert err.value.source == str(cut) and "WARC" in err.value.reason
    items = list(read_inputs([str(cut)], ReadConfig(on_error="skip")))
    assert isinstance(items[-1], Skip) and all(isinstance(d, Doc) for d in items[:-1])
    assert len(items) >= 2


def test_a_file_that_is_not_warc_raises_via_the_cli(tmp_path: Path) -> None:
    (tmp_path / "junk.warc").write_bytes(b"this is not a WARC file\r\n\r\n")
    code, output = dedup("run", str(tmp_path / "junk.warc"), "-o", str(tmp_path / "out"))
    assert code == 1 and "junk.warc" in output and "Traceback" not in output


# --- --annotate ---------------------------------------------------------------------------------


def test_annotate_writes_every_record_with_its_fate(seeds_dir: Path, tmp_path: Path) -> None:
    records = [{"id": i, "text": t, "src": "x"} for i, t in seeds(seeds_dir)]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    run([str(path)], out, ONE_JOB)  # an earlier split run in the same folder
    assert (out / "kept.jsonl").exists()
    result = run([str(path)], out, Config(jobs=1, output=OutputConfig(annotate=True)))
    assert not (out / "kept.jsonl").exists() and not (out / "removed.jsonl").exists()
    rows = jsonl_records(out / "annotated.jsonl")
    assert [r["id"] for r in rows] == ["000", "001", "002", "003", "004"]
    assert [(r["dedup_cluster"], r["dedup_keep"], r["dedup_duplicate_of"]) for r in rows] == [
        (0, False, "001"),
        (0, True, None),
        (None, True, None),
        (None, True, None),
        (None, True, None),
    ]
    assert all(
        r["src"] == "x" and r["text"] == rec["text"] for r, rec in zip(rows, records, strict=False)
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"] == {"read": 5, "kept": 4, "removed": 1, "skipped": 0}
    assert summary["outputs"] == [
        "clusters.jsonl",
        "annotated.jsonl",
        "errors.jsonl",
        "summary.json",
    ]
    assert summary["config"]["output"] == {"format": "auto", "annotate": True}
    assert sum(r["dedup_keep"] for r in rows) == result.counts.kept


def test_annotate_parquet_adds_typed_columns(seeds_dir: Path, tmp_path: Path) -> None:
    table = seed_table(seeds_dir)
    pq.write_table(table, tmp_path / "in.parquet")
    run(
        [str(tmp_path / "in.parquet")],
        tmp_path / "out",
        Config(jobs=1, output=OutputConfig(annotate=True)),
    )
    out = pq.read_table(tmp_path / "out" / "annotated.parquet")
    assert out.schema.names == [
        *table.schema.names,
        "dedup_cluster",
        "dedup_keep",
        "dedup_duplicate_of",
    ]
    assert out.schema.field("dedup_cluster").type == pa.int64()
    assert out.schema.field("dedup_keep").type == pa.bool_()
    assert out.column("dedup_keep").to_pylist() == [False, True, True, True, True]
    assert out.column("dedup_duplicate_of").to_pylist() == ["001", None, None, None, None]
    assert out.select(table.schema.names).to_pylist() == table.to_pylist()


# --- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize("annotate", [False, True])
@pytest.mark.parametrize("source", ["parquet", "jsonl"])
def test_two_runs_write_identical_bytes(
    source: str, annotate: bool, seeds_dir: Path, tmp_path: Path
) -> None:
    table = seed_table(seeds_dir)
    if source == "parquet":
        path = tmp_path / "in.parquet"
        pq.write_table(table, path, row_group_size=3)
    else:
        path = write_jsonl(
            tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in seeds(seeds_dir)]
        )
    cfg = Config(jobs=1, output=OutputConfig(annotate=annotate))
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        run([str(path)], out, cfg)
    names = json.loads((outs[0] / "summary.json").read_text())["outputs"]
    assert any(n.startswith("annotated" if annotate else "kept") for n in names)
    for name in names:
        if name != "summary.json":
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


# --- format detection ----------------------------------------------------------------------------


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


def test_invalid_format_names_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        ReadConfig(format="csv")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        OutputConfig(format="csv")  # type: ignore[arg-type]


def test_warc_from_stdin(seeds_dir: Path, tmp_path: Path) -> None:
    pages = [(URL.format(i), plain_page(t).encode(), "text/html") for i, t in seeds(seeds_dir)]
    data = write_warc(tmp_path / "s.warc.gz", pages).read_bytes()
    out = tmp_path / "out"
    code, output = dedup("run", "-", "--format", "warc", "-o", str(out), "--no-report", input=data)
    assert code == 0, output
    assert cluster_ids(out) == [(URL.format("001"), {URL.format("000"), URL.format("001")})]


# --- eval and report read Parquet and annotated runs ----------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--annotate"], ["--output-format", "parquet"]])
def test_eval_and_report_read_every_output_kind(
    extra: list[str], seeds_dir: Path, tmp_path: Path
) -> None:
    pq.write_table(seed_table(seeds_dir), tmp_path / "in.parquet")
    out = tmp_path / "out"
    code, output = dedup("run", str(tmp_path / "in.parquet"), "-o", str(out), *extra)
    assert code == 0, output
    gold = write_jsonl(
        tmp_path / "gold.jsonl", [{"id": "000", "cluster": 1}, {"id": "001", "cluster": 1}]
    )
    code, output = dedup("eval", "--gold", str(gold), "--json", str(out))
    assert code == 0, output
    scores = json.loads(output)
    assert scores["documents"] == 5 and scores["precision"] == scores["recall"] == 1.0
    code, output = dedup("report", str(out))
    assert code == 0, output
    page = (out / "report" / "clusters" / "000000.md").read_text(encoding="utf-8")
    first_line = dict(seeds(seeds_dir))["001"].strip().splitlines()[0].strip()
    assert first_line[:8] in page


# --- missing extras ----------------------------------------------------------------------------


def test_missing_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pq.write_table(pa.table({"id": ["a"], "text": ["b"]}), tmp_path / "x.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ConfigError, match=r"dedup\[parquet\]"):
        run([str(tmp_path / "x.parquet")], tmp_path / "out", ONE_JOB)


def test_missing_warcio_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_wet(tmp_path / "x.wet", [(URL.format(0), "文本")])
    monkeypatch.setitem(sys.modules, "warcio", None)
    monkeypatch.setitem(sys.modules, "warcio.archiveiterator", None)
    code, output = dedup("run", str(path), "-o", str(tmp_path / "out"), "--no-report")
    assert code != 0 and "dedup[warc]" in output and "Traceback" not in output


def test_parallel_extraction_gives_the_same_documents(seeds_dir: Path, tmp_path: Path) -> None:
    s = seeds(seeds_dir) * 8  # more pages than one extraction batch
    pages = [
        (URL.format(f"{k}-{i}"), site_page(t.splitlines()[0], t).encode(), "text/html")
        for k, (i, t) in enumerate(s)
    ]
    path = write_warc(tmp_path / "many.warc.gz", pages)
    one = list(read_inputs([str(path)], ReadConfig(), jobs=1))
    two = list(read_inputs([str(path)], ReadConfig(), jobs=2))
    assert len(one) == len(pages) and one == two


def test_parquet_on_stdin_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="stdin"):
        next(read_inputs(["-"], ReadConfig(format="parquet"), stdin=io.BytesIO(b"PAR1")))


def test_a_failing_extraction_is_reported_for_that_page_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dedup.io.warc as warc

    def flaky(name: str) -> Callable[[str], str]:
        def extract(page: str) -> str:
            if "bad" in page:
                raise RuntimeError("parser crashed")
            return "ok"

        return extract

    monkeypatch.setattr(warc, "extractor", flaky)
    pages = [(URL.format(n), f"<p>{n}</p>".encode(), "text/html") for n in ("a", "bad", "c")]
    path = write_warc(tmp_path / "f.warc.gz", pages, extras=False)
    items = list(read_inputs([str(path)], ReadConfig(on_error="skip")))
    assert [type(i).__name__ for i in items] == ["Doc", "Skip", "Doc"]
    assert isinstance(items[1], Skip) and "parser crashed" in items[1].reason
    with pytest.raises(InputError, match="parser crashed"):
        list(read_inputs([str(path)], ReadConfig()))


def test_a_wet_record_in_gbk_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "gbk.wet"
    with path.open("wb") as f:
        w = WARCWriter(f, gzip=False)
        payload = io.BytesIO((ARTICLE * 4).encode("gbk"))
        w.write_record(w.create_warc_record(URL.format("g"), "conversion", payload=payload))
    (doc,) = read_inputs([str(path)], ReadConfig())
    assert isinstance(doc, Doc) and ARTICLE in doc.text


# --- fuzzing: any bytes under these names give documents, skips or an InputError ---

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
