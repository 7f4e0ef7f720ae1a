"""Compare HTML main-text extractors (and WARC parsers) on Chinese pages.

    python bench/extract.py [--articles N] [--seed 0] [--repeat 1] [--json OUT.json]
                            [--write-warc PAGES.warc.gz]

Builds pages from the seeds and (when available) the articles of bench/make_corpus.py, each
wrapped in realistic site chrome: navigation menus, breadcrumbs, a sidebar of other titles,
share buttons, comments, footer with ICP licence, scripts and styles; three page templates
(HTML5 <article>, div soup, old table layout); a third of the pages GBK-encoded with
<meta charset=gbk>, as many Chinese sites still are. For each extractor it reports:

- speed: pages/s and MB/s of HTML (decoding excluded: both get the same str),
- quality: character 5-gram precision and recall of the extracted text against the known
  article text (whitespace removed), micro-averaged, plus the share of pages from which
  nothing was extracted and the share that leak footer boilerplate,
- and the WARC parsers (warcio, fastwarc): records/s reading the same pages as a .warc.gz.

Everything is deterministic for a given --seed; timings depend on the machine.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dedup.io.warc import decode_html  # noqa: E402

NGRAM = 5
_MENU = ("首页", "新闻", "财经", "科技", "体育", "娱乐", "汽车", "房产", "教育", "旅游", "健康")
_FOOTER_MARK = "版权所有"


@dataclass(frozen=True)
class Page:
    url: str
    body: bytes  # encoded HTML
    charset: str
    truth: str  # the article text that should come out


@dataclass(frozen=True)
class Score:
    extractor: str
    pages: int
    seconds: float
    pages_per_s: float
    mb_per_s: float
    precision: float
    recall: float
    f1: float
    empty: float
    footer_leak: float


def load_articles(n: int) -> list[tuple[str, str]]:
    """(title, paragraphs text) of the seeds and up to `n` make_corpus articles."""
    out = []
    for p in sorted((ROOT / "seeds").iterdir()):
        text = p.read_text(encoding="utf-8").strip()
        title, _, body = text.partition("\n")
        out.append((title.strip(), body.strip()))
    try:
        sys.path.insert(0, str(ROOT / "bench"))
        from make_corpus import fetch_debian_articles  # type: ignore[import-not-found]

        cache = Path.home() / ".cache" / "dedup-bench"
        for a in fetch_debian_articles(cache, lambda s: print(s, file=sys.stderr))[:n]:
            _, _, body = a.text.partition("\n")
            out.append((a.title, body.strip()))
    except Exception as e:  # no apt, no cache: the seeds alone still give a figure
        print(f"make_corpus articles unavailable ({e}); seeds only", file=sys.stderr)
    return out


def _links(rng: random.Random, titles: list[str], k: int) -> str:
    chosen = rng.sample(titles, min(k, len(titles)))
    return "".join(
        f'<li><a href="/a/{rng.randint(1000, 99999)}.html">{html.escape(t)}</a></li>'
        for t in chosen
    )


def _chrome(rng: random.Random, titles: list[str]) -> tuple[str, str, str]:
    """Header, sidebar and footer HTML of a made-up news site."""
    site = rng.choice(("华夏", "东方", "中华", "环球", "新浪", "南方")) + rng.choice(
        ("网", "资讯网", "日报", "在线")
    )
    menu = "".join(f'<li><a href="/{i}/">{m}</a></li>' for i, m in enumerate(_MENU))
    header = (
        f'<div class="top-bar">欢迎访问{site}！ <a href="/login">登录</a> | '
        f'<a href="/reg">注册</a> | 设为首页 | 加入收藏</div>'
        f'<div class="logo"><a href="/"><img src="/logo.png" alt="{site}"></a></div>'
        f'<nav class="menu"><ul>{menu}</ul></nav>'
        f'<div class="breadcrumb">当前位置：<a href="/">首页</a> &gt; '
        f'<a href="/{rng.randint(1, 9)}/">{rng.choice(_MENU)}</a> &gt; 正文</div>'
    )
    sidebar = (
        f'<aside class="sidebar"><h3>热门文章</h3><ul>{_links(rng, titles, 8)}</ul>'
        f"<h3>推荐阅读</h3><ul>{_links(rng, titles, 6)}</ul>"
        '<div class="ad">广告：点击领取新人红包，最高888元！</div></aside>'
    )
    footer = (
        '<div class="share">分享到：微信 微博 QQ空间 【字体：大 中 小】【打印】【关闭】</div>'
        f'<div class="related"><h3>相关阅读</h3><ul>{_links(rng, titles, 5)}</ul></div>'
        '<div class="comments"><h3>网友评论</h3>'
        f"<p>{rng.choice(('说得好！', '支持一下', '学习了，谢谢分享'))}</p>"
        "<p>请文明上网，理性发言。</p></div>"
        '<footer><p><a href="/about">关于我们</a> | <a href="/contact">联系我们</a> | '
        "广告服务 | 网站地图 | 免责声明</p>"
        f"<p>Copyright © 2005-2024 {site} {_FOOTER_MARK} "
        f"京ICP备{rng.randint(10**7, 10**8 - 1)}号</p></footer>"
    )
    return header, sidebar, footer


def build_page(title: str, body: str, titles: list[str], rng: random.Random, charset: str) -> str:
    """A full HTML page with the article among site chrome, in one of three layouts."""
    paras = [p.strip() for p in body.split("\n") if p.strip()]
    ps = "".join(f"<p>{html.escape(p)}</p>" for p in paras)
    meta = (
        f'<span class="info">来源：本站 作者：编辑部 {rng.randint(2015, 2024)}-0'
        f"{rng.randint(1, 9)}-1{rng.randint(0, 9)} 浏览：{rng.randint(10, 9999)}</span>"
    )
    header, sidebar, footer = _chrome(rng, titles)
    style = "<style>body{font:14px sans-serif}.menu li{display:inline}</style>"
    script = "<script>var _hmt=_hmt||[];(function(){var hm=1;})();</script>"
    head = (
        f'<head><meta charset="{charset}"><title>{html.escape(title)} - 新闻中心</title>'
        f"{style}{script}</head>"
    )
    layout = rng.randrange(3)
    if layout == 0:
        main = f"<main><article><h1>{html.escape(title)}</h1>{meta}{ps}</article></main>"
        page = f"<body><header>{header}</header><div class='wrap'>{main}{sidebar}</div>{footer}"
    elif layout == 1:
        main = (
            f'<div class="content"><div class="title"><h2>{html.escape(title)}</h2></div>'
            f'{meta}<div class="text" id="zoom">{ps}</div></div>'
        )
        page = f"<body><div id='hd'>{header}</div><div id='bd'>{main}{sidebar}</div>{footer}"
    else:
        main = (
            f'<table width="760"><tr><td class="title">{html.escape(title)}</td></tr>'
            f"<tr><td>{meta}</td></tr><tr><td class='content'>{ps}</td></tr></table>"
        )
        page = (
            f"<body><table width='960'><tr><td colspan='2'>{header}</td></tr>"
            f"<tr><td>{main}</td><td width='200'>{sidebar}</td></tr></table>{footer}"
        )
    return f"<!DOCTYPE html><html lang='zh-CN'>{head}{page}{script}</body></html>"


def build_pages(articles: list[tuple[str, str]], seed: int) -> list[Page]:
    rng = random.Random(seed)
    titles = [t for t, _ in articles]
    pages = []
    for i, (title, body) in enumerate(articles):
        charset = "gbk" if i % 3 == 2 else "utf-8"
        text = build_page(title, body, titles, rng, charset)
        truth = "\n".join(p.strip() for p in body.split("\n") if p.strip())
        pages.append(
            Page(
                url=f"http://news.example.cn/a/{i:05d}.html",
                body=text.encode(charset, errors="replace"),
                charset=charset,
                truth=truth,
            )
        )
    return pages


def _grams(text: str) -> Counter[str]:
    s = "".join(text.split())
    return Counter(s[i : i + NGRAM] for i in range(max(0, len(s) - NGRAM + 1)))


def _trafilatura() -> Callable[[str], str]:
    import trafilatura

    def run(page: str) -> str:
        return trafilatura.extract(page, include_comments=False, include_tables=True) or ""

    return run


def _resiliparse() -> Callable[[str], str]:
    from resiliparse.extract.html2text import extract_plain_text

    def run(page: str) -> str:
        return extract_plain_text(page, main_content=True, preserve_formatting=True)

    return run


EXTRACTORS = {"trafilatura": _trafilatura, "resiliparse": _resiliparse}


def measure(name: str, fn: Callable[[str], str], pages: list[Page], repeat: int) -> Score:
    docs = [decode_html(p.body, f"text/html; charset={p.charset}") for p in pages]
    mb = sum(len(p.body) for p in pages) / 1e6
    fn(docs[0])  # warm-up: imports, lazy tables
    best = float("inf")
    out: list[str] = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = [fn(d) for d in docs]
        best = min(best, time.perf_counter() - t)
    hit = got = want = 0
    empty = leak = 0
    for page, text in zip(pages, out, strict=True):
        g, w = _grams(text), _grams(page.truth)
        hit += sum((g & w).values())
        got += sum(g.values())
        want += sum(w.values())
        empty += not text.strip()
        leak += _FOOTER_MARK in text
    p = hit / got if got else 0.0
    r = hit / want if want else 0.0
    return Score(
        extractor=name,
        pages=len(pages),
        seconds=round(best, 3),
        pages_per_s=round(len(pages) / best, 1),
        mb_per_s=round(mb / best, 2),
        precision=round(p, 4),
        recall=round(r, 4),
        f1=round(2 * p * r / (p + r) if p + r else 0.0, 4),
        empty=round(empty / len(pages), 4),
        footer_leak=round(leak / len(pages), 4),
    )


def warc_bytes(pages: list[Page]) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for p in pages:
        headers = StatusAndHeaders(
            "200 OK", [("Content-Type", f"text/html; charset={p.charset}")], protocol="HTTP/1.1"
        )
        rec = writer.create_warc_record(
            p.url, "response", payload=io.BytesIO(p.body), http_headers=headers
        )
        writer.write_record(rec)
    return buf.getvalue()


def measure_parsers(data: bytes, repeat: int) -> dict[str, float]:
    """Records/s reading every response payload of `data` (a .warc.gz)."""
    from fastwarc.warc import ArchiveIterator as FastIterator
    from fastwarc.warc import WarcRecordType
    from warcio.archiveiterator import ArchiveIterator

    def with_warcio() -> int:
        n = 0
        for rec in ArchiveIterator(io.BytesIO(data)):
            if rec.rec_type == "response":
                rec.content_stream().read()
                n += 1
        return n

    def with_fastwarc() -> int:
        n = 0
        for rec in FastIterator(io.BytesIO(data), record_types=WarcRecordType.response):
            rec.reader.read()
            n += 1
        return n

    rates = {}
    for name, fn in (("warcio", with_warcio), ("fastwarc", with_fastwarc)):
        best, n = float("inf"), 0
        for _ in range(repeat):
            t = time.perf_counter()
            n = fn()
            best = min(best, time.perf_counter() - t)
        rates[name] = round(n / best, 1)
    return rates


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", type=int, default=300, help="make_corpus articles to add")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="best of N timings")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    ap.add_argument(
        "--write-warc", type=Path, help="also write the pages as a .warc.gz (for `dedup run`)"
    )
    args = ap.parse_args(argv)

    pages = build_pages(load_articles(args.articles), args.seed)
    mb = sum(len(p.body) for p in pages) / 1e6
    gbk = sum(p.charset == "gbk" for p in pages)
    print(f"{len(pages)} pages, {mb:.1f} MB of HTML, {gbk} GBK-encoded")
    scores = [measure(n, f(), pages, args.repeat) for n, f in EXTRACTORS.items()]
    cols = ("pages_per_s", "mb_per_s", "precision", "recall", "f1", "empty", "footer_leak")
    print(f"{'extractor':<12} " + " ".join(f"{c:>11}" for c in cols))
    for s in scores:
        print(f"{s.extractor:<12} " + " ".join(f"{getattr(s, c):>11}" for c in cols))
    warc = warc_bytes(pages)
    if args.write_warc:
        args.write_warc.write_bytes(warc)
    parsers = measure_parsers(warc, args.repeat)
    print("WARC parsers, records/s: " + ", ".join(f"{k} {v}" for k, v in parsers.items()))
    if args.json:
        args.json.write_text(
            json.dumps({"extractors": [asdict(s) for s in scores], "parsers": parsers}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
