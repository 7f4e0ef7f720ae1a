"""WARC and WET inputs (dedup/io/warc.py): records, main-text extraction, HTML decoding, bad
archives and the missing extra."""

from __future__ import annotations

import gzip
import html
import io
import json
import os
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from helpers import (
    ONE_JOB,
    URL,
    cluster_ids,
    dedup,
    jsonl_records,
    paragraphs_html,
    plain_page,
    read,
    seeds,
    write_warc,
    write_wet,
)
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from dedup.config import Config, ReadConfig
from dedup.errors import InputError
from dedup.io import read_inputs
from dedup.io.warc import decode_html
from dedup.pipeline import run
from dedup.types import Doc, Skip

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


# --- records and extraction -----------------------------------------------------------------------


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


@pytest.mark.parametrize("name", ["trafilatura", "resiliparse"])
def test_each_extractor_on_the_cli_keeps_articles_apart_and_versions_together(
    seeds_dir: Path, tmp_path: Path, name: str
) -> None:
    """`--extractor NAME` reads the same framed WARC: the article text comes out, the two
    versions form one cluster, and summary.json records the extractor."""
    pages = [
        (URL.format(i), site_page(t.splitlines()[0], t).encode(), "text/html; charset=UTF-8")
        for i, t in seeds(seeds_dir)
    ]
    path = write_warc(tmp_path / "site.warc.gz", pages)
    out = tmp_path / "out"
    code, output = dedup("run", str(path), "-o", str(out), "--no-report", "--extractor", name)
    assert code == 0, output
    assert cluster_ids(out) == [(URL.format("001"), {URL.format(i) for i in ("000", "001")})]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["config"]["read"]["extractor"] == name
    assert summary["options"]["extractor"] == name
    kept = {r["id"]: r["text"] for r in jsonl_records(out / "kept.jsonl")}
    longest = max(dict(seeds(seeds_dir))["002"].splitlines(), key=len)
    assert longest[200:240] in kept[URL.format("002")]
    assert "京ICP备" not in kept[URL.format("002")]


def test_an_unknown_extractor_is_a_usage_error(tmp_path: Path) -> None:
    path = write_wet(tmp_path / "x.wet", [(URL.format(0), "文本")])
    code, output = dedup("run", str(path), "-o", str(tmp_path / "out"), "--extractor", "lxml")
    assert code == 2 and "'lxml' is not one of 'resiliparse', 'trafilatura'" in output


@pytest.mark.parametrize(
    ("name", "modules", "extra"),
    [
        ("trafilatura", ["trafilatura"], "dedup[warc]"),
        ("resiliparse", ["resiliparse", "resiliparse.extract.html2text"], "dedup[warc]"),
    ],
)
def test_an_extractor_that_is_not_installed_names_its_extra(
    seeds_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    modules: list[str],
    extra: str,
) -> None:
    pages = [(URL.format(i), plain_page(t).encode(), "text/html") for i, t in seeds(seeds_dir)]
    path = write_warc(tmp_path / "x.warc.gz", pages, extras=False)
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)
    code, output = dedup("run", str(path), "-o", str(tmp_path / "out"), "--extractor", name)
    assert code == 2 and "Traceback" not in output
    assert output == f"error: the {name} extractor is not installed: pip install '{extra}'\n"


def test_a_recrawled_uri_gets_the_record_id(seeds_dir: Path, tmp_path: Path) -> None:
    s = seeds(seeds_dir)
    page = (URL.format("002"), plain_page(s[2][1]).encode(), "text/html")
    a = write_warc(tmp_path / "a.warc.gz", [page], extras=False)
    b = write_warc(tmp_path / "b.warc.gz", [page, page], extras=False)
    docs = [d for d in read(a, b) if isinstance(d, Doc)]
    assert docs[0].id == URL.format("002")
    assert [d.id.split("#")[0] for d in docs[1:]] == [URL.format("002")] * 2
    assert [d.id.split("#")[1] for d in docs[1:]] == [d.record["warc_record_id"] for d in docs[1:]]
    assert len({d.id for d in docs}) == 3
    again = [d.id for d in read(a, b) if isinstance(d, Doc)]
    assert again == [d.id for d in docs]


