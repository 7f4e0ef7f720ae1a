"""Build a labelled near-duplicate corpus from real Chinese articles.

    python bench/make_corpus.py --out corpus/ [--n-bases 300] [--seed 0]

writes `corpus.jsonl` (`{"id", "text"}` per line), `gold.jsonl` (`{"id", "cluster",
"noise", "hard_negative"}`) and `manifest.json` (parameters, sources, counts).

The base articles are sections of Chinese documentation that Debian ships under free
licences (the Debian Administrator's Handbook, Debian Reference, the New Maintainers' Guide,
the Debian FAQ and the KiCad manuals, each in Simplified Chinese). Nothing of them is kept in
the repository: the packages are fetched with `apt-get download` at benchmark time and read
into a cache directory. `--articles FILE.jsonl` (one `{"text": ...}` per line) uses other
texts instead.

Each chosen base article gets a clean version, versions with one kind of crawl noise each and
versions with several kinds combined; further distinct articles appear once (singletons).
Hard negatives are different articles wrapped in the same long site boilerplate and sibling
sections on one topic that share a passage. Everything is determined by `--seed`.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

# Debian packages and the HTML files in them that hold the Simplified Chinese text.
SOURCES: tuple[tuple[str, str], ...] = (
    ("debian-handbook", "usr/share/doc/debian-handbook/html/zh-CN/*.html"),
    ("debian-reference-zh-cn", "usr/share/debian-reference/*.zh-cn.html"),
    ("maint-guide-zh-cn", "usr/share/doc/maint-guide-zh-cn/html/*.zh-cn.html"),
    ("debian-faq-zh-cn", "usr/share/doc/debian/FAQ/zh-cn/*.zh-cn.html"),
    ("kicad-doc-zh", "usr/share/doc/kicad/help/zh/*.html"),
)
EXTRACT_VERSION = 2  # bump when extraction changes, so cached articles are rebuilt

MIN_CHARS, MAX_CHARS = 500, 5000
MIN_CJK_SHARE = 0.4  # of non-space characters in an article
SCRIPT_KINDS = ("s2t", "s2tw", "s2hk", "s2twp")
NOISE_KINDS = (
    *SCRIPT_KINDS,
    "pinyin",
    "punct",
    "width",
    "junk",
    "linebreaks",
    "chrome",
    "truncate",
    "drop_paragraphs",
    "shuffle_paragraphs",
    "typos",
    "mojibake",
    "html",
)
# Order in which combined noise is applied: edits of content first, then the conversions a
# site makes, then page furniture, then accidents of encoding.
APPLY_ORDER = (
    "truncate",
    "drop_paragraphs",
    "shuffle_paragraphs",
    "typos",
    *SCRIPT_KINDS,
    "pinyin",
    "punct",
    "width",
    "chrome",
    "linebreaks",
    "junk",
    "html",
    "mojibake",
)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WIDE = r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]"  # CJK ideographs and punctuation
_SPACE_BETWEEN_CJK = re.compile(rf"(?<={_WIDE})\s+(?={_WIDE})")


class CorpusError(Exception):
    """The source articles could not be fetched or are too few."""


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Article:
    """A base article: where it came from, its title and its text (title on the first line)."""

    source: str
    title: str
    text: str


def cjk_share(text: str) -> float:
    """Share of CJK ideographs among the non-space characters of `text`."""
    chars = sum(1 for c in text if not c.isspace())
    return len(_CJK.findall(text)) / chars if chars else 0.0


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    # Source line wraps between CJK characters are not spaces in the text.
    return _SPACE_BETWEEN_CJK.sub("", text)


_SKIP_TAGS = {"pre", "table", "script", "style", "head", "title"}
_SKIP_CLASSES = {"navheader", "navfooter", "toc", "docnav", "list-of-tables", "indexterm"}
_SKIP_IDS = {"banner", "title"}
_BLOCKS = {"p", "li", "dt", "dd", "div", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"}


class _SectionParser(HTMLParser):
    """Splits a DocBook HTML page into sections: (heading, [paragraph, ...])."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped)
        self.skip_depth = 0
        self.buf: list[str] = []
        self.in_heading = False
        self.sections: list[tuple[str, list[str]]] = [("", [])]

    def _flush(self) -> None:
        text = _clean("".join(self.buf))
        self.buf = []
        if not text:
            return
        if self.in_heading:
            self.sections.append((text, []))
        else:
            self.sections[-1][1].append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        skip = tag in _SKIP_TAGS or bool(classes & _SKIP_CLASSES) or a.get("id") in _SKIP_IDS
        if tag in _BLOCKS and not self.skip_depth:
            self._flush()
            if tag in _HEADINGS:
                self.in_heading = True
        self.stack.append((tag, skip))
        if skip:
            self.skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if not any(t == tag for t, _ in self.stack):
            return  # stray end tag
        while self.stack:
            t, skip = self.stack.pop()
            if skip:
                self.skip_depth -= 1
            if t == tag:
                break
        if tag in _BLOCKS and not self.skip_depth:
            self._flush()
            if tag in _HEADINGS:
                self.in_heading = False

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.buf.append(data)


