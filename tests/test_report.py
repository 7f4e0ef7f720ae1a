"""The per-cluster diff report: golden Markdown, escaping, file names, bounds, streaming.

Run directories are written by the tests themselves (the OUTDIR contract files). Set
DEDUP_UPDATE_GOLDEN=1 to rewrite the golden files under tests/golden/report/ after an
intended change, and review the diff.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import dedup.report as report_mod
from dedup.chars import fold_chars
from dedup.config import ClusterConfig, Config, NormalizeConfig
from dedup.errors import ConfigError, InputError
from dedup.io.outdir import KeptLines
from dedup.normalize import normalize
from dedup.pipeline import run
from dedup.report import ReportConfig, build_report
from dedup.report.diff import align, diff_texts, noise_spans, split_paragraphs
from dedup.report.render import md_code, md_fence, page_name
from dedup.report.select import first_line, member_infos, shows_mojibake
from dedup.shingle import shingles

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOLDEN = Path(__file__).resolve().parent / "golden" / "report"


# --- fixtures: run directories ---------------------------------------------------------------


# The config a run writes into summary.json, spelled out so that golden files do not change
# with the defaults.
RUN_CONFIG: dict[str, Any] = {
    "read": {"id_field": "id", "text_field": "text", "on_error": "raise"},
    "normalize": {
        "t2s": True,
        "fold_width": True,
        "casefold": True,
        "strip_pinyin": True,
        "strip_mojibake": True,
        "strip_junk": True,
        "strip_html": True,
    },
    "shingle": {"ngram": 5},
    "signature": {"num_perm": 128, "seed": 1},
    "lsh": {"threshold": 0.3, "bands": None, "rows": None, "max_bucket": 64},
    "verify": {"threshold": 0.7, "containment": 0.8},
    "cluster": {"representative": "longest"},
    "jobs": 0,
    "batch_size": 256,
}


def similarity(member: str, rep_shingles: np.ndarray) -> tuple[float, float]:
    """Jaccard and containment of `member` in the representative, as a run computes them."""
    a, b = shingles(normalize(member)), rep_shingles
    inter = np.intersect1d(a, b).size
    return round(inter / np.union1d(a, b).size, 6), round(inter / a.size, 6)


def write_run(
    outdir: Path,
    docs: dict[str, str],
    clusters: list[tuple[str, list[str]]],
    *,
    id_field: str = "id",
    text_field: str = "text",
    summary_extra: dict[str, Any] | None = None,
    figures: dict[str, tuple[float, float]] | None = None,
) -> Path:
    """Write the OUTDIR contract files for `docs` grouped into `clusters` (rep, members), with
    each member's (Jaccard, containment) from `figures` or computed as a run does."""
    outdir.mkdir(parents=True, exist_ok=True)
    removed: dict[str, tuple[str, int]] = {}
    lines = []
    for number, (rep, members) in enumerate(clusters):
        ms = [{"id": rep, "jaccard": 1.0, "containment": 1.0}]
        rep_shingles = shingles(normalize(docs[rep]))
        for m in members:
            if figures and m in figures:
                jac, con = figures[m]
            else:
                jac, con = similarity(docs[m], rep_shingles)
            ms.append({"id": m, "jaccard": jac, "containment": con})
            removed[m] = (rep, number)
        lines.append({"cluster": number, "representative": rep, "members": ms})

    def dump(objs: Any) -> str:
        return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)

    (outdir / "clusters.jsonl").write_text(dump(lines), "utf-8")
    (outdir / "kept.jsonl").write_text(
        dump({id_field: k, text_field: t} for k, t in docs.items() if k not in removed), "utf-8"
    )
    (outdir / "removed.jsonl").write_text(
        dump(
            {id_field: k, text_field: t, "duplicate_of": removed[k][0], "cluster": removed[k][1]}
            for k, t in docs.items()
            if k in removed
        ),
        "utf-8",
    )
    config = json.loads(json.dumps(RUN_CONFIG))
    config["read"].update(id_field=id_field, text_field=text_field)
    summary = {
        "documents": {
            "read": len(docs),
            "kept": len(docs) - len(removed),
            "removed": len(removed),
            "skipped": 0,
        },
        "clusters": len(clusters),
        "skipped": [],
        "config": config,
        "version": "0.1.0",
        "timings": {"read": 0.25, "verify": 0.5},
        "lsh": {"bands": 32, "rows": 4},
        **(summary_extra or {}),
    }
    (outdir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False), "utf-8")
    (outdir / "errors.jsonl").write_text("", "utf-8")
    return outdir


def seed_docs() -> dict[str, str]:
    return {p.stem: p.read_text("utf-8") for p in sorted(SEEDS.glob("*.txt"))}


def write_seeds_run(outdir: Path) -> Path:
    """The seeds as a run finds them: 001 (the longest) represents 000; 002-004 are kept."""
    docs = seed_docs()
    ids = sorted(docs)
    return write_run(outdir, docs, [(ids[1], [ids[0]])], figures={ids[0]: (0.668018, 0.964875)})


SMALL_REP = (
    "标题：城市公园改造完成\n\n"
    "今年春天，市政府完成了中心公园的改造工程，新增了步道和座椅。\n\n"
    "附近居民表示，改造后的公园环境更好，周末来散步的人明显增多。\n\n"
    "工程负责人介绍，下一步将继续完善照明和无障碍设施。"
)
SMALL_MEMBER = (
    "附近居民表示，改造後的公園環境更好，週末來散步的人明顯增多。\n"
    "今年春天，市政府完成了中心公園(yuán)的改造工程，新增了步道和長椅。\n"
    "本文来源：网络"
)


