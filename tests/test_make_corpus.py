"""The benchmark corpus generator: extraction, each noise kind, and the labelled corpus."""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import json
import random
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    # bench/ is a folder of scripts, not a package: load the module from its file.
    spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "bench" / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_corpus"] = module
    spec.loader.exec_module(module)
    return module


mc = _load()

PAGE = """<html><head><title>忽略</title></head><body>
<div class="navheader"><table><tr><th>第 3 章 导航</th></tr></table></div>
<div class="toc"><p>目录</p><dl><dt>3.1. 启动过程</dt></dl></div>
<h2 class="title">3.1. 启动过程概述</h2>
<p>计算机系统在开机时
  会经历几个阶段，<code>grub</code> 是其中之一。</p>
<pre class="screen">$ sudo update-grub</pre>
<div class="para">This paragraph was never translated into Chinese at all.</div>
<h3>3.1.1. 第一阶段</h3>
<ul><li>固件初始化硬件。</li><li>引导加载程序读取配置&amp;内核。</li></ul>
<ul class="docnav"><li>上一页</li></ul>
</body></html>"""


def seed_articles() -> list:
    """Articles cut from the repository's seed texts (real Chinese articles)."""
    sections = []
    for path in sorted((ROOT / "seeds").glob("00[1-4]_*.txt")):
        paras = [p.strip() for p in path.read_text(encoding="utf-8").splitlines() if p.strip()]
        for i in range(0, len(paras), 4):
            sections.append((f"{path.stem} 第{i // 4 + 1}节", paras[i : i + 4]))
    return mc.distinct(mc.articles_from_sections(sections, "seeds"))


ARTICLES = seed_articles()
SMALL = mc.CorpusConfig(
    n_bases=4,
    n_singletons=2,
    versions=3,
    combined=2,
    boilerplate_groups=1,
    boilerplate_size=2,
    topic_groups=1,
    seed=7,
)


def test_html_sections_skip_navigation_and_code() -> None:
    sections = mc.html_sections(PAGE)
    titles = [t for t, _ in sections]
    assert titles == ["3.1. 启动过程概述", "3.1.1. 第一阶段"]
    first = sections[0][1]
    # The source line wrap between CJK characters is not a space; code text stays inline.
    assert first[0] == "计算机系统在开机时会经历几个阶段，grub 是其中之一。"
    assert all("sudo" not in p and "目录" not in p for _, ps in sections for p in ps)
    assert sections[1][1] == ["固件初始化硬件。", "引导加载程序读取配置&内核。"]


def test_articles_join_short_sections_and_drop_english() -> None:
    para = "这是一个用于测试的中文段落，内容足够长以便组成文章。" * 3
    sections = [(f"第{i}节", [para, "An English paragraph that stays out."]) for i in range(12)]
    arts = list(mc.articles_from_sections(sections, "t"))
    assert arts
    for a in arts:
        assert mc.MIN_CHARS <= len(a.text) <= mc.MAX_CHARS
        assert "English" not in a.text
        assert a.text.split("\n", 1)[0] == a.title


def test_distinct_drops_near_copies() -> None:
    a = mc.Article("s", "t1", "甲" + "".join(chr(0x4E00 + i) for i in range(600)))
    b = mc.Article("s", "t2", a.text[:550] + "乙丙丁")
    c = mc.Article("s", "t3", "".join(chr(0x5E00 + i) for i in range(600)))
    assert mc.distinct([a, b, c]) == [a, c]


def ctx(seed: int = 1) -> object:
    return mc.NoiseContext(
        rng=random.Random(seed), charpool="的一是在不了有和人这", titles=["标题"]
    )


TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü"
TEXT = (
    "软件包管理\n"
    "“默认”情况下，系统会从网络下载软件，并检查文件的签名。用户可以修改配置文件ABC 123。\n"
    "第二段说明如何发布新的版本，以及维护人员应该注意的事项，包括测试和上传。\n"
    "第三段介绍常见问题，例如依赖关系无法满足时应该如何处理，以及如何报告错误。"
)


@pytest.mark.parametrize("kind", mc.NOISE_KINDS)
def test_every_noise_kind_changes_the_text_deterministically(kind: str) -> None:
    a = mc.apply_noise(TEXT, [kind], ctx(3))
    b = mc.apply_noise(TEXT, [kind], ctx(3))
    assert a == b
    assert a != TEXT


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("s2t", lambda t: "發" in t and "軟件" in t),
        ("s2twp", lambda t: "軟體" in t and "預設" in t),  # vocabulary, not only characters
        ("s2hk", lambda t: "發" in t),
        (
            "pinyin",
            lambda t: re.search(r"[\u4e00-\u9fff][(（][a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+[)）]", t),
        ),
        ("punct", lambda t: not re.search("[，。“”]", t) and "'" in t),
        ("linebreaks", lambda t: t.count("\n") > TEXT.count("\n") + 3),
        ("chrome", lambda t: "版权所有" in t and TEXT in t),
        ("html", lambda t: re.search(r"<[a-z]+[ >]|&[a-z]+;", t)),
        ("shuffle_paragraphs", lambda t: sorted(t.split("\n")) == sorted(TEXT.split("\n"))),
    ],
)
def test_noise_kind_does_what_it_says(kind: str, check: object) -> None:
    out = mc.apply_noise(TEXT, [kind], ctx())
    assert check(out), out  # type: ignore[operator]