def html_sections(html: str) -> list[tuple[str, list[str]]]:
    """The (title, paragraphs) sections of one HTML page, navigation and code left out."""
    p = _SectionParser()
    p.feed(html)
    p.close()
    p._flush()
    return [(t, ps) for t, ps in p.sections if t or ps]


def articles_from_sections(
    sections: Iterable[tuple[str, list[str]]], source: str
) -> Iterator[Article]:
    """Join consecutive short sections, split long ones, keep Chinese prose of article size.

    English paragraphs (untranslated parts of the manuals) are dropped first.
    """
    title = ""
    paras: list[str] = []

    def emit() -> Iterator[Article]:
        chunk: list[str] = []
        for p in paras:
            chunk.append(p)
            if sum(len(c) + 1 for c in chunk) >= MAX_CHARS * 0.6:
                yield from finish(chunk)
                chunk = []
        if chunk:
            yield from finish(chunk)

    def finish(chunk: list[str]) -> Iterator[Article]:
        text = "\n".join([title, *chunk]) if title else "\n".join(chunk)
        if (
            MIN_CHARS <= len(text) <= MAX_CHARS
            and len(chunk) >= 2
            and cjk_share(text) >= MIN_CJK_SHARE
        ):
            yield Article(source=source, title=title, text=text)

    for sec_title, sec_paras in sections:
        current = sum(len(p) + 1 for p in paras)
        if paras and current >= MIN_CHARS:
            yield from emit()
            title, paras = "", []
        if not title:
            title = sec_title
        elif sec_title:
            paras.append(sec_title)
        paras.extend(p for p in sec_paras if cjk_share(p) >= 0.2)
    if paras:
        yield from emit()


def distinct(articles: Iterable[Article], max_shared: float = 0.2, n: int = 8) -> list[Article]:
    """Drop articles that share more than `max_shared` of their character n-grams with an
    earlier one (manuals repeat notes and boilerplate), so that bases are truly distinct."""
    seen: set[str] = set()
    out: list[Article] = []
    for a in articles:
        s = re.sub(r"\s+", "", a.text)
        grams = {s[i : i + n] for i in range(max(1, len(s) - n + 1))}
        if len(grams & seen) <= max_shared * len(grams):
            out.append(a)
        seen |= grams
    return out


def _deb_members(deb: Path, pattern: str) -> list[tuple[str, str]]:
    """(file name, text) of the files of a .deb matching `pattern`, sorted by path."""
    proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True)
    if proc.returncode != 0:
        raise CorpusError(f"dpkg-deb cannot read {deb}: {proc.stderr.decode()[-300:]}")
    out = []
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        for m in tar:
            name = m.name.removeprefix("./")
            if m.isfile() and fnmatch.fnmatch(name, pattern):
                data = tar.extractfile(m)
                if data is not None:
                    out.append((name, data.read().decode("utf-8", errors="replace")))
    return [(Path(n).name, t) for n, t in sorted(out)]