def write_small_run(outdir: Path) -> Path:
    """A handmade cluster: reordered paragraphs, traditional characters, pinyin, one changed
    word, a paragraph only in the member and one only in the representative."""
    docs = {"a-rep": SMALL_REP, "b-member": SMALL_MEMBER, "c-other": "一篇完全不同的文章。"}
    return write_run(outdir, docs, [("a-rep", ["b-member"])], figures={"b-member": (0.463, 0.786)})


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- golden files ----------------------------------------------------------------------------


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DEDUP_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"missing golden file {name}; run with DEDUP_UPDATE_GOLDEN=1"
    assert actual == path.read_text("utf-8"), f"{name} differs; DEDUP_UPDATE_GOLDEN=1 rewrites it"


@pytest.fixture(scope="module")
def seeds_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = write_seeds_run(tmp_path_factory.mktemp("seeds"))
    build_report(out)
    return out / "report"


def test_golden_seeds_markdown(seeds_report: Path) -> None:
    check_golden("seeds_index.md", (seeds_report / "index.md").read_text("utf-8"))
    check_golden("seeds_cluster.md", (seeds_report / "clusters" / "000000.md").read_text("utf-8"))


def test_golden_small_markdown(tmp_path: Path) -> None:
    out = write_small_run(tmp_path)
    build_report(out)
    check_golden("small_cluster.md", (out / "report/clusters/000000.md").read_text("utf-8"))


def test_seeds_report_content(seeds_report: Path) -> None:
    page = (seeds_report / "clusters" / "000000.html").read_text("utf-8")
    md = (seeds_report / "clusters" / "000000.md").read_text("utf-8")
    # Figures of the cluster and the noise removed from 000.
    assert "Jaccard <strong>0.668</strong>, containment <strong>0.965</strong>" in page
    assert "645 characters converted from traditional, 300 pinyin annotations" in page
    # A section of 001 that 000 lacks is shown as such.
    assert "2022年11月，第6届中国—南亚博览会" in page
    assert re.search(r"### Block \d+: ¶ [\d–, ]+ only in the representative", md)
    # Folding: traditional against simplified is no difference, the real edit is one.
    assert "赢[-得-]{+來+}" in md  # 贏 is 赢: only the second character is an edit
    assert "{+會議+}" not in md and "[-会议-]" not in md
    # Original and normalized text can be viewed without JavaScript.
    assert page.count("<details>") >= 4
    index = (seeds_report / "index.html").read_text("utf-8")
    assert 'href="clusters/000000.html"' in index
    assert "<svg" in index and "http://" not in index.replace('xmlns="http://www.w3.org', "")


def test_small_alignment(tmp_path: Path) -> None:
    blocks = diff_texts(SMALL_REP, SMALL_MEMBER)
    kinds = [(b.kind, b.rep_paragraphs, b.member_paragraphs) for b in blocks]
    assert kinds == [
        ("rep_only", (0,), ()),
        ("aligned", (1,), (1,)),
        ("member_only", (), (2,)),
        ("aligned", (2,), (0,)),
        ("rep_only", (3,), ()),
    ]
    changed = blocks[1]
    assert [p.text for p in changed.rep_pieces if p.kind == "delete"] == [
        "座"
    ]  # 椅 is in both: characters are compared
    assert [p.text for p in changed.member_pieces if p.kind == "insert"] == ["長"]
    assert [p.text for p in changed.member_pieces if p.kind == "noise"] == ["(yuán)"]
    assert blocks[3].granularity == "same"  # traditional vs simplified only


# --- diff and alignment units ----------------------------------------------------------------


def test_align_follows_reordering() -> None:
    a, b, c = frozenset(range(0, 20)), frozenset(range(100, 120)), frozenset(range(200, 220))
    assert align([a, b, c], [c, a, b]) == [((0,), (1,)), ((1,), (2,)), ((2,), (0,))]


def test_align_joins_split_paragraph_but_not_quoted_heading() -> None:
    whole = frozenset(range(0, 60))
    part1, part2 = frozenset(range(0, 15)), frozenset(range(15, 60))
    heading = frozenset(range(30, 40))  # quoted inside `whole`, not next to a fragment of it
    other = frozenset(range(500, 540))
    groups = align([heading, other, part1, part2], [other, whole])
    assert groups == [((0,), ()), ((1,), (0,)), ((2, 3), (1,))]


def test_split_paragraphs() -> None:
    assert split_paragraphs("a\nb\n\nc") == ["a\nb", "c"]
    assert split_paragraphs("a\nb\n  \nc") == ["a\nb", "c"]
    assert split_paragraphs("a\n\n\nb\n") == ["a", "b"]
    assert split_paragraphs("x\ny") == ["x", "y"]
    long = "这是一个句子。" * 400
    parts = split_paragraphs(long)
    assert "".join(parts) == long and all(len(p) <= 1000 for p in parts)
    assert all(p.endswith("。") for p in parts)


def test_word_diff_highlights_one_word() -> None:
    (block,) = diff_texts("今天天气很好，我们去公园散步。", "今天天氣很好，我們去學校散步。")
    assert block.kind == "aligned"
    assert [p.text for p in block.rep_pieces if p.kind == "delete"] == ["公园"]
    assert [p.text for p in block.member_pieces if p.kind == "insert"] == ["學校"]
    assert "".join(p.text for p in block.unified_pieces) == "今天天气很好，我们去公园學校散步。"


