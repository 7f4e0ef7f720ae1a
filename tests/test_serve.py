"""`dedup serve`: its index, its pages and JSON API (through Flask's test client), the checks
that keep it local, and the labels it writes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.cli import cli
from dedup.labels import LABELS
from dedup.normalize import normalize
from dedup.report import ReportConfig
from dedup.serve import INDEX, Index, Query, ServeError, ensure_index
from dedup.serve.app import Settings, create_app, own_hosts
from dedup.serve.search import needs_raw, raw_table, residue

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
EVIL_ID = '<img src=x onerror="alert(1)">&amp;'
EVIL_TEXT = '<script>alert("owned")</script>'
HOST = "127.0.0.1:5000"
# Two articles that share a phrase and a product name, one in simplified characters, the other in
# traditional ones (Taiwan vocabulary, full-width Latin); each has a copy, so each is a cluster.
_SIMPLIFIED = (
    "我们的团队在过去三年里一直从事软件开发工作，版本ABC2024在今年春天正式发布。"
    "这次更新修复了许多问题，也加入了用户期待已久的新功能，受到广泛好评。"
)
_TRADITIONAL_TEXT = (
    "臺北的工程師們在會議上討論了軟體開發的未來，新版本ＡＢＣ２０２４預計下個月上市。"
    "會議持續了整整兩天，與會者來自世界各地，氣氛熱烈，許多人留下聯絡方式。"
)
# Question marks, which the mojibake pass removes with `??` runs but which name no noise.
_QUESTION = (
    "你知道这座古老的桥梁是谁修建的吗？村里的老人说，它已经有四百多年的历史了？"
    "没有人说得清楚。每到春天，桥下的河水涨起来，孩子们就在岸边放风筝。"
)
# An article with what the normalizer removes: inline pinyin, an entity, markup, a run of commas.
_NOISY = (
    "這篇文章講述城市發(fā)展的歷史，，，從古代的小村落說起，一直講到今天的大都市。\n\n"
    "第二段有&nbsp;實體和 <b>加粗的標記</b>，還有一些普通的文字，用來湊足長度。"
)
FOLDING_DOCS = [
    {"id": "fold-simplified", "text": _SIMPLIFIED * 3},
    {"id": "fold-simplified-copy", "text": _SIMPLIFIED * 3 + "完"},
    {"id": "fold-traditional", "text": _TRADITIONAL_TEXT * 3},
    {"id": "fold-traditional-copy", "text": _TRADITIONAL_TEXT * 3 + "完"},
    {"id": "fold-noisy", "text": _NOISY * 3},
    {"id": "fold-noisy-copy", "text": _NOISY * 3 + "完"},
    {"id": "fold-question", "text": _QUESTION * 3},
    {"id": "fold-question-copy", "text": _QUESTION * 3 + "完"},
    {"id": "fold-mojibake", "text": _SIMPLIFIED.replace("，", "??") * 3 + "了"},
    {"id": "fold-mojibake-copy", "text": _SIMPLIFIED.replace("，", "??") * 3 + "了完"},
]
_TRADITIONAL = str.maketrans("软开发", "軟開發")
_WIDE = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}


def serve_corpus(path: Path) -> Path:
    """Three versions of each of four seed articles (one version with a hostile id and
    markup in its text), and the fifth seed alone."""
    seeds = {p.stem: p.read_text("utf-8") for p in sorted(SEEDS.glob("*.txt"))}
    records = []
    for k, (stem, text) in enumerate(sorted(seeds.items())):
        records.append({"id": stem, "text": text})
        if stem.startswith("000"):
            continue  # 000 is already a version of 001
        records.append({"id": f"{stem}-source", "text": text + "\n\n本文来源：新华网◆"})
        last = EVIL_ID if k == 2 else f"{stem}-repost"
        head = EVIL_TEXT if k == 2 else "转载："
        records.append({"id": last, "text": head + text})
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def serve_run(root: Path, extra: Sequence[dict[str, str]] = ()) -> Path:
    """A finished run (no report) of `serve_corpus` and the `extra` records, indexed for
    `dedup serve`."""
    corpus = serve_corpus(root / "corpus.jsonl")
    with corpus.open("a", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in extra)
    out = root / "out"
    result = CliRunner().invoke(cli, ["run", str(corpus), "-o", str(out), "--no-report", "-q"])
    assert result.exit_code == 0, result.output
    assert ensure_index(out)
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return serve_run(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def folding_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return serve_run(tmp_path_factory.mktemp("folding"), extra=FOLDING_DOCS)


def _clusters(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "clusters.jsonl").read_text("utf-8").splitlines()]


def _texts(out: Path) -> dict[str, str]:
    texts = {}
    for name in ("kept.jsonl", "removed.jsonl"):
        for line in (out / name).read_text("utf-8").splitlines():
            r = json.loads(line)
            texts[r["id"]] = r["text"]
    return texts


def _client(out: Path):  # type: ignore[no-untyped-def]
    app = create_app(Settings(out, own_hosts("127.0.0.1", 5000)))
    return app.test_client()


def _get(client, path: str, **headers: str):  # type: ignore[no-untyped-def]
    return client.get(path, headers={"Host": HOST, **headers})


def _post(client, path: str, body, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(path, json=body, headers={"Host": HOST, **headers})


# -- the index --------------------------------------------------------------------------------


def test_index_holds_every_cluster_and_member(run_dir: Path) -> None:
    clusters = _clusters(run_dir)
    assert len(clusters) >= 4
    index = Index(run_dir)
    assert index.counts() == (len(clusters), sum(len(c["members"]) for c in clusters))
    texts = _texts(run_dir)
    for c in clusters:
        info = index.cluster(c["cluster"])
        assert info is not None and info.size == len(c["members"])
        assert info.representative == c["representative"]
        others = [m["jaccard"] for m in c["members"] if m["id"] != c["representative"]]
        assert info.min_similarity == pytest.approx(min(others))
        assert info.mean_similarity == pytest.approx(sum(others) / len(others))
        first = next(
            line.strip() for line in texts[c["representative"]].splitlines() if line.strip()
        )
        assert first.startswith(info.snippet.rstrip("…"))
        for m in c["members"]:
            assert index.lookup(m["id"]) == c["cluster"]
    assert index.lookup("004_0276c29fa1116ed8-nope") is None


def _holding(out: Path, word: str) -> set[int]:
    """The clusters with a member whose text holds `word` once both are normalized."""
    texts = _texts(out)
    folded = normalize(word)
    return {
        c["cluster"]
        for c in _clusters(out)
        if any(folded in normalize(texts[m["id"]]) for m in c["members"])
    }


@pytest.mark.parametrize("length", [1, 2, 3, 6])
def test_search_finds_exactly_the_clusters_whose_members_hold_the_text(
    run_dir: Path, length: int
) -> None:
    clusters = _clusters(run_dir)
    texts = _texts(run_dir)
    index = Index(run_dir)
    rep = texts[clusters[-1]["representative"]]
    word = "".join(rep.split())[40 : 40 + length]
    want = _holding(run_dir, word)
    got = index.clusters(Query(q=word, per_page=100))
    assert clusters[-1]["cluster"] in want
    # Every cluster whose members hold the text as it is is found (and more may be, through
    # folding).
    assert {c["cluster"] for c in clusters if any(word in texts[m["id"]] for m in c["members"])}
    assert {c.cluster for c in got.clusters} == want and got.total == len(want)


@pytest.mark.parametrize("where", ["end", "start", "middle", "one character", "last character"])
def test_short_searches_find_text_anywhere(run_dir: Path, where: str) -> None:
    """One or two characters are found wherever they stand in a text, its first and last
    included, and in a cluster that only one member holds them in."""
    texts = _texts(run_dir)
    norms = {i: normalize(t) for i, t in texts.items()}
    if where in ("end", "last character"):
        width = 2 if where == "end" else 1
        word = min(t[-width:] for t in norms.values())
    elif where == "start":
        word = min(t[:2] for t in norms.values())
    else:
        rep = norms[_clusters(run_dir)[1]["representative"]]
        word = rep[len(rep) // 2 : len(rep) // 2 + (2 if where == "middle" else 1)]
    want = _holding(run_dir, word)
    assert want
    got = Index(run_dir).clusters(Query(q=word, per_page=100))
    assert {c.cluster for c in got.clusters} == want and got.total == len(want)


@pytest.mark.parametrize("probe_cost", [1, 10**9], ids=["probed", "read whole"])
def test_a_frequent_character_is_counted_and_paged(
    run_dir: Path, probe_cost: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a page is found by looking clusters up in the posting list or by reading it
    whole, the clusters, their order and the count are the same."""
    import dedup.serve.index as index_module

    monkeypatch.setattr(index_module, "_PROBE_COST", probe_cost)
    index = Index(run_dir)
    clusters = _clusters(run_dir)
    every = index.clusters(Query(q="的", per_page=100))
    assert every.total == len(clusters) and not every.more
    assert [c.cluster for c in every.clusters] == [
        c.cluster for c in index.clusters(Query(per_page=100)).clusters
    ]
    for page in (1, 3):
        one = index.clusters(Query(q="的", per_page=1, page=page))
        assert one.total == every.total and one.clusters == every.clusters[page - 1 : page]
    # A cluster's number finds it whether or not a text holds the number, and is counted.
    for c in clusters:
        number = str(c["cluster"])
        want = _holding(run_dir, number) | {c["cluster"]}
        got = index.clusters(Query(q=number, per_page=100))
        assert got.total == len(want) and {x.cluster for x in got.clusters} == want
    big = index.clusters(Query(q="的", size_min=3, per_page=1, page=2))
    want = [c for c in every.clusters if c.size >= 3]
    assert big.total == len(want) and big.clusters == tuple(want[1:2])


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda w: w, id="simplified"),
        pytest.param(lambda w: w.translate(_TRADITIONAL), id="traditional"),
        pytest.param(lambda w: w.translate(_WIDE), id="full-width"),
        pytest.param(lambda w: w[:1] + "，" + w[1:] + "。", id="punctuation"),
        pytest.param(lambda w: w[:1] + " \n" + w[1:], id="spaces"),
    ],
)
@pytest.mark.parametrize("word", ["软件开发", "开发", "发"])
def test_search_folds_the_query_as_the_normalizer_folds_texts(
    folding_run: Path, word: str, variant: Callable[[str], str]
) -> None:
    """A query in traditional characters finds the simplified text and the other way round;
    full-width forms, punctuation and line breaks make no difference either."""
    index = Index(folding_run)
    simplified, traditional = index.lookup("fold-simplified"), index.lookup("fold-traditional")
    assert simplified is not None and traditional is not None and simplified != traditional
    found = {c.cluster for c in index.clusters(Query(q=variant(word), per_page=100)).clusters}
    assert {simplified, traditional} <= found