def fetch_debian_articles(cache: Path, log: Callable[[str], None]) -> list[Article]:
    """Fetch the source packages (once) and extract their articles (cached as JSONL)."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found: list[Path] = []
    for pkg, _ in SOURCES:
        have = sorted(debs.glob(f"{pkg}_*.deb"))
        if not have:
            log(f"fetching {pkg} with apt-get download")
            r = subprocess.run(
                ["apt-get", "download", pkg], cwd=debs, capture_output=True, text=True
            )
            have = sorted(debs.glob(f"{pkg}_*.deb"))
            if r.returncode != 0 or not have:
                raise CorpusError(
                    f"apt-get download {pkg} failed ({r.stderr.strip()[-300:]}); run "
                    "'apt-get update' first, or pass --articles FILE.jsonl"
                )
        found.append(have[-1])
    key = hashlib.sha256(
        json.dumps([EXTRACT_VERSION, [p.name for p in found]]).encode()
    ).hexdigest()[:16]
    cached = cache / f"articles-{key}.jsonl"
    if cached.exists():
        return [Article(**json.loads(line)) for line in cached.open(encoding="utf-8")]
    articles: list[Article] = []
    for (pkg, pattern), deb in zip(SOURCES, found, strict=True):
        for name, html in _deb_members(deb, pattern):
            articles.extend(articles_from_sections(html_sections(html), f"{pkg}/{name}"))
    articles = distinct(articles)
    tmp_out = cached.with_suffix(".tmp")
    with tmp_out.open("w", encoding="utf-8") as fh:
        for a in articles:
            fh.write(json.dumps(asdict(a), ensure_ascii=False) + "\n")
    tmp_out.rename(cached)
    return articles


def read_articles(path: Path) -> list[Article]:
    """Articles from a JSONL file of `{"text": ..., "title": ...}` lines."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if line.strip():
                obj = json.loads(line)
                text = str(obj["text"]).strip()
                title = str(obj.get("title") or text.split("\n", 1)[0])
                out.append(Article(source=f"{path.name}:{i}", title=title, text=text))
    return out


# --------------------------------------------------------------------------- noise


@dataclass
class NoiseContext:
    """What noise functions draw on besides the text: the seeded generator, a character
    pool for typos (frequency-weighted) and titles for site furniture."""

    rng: random.Random
    charpool: str
    titles: Sequence[str]
    converters: dict[str, Any] = field(default_factory=dict)
    pinyin_cache: dict[str, str] = field(default_factory=dict)


def _opencc(ctx: NoiseContext, config: str) -> Any:
    conv = ctx.converters.get(config)
    if conv is None:
        try:
            from opencc import OpenCC
        except ImportError as e:  # pragma: no cover - a project dependency
            raise CorpusError("pip install opencc-python-reimplemented") from e
        conv = ctx.converters[config] = OpenCC(config)
    return conv


def script(config: str) -> Callable[[str, NoiseContext], str]:
    """Simplified to traditional with one of OpenCC's configurations (s2twp also swaps
    vocabulary to Taiwan usage, e.g. 软件 -> 軟體)."""

    def convert(text: str, ctx: NoiseContext) -> str:
        return str(_opencc(ctx, config).convert(text))

    return convert


def _syllable(ch: str, ctx: NoiseContext) -> str:
    s = ctx.pinyin_cache.get(ch)
    if s is None:
        try:
            from pypinyin import Style, pinyin
        except ImportError as e:
            raise CorpusError("the pinyin noise needs pypinyin: pip install pypinyin") from e
        s = ctx.pinyin_cache[ch] = pinyin(ch, style=Style.TONE)[0][0]
    return s