def test_pinyin_inside_a_word_is_noise_not_a_change() -> None:
    (block,) = diff_texts("会议经验", "會(huì)議經(jīng)驗")
    assert block.granularity == "same"
    assert [p.text for p in block.member_pieces if p.kind == "noise"] == ["(huì)", "(jīng)"]


def test_noise_spans_are_the_normalizer_passes() -> None:
    text = "办公<br/>厅發(fā)展&nbsp;工作?yōu)很好 ) x- F6 b+ P5 t/ W7 q! N# {"
    junk = ") x- F6 b+ P5 t/ W7 q! N# {"

    def found(cfg: NormalizeConfig) -> list[str]:
        return [text[s:e] for s, e in noise_spans(fold_chars(text, cfg), cfg)]

    assert found(NormalizeConfig()) == ["<br/>", "(fā)", "&nbsp;", "?yōu)", junk]
    assert found(NormalizeConfig(strip_html=False, strip_junk=False)) == ["(fā)", "?yōu)"]
    # Toneless pinyin too (only after an ideograph, only a valid syllable).
    assert noise_spans(fold_chars("我的(de)书")) == [(2, 6)]
    assert noise_spans(fold_chars("我的(xyz)书 a(de)")) == []


@settings(max_examples=60, deadline=None)
@given(
    st.text(alphabet="天气很好我们公園發展(fā)?\n ，。ab<>&\"'", max_size=80),
    st.text(alphabet="天气很好我们公园發展(fā)?\n ，。ab<>&\"'", max_size=80),
)
def test_pieces_cover_both_texts(rep: str, member: str) -> None:
    for b in diff_texts(rep, member):
        assert "".join(p.text for p in b.rep_pieces) == b.rep_text
        assert "".join(p.text for p in b.member_pieces) == b.member_text
        for tag, a1, a2, b1, b2 in b.opcodes:
            assert 0 <= a1 <= a2 <= len(b.rep_text) and 0 <= b1 <= b2 <= len(b.member_text)
            if tag == "equal":
                assert normalize(b.rep_text[a1:a2]) == normalize(b.member_text[b1:b2])


# --- escaping and file names -----------------------------------------------------------------

EVIL_TEXT = (
    '<script>alert("x")</script>\n\n"><img src=x onerror=alert(1)>\n\n'
    "&lt;b&gt; ```` | [link](javascript:alert(1)) 正文内容相同的一段话，用来对齐。"
)
EVIL_IDS = [
    '"><img src=x onerror=alert(2)>',
    "../../x",
    "<script>alert(3)</script>",
    "Doc",
    "doc",
    'a/b\\c:d*e?f"g<h>i|j\x00k\nl',
    "x" * 5000,
]

_ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "script", "body", "nav", "a", "main", "h1", "h2",
    "p", "code", "section", "table", "thead", "tbody", "tr", "th", "td", "del", "ins", "span",
    "details", "summary", "pre", "br", "strong", "colgroup", "col", "footer", "ul", "li",
    "figure", "figcaption", "div", "svg", "line", "rect", "text",
    "button", "kbd", "form", "label", "input", "select", "option",
}  # fmt: skip


class _TagCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            self.bad.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.bad.append(f"{tag}[{name}]")
        scripts = ("report.js", "../report.js", "index-data.js")
        if tag == "script" and dict(attrs).get("src") not in scripts:
            self.bad.append("inline script")