def test_an_html_page_with_no_main_text_is_still_a_document(tmp_path: Path) -> None:
    page = (
        URL.format("empty"),
        b"<html><body><nav><a href='/'>home</a></nav></body></html>",
        "text/html",
    )
    path = write_warc(tmp_path / "e.warc.gz", [page], extras=False)
    items = read(path, cfg=ReadConfig())
    assert len(items) == 1 and isinstance(items[0], Doc)
    assert items[0].id == URL.format("empty") and len(items[0].text) < 10


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


def test_a_run_extracts_in_its_workers_with_the_same_outputs_for_any_jobs(
    seeds_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` hands HTML pages to its signing workers in blocks, which extract them there:
    whatever the jobs, batch size and bytes per block or batch, the outputs are byte for byte
    those of one process, skips (a damaged record, a text over the limit) in their places and
    every record counted."""
    import dedup.io.warc as warc
    import dedup.pipeline as pipeline

    s = seeds(seeds_dir) * 14  # more pages than one block of pages and several batches
    bodies = [(site_page(t.splitlines()[0], t).encode(), []) for _, t in s]
    bodies[40] = (site_page("长文", ARTICLE * 600).encode(), [])  # over the text limit below
    path = _responses(tmp_path / "x.warc", bodies, False)
    data = path.read_bytes()
    first = data.index(b"Content-Length: ", data.index(URL.format(33).encode()))
    end = data.index(b"\r\n", first)
    length = int(data[first + 16 : end])
    path.write_bytes(data[: first + 16] + str(length - 300).encode() + data[end:])
    read_cfg = ReadConfig(on_error="skip", max_document_chars=20_000)
    outputs = []
    for jobs, batch, held in [(1, 256, 0), (2, 7, 0), (2, 64, 0), (2, 256, 30_000)]:
        if held:  # blocks of a few pages, batches of a few blocks: split by bytes
            monkeypatch.setattr(warc, "_BLOCK_BYTES", held)
            monkeypatch.setattr(pipeline, "_BATCH_HTML_BYTES", 3 * held)
        out = tmp_path / f"out-{jobs}-{batch}-{held}"
        done = run([str(path)], out, Config(read=read_cfg, jobs=jobs, batch_size=batch))
        assert (done.counts.read, done.counts.skipped) == (len(bodies), 2)
        outputs.append(
            {
                f: (out / f).read_bytes()
                for f in ("kept.jsonl", "removed.jsonl", "clusters.jsonl", "errors.jsonl")
            }
        )
    assert all(o == outputs[0] for o in outputs[1:])
    errors = [json.loads(line) for line in outputs[0]["errors.jsonl"].splitlines()]
    assert [e["line"] for e in errors] == [34, 41]
    assert "Content-Length" in errors[0]["reason"] and "--max-document-chars" in errors[1]["reason"]


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
    items = read(path, cfg=ReadConfig(on_error="skip"))
    assert [type(i).__name__ for i in items] == ["Doc", "Skip", "Doc"]
    assert isinstance(items[1], Skip) and "parser crashed" in items[1].reason
    with pytest.raises(InputError, match="parser crashed"):
        read(path, cfg=ReadConfig())


def test_warc_from_stdin(seeds_dir: Path, tmp_path: Path) -> None:
    pages = [(URL.format(i), plain_page(t).encode(), "text/html") for i, t in seeds(seeds_dir)]
    data = write_warc(tmp_path / "s.warc.gz", pages).read_bytes()
    out = tmp_path / "out"
    code, output = dedup("run", "-", "--format", "warc", "-o", str(out), "--no-report", input=data)
    assert code == 0, output
    assert cluster_ids(out) == [(URL.format("001"), {URL.format("000"), URL.format("001")})]


# --- HTML decoding --------------------------------------------------------------------------------


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


def test_a_wet_record_in_gbk_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "gbk.wet"
    with path.open("wb") as f:
        w = WARCWriter(f, gzip=False)
        payload = io.BytesIO((ARTICLE * 4).encode("gbk"))
        w.write_record(w.create_warc_record(URL.format("g"), "conversion", payload=payload))
    (doc,) = read_inputs([str(path)], ReadConfig())
    assert isinstance(doc, Doc) and ARTICLE in doc.text


# --- bad WARC and the missing extra ---------------------------------------------------------------


def test_truncated_warc_raises_naming_the_file_and_keeps_what_came_before(
    seeds_dir: Path, tmp_path: Path
) -> None:
    s = seeds(seeds_dir)
    pages = [(URL.format(i), plain_page(t).encode(), "text/html") for i, t in s]
    data = write_warc(tmp_path / "full.warc.gz", pages, extras=False).read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError) as err:
        read(cut, cfg=ReadConfig())
    assert err.value.source == str(cut) and "WARC" in err.value.reason
    items = read(cut, cfg=ReadConfig(on_error="skip"))
    assert isinstance(items[-1], Skip) and all(isinstance(d, Doc) for d in items[:-1])
    assert len(items) >= 2


def test_a_file_that_is_not_warc_raises_via_the_cli(tmp_path: Path) -> None:
    (tmp_path / "junk.warc").write_bytes(b"this is not a WARC file\r\n\r\n")
    code, output = dedup("run", str(tmp_path / "junk.warc"), "-o", str(tmp_path / "out"))
    assert code == 1 and "junk.warc" in output and "Traceback" not in output


def test_missing_warcio_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_wet(tmp_path / "x.wet", [(URL.format(0), "文本")])
    monkeypatch.setitem(sys.modules, "warcio", None)
    monkeypatch.setitem(sys.modules, "warcio.archiveiterator", None)
    code, output = dedup("run", str(path), "-o", str(tmp_path / "out"), "--no-report")
    assert code != 0 and "dedup[warc]" in output and "Traceback" not in output


# --- damage that costs one record (issue 17) ------------------------------------------------------


def _responses(path: Path, bodies: list[tuple[bytes, list[tuple[str, str]]]], gz: bool) -> Path:
    """A WARC of HTML responses (body, extra HTTP headers), URL.format(k) for the k-th."""
    with path.open("wb") as f:
        w = WARCWriter(f, gzip=gz)
        for k, (body, extra) in enumerate(bodies):
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html"), *extra], protocol="HTTP/1.1"
            )
            w.write_record(
                w.create_warc_record(
                    URL.format(k), "response", payload=io.BytesIO(body), http_headers=headers
                )
            )
    return path


def _page(k: int) -> bytes:
    return f"<html><body><article><p>{ARTICLE} 第{k}篇。</p></article></body></html>".encode()


SKIP = ReadConfig(on_error="skip")


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("br", b"\x1b\x8f\x00\xf8\x1d\xa9\x53\xaa\xdd\xcb\x50\x1a\x08\x42\xe8\x7a" * 8),
        ("gzip", gzip.compress(_page(1) * 50)[:40] + bytes(range(256))),  # damaged body
    ],
    ids=["br", "damaged-gzip"],
)
def test_a_content_encoding_that_does_not_decode_costs_that_record_only(
    tmp_path: Path, gz: bool, encoding: str, body: bytes
) -> None:
    path = _responses(
        tmp_path / ("x.warc.gz" if gz else "x.warc"),
        [(_page(0), []), (body, [("Content-Encoding", encoding)]), (_page(2), [])],
        gz,
    )
    items = read(path, cfg=SKIP)
    assert [(type(i).__name__, i.line) for i in items] == [("Doc", 1), ("Skip", 2), ("Doc", 3)]
    assert [i.id for i in items if isinstance(i, Doc)] == [URL.format(0), URL.format(2)]
    assert items[1].reason.startswith("record 2: ") and encoding in items[1].reason
    with pytest.raises(InputError) as err:
        read(path, cfg=ReadConfig())
    assert (err.value.source, err.value.line) == (str(path), 2)


def test_encoded_bodies_are_decoded(tmp_path: Path) -> None:
    path = _responses(
        tmp_path / "x.warc.gz",
        [
            (gzip.compress(_page(0)), [("Content-Encoding", "gzip")]),
            (zlib.compress(_page(1)), [("Content-Encoding", "deflate")]),
            (zstandard.ZstdCompressor().compress(_page(2)), [("Content-Encoding", "zstd")]),
            (_page(3), [("Content-Encoding", "gzip")]),  # a stale header: the page as it is
        ],
        True,
    )
    items = read(path, cfg=ReadConfig())
    assert [f"第{k}篇" in d.text for k, d in enumerate(items)] == [True] * 4


def test_a_content_length_too_small_is_reported_not_cut_and_not_printed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = _responses(tmp_path / "x.warc", [(_page(k) * 20, []) for k in range(3)], False)
    data = path.read_bytes()
    first = data.index(b"Content-Length: ", data.index(URL.format(1).encode()))
    end = data.index(b"\r\n", first)
    length = int(data[first + 16 : end])
    path.write_bytes(data[: first + 16] + str(length - 300).encode() + data[end:])
    items = read(path, cfg=SKIP)
    assert [(type(i).__name__, i.line) for i in items] == [("Doc", 1), ("Skip", 2), ("Doc", 3)]
    assert "Content-Length" in items[1].reason
    assert capfd.readouterr().err == ""
    with pytest.raises(InputError) as err:
        read(path, cfg=ReadConfig())
    assert err.value.line == 2


def test_a_content_length_too_large_counts_the_records_it_swallows(tmp_path: Path) -> None:
    """Record 2 claims 500 bytes more than it has: it runs into record 3, and both are
    skips, named; record 4 is read."""
    path = _responses(tmp_path / "x.warc", [(_page(k) * 20, []) for k in range(4)], False)
    data = path.read_bytes()
    first = data.index(b"Content-Length: ", data.index(URL.format(1).encode()))
    end = data.index(b"\r\n", first)
    length = int(data[first + 16 : end])
    path.write_bytes(data[: first + 16] + str(length + 500).encode() + data[end:])
    items = read(path, cfg=SKIP)
    kinds = [(type(i).__name__, i.line) for i in items]
    assert kinds == [("Doc", 1), ("Skip", 2), ("Skip", 3), ("Doc", 4)]
    assert "runs into the next 1 record" in items[1].reason
    assert "第3篇" in items[3].text


def test_a_huge_html_record_is_skipped_without_being_held(tmp_path: Path) -> None:
    huge = b"<html><body><p>" + b"\xe9\x95\xbf" * (6 << 20) + b"</p></body></html>"  # 18 MB
    path = _responses(tmp_path / "x.warc.gz", [(_page(0), []), (huge, []), (_page(2), [])], True)
    assert path.stat().st_size < 1 << 20
    cfg = ReadConfig(max_record_bytes=1 << 20, on_error="skip")
    tracemalloc.start()
    try:
        items = list(read_inputs([str(path)], cfg))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert [(type(i).__name__, i.line) for i in items] == [("Doc", 1), ("Skip", 2), ("Doc", 3)]
    assert items[1].reason == (
        "record 2: content of more than 1,048,576 bytes (the limit of --max-record-bytes)"
    )


def test_a_warc_over_the_stream_limit_stops_with_one_skip(tmp_path: Path) -> None:
    path = _responses(tmp_path / "x.warc.gz", [(_page(k) * 20, []) for k in range(5)], True)
    items = read(path, cfg=ReadConfig(max_stream_bytes=10_000, on_error="skip"))
    assert isinstance(items[-1], Skip) and "--max-stream-bytes" in items[-1].reason
    assert all(isinstance(i, Doc) for i in items[:-1]) and len(items) < 5


def test_quiet_prints_nothing_for_pages_warcio_or_trafilatura_complain_about(
    tmp_path: Path,
) -> None:
    # A target URI with spaces (warcio warns) and a page that is not HTML (trafilatura does).
    path = tmp_path / "x.warc.gz"
    with path.open("wb") as f:
        w = WARCWriter(f, gzip=True)
        for k, body in enumerate([b"\x00\x01 not html", _page(1)]):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], "HTTP/1.1")
            w.write_record(
                w.create_warc_record(
                    f"http://x.cn/{k} a b",
                    "response",
                    payload=io.BytesIO(body),
                    http_headers=headers,
                )
            )
    # In a process of its own: pytest's log capture would hide what reaches stderr.
    root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    args = ["run", str(path), "-o", str(tmp_path / "out"), "-q", "--no-report", "--jobs", "1"]
    done = subprocess.run([sys.executable, "-m", "dedup", *args], capture_output=True, env=env)
    assert (done.returncode, done.stderr.decode()) == (0, "")