def add_pinyin(text: str, ctx: NoiseContext) -> str:
    """Inline pinyin after some characters, as ruby annotations flatten to: 發(fā)."""
    rate = ctx.rng.uniform(0.05, 0.3)
    full = ctx.rng.random() < 0.2
    lp, rp = ("（", "）") if full else ("(", ")")
    out = []
    for ch in text:
        out.append(ch)
        if _CJK.match(ch) and ctx.rng.random() < rate:
            out.append(f"{lp}{_syllable(ch, ctx)}{rp}")
    return "".join(out)


_PUNCT_TO_DOT = str.maketrans({c: "." for c in "，。！？；：、…"})
_QUOTES = str.maketrans({c: "'" for c in '“”‘’「」『』"'})


def mangle_punct(text: str, ctx: NoiseContext) -> str:
    """CJK punctuation flattened to '.' and every quote to "'"."""
    return text.translate(_PUNCT_TO_DOT).translate(_QUOTES)


_TO_HALF = str.maketrans(
    {
        **{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)},
        **{"，": ",", "。": ".", "、": ",", "；": ";", "：": ":", "　": " "},
    }
)
_TO_FULL = str.maketrans({**{chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}, " ": "　"})


def change_width(text: str, ctx: NoiseContext) -> str:
    """Full-width forms to ASCII (and CJK punctuation to ASCII), or ASCII to full width."""
    table = _TO_HALF if ctx.rng.random() < 0.5 else _TO_FULL
    return text.translate(table)


_JUNK_PUNCT = "!#$%&()*+,-./:;<=>?@[]^_{|}~"


def junk_line(rng: random.Random) -> str:
    """Anti-scraping filler of short random ASCII fragments: ) x- F6 b+ P5 t/ W7 q! N# {"""
    frags = []
    for _ in range(rng.randint(6, 14)):
        r = rng.random()
        if r < 0.4:
            frags.append(rng.choice("abcdefghijklmnopqrstuvwxyz") + rng.choice(_JUNK_PUNCT))
        elif r < 0.8:
            frags.append(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + rng.choice("0123456789"))
        else:
            frags.append(rng.choice(_JUNK_PUNCT))
    return " ".join(frags)


def add_junk(text: str, ctx: NoiseContext) -> str:
    """Junk lines between lines, or appended after them."""
    rate = ctx.rng.uniform(0.3, 0.7)
    out = []
    for line in text.split("\n"):
        if ctx.rng.random() < rate:
            if ctx.rng.random() < 0.5:
                out.extend([line, junk_line(ctx.rng)])
            else:
                out.append(line + " " + junk_line(ctx.rng))
        else:
            out.append(line)
    return "\n".join(out)


def hard_breaks(text: str, ctx: NoiseContext) -> str:
    """Fixed-width wrapping: a line break every 15-40 characters, inside sentences."""
    width = ctx.rng.randint(15, 40)
    out: list[str] = []
    for line in text.split("\n"):
        out.extend(line[i : i + width] for i in range(0, max(len(line), 1), width))
    return "\n".join(out)


_SITE_A = "新华人民中国东方南方北方华夏天下环球今日都市晨光长江黄河星辰云端时代"
_SITE_B = ("网", "在线", "资讯网", "新闻网", "日报", "晚报", "科技网", "门户")
_NAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
_CHANNELS = ("新闻", "财经", "科技", "体育", "娱乐", "汽车", "房产", "教育", "旅游", "健康")


def _site(rng: random.Random) -> str:
    return "".join(rng.sample(_SITE_A, 2)) + rng.choice(_SITE_B)


def _person(rng: random.Random) -> str:
    return rng.choice(_NAMES) + "".join(rng.sample(_GIVEN, rng.randint(1, 2)))