def _outside_code(md: str) -> str:
    """The Markdown text that a renderer would interpret (code blocks and spans removed)."""
    out, fence = [], None
    for line in md.split("\n"):
        m = re.match(r"^(`{3,})", line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and line.startswith(fence) and not line.strip("`"):
            fence = None
        elif fence is None:
            out.append(re.sub(r"(`+)(.+?)\1", "", line))
    return "\n".join(out)


@pytest.fixture(scope="module")
def evil_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = {
        i: EVIL_TEXT + f"\n\n<b onmouseover=x>[第{k}版](javascript:alert({k}))</b>"
        for k, i in enumerate(EVIL_IDS)
    }
    out = tmp_path_factory.mktemp("evil")
    write_run(out, docs, [(EVIL_IDS[0], EVIL_IDS[1:4]), (EVIL_IDS[4], EVIL_IDS[5:])])
    build_report(out)
    return out


def test_document_content_is_escaped(evil_report: Path) -> None:
    pages = sorted((evil_report / "report").rglob("*.html"))
    assert len(pages) == 3
    for page in pages:
        text = page.read_text("utf-8")
        check = _TagCheck()
        check.feed(text)
        assert check.bad == [], page.name
        assert "<img" not in text and "<script>alert" not in text and "<b " not in text
        # Nothing is loaded from the network (the SVG namespace is a name, not a request).
        assert (
            re.findall(r"https?://", text.replace('xmlns="http://www.w3.org/2000/svg"', "")) == []
        )
    cluster = (evil_report / "report/clusters/000000.html").read_text("utf-8")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in cluster
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in cluster
    assert "&amp;lt;b&amp;gt;" in cluster  # an entity in a document stays text


def test_markdown_keeps_document_content_in_code(evil_report: Path) -> None:
    for page in sorted((evil_report / "report").rglob("*.md")):
        text = page.read_text("utf-8")
        outside = _outside_code(text)
        assert "<script" not in outside and "<img" not in outside, page.name
        assert "javascript:" not in outside
    md = (evil_report / "report/clusters/000000.md").read_text("utf-8")
    # Shown as text inside a fenced block (the tag is HTML noise, left out of the diff).
    assert "[第[-0-]{+3+}版](javascript:alert([-0-]{+3+}))" in md


def test_md_code_and_fence_cannot_be_closed_from_inside() -> None:
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"
    assert md_code("a|b\nc", table=True) == "`a\\|b c`"
    assert md_fence("x\n```\ny").startswith("````text\n")


def test_file_names_come_from_cluster_numbers(evil_report: Path) -> None:
    files = set(tree(evil_report / "report"))
    assert files == {
        "index.html",
        "index.md",
        "style.css",
        "report.js",
        "index-data.js",
        "clusters/000000.html",
        "clusters/000000.md",
        "clusters/000001.html",
        "clusters/000001.md",
    }
    outside = {p.name for p in evil_report.iterdir()}
    assert outside == {
        ".dedup-manifest.json",
        "clusters.jsonl",
        "kept.jsonl",
        "removed.jsonl",
        "summary.json",
        "errors.jsonl",
        "report",
    }
    assert page_name(17) == "000017" and page_name(1234567) == "1234567"


def test_ids_shown_as_text_cut_when_long(evil_report: Path) -> None:
    page = (evil_report / "report/clusters/000001.html").read_text("utf-8")
    assert "x" * 200 + "… (5,000 characters)" in page and "x" * 201 not in page
    assert ">Doc<" in (evil_report / "report/clusters/000000.html").read_text("utf-8")
    assert ">doc<" in page
    assert "\x00" not in page


# --- bounds and streaming --------------------------------------------------------------------


def test_big_cluster_and_big_document_give_bounded_pages(tmp_path: Path) -> None:
    base = seed_docs()["001_096293c0fedcb6b3"]
    huge = base * (10_000_000 // len(base) + 1)  # a 10 MB-class document
    docs = {"rep": huge}
    for k in range(5000):
        docs[f"m{k:05d}"] = base[: 1000 + k % 500] + f"\n\n编号{k}"
    members = [k for k in docs if k != "rep"]
    out = write_run(tmp_path, docs, [("rep", members)])
    cfg = ReportConfig(max_members=5, max_listed=100, max_chars=5000)
    build_report(out, cfg)
    html_page = (out / "report/clusters/000000.html").read_text("utf-8")
    md_page = (out / "report/clusters/000000.md").read_text("utf-8")
    assert len(html_page.encode()) < 600_000
    assert len(md_page.encode()) < 300_000
    assert html_page.count('<section class="member"') == 5
    assert "5 of the 5,000 other members are compared" in html_page
    assert "--max-members" in html_page and "--max-listed" in html_page
    assert f"first 5,000 of {len(huge):,} characters of the representative" in html_page
    assert "The list shows 100 of 5,001 members" in md_page
    # Members without a diff are listed with their figures and length, not as missing.
    assert html_page.count("not diffed") >= 90 and "text not found" not in html_page
    assert f'data-v="{len(docs["m00042"])}"' in html_page
    # Defaults are bounded too.
    build_report(out)
    assert (out / "report/clusters/000000.html").stat().st_size < 5_000_000


def test_index_is_capped(tmp_path: Path) -> None:
    docs = {f"d{k:03d}": f"第{k}篇文章的内容。" * 3 for k in range(40)}
    clusters = [(f"d{2 * k:03d}", [f"d{2 * k + 1:03d}"]) for k in range(20)]
    out = write_run(tmp_path, docs, clusters)
    build_report(out, ReportConfig(max_index_rows=5))
    index = (out / "report/index.html").read_text("utf-8")
    assert index.count('<a href="clusters/') == 5
    assert "20 of the 20 clusters have pages" in index
    assert "The table lists the first 5" in index
    assert len(list((out / "report/clusters").glob("*.html"))) == 20
    # Every cluster is in the search data, whatever the table lists.
    data = _index_data(out)
    assert sorted(r[0] for r in data["rows"]) == list(range(20))


def test_only_shown_member_texts_are_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = {f"d{k}": "相同的内容出现在每一篇文章里。" + "重复" * k for k in range(30)}
    out = write_run(tmp_path, docs, [("d29", [f"d{k}" for k in range(10, 29)])])
    seen: list[str] = []
    real = report_mod.doc_text

    def spy(doc_id: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(doc_id)
        return real(doc_id, *args, **kwargs)

    monkeypatch.setattr(report_mod, "doc_text", spy)
    build_report(out, ReportConfig(max_members=3))
    assert sorted(seen) == ["d10", "d11", "d12", "d29"]  # the least similar three + the rep


def test_report_is_deterministic_across_processes(tmp_path: Path) -> None:
    out = write_small_run(tmp_path / "run")
    code = "import sys; from dedup.report import build_report; build_report(sys.argv[1])"
    trees = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env)
        trees.append(tree(out / "report"))
    assert trees[0] == trees[1]


def test_rebuild_replaces_stale_pages(tmp_path: Path) -> None:
    docs = {f"d{k}": f"第{k}篇。" + "内容相同的段落。" * 5 for k in range(4)}
    out = write_run(tmp_path, docs, [("d0", ["d1"]), ("d2", ["d3"])])
    build_report(out)
    assert (out / "report/clusters/000001.html").exists()
    write_run(out, docs, [("d0", ["d1"])])
    (out / "kept.jsonl").write_text("", "utf-8")
    build_report(out)
    assert sorted(p.name for p in (out / "report/clusters").iterdir()) == [
        "000000.html",
        "000000.md",
    ]
    assert not (out / ".report.tmp").exists() and not (out / ".report.old").exists()
    assert "The text of the representative was not found" in (
        out / "report/clusters/000000.html"
    ).read_text("utf-8")


def test_field_names_and_integer_ids_from_summary(tmp_path: Path) -> None:
    out = write_run(
        tmp_path,
        {"7": SMALL_REP, "8": SMALL_MEMBER},
        [("7", ["8"])],
        id_field="doc_id",
        text_field="content",
    )
    for name in ("kept.jsonl", "removed.jsonl"):
        path = out / name
        lines = [json.loads(x) for x in path.read_text("utf-8").splitlines()]
        path.write_text(
            "".join(json.dumps({**r, "doc_id": int(r["doc_id"])}) + "\n" for r in lines)
        )
    build_report(out)
    page = (out / "report/clusters/000000.html").read_text("utf-8")
    assert '<section class="member" id="member-1">' in page
    assert '<ins class="ins">長</ins>椅' in page


def test_no_clusters(tmp_path: Path) -> None:
    out = write_run(tmp_path, {"a": "一", "b": "二"}, [])
    index = build_report(out)
    assert "No clusters" in index.read_text("utf-8")
    assert list((out / "report/clusters").iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("clusters.jsonl", '{"cluster": 0, "representative": "a"', "line 1: not valid JSON"),
        ("clusters.jsonl", '{"cluster": -1, "representative": "a", "members": []}', "line 1"),
        ("clusters.jsonl", '{"cluster": true, "representative": "a", "members": []}', "integer"),
        ("summary.json", "[]", "JSON object"),
    ],
)
def test_malformed_inputs_raise_input_error(
    tmp_path: Path, name: str, content: str, reason: str
) -> None:
    out = write_small_run(tmp_path)
    (out / name).write_text(content + "\n", "utf-8")
    with pytest.raises(InputError, match=reason):
        build_report(out)


def test_missing_file_raises_input_error(tmp_path: Path) -> None:
    out = write_small_run(tmp_path)
    (out / "removed.jsonl").unlink()
    with pytest.raises(InputError, match="removed.jsonl"):
        build_report(out)


@pytest.mark.parametrize("field", ["max_members", "max_chars", "max_listed", "max_index_rows"])
def test_report_config_rejects_bad_limits(field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ReportConfig(**{field: -1})
    assert ReportConfig(max_members=0).max_members == 0


def test_bidi_overrides_in_ids_cannot_spill_over_the_page(tmp_path: Path) -> None:
    """An id holding U+202E (right-to-left override) would reverse whatever follows it on
    its line: every id is shown in a code.id element, which the style sheet isolates."""
    evil = "\u202eevil.txt"
    docs = {evil: SMALL_REP, "plain.txt": SMALL_MEMBER}
    out = write_run(tmp_path, docs, [(evil, ["plain.txt"])])
    build_report(out)
    css = (out / "report/style.css").read_text("utf-8")
    assert re.search(r"code\.id \{[^}]*unicode-bidi: isolate", css)
    for page in ("index.html", "clusters/000000.html"):
        html = (out / "report" / page).read_text("utf-8")
        shown = html.count(evil)
        assert shown and shown == html.count(f'<code class="id">{evil}</code>'), page


# --- the diff follows the normalizer ---------------------------------------------------------


def _index_data(out: Path) -> Any:
    text = (out / "report/index-data.js").read_text("utf-8")
    return json.loads(text[text.index("=") + 1 :].strip().rstrip(";"))


def _mangled_s2twp(text: str) -> str:
    """`text` as OpenCC's s2twp writes it (Taiwan characters and vocabulary), with ASCII
    punctuation, HTML entities for quotes and a toneless pinyin annotation."""
    import opencc

    tw = opencc.OpenCC("s2twp").convert(text)
    for a, b in (("，", ","), ("。", "."), ("：", ":"), ("“", "&ldquo;"), ("”", "&rdquo;")):
        tw = tw.replace(a, b)
    return tw.replace("的", "的（ｄｅ）", 1)


def _marks(blocks: Any) -> Counter[str]:
    return Counter(p.kind for b in blocks for p in (*b.rep_pieces, *b.member_pieces))


def test_s2twp_conversion_with_mangled_punctuation_shows_no_change(tmp_path: Path) -> None:
    seed = seed_docs()["001_096293c0fedcb6b3"]
    member = _mangled_s2twp(seed)
    assert member != seed and normalize(member) == normalize(seed)
    marks = _marks(diff_texts(seed, member))
    assert marks["insert"] == 0 and marks["delete"] == 0
    assert marks["variant"] > 100 and marks["noise"] > 10  # shown, muted, not hidden
    docs = {"rep": seed, "tw": member}
    out = write_run(tmp_path, docs, [("rep", ["tw"])])
    build_report(out)
    page = (out / "report/clusters/000000.html").read_text("utf-8")
    diff = page[page.index('<section class="member"') :]
    assert diff.count("<ins") == 0 and diff.count("<del") == 0
    assert diff.count('class="var"') > 100
    md = (out / "report/clusters/000000.md").read_text("utf-8")
    md = md[md.index("## Member 1") :]
    assert "[-" not in md and "{+" not in md


@pytest.mark.parametrize(
    ("rep", "member"),
    [
        ("今天，我们开会。", "今天,我们开会."),  # punctuation
        ("软件的默认设置", "軟體的預設設定"),  # regional vocabulary
        ("ＡＢＣ公司发布", "ABC公司發佈"),  # width and script
        ("我们了解情况", "我們瞭解情況"),  # phrase-level character
        ("他说“好”", "他說&ldquo;好&rdquo;"),  # entities
        ("会议的(de)内容", "会议的内容"),  # toneless pinyin
    ],
)
def test_folded_differences_are_variants_not_changes(rep: str, member: str) -> None:
    assert normalize(rep) == normalize(member)
    marks = _marks(diff_texts(rep, member))
    assert marks["insert"] == marks["delete"] == 0


def test_real_edit_next_to_folded_forms_is_still_a_change() -> None:
    blocks = diff_texts("今天，我们开会讨论预算。", "今天,我們開會討論計劃.")
    rep = "".join(p.text for p in blocks[0].rep_pieces if p.kind == "delete")
    mem = "".join(p.text for p in blocks[0].member_pieces if p.kind == "insert")
    assert rep == "预算" and mem == "計劃"
    variants = [p.text for p in blocks[0].member_pieces if p.kind == "variant"]
    assert variants == [",", "們開會討論", "."]


def test_latin_words_are_compared_word_by_word() -> None:
    blocks = diff_texts("版本 version 2.0 发布", "版本 version 3.0 发布")
    assert [p.text for p in blocks[0].member_pieces if p.kind == "insert"] == ["3"]


def test_moved_paragraph_is_marked() -> None:
    paras = [f"第{k}段的内容各不相同，讲的是第{k}件事情，篇幅也差不多长。" for k in range(6)]
    moved = paras[:1] + paras[2:5] + paras[1:2] + paras[5:]
    blocks = diff_texts("\n\n".join(paras), "\n\n".join(moved))
    assert [b.moved for b in blocks] == [False, True, False, False, False, False]
    assert all(b.granularity == "same" for b in blocks)


# --- which clusters get pages; the index's data -------------------------------------------------


def _many_clusters_run(tmp_path: Path) -> Path:
    docs: dict[str, str] = {}
    clusters: list[tuple[str, list[str]]] = []
    figures: dict[str, tuple[float, float]] = {}
    for k in range(12):
        base = f"第{k}篇文章讲的是一件与众不同的事情，内容为编号{k}。" * 3
        rep = f"r{k:02d}"
        docs[rep] = base
        members = [f"m{k:02d}-{j}" for j in range(1 + (k == 3) * 4)]
        for j, m in enumerate(members):
            # Cluster 7 is the least similar; cluster 9's member is in traditional characters.
            docs[m] = base.replace("讲", "講").replace("与众", "與眾") if k == 9 else base + str(j)
            figures[m] = (0.31 if k == 7 else 0.9, 0.95)
        clusters.append((rep, members))
    return write_run(tmp_path, docs, clusters, figures=figures)


def _reported_run(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """`_many_clusters_run` with a report of 5 pages: the OUTDIR and its report's files."""
    out = _many_clusters_run(tmp_path)
    build_report(out, ReportConfig(clusters=5))
    return out, tree(out / "report")


def test_pages_go_to_the_largest_least_similar_and_noisiest(tmp_path: Path) -> None:
    out = _many_clusters_run(tmp_path)
    build_report(out, ReportConfig(clusters=3))
    pages = sorted(p.stem for p in (out / "report/clusters").glob("*.html"))
    assert pages == ["000003", "000007", "000009"]
    data = _index_data(out)
    fields = data["fields"]
    rows = {r[0]: dict(zip(fields, r, strict=True)) for r in data["rows"]}
    assert len(rows) == 12 and sum(r["page"] for r in rows.values()) == 3
    assert rows[3]["size"] == 6 and rows[7]["min_jaccard"] == 0.31
    kinds = data["noise_kinds"]

    def noise(number: int) -> list[str]:
        return [kinds[b] for b in range(len(kinds)) if rows[number]["noise"] >> b & 1]

    assert "characters converted from traditional" in noise(9)
    assert "characters converted from traditional" not in noise(0)
    assert rows[0]["snippet"].startswith("第0篇文章") and rows[0]["members"] == ["r00", "m00-0"]
    # The first row is the largest cluster; the index table links the pages only.
    assert data["rows"][0][0] == 3
    index = (out / "report/index.html").read_text("utf-8")
    assert index.count('<a href="clusters/') == 3 and "3 of the 12 clusters" in index
    # No page at all: the index still lists every cluster.
    build_report(out, ReportConfig(clusters=0))
    assert not list((out / "report/clusters").glob("*.html"))
    assert len(_index_data(out)["rows"]) == 12


def test_report_is_identical_whatever_jobs(tmp_path: Path) -> None:
    out = _many_clusters_run(tmp_path)
    calls: list[tuple[int, int]] = []
    build_report(out, jobs=1, progress=lambda done, total: calls.append((done, total)))
    one = tree(out / "report")
    build_report(out, jobs=2)
    assert tree(out / "report") == one
    assert calls[0] == (0, 12) and calls[-1] == (12, 12)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from([" ", " " * 250, "\n", "\r\n", "\u3000", "\x0b", "字", "ab ", "中" * 97]),
        max_size=40,
    )
)
@example([" " * 250, "\n"] + ["中" * 97])  # the first 256 characters end 5 into the line
@example([" " * 250] * 3 + ["\n"] * 245 + ["中" * 97])  # the head ends 5 characters into it
def test_members_first_line_is_the_texts_whatever_its_length(pieces: list[str]) -> None:
    # The first line is looked for in the head first (texts far longer than it are common).
    text = "".join(pieces)
    assert member_infos([("d", text)], NormalizeConfig())["d"].first_line == first_line(text)


def test_kept_lines_spare_reading_kept_jsonl_and_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where a run says the representatives' lines start, the report reads them there; an
    # offset that points elsewhere is passed over and the line looked for as without one.
    out, plain = _reported_run(tmp_path)
    kept = (out / "kept.jsonl").read_bytes()
    starts, at = {}, 0
    for line in kept.splitlines(keepends=True):
        starts[json.loads(line)["id"]] = at
        at += len(line)
    reps = [f"r{k:02d}" for k in range(12)]
    scanned: list[Path] = []  # the files read through to find documents
    original = report_mod._find

    def find(outdir: Path, run: Any, wanted: set[str]) -> Any:
        for found in original(outdir, run, wanted):
            scanned.append(found[2][0] if found[2] else Path())
            yield found

    monkeypatch.setattr(report_mod, "_find", find)
    build_report(out, ReportConfig(clusters=5), kept_lines=KeptLines({i: starts[i] for i in reps}))
    assert tree(out / "report") == plain
    assert out / "kept.jsonl" not in scanned  # representatives read at their offsets
    scanned.clear()
    wrong = {i: starts[reps[(k + 1) % 12]] for k, i in enumerate(reps)} | {"r00": len(kept) + 9}
    build_report(out, ReportConfig(clusters=5), kept_lines=KeptLines(wrong))
    assert tree(out / "report") == plain
    assert out / "kept.jsonl" in scanned


def test_why_a_member_is_in(tmp_path: Path) -> None:
    out = write_small_run(tmp_path)
    path = out / "clusters.jsonl"
    line = json.loads(path.read_text("utf-8"))
    line["members"][1].update(via="a-rep", repeated_share=0.125, similarity=0.5)
    path.write_text(json.dumps(line) + "\n", "utf-8")
    build_report(out)
    page = (out / "report/clusters/000000.html").read_text("utf-8")
    why = page[page.index('<td class="why">', page.index("b-member")) :]
    why = why[: why.index("</td>")]
    assert "below both thresholds" in why  # 0.463 < 0.7 and 0.786 < 0.8 (RUN_CONFIG)
    assert 'verified against:</span> <code class="id">a-rep</code>' in why
    assert "repeated share:</span> 0.125" in why and "similarity:</span> 0.500" in why
    md = (out / "report/clusters/000000.md").read_text("utf-8")
    assert "verified against: a-rep" in md


def test_cli_report_ends_with_the_index(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dedup.cli import cli

    out = _many_clusters_run(tmp_path)
    result = CliRunner().invoke(cli, ["report", str(out), "--report-clusters", "5", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines()[-1] == f"report: {out / 'report' / 'index.html'}"
    assert len(list((out / "report/clusters").glob("*.html"))) == 5


def test_report_progress_lines() -> None:
    import io

    from dedup._cli_progress import ProgressPrinter

    now = [0.0]
    log = io.StringIO()
    printer = ProgressPrinter(log, tty=False, interval=10.0, clock=lambda: now[0])
    printer.pages(0, 200)  # a short run stays silent in a log
    assert log.getvalue() == ""
    now[0] = 12.0
    printer.pages(3, 200)
    now[0] = 13.0
    printer.pages(100, 200)  # within the interval: not shown
    printer.pages(200, 200)  # the last line of a long run is
    assert log.getvalue().splitlines() == [
        "dedup [report] 3/200 cluster pages, elapsed 0:00:12",
        "dedup [report] 200/200 cluster pages, elapsed 0:00:13",
    ]
    term = io.StringIO()
    tty = ProgressPrinter(term, tty=True, clock=lambda: now[0])
    tty.pages(0, 5)
    assert term.getvalue() == "\r\x1b[Kdedup [report] 0/5 cluster pages, elapsed 0:00:00"


def test_a_member_page_says_what_the_member_was_verified_against(tmp_path: Path) -> None:
    # C matches B (B holds most of C), not A, the member kept: the run says so, and the
    # report shows it, B's id escaped as any id is.
    rng = np.random.default_rng(5)
    x = "".join(chr(c) for c in rng.integers(0x4E00, 0x4E00 + 3000, 3000))
    own = "".join(chr(c) for c in rng.integers(0x4E00, 0x4E00 + 3000, 600))
    docs = [("A", x), ("<i>B</i>", x[:1800]), ("C", x[:1500] + own)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs), "utf-8")
    run([str(path)], tmp_path / "out", Config(cluster=ClusterConfig("longest"), jobs=1))
    build_report(tmp_path / "out")
    page = tmp_path / "out" / "report" / "clusters" / "000000"
    md, html_page = (
        page.with_suffix(".md").read_text("utf-8"),
        page.with_suffix(".html").read_text("utf-8"),
    )
    [line] = (tmp_path / "out" / "clusters.jsonl").read_text("utf-8").splitlines()
    c = {m["id"]: m for m in json.loads(line)["members"]}["C"]
    figures = f"Jaccard {c['via_jaccard']:.3f}, containment {c['via_containment']:.3f}"
    assert f"> Verified against `<i>B</i>`: {figures}; 0.0% of its shingles" in md
    assert f'Verified against <code class="id">&lt;i&gt;B&lt;/i&gt;</code>: {figures}' in html_page
    assert md.count("Verified against `A`") == 1  # B, verified against the member kept


@pytest.mark.parametrize(
    ("text", "mojibake"),
    [
        ("你好吗？我很好。", False),  # a question mark, full width or not, is no noise
        ("真的吗?是的?", False),
        ("中国??发展很快。", True),
        ("乱码\ufffd文字。", True),
        ("悠?yōu)久的历史。", True),
    ],
)
def test_a_question_mark_is_not_labelled_mojibake(text: str, mojibake: bool) -> None:
    kinds = member_infos([("d", text)], NormalizeConfig())["d"].noise
    assert ("mojibake" in kinds) is mojibake
    assert shows_mojibake(text, NormalizeConfig()) is mojibake  # as `dedup serve` labels it


def test_first_pass_in_chunks_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first pass reads removed.jsonl in chunks, each over a worker; a line cut by a chunk
    # boundary is read whole by one of them, and an error names the line of the whole file.
    out, whole = _reported_run(tmp_path)
    monkeypatch.setattr(report_mod, "_CHUNK_BYTES", 150)
    removed = out / "removed.jsonl"
    chunks = report_mod._chunks(removed)
    assert len(chunks) > 3 and chunks[0][1][0] == 0 and chunks[-1][1][1] is None
    data = removed.read_bytes()
    assert all(data[a - 1 : a] == b"\n" for _, (a, _) in chunks[1:])
    for jobs in (1, 2):
        build_report(out, ReportConfig(clusters=5), jobs=jobs)
        assert tree(out / "report") == whole
    lines = data.splitlines(keepends=True)
    lines[-2] = b'{"id": "m11-0", "text": \n'
    removed.write_bytes(b"".join(lines))
    with pytest.raises(InputError, match=rf"removed\.jsonl.*line {len(lines) - 1}\b"):
        build_report(out, ReportConfig(clusters=5), jobs=2)


def _variants_corpus(path: Path) -> Path:
    """Eight random articles in two to four versions each (a word changed, noise added: HTML,
    traditional characters, pinyin, mojibake), and a few documents alone."""
    import random

    rng = random.Random(5)

    def text(n: int) -> str:
        return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(n))

    records = []
    for k in range(8):
        paragraphs = [text(120) for _ in range(4)]
        base = "\n".join(paragraphs)
        versions = [
            base,
            base.replace(paragraphs[1][:3], "<b>這個</b>", 1),
            paragraphs[0] + "(zhōng)\n" + "\n".join(paragraphs[1:]) + "\n本文来源：网络",
            base[:300] + "??" + base[300:],
        ][: 2 + k % 3]
        records += [{"id": f"a{k}-{v}", "text": t} for v, t in enumerate(versions)]
    records += [{"id": f"alone{k}", "text": text(300)} for k in range(3)]
    rng.shuffle(records)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


@pytest.mark.parametrize("extra", [["--jobs", "2"], ["--jobs", "1"], ["--annotate"]])
def test_a_run_plans_its_report_as_the_files_would_give_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str]
) -> None:
    # A run plans its report from what it holds while it writes its files; the report is
    # the one `dedup report` builds from those files.
    from click.testing import CliRunner

    from dedup.cli import cli

    corpus = _variants_corpus(tmp_path / "corpus.jsonl")
    read_files: list[Path] = []
    real = report_mod._plan_from_files

    def spy(outdir: Path, *args: Any) -> Any:
        read_files.append(outdir)
        return real(outdir, *args)

    monkeypatch.setattr(report_mod, "_plan_from_files", spy)
    out = tmp_path / "out"
    options = ["--report-clusters", "5", "--max-members", "2"]
    result = CliRunner().invoke(cli, ["run", str(corpus), "-o", str(out), "-q", *options, *extra])
    assert result.exit_code == 0, result.output
    assert read_files == []  # planned from the run, not read back
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["clusters"] == 8 and summary["timings"]["report"] > 0
    planned = tree(out / "report")
    assert len([n for n in planned if n.endswith(".html")]) == 6  # 5 pages and the index
    result = CliRunner().invoke(cli, ["report", str(out), "-q", "--jobs", "2", *options])
    assert result.exit_code == 0, result.output
    assert read_files == [out]
    assert tree(out / "report") == planned