def test_junk_lines_are_short_ascii_fragments() -> None:
    out = mc.apply_noise(TEXT, ["junk"], ctx())
    added = set(out.split("\n")) - set(TEXT.split("\n"))
    frags = [f for line in added for f in line.split() if f.isascii()]
    assert frags and all(1 <= len(f) <= 2 for f in frags)


def test_truncate_keeps_40_to_70_percent() -> None:
    for seed in range(20):
        out = mc.apply_noise(TEXT, ["truncate"], ctx(seed))
        assert TEXT.startswith(out)
        assert 0.39 <= len(out) / len(TEXT) <= 0.71


def test_typos_replace_a_few_characters_in_place() -> None:
    long_text = TEXT * 20
    out = mc.apply_noise(long_text, ["typos"], ctx())
    assert len(out) == len(long_text)
    changed = sum(a != b for a, b in zip(out, long_text, strict=True))
    cjk = len(re.findall("[\u4e00-\u9fff]", long_text))
    assert 0.005 * cjk <= changed <= 0.06 * cjk


def test_width_changes_only_character_width() -> None:
    def fold(t: str) -> str:
        return unicodedata.normalize("NFKC", t).translate(str.maketrans("，。、；：", ",.,;:"))

    outs = {mc.apply_noise(TEXT, ["width"], ctx(seed)) for seed in range(8)}
    assert len(outs) == 2  # to half width, or to full width
    for out in outs:
        assert out != TEXT and fold(out) == fold(TEXT)


@pytest.mark.parametrize("seed", range(5))
def test_mojibake_garbles_only_a_little(seed: int) -> None:
    long_text = ARTICLES[0].text
    out = mc.apply_noise(long_text, ["mojibake"], ctx(seed))
    assert out != long_text
    assert difflib.SequenceMatcher(None, out, long_text, autojunk=False).ratio() > 0.85


def test_build_corpus_is_deterministic_and_labelled() -> None:
    assert len(ARTICLES) >= SMALL.n_bases + SMALL.n_singletons
    a = mc.build_corpus(ARTICLES, SMALL)
    b = mc.build_corpus(ARTICLES, SMALL)
    assert a == b
    assert a != mc.build_corpus(ARTICLES, dataclasses.replace(SMALL, seed=8))

    ids = [r.id for r in a]
    assert len(set(ids)) == len(ids)
    sizes = Counter(r.cluster for r in a)
    full = [c for c, n in sizes.items() if n >= 1 + SMALL.versions + SMALL.combined]
    assert len(full) == SMALL.n_bases
    for c in full:  # each duplicated article keeps a clean version
        assert any(r.cluster == c and not r.noise for r in a)
    assert len(sizes) == SMALL.n_bases + SMALL.n_singletons
    single = Counter(
        r.noise[0]
        for r in a
        if r.cluster in full and len(r.noise) == 1 and r.noise[0] in mc.NOISE_KINDS
    )
    # Kinds are dealt like cards: none repeats before every kind has been used.
    assert max(single.values()) == 1
    assert len(single) == SMALL.n_bases * SMALL.versions
    assert any(len(r.noise) > 1 for r in a)


def test_hard_negatives_span_different_clusters() -> None:
    recs = mc.build_corpus(ARTICLES, SMALL)
    groups: dict[str, set[str]] = {}
    for r in recs:
        if r.hard_negative is not None:
            groups.setdefault(r.hard_negative, set()).add(r.cluster)
    assert {g.split("-")[0] for g in groups} == {"topic", "site"}
    assert all(len(clusters) >= 2 for clusters in groups.values())
    site = [r for r in recs if r.hard_negative == "site-0"]
    # Same long header and footer around different articles.
    assert len({r.text.split("\n", 1)[0] for r in site}) == 1
    assert len({r.text.rsplit("\n", 1)[-1] for r in site}) == 1


def test_main_writes_corpus_gold_and_manifest(tmp_path: Path) -> None:
    src = tmp_path / "articles.jsonl"
    src.write_text(
        "".join(json.dumps({"text": a.text}, ensure_ascii=False) + "\n" for a in ARTICLES),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    argv = ["--out", str(out), "--articles", str(src), "--n-bases", "3", "--n-singletons", "2"]
    assert mc.main([*argv, "--versions", "2", "--seed", "1"]) == 0
    corpus = [json.loads(x) for x in (out / "corpus.jsonl").read_text("utf-8").splitlines()]
    gold = [json.loads(x) for x in (out / "gold.jsonl").read_text("utf-8").splitlines()]
    assert [c["id"] for c in corpus] == [g["id"] for g in gold]
    assert set(corpus[0]) == {"id", "text"}
    assert all(set(g) <= {"id", "cluster", "noise", "hard_negative"} for g in gold)
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["documents"] == len(corpus)


def test_too_few_articles_is_an_error() -> None:
    with pytest.raises(mc.CorpusError, match="needed"):
        mc.build_corpus(ARTICLES[:2], SMALL)