def _date(rng: random.Random) -> str:
    return (
        f"{rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    )


def site_chrome(rng: random.Random, titles: Sequence[str], scale: float = 1.0) -> tuple[str, str]:
    """A plausible news-site header and footer; `scale` > 1 adds longer link lists."""
    site = _site(rng)
    channels = rng.sample(_CHANNELS, rng.randint(5, len(_CHANNELS)))
    header = [
        f"{site} | " + " | ".join(["首页", *channels]),
        f"当前位置：首页 > {channels[0]} > 正文",
        f"来源：{site}  作者：{_person(rng)}  发布时间：{_date(rng)}  "
        f"浏览次数：{rng.randint(10, 99999)}",
    ]
    if rng.random() < 0.5:
        header.append("【字体：大 中 小】【打印】【关闭】  分享到：微信 微博 QQ空间")
    n_links = max(1, round(rng.randint(3, 6) * scale))
    links = rng.sample(list(titles), min(n_links, len(titles)))
    footer = [f"责任编辑：{_person(rng)}"]
    if rng.random() < 0.6:
        footer.append("声明：本文仅代表作者观点，不代表本站立场。如有侵权请联系删除。")
    footer.append("相关阅读：")
    footer.extend(f"· {t}" for t in links)
    if scale > 1:
        footer.append("热门排行：")
        footer.extend(
            f"{i + 1}. {t}"
            for i, t in enumerate(rng.sample(list(titles), min(n_links, len(titles))))
        )
        footer.append(
            "网站声明：凡本网注明“来源：" + site + "”的所有作品，版权均属于" + site + "，"
            "未经本网授权不得转载、摘编或利用其它方式使用上述作品。已经本网授权使用作品的，"
            "应在授权范围内使用，并注明“来源：" + site + "”。违反上述声明者，本网将追究其"
            "相关法律责任。凡本网注明“来源：XXX（非本网）”的作品，均转载自其它媒体，转载"
            "目的在于传递更多信息，并不代表本网赞同其观点和对其真实性负责。"
        )
    footer.append("关于我们 | 联系我们 | 广告服务 | 网站地图 | 免责声明 | 招聘信息")
    footer.append(
        f"Copyright © 2005-{rng.randint(2019, 2024)} {site} 版权所有  "
        f"京ICP备{rng.randint(10**7, 10**8 - 1)}号  京公网安备{rng.randint(10**13, 10**14 - 1)}号"
    )
    return "\n".join(header), "\n".join(footer)


def add_chrome(text: str, ctx: NoiseContext) -> str:
    """A site header and footer around the article."""
    header, footer = site_chrome(ctx.rng, ctx.titles)
    return f"{header}\n{text}\n{footer}"


def truncate(text: str, ctx: NoiseContext) -> str:
    """Only the first 40-70% of the article (a paywall, a failed fetch, 'read more')."""
    return text[: max(1, round(len(text) * ctx.rng.uniform(0.4, 0.7)))]


def _paragraphs(text: str) -> tuple[str, list[str]]:
    title, _, body = text.partition("\n")
    return title, [p for p in body.split("\n") if p]


def drop_paragraphs(text: str, ctx: NoiseContext) -> str:
    """Some paragraphs missing (at most a quarter, at least one)."""
    title, paras = _paragraphs(text)
    if len(paras) < 2:
        return truncate(text, ctx)
    k = ctx.rng.randint(1, max(1, len(paras) // 4))
    gone = set(ctx.rng.sample(range(len(paras)), k))
    return "\n".join([title, *(p for i, p in enumerate(paras) if i not in gone)])


def shuffle_paragraphs(text: str, ctx: NoiseContext) -> str:
    """Paragraphs in another order (the title stays first)."""
    title, paras = _paragraphs(text)
    order = list(range(len(paras)))
    for _ in range(10):
        ctx.rng.shuffle(order)
        if order != sorted(order) or len(paras) < 2:
            break
    return "\n".join([title, *(paras[i] for i in order)])


def typos(text: str, ctx: NoiseContext) -> str:
    """2-5% of the CJK characters replaced by other characters (frequency-weighted)."""
    rate = ctx.rng.uniform(0.02, 0.05)
    out = list(text)
    for i, ch in enumerate(out):
        if _CJK.match(ch) and ctx.rng.random() < rate:
            out[i] = ctx.rng.choice(ctx.charpool)
    return "".join(out)


def mojibake(text: str, ctx: NoiseContext) -> str:
    """A few spans garbled: UTF-8 read as GBK, or characters replaced by '?' or U+FFFD."""
    out = text
    budget = max(8, round(len(text) * 0.05))
    for _ in range(ctx.rng.randint(1, 4)):
        n = min(ctx.rng.randint(4, 30), budget)
        if n < 2 or len(out) <= n:
            break
        budget -= n
        start = ctx.rng.randrange(0, len(out) - n)
        span = out[start : start + n]
        kind = ctx.rng.random()
        if kind < 0.5:
            bad = span.encode("utf-8").decode("gbk", errors="replace")
        elif kind < 0.8:
            bad = "".join("?" if not c.isspace() else c for c in span)
        else:
            bad = "\ufffd" * n
        out = out[:start] + bad + out[start + n :]
    return out


def html_remnants(text: str, ctx: NoiseContext) -> str:
    """Tags, attributes and entities left by a sloppy HTML-to-text conversion."""
    rng = ctx.rng
    out = []
    for line in text.split("\n"):
        line = line.replace("“", "&ldquo;").replace("”", "&rdquo;") if rng.random() < 0.5 else line
        r = rng.random()
        if r < 0.3:
            line = f'<p style="text-indent:2em;">{line}</p>'
        elif r < 0.5:
            line = f"&nbsp;&nbsp;&nbsp;&nbsp;{line}<br />"
        elif r < 0.6:
            line = f'<span style="font-size:16px;font-family:宋体;">{line}</span>'
        elif r < 0.7 and len(line) > 10:
            k = rng.randrange(1, len(line) - 5)
            line = f"{line[:k]}<strong>{line[k : k + 5]}</strong>{line[k + 5 :]}"
        out.append(line)
        if rng.random() < 0.1:
            out.append(
                f'<img src="/uploads/allimg/{rng.randint(150000, 240000)}/'
                f'{rng.randint(1, 9)}-{rng.randint(10**9, 10**10 - 1)}.jpg" alt="" />'
            )
    return "\n".join(out)


NOISE: dict[str, Callable[[str, NoiseContext], str]] = {
    **{k: script(k) for k in SCRIPT_KINDS},
    "pinyin": add_pinyin,
    "punct": mangle_punct,
    "width": change_width,
    "junk": add_junk,
    "linebreaks": hard_breaks,
    "chrome": add_chrome,
    "truncate": truncate,
    "drop_paragraphs": drop_paragraphs,
    "shuffle_paragraphs": shuffle_paragraphs,
    "typos": typos,
    "mojibake": mojibake,
    "html": html_remnants,
}


def apply_noise(text: str, kinds: Iterable[str], ctx: NoiseContext) -> str:
    """Apply each kind once, in the order a page would acquire them."""
    wanted = set(kinds)
    for kind in APPLY_ORDER:
        if kind in wanted:
            text = NOISE[kind](text, ctx)
    return text


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class CorpusConfig:
    """Sizes of the corpus; defaults give about 2,500 documents."""

    n_bases: int = 250  # articles with duplicates
    n_singletons: int = 200  # articles that appear once
    versions: int = 5  # single-noise versions per base
    combined: int = 2  # multi-noise versions per base
    boilerplate_groups: int = 10
    boilerplate_size: int = 5  # articles per boilerplate group
    topic_groups: int = 15
    seed: int = 0


@dataclass(frozen=True)
class Record:
    """One document of the corpus and its gold label."""

    id: str
    text: str
    cluster: str
    noise: tuple[str, ...] = ()
    hard_negative: str | None = None

    def gold(self) -> dict[str, Any]:
        g: dict[str, Any] = {"id": self.id, "cluster": self.cluster}
        if self.noise:
            g["noise"] = list(self.noise)
        if self.hard_negative is not None:
            g["hard_negative"] = self.hard_negative
        return g


def _topic_groups(pool: Sequence[Article], n: int, rng: random.Random) -> list[list[int]]:
    """Runs of 2-3 neighbouring sections of one page: same topic, shared vocabulary."""
    starts = [i for i in range(len(pool) - 1) if pool[i].source == pool[i + 1].source]
    rng.shuffle(starts)
    used: set[int] = set()
    groups: list[list[int]] = []
    for s in starts:
        if len(groups) >= n:
            break
        size = 3 if s + 2 < len(pool) and pool[s + 2].source == pool[s].source else 2
        members = list(range(s, s + size))
        if used.isdisjoint(members):
            used.update(members)
            groups.append(members)
    return groups


def _shared_passage(text: str, rng: random.Random) -> str:
    """One or two sentences of an article, to be quoted by its siblings."""
    sentences = [s for s in re.split(r"(?<=[。！？])", text.split("\n", 1)[-1]) if len(s) > 15]
    if not sentences:
        return text[:100]
    i = rng.randrange(len(sentences))
    return "".join(sentences[i : i + 2])[:200]


def build_corpus(articles: Sequence[Article], cfg: CorpusConfig) -> list[Record]:
    """The labelled corpus (shuffled, with opaque ids) from distinct base articles."""
    rng = random.Random(cfg.seed)
    need = cfg.n_bases + cfg.n_singletons
    if len(articles) < need:
        raise CorpusError(
            f"{len(articles)} distinct articles available, {need} needed "
            "(lower --n-bases / --n-singletons)"
        )
    pool = list(articles)
    ctx = NoiseContext(
        rng=rng,
        charpool="".join(_CJK.findall("".join(a.text for a in pool))),
        titles=[a.title for a in pool if 4 <= len(a.title) <= 40] or ["新闻"],
    )
    topics = _topic_groups(pool, cfg.topic_groups, rng)
    topic_of = {i: g for g, members in enumerate(topics) for i in members}
    rest = [i for i in range(len(pool)) if i not in topic_of]
    rng.shuffle(rest)
    n_dup_rest = max(0, cfg.n_bases - len(topic_of))
    dup_idx = sorted([*topic_of, *rest[:n_dup_rest]])[: cfg.n_bases]
    single_idx = sorted(rest[n_dup_rest : n_dup_rest + cfg.n_singletons])

    records: list[Record] = []
    kinds_cycle: list[str] = []
    for b in dup_idx:
        cluster = f"c{b:05d}"
        text = pool[b].text
        hn = f"topic-{topic_of[b]}" if b in topic_of else None
        records.append(Record("", text, cluster, (), hn))
        for _ in range(cfg.versions):
            if not kinds_cycle:  # balanced: every kind once before any repeats
                kinds_cycle = list(NOISE_KINDS)
                rng.shuffle(kinds_cycle)
            kind = kinds_cycle.pop()
            records.append(Record("", apply_noise(text, [kind], ctx), cluster, (kind,)))
        for _ in range(cfg.combined):
            script_kind = [rng.choice(SCRIPT_KINDS)] if rng.random() < 0.6 else []
            others = [k for k in NOISE_KINDS if k not in SCRIPT_KINDS]
            kinds = tuple(sorted([*script_kind, *rng.sample(others, rng.randint(1, 3))]))
            records.append(Record("", apply_noise(text, kinds, ctx), cluster, kinds))
    for b in single_idx:
        kinds = (rng.choice(NOISE_KINDS),) if rng.random() < 0.5 else ()
        records.append(Record("", apply_noise(pool[b].text, kinds, ctx), f"c{b:05d}", kinds))

    # Same topic: siblings quoting a passage of the group's first article (a version of each
    # sibling's own cluster, labelled so that it does not count as a clean copy).
    for g, members in enumerate(topics):
        passage = _shared_passage(pool[members[0]].text, rng)
        for b in members[1:]:
            title, _, body = pool[b].text.partition("\n")
            paras = body.split("\n")
            at = rng.randint(0, len(paras))
            text = "\n".join([title, *paras[:at], passage, *paras[at:]])
            records.append(Record("", text, f"c{b:05d}", ("shared_passage",), f"topic-{g}"))

    # Same boilerplate: short articles in one site's long header and footer.
    short = [i for i in [*dup_idx, *single_idx] if len(pool[i].text) <= 1500 and i not in topic_of]
    rng.shuffle(short)
    for g in range(cfg.boilerplate_groups):
        members = short[g * cfg.boilerplate_size : (g + 1) * cfg.boilerplate_size]
        if len(members) < 2:
            break
        header, footer = site_chrome(rng, ctx.titles, scale=4.0)
        for b in members:
            text = f"{header}\n{pool[b].text}\n{footer}"
            records.append(Record("", text, f"c{b:05d}", ("boilerplate",), f"site-{g}"))

    rng.shuffle(records)
    width = len(str(len(records)))
    return [
        Record(f"d{i:0{width}d}", r.text, r.cluster, r.noise, r.hard_negative)
        for i, r in enumerate(records)
    ]


def write_corpus(records: Sequence[Record], out: Path, manifest: dict[str, Any]) -> None:
    """corpus.jsonl, gold.jsonl and manifest.json in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with (
        (out / "corpus.jsonl").open("w", encoding="utf-8") as fc,
        (out / "gold.jsonl").open("w", encoding="utf-8") as fg,
    ):
        for r in records:
            fc.write(json.dumps({"id": r.id, "text": r.text}, ensure_ascii=False) + "\n")
            fg.write(json.dumps(r.gold(), ensure_ascii=False) + "\n")
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def default_cache() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dedup-bench"


def main(argv: Sequence[str] | None = None) -> int:
    d = CorpusConfig()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--n-bases", type=int, default=d.n_bases, help="articles with duplicates")
    ap.add_argument("--n-singletons", type=int, default=d.n_singletons)
    ap.add_argument("--versions", type=int, default=d.versions, help="single-noise versions")
    ap.add_argument("--combined", type=int, default=d.combined, help="multi-noise versions")
    ap.add_argument("--boilerplate-groups", type=int, default=d.boilerplate_groups)
    ap.add_argument("--topic-groups", type=int, default=d.topic_groups)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--cache", type=Path, default=None, help="where sources are kept")
    ap.add_argument("--articles", type=Path, default=None, help="JSONL of base articles")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    cfg = CorpusConfig(
        n_bases=args.n_bases,
        n_singletons=args.n_singletons,
        versions=args.versions,
        combined=args.combined,
        boilerplate_groups=args.boilerplate_groups,
        topic_groups=args.topic_groups,
        seed=args.seed,
    )
    t0 = time.perf_counter()
    try:
        if args.articles is not None:
            articles = read_articles(args.articles)
            sources = [str(args.articles.name)]
        else:
            articles = fetch_debian_articles(args.cache or default_cache(), log)
            sources = [pkg for pkg, _ in SOURCES]
        records = build_corpus(articles, cfg)
    except CorpusError as e:
        log(f"error: {e}")
        return 1
    clusters = {r.cluster for r in records}
    manifest = {
        "config": asdict(cfg),
        "sources": sources,
        "articles_available": len(articles),
        "documents": len(records),
        "clusters": len(clusters),
    }
    write_corpus(records, args.out, manifest)
    log(
        f"{len(records)} documents in {len(clusters)} gold clusters from {len(articles)} "
        f"articles, written to {args.out} in {time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