def test_search_folds_latin_width_and_case_and_ignores_bare_punctuation(
    folding_run: Path,
) -> None:
    index = Index(folding_run)

    def found(q: str) -> set[int | None]:
        return {c.cluster for c in index.clusters(Query(q=q, per_page=100)).clusters}

    both = {index.lookup("fold-simplified"), index.lookup("fold-traditional")}
    assert found("abc2024") == found("ＡＢＣ２０２４") == found("Abc2024") == both
    assert found("軟體開發") == found("软件开发") >= both
    assert found("，。") == set()  # punctuation alone folds to nothing


@pytest.mark.parametrize(
    "q", ["&nbsp;", "<b>", "</b>", "(fā)", "發(fā)", "，，，", "，，", "&nbsp;實體"]
)
def test_search_finds_raw_text_that_normalization_removes(folding_run: Path, q: str) -> None:
    """A member matches when its folded text holds the folded query or its text as it is
    holds the query as typed: a search for noise finds the documents that carry it."""
    texts = _texts(folding_run)
    folded = normalize(q)
    want = {
        c["cluster"]
        for c in _clusters(folding_run)
        if any(q in texts[m["id"]] for m in c["members"])
    } | (_holding(folding_run, q) if folded else set())
    index = Index(folding_run)
    assert index.lookup("fold-noisy") in want
    got = index.clusters(Query(q=q, per_page=100))
    assert {c.cluster for c in got.clusters} == want and got.total == len(want)
    assert not got.more
    api = _get(_client(folding_run), "/api/clusters?" + urlencode({"q": q})).get_json()
    assert {c["cluster"] for c in api["clusters"]} == want
    assert api["total_is_lower_bound"] is False


