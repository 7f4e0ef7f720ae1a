"""The crawl-like benchmark corpus: determinism, splits, gold labels, junk and hard negatives.

Built from the repository's seed texts (`--sources seeds`), so no network is needed.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dedup.evaluate import read_gold

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    # bench/ is a folder of scripts, not a package: load the module from its file.
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(
        "crawl_corpus", ROOT / "bench" / "crawl_corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["crawl_corpus"] = module
    spec.loader.exec_module(module)
    return module


cc = _load()
N = 400
ARGS = ["--sources", "seeds", "--n", str(N), "--record-share", "0.1", "--junk-share", "0.06"]
CJK = re.compile(r"[\u3400-\u9fff]")


def _generate(out: Path, *extra: str) -> dict[str, bytes]:
    assert cc.main([*ARGS, "--out", str(out), *extra]) == 0
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    base = tmp_path_factory.mktemp("crawl")
    return {
        "tune": _generate(base / "tune", "--split", "tune", "--jobs", "1"),
        "tune2": _generate(base / "tune2", "--split", "tune", "--jobs", "2"),
        "tune-seed1": _generate(base / "tune-seed1", "--split", "tune", "--seed", "1"),
        "heldout": _generate(base / "heldout", "--split", "heldout", "--jobs", "1"),
    }


def test_same_arguments_give_byte_identical_files(corpora: dict) -> None:
    assert set(corpora["tune"]) == {"corpus.jsonl", "gold.jsonl", "manifest.json"}
    assert corpora["tune"] == corpora["tune2"]  # whatever the number of processes
    assert corpora["tune"]["corpus.jsonl"] != corpora["tune-seed1"]["corpus.jsonl"]


def test_gold_covers_every_document_in_order(corpora: dict, tmp_path: Path) -> None:
    for name in ("tune", "heldout"):
        corpus = _lines(corpora[name]["corpus.jsonl"])
        gold = _lines(corpora[name]["gold.jsonl"])
        assert len(corpus) == N
        assert [d["id"] for d in corpus] == [g["id"] for g in gold]
        assert len({d["id"] for d in corpus}) == N
        assert all(set(d) == {"id", "text"} for d in corpus)
        path = tmp_path / f"{name}-gold.jsonl"
        path.write_bytes(corpora[name]["gold.jsonl"])
        assert set(read_gold(path)) == {d["id"] for d in corpus}  # dedup eval reads it


def test_splits_use_disjoint_articles_and_seeds(corpora: dict) -> None:
    articles = {}
    for name in ("tune", "heldout"):
        gold = _lines(corpora[name]["gold.jsonl"])
        articles[name] = {g["cluster"] for g in gold if g["cluster"].startswith("a-")}
        assert articles[name]
    assert not articles["tune"] & articles["heldout"]
    every = {cc.article_key(a): cc.split_of(a) for a in cc.seed_articles(ROOT / "seeds")}
    for name in ("tune", "heldout"):
        assert {every[c.removeprefix("a-")] for c in articles[name]} == {name}
    assert cc.split_seed(0, "tune") != cc.split_seed(0, "heldout")
    m_tune = json.loads(corpora["tune"]["manifest.json"])
    m_held = json.loads(corpora["heldout"]["manifest.json"])
    assert m_tune["split_seed"] != m_held["split_seed"]


def test_clusters_have_one_clean_original_and_zipf_sizes(corpora: dict) -> None:
    corpus = {d["id"]: d["text"] for d in _lines(corpora["tune"]["corpus.jsonl"])}
    gold = _lines(corpora["tune"]["gold.jsonl"])
    members = defaultdict(list)
    for g in gold:
        members[g["cluster"]].append(g)
    sizes = Counter({c: len(m) for c, m in members.items()})
    dup_share = 1 - len(sizes) / N
    assert 0.3 <= dup_share <= 0.6
    assert sizes.most_common(1)[0][1] >= 10  # heavy tail
    assert sum(n <= 3 for n in sizes.values()) > 0.8 * len(sizes)  # most are small
    for ms in members.values():
        if len(ms) < 2:
            continue
        originals = [g for g in ms if g.get("original")]
        assert len(originals) == 1 and "noise" not in originals[0]
        text = corpus[originals[0]["id"]]
        for g in ms:
            if g.get("noise") == ["exact"]:
                assert corpus[g["id"]] == text
            elif g is not originals[0]:
                assert g["noise"] and corpus[g["id"]] != text


def test_junk_pages_exist_and_are_singletons(corpora: dict) -> None:
    corpus = {d["id"]: d["text"] for d in _lines(corpora["tune"]["corpus.jsonl"])}
    gold = _lines(corpora["tune"]["gold.jsonl"])
    sizes = Counter(g["cluster"] for g in gold)
    by_kind = defaultdict(list)
    for g in gold:
        by_kind[g["kind"]].append(g)
    assert all(by_kind[k] for k in cc.JUNK_KINDS)
    for k in cc.JUNK_KINDS:
        for g in by_kind[k]:
            assert sizes[g["cluster"]] == 1 and "hard_negative" not in g
    assert all(not corpus[g["id"]].strip() for g in by_kind["empty"])
    assert all(not CJK.search(corpus[g["id"]]) for g in by_kind["noise_only"])
    # Boilerplate alone: text that also frames articles of that corpus.
    framed = [corpus[g["id"]] for g in gold if "site_frame" in g.get("noise", [])]
    assert framed
    for g in by_kind["boilerplate_only"]:
        text = corpus[g["id"]]
        assert text.strip()
        first = text.split("\n")[0]
        assert any(first in page for page in framed) or "正文" in text


def test_template_records_are_hard_negatives_of_distinct_clusters(corpora: dict) -> None:
    gold = _lines(corpora["tune"]["gold.jsonl"])
    groups = defaultdict(set)
    for g in gold:
        if g["kind"] == "record":
            assert g["hard_negative"].split("-")[0] in cc.TEMPLATE_FAMILIES
            groups[g["hard_negative"]].add(g["cluster"])
    assert {name.split("-")[0] for name in groups} == set(cc.TEMPLATE_FAMILIES)
    assert all(len(clusters) >= 2 for clusters in groups.values())


def test_one_site_frames_many_different_articles(corpora: dict) -> None:
    corpus = {d["id"]: d["text"] for d in _lines(corpora["tune"]["corpus.jsonl"])}
    gold = _lines(corpora["tune"]["gold.jsonl"])
    clusters_by_footer = defaultdict(set)
    for g in gold:
        if "site_frame" in g.get("noise", []):
            footer = corpus[g["id"]].rsplit("\n", 3)[-2:]  # copyright and licence lines
            clusters_by_footer["\n".join(footer)].add(g["cluster"])
    assert max(len(c) for c in clusters_by_footer.values()) >= 10


@pytest.fixture(scope="module")
def renderer() -> Any:
    articles = cc.seed_articles(ROOT / "seeds")
    return cc.Renderer(cc.plan_corpus(articles, cc.CrawlConfig(n=60, split="tune")))


@pytest.mark.parametrize("kind", sorted(cc.COPY_KINDS))
def test_every_copy_kind_renders(renderer: Any, kind: str) -> None:
    plan = renderer.plan
    base = max(range(len(plan.texts)), key=lambda i: len(plan.texts[i]))
    spec = cc.Spec("c", "article", base, (kind,), 0, 1, seed=5)
    out, again = renderer.render(spec), renderer.render(spec)
    assert out == again
    assert (out == plan.texts[base]) == (kind == "exact")
    if kind == "site_frame":
        assert plan.sites[0].footer in out and plan.sites[1].name in out  # home site as source


def test_template_records_differ_in_subject() -> None:
    rng = random.Random(3)
    for family, (make_group, make_record) in cc.TEMPLATES.items():
        params = make_group(rng)
        a, b = make_record(params, rng), make_record(params, rng)
        assert a != b, family
        assert a.split("\n")[-1][:2] == b.split("\n")[-1][:2]  # one template


def test_news_lines_become_articles() -> None:
    lines = [
        "[中国/ns 政府/n]nt  发布/v  新/a  规定/n",
        "本报/r  记者/n  张三/nr",
        "本报/r  北京/ns  １月/t  １日/t  讯/Ng  国务院/nt  今天/t  发布/v  了/u  关于/p  加强/v  "
        + "管理/vn  的/u  新/a  规定/n  ，/w  要求/v  各/r  地区/n  认真/ad  执行/v  。/w  " * 8,
        "（/w  新华社/nt  记者/n  摄/Vg  ）/w",
        "长江/ns  大桥/n  通车/v",
        "本报/r  武汉/ns  电/n  长江/ns  大桥/n  今天/t  正式/ad  通车/v  ，/w  全长/n  "
        + "三/m  公里/q  ，/w  历时/v  四/m  年/q  建成/v  。/w  " * 16,
    ]
    arts = cc.news_articles(lines)
    assert [a.title for a in arts] == ["中国政府发布新规定", "长江大桥通车"]
    assert arts[0].text.split("\n")[1] == "本报记者张三"
    assert "/" not in arts[0].text and "[" not in arts[0].text


def test_too_few_articles_is_an_error() -> None:
    with pytest.raises(cc.CorpusError):
        cc.plan_corpus([], cc.CrawlConfig(n=50))


def test_babbled_sentences_are_new_and_deterministic() -> None:
    # Stand-in articles beyond the real ones: sentences of the sources' word pairs, not
    # the sources' sentences (shared whole, they made text the corpus repeats).
    sentences = [
        "今天北京市的天气很好，人们都去公园散步。",
        "昨天上海市的天气不好，人们都在家里看书。",
        "明天广州市的交通很忙，人们都去车站买票。",
        "北京市政府发布了新的交通规定，市民都很关心。",
    ] * 3
    babbler = cc.Babbler.of(sentences)
    made = [babbler.sentence(random.Random(k)) for k in range(200)]
    assert made == [babbler.sentence(random.Random(k)) for k in range(200)]
    assert all(s[-1] in "。！？" for s in made)
    assert len(set(made) - set(sentences)) > 100
    text = cc.collage(random.Random(1), babbler)
    assert len(text.split("\n")) >= 3  # a title and two or more paragraphs