def test_a_plan_takes_clusters_in_memory_as_clusters_jsonl_gives_them_back(
    tmp_path: Path,
) -> None:
    # Figures JSON would change (integers, a numpy float, via figures without a via, a
    # negative zero share) are read back as from the file; clusters as a run makes them are
    # taken as they are.
    from dedup.io.outdir import cluster_line
    from dedup.report import plan_report
    from dedup.types import Cluster, Member

    texts = {i: f"文章{i}的内容，" * 30 + i for i in ("r0", "m0", "n0", "r1", "m1")}
    texts["m0"] += "<br/>"
    odd = (
        Member("r0", 1, 1),  # type: ignore[arg-type]
        Member("m0", np.float64(0.5), 0.75, None, 0.5, None, -0.0),  # type: ignore[arg-type]
        Member("n0", 0.25, 0.5, "m0", 0.375, None, 0.0),
    )
    plain = (Member("r1", 1.0, 1.0), Member("m1", 0.5, 0.625, "r1", 0.5, 0.625, 0.125))
    clusters = [Cluster(0, "r0", odd), Cluster(1, "r1", plain)]
    out = write_run(tmp_path, texts, [("r0", ["m0", "n0"]), ("r1", ["m1"])])
    (out / "clusters.jsonl").write_bytes(b"".join(cluster_line(c) for c in clusters))
    cfg = ReportConfig(clusters=2)
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    run_info = report_mod._run_info(out / "summary.json", summary)
    from_files = report_mod._plan_from_files(out, run_info, cfg, 1, None)

    def records(wanted: Any) -> Any:
        return ({"id": i, "text": texts[i]} for i in sorted(wanted, reverse=True))

    planned = plan_report(clusters, records, summary, cfg)
    assert planned.pages == from_files.pages and len(planned.pages) == 2
    assert planned.pages[1].cluster == clusters[1]  # as the run made it
    assert planned.pages[0].extras["m0"]["via_jaccard"] == 0.5
    assert planned.pages[0].cluster.members[1].via_jaccard is None  # as read back
    assert isinstance(from_files.index, report_mod._Index)
    templates = report_mod.render.Templates.load()
    assert planned.index == from_files.index.render(run_info, templates, cfg)