@pytest.mark.parametrize(
    ("q", "raw"),
    [
        ("你好，世界", False),  # folds character by character: the folded text finds it
        ("軟體開發", False),
        ("ＡＢＣ 2024", False),
        ("&nbsp;", True),  # folds to nothing
        ("，，，", True),
        ("<b>標記</b>", True),  # folding drops letters
        ("發(fā)", True),
        ("(fā)", True),  # Latin letters among other signs
        ("a. b, c; d", True),
        ("乱码??", True),
        (" ", False),
    ],
)
def test_which_queries_are_looked_for_as_they_are(q: str, raw: bool) -> None:
    assert needs_raw(q, normalize(q).strip()) is raw


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="发展的城市，。 <>&;ab(fā)\n1", max_size=40),
    q=st.text(alphabet="，。 <>&;ab(fā)\n1", min_size=1, max_size=4),
)
def test_a_query_without_chinese_is_in_a_text_exactly_when_in_its_residue(
    text: str, q: str
) -> None:
    assert raw_table(q) == "residue"
    assert (q in residue(text)) == (q in text)


def test_a_raw_search_reads_a_bounded_share_of_the_texts_and_says_so(
    folding_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dedup.serve.search as search_module

    q = "，"  # in nearly every text as it is, in no folded text
    every = Index(folding_run).clusters(Query(q=q, per_page=100))
    assert not every.more and every.total >= 3
    monkeypatch.setattr(search_module, "RAW_SCAN_CHARS", 1)  # not one whole text
    none = Index(folding_run).clusters(Query(q=q, per_page=100))
    assert none.more and none.total == 0
    page = _get(_client(folding_run), "/?q=" + q).get_data(as_text=True)
    assert "At least 0 clusters match" in page and "only the first part" in page
    members = {m["id"] for c in _clusters(folding_run) for m in c["members"]}
    chars = sum(len(residue(t)) for i, t in _texts(folding_run).items() if i in members)
    monkeypatch.setattr(search_module, "RAW_SCAN_CHARS", chars // 2)
    part = Index(folding_run).clusters(Query(q=q, per_page=100))
    assert part.more and 0 < part.total < every.total
    assert {c.cluster for c in part.clusters} < {c.cluster for c in every.clusters}


def test_search_by_document_id_and_cluster_number(run_dir: Path) -> None:
    clusters = _clusters(run_dir)
    index = Index(run_dir)
    member = clusters[1]["members"][-1]["id"]
    assert [c.cluster for c in index.clusters(Query(q=member)).clusters] == [clusters[1]["cluster"]]
    number = str(clusters[2]["cluster"])
    assert clusters[2]["cluster"] in {c.cluster for c in index.clusters(Query(q=number)).clusters}


def test_a_question_mark_is_not_filtered_as_mojibake(folding_run: Path) -> None:
    index = Index(folding_run)
    found = index.clusters(Query(noise="mojibake", per_page=100)).clusters
    ids = {
        m["id"]
        for c in _clusters(folding_run)
        if c["cluster"] in {f.cluster for f in found}
        for m in c["members"]
    }
    assert "fold-mojibake" in ids and "fold-question" not in ids


def test_filters_sort_and_pages(run_dir: Path) -> None:
    index = Index(run_dir)
    every = index.clusters(Query(per_page=100)).clusters
    sizes = sorted({c.size for c in every})
    big = index.clusters(Query(size_min=sizes[-1], per_page=100))
    assert big.total == sum(c.size == sizes[-1] for c in every) and big.total < len(every)
    assert all(c.size == sizes[-1] for c in big.clusters)
    low = min(c.min_similarity for c in every)
    weak = index.clusters(Query(sim_max=low, per_page=100)).clusters
    assert weak and all(c.min_similarity <= low for c in weak)
    traditional = index.clusters(Query(noise="traditional", per_page=100)).clusters
    html = index.clusters(Query(noise="html", per_page=100)).clusters
    assert all("html" in c.noise for c in html)
    assert {c.cluster for c in html} == {c.cluster for c in every if "html" in c.noise}
    assert len(html) >= 1 and len(traditional) < len(every)
    by_sim = index.clusters(Query(sort="similarity", per_page=100)).clusters
    assert [c.min_similarity for c in by_sim] == sorted(c.min_similarity for c in every)
    pages = [index.clusters(Query(per_page=1, page=p)).clusters for p in range(1, len(every) + 1)]
    assert [p[0].cluster for p in pages] == [c.cluster for c in every]


def test_index_is_rebuilt_only_when_the_run_changes(tmp_path: Path) -> None:
    out = serve_run(tmp_path)
    before = (out / INDEX).stat().st_mtime_ns
    assert not ensure_index(out)
    assert (out / INDEX).stat().st_mtime_ns == before
    clusters = out / "clusters.jsonl"
    os.utime(clusters, ns=(before + 10**9, before + 10**9))
    assert ensure_index(out)
    assert not [p.name for p in out.iterdir() if p.name.endswith(".partial")]
    manifest = json.loads((out / ".dedup-manifest.json").read_text("utf-8"))
    assert INDEX in manifest["files"]  # a later run into OUTDIR removes it


def test_serving_a_folder_that_is_not_a_finished_run_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="not a finished dedup run"):
        ensure_index(tmp_path)
    result = CliRunner().invoke(cli, ["serve", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1
    assert "not a finished dedup run" in result.output


# -- pages and the JSON API -------------------------------------------------------------------


def test_api_clusters_returns_the_clusters_whose_members_contain_the_text(run_dir: Path) -> None:
    clusters = _clusters(run_dir)
    texts = _texts(run_dir)
    word = "本文来源"
    want = {c["cluster"] for c in clusters if any(word in texts[m["id"]] for m in c["members"])}
    r = _get(_client(run_dir), f"/api/clusters?q={word}")
    assert r.status_code == 200
    got = r.get_json()
    assert {c["cluster"] for c in got["clusters"]} == want and got["total"] == len(want)
    assert {"cluster", "size", "min_similarity", "noise", "snippet"} <= set(got["clusters"][0])


@pytest.mark.parametrize(
    "query",
    [
        "page=99999999999999999999999",
        "size_min=99999999999999999999999",
        "size_max=-99999999999999999999999&sim_min=nan&sim_max=inf",
        "per_page=99999999999999999999999&page=-3",
        "q=%ED%A0%80&page=" + "9" * 5000,
        "q=" + "的" * 5000,
    ],
)
def test_odd_parameters_give_a_page_not_an_error(run_dir: Path, query: str) -> None:
    client = _client(run_dir)
    r = _get(client, "/api/clusters?" + query)
    assert r.status_code == 200, r.get_data(as_text=True)[:200]
    assert r.get_json()["total"] >= 0
    assert _get(client, "/?" + query).status_code == 200


def test_list_page_shows_snippets_filters_and_pages(run_dir: Path) -> None:
    client = _client(run_dir)
    page = _get(client, "/?per_page=2").get_data(as_text=True)
    assert page.count('<tr class="row"') == 2
    assert 'rel="next"' in page and 'name="noise"' in page
    second = _get(client, "/?per_page=2&page=2").get_data(as_text=True)
    assert 'rel="prev"' in second and second != page


def test_cluster_page_shows_the_diff_and_escapes_documents(run_dir: Path) -> None:
    client = _client(run_dir)
    number = Index(run_dir).lookup(EVIL_ID)
    assert number is not None
    r = _get(client, f"/cluster/{number}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'class="diff"' in page and f"Cluster {number}" in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;amp;" in page
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    # the list shows the hostile text escaped too
    listed = _get(client, "/?q=alert").get_data(as_text=True)
    assert "<script>alert" not in listed and f'data-cluster="{number}"' in listed


def test_go_finds_the_cluster_of_a_document(run_dir: Path) -> None:
    client = _client(run_dir)
    clusters = _clusters(run_dir)
    member = clusters[0]["members"][-1]["id"]
    r = _get(client, "/go?id=" + member)
    assert r.status_code == 302 and r.headers["Location"].endswith(
        f"/cluster/{clusters[0]['cluster']}"
    )
    missing = _get(client, "/go?id=no-such-document")
    assert missing.status_code == 404 and "no-such-document" in missing.get_data(as_text=True)
    assert _get(client, "/api/lookup?id=" + member).get_json()["cluster"] == clusters[0]["cluster"]


# -- labels -----------------------------------------------------------------------------------


def test_labels_are_appended_and_shown_after_a_restart(tmp_path: Path) -> None:
    out = serve_run(tmp_path)
    c = _clusters(out)[0]
    rep, member = c["representative"], c["members"][-1]["id"]
    client = _client(out)
    r = _post(client, "/api/labels", {"a": rep, "b": member, "dup": False})
    assert r.status_code == 201 and r.get_json() == {"a": rep, "b": member, "dup": False}
    r = _post(client, "/api/labels", {"a": member, "b": rep, "dup": True})  # the same pair
    assert r.status_code == 201
    lines = [json.loads(x) for x in (out / LABELS).read_text("utf-8").splitlines()]
    assert lines == [
        {"a": rep, "b": member, "dup": False},
        {"a": member, "b": rep, "dup": True},
    ]
    fresh = _client(out)  # a restarted server reads the file back; the latest verdict wins
    page = _get(fresh, f"/cluster/{c['cluster']}").get_data(as_text=True)
    assert page.count("✓ same article") == 1 and "✗ different" not in page
    assert _get(fresh, "/api/labels").get_json() == [{"a": member, "b": rep, "dup": True}]


def test_a_whole_cluster_is_labelled_by_a_form_post(tmp_path: Path) -> None:
    """The bulk buttons label every member, those past the page's listing too."""
    out = serve_run(tmp_path)
    c = max(_clusters(out), key=lambda c: len(c["members"]))
    others = [m["id"] for m in c["members"] if m["id"] != c["representative"]]
    assert len(others) >= 2
    app = create_app(
        Settings(out, own_hosts("127.0.0.1", 5000), ReportConfig(max_listed=len(others)))
    )
    client = app.test_client()
    page = _get(client, f"/cluster/{c['cluster']}").get_data(as_text=True)
    assert page.count('<tr class="row"') == len(others) - 1  # the representative is listed first
    form = {"cluster": str(c["cluster"]), "dup": "false"}
    r = client.post("/labels", data=form, headers={"Host": HOST, "Origin": f"http://{HOST}"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/cluster/{c['cluster']}")
    lines = [json.loads(x) for x in (out / LABELS).read_text("utf-8").splitlines()]
    assert lines == [{"a": c["representative"], "b": b, "dup": False} for b in others]
    page = _get(client, f"/cluster/{c['cluster']}").get_data(as_text=True)
    assert page.count("✗ different") == len(others) - 1
    r = _post(client, "/api/labels", {"cluster": c["cluster"], "dup": True})
    assert r.status_code == 201
    assert r.get_json() == [{"a": c["representative"], "b": b, "dup": True} for b in others]
    assert Path(out / LABELS).read_text("utf-8").count("\n") == 2 * len(others)


@pytest.mark.parametrize(
    "body",
    [
        {"a": "x", "b": "y"},
        {"a": "x", "b": "y", "dup": "yes"},
        {"a": "x", "b": "x", "dup": True},
        {"a": "", "b": "y", "dup": True},
        {"a": 1, "b": "y", "dup": True},
        ["x"],
        "x",
        {"a": "\ud800", "b": "y", "dup": True},
        [{"a": "x", "b": "y", "dup": True}, {"a": "x", "b": "z\udfff", "dup": True}],
        {"cluster": 10**30, "dup": True},
        {"cluster": "0", "dup": True},
        {"cluster": True, "dup": True},
        {"cluster": 0, "dup": "yes"},
    ],
)
def test_bad_labels_are_refused(run_dir: Path, body: object) -> None:
    before = (run_dir / LABELS).read_bytes() if (run_dir / LABELS).exists() else b""
    r = _post(_client(run_dir), "/api/labels", body)
    assert r.status_code == 400 and "error" in r.get_json()
    after = (run_dir / LABELS).read_bytes() if (run_dir / LABELS).exists() else b""
    assert after == before


# -- safe to run ------------------------------------------------------------------------------


def test_requests_for_another_host_are_refused(run_dir: Path) -> None:
    client = _client(run_dir)
    assert _get(client, "/").status_code == 200
    assert _get(client, "/", Host="localhost:5000").status_code == 200
    for host in ("evil.example:5000", "127.0.0.1:5001", "127.0.0.1", "attacker.test"):
        r = client.get("/api/clusters?q=abc", headers={"Host": host})
        assert r.status_code == 403, host


def test_a_link_from_another_site_opens_a_page_but_nothing_else(run_dir: Path) -> None:
    client = _client(run_dir)
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert _get(client, "/", **link).status_code == 200
    fetch = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
    assert _get(client, "/api/clusters?q=abc", **fetch).status_code == 403
    assert _get(client, "/", **fetch, Origin="http://evil.example").status_code == 403


def test_cross_site_posts_are_refused(tmp_path: Path) -> None:
    out = serve_run(tmp_path)
    c = _clusters(out)[0]
    label = {"a": c["representative"], "b": c["members"][-1]["id"], "dup": True}
    client = _client(out)
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:5001"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    ):
        assert _post(client, "/api/labels", label, **headers).status_code == 403, headers
        form = {**label, "dup": "true"}
        r = client.post("/labels", data=form, headers={"Host": HOST, **headers})
        assert r.status_code == 403, headers
    assert not (out / LABELS).exists()
    assert _post(client, "/api/labels", label, Origin=f"http://{HOST}").status_code == 201
    # a form cannot send JSON: a cross-site form post of the body as text is no verdict
    r = client.post(
        "/api/labels", data=json.dumps(label), headers={"Host": HOST, "Content-Type": "text/plain"}
    )
    assert r.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/static/../summary.json",
        "/static/..%2fsummary.json",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/serve.sqlite",
        "/static/style.css/../../kept.jsonl",
        "/../kept.jsonl",
        "/kept.jsonl",
        "/labels.jsonl",
        "/report/index.html",
        "/cluster/..%2f..%2fsummary.json",
        "/static/templates",
        "//etc/passwd",
        "/cluster/99999999999999999999999",
        "/cluster/-1",
    ],
)
def test_no_url_reaches_a_file(run_dir: Path, path: str) -> None:
    r = _get(_client(run_dir), path)
    assert r.status_code == 404
    body = r.get_data(as_text=True)
    assert '"documents"' not in body and "root:" not in body and "本文来源" not in body


def test_a_body_too_large_is_refused(run_dir: Path) -> None:
    from dedup.serve.app import MAX_BODY

    body = [{"a": "x", "b": "y" * 1000, "dup": True}] * (MAX_BODY // 1000)
    r = _post(_client(run_dir), "/api/labels", body)
    assert r.status_code == 413


def test_only_the_apps_own_files_are_served(run_dir: Path) -> None:
    client = _client(run_dir)
    for name, kind in (("serve.js", "javascript"), ("serve.css", "css"), ("report.css", "css")):
        r = _get(client, f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["Content-Type"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_own_hosts_names_loopback_by_every_name() -> None:
    assert own_hosts("127.0.0.1", 8765) == {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"}
    assert own_hosts("192.168.1.5", 80) == {"192.168.1.5:80"}
