"""`dedup serve`: its index, its pages and JSON API (through Flask's test client), the checks
that keep it local, and the labels it writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from dedup.cli import cli
from dedup.labels import LABELS
from dedup.serve import INDEX, Index, Query, ServeError, ensure_index
from dedup.serve.app import Settings, create_app, own_hosts

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
EVIL_ID = '<img src=x onerror="alert(1)">&amp;'
EVIL_TEXT = '<script>alert("owned")</script>'
HOST = "127.0.0.1:5000"


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


def serve_run(root: Path) -> Path:
    """A finished run (no report) of `serve_corpus`, indexed for `dedup serve`."""
    corpus = serve_corpus(root / "corpus.jsonl")
    out = root / "out"
    result = CliRunner().invoke(cli, ["run", str(corpus), "-o", str(out), "--no-report", "-q"])
    assert result.exit_code == 0, result.output
    assert ensure_index(out)
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return serve_run(tmp_path_factory.mktemp("serve"))


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


@pytest.mark.parametrize("length", [2, 3, 6])
def test_search_finds_exactly_the_clusters_whose_members_hold_the_text(
    run_dir: Path, length: int
) -> None:
    clusters = _clusters(run_dir)
    texts = _texts(run_dir)
    index = Index(run_dir)
    rep = texts[clusters[-1]["representative"]]
    word = "".join(rep.split())[40 : 40 + length]
    want = {c["cluster"] for c in clusters if any(word in texts[m["id"]] for m in c["members"])}
    got = index.clusters(Query(q=word, per_page=100))
    assert clusters[-1]["cluster"] in want
    assert {c.cluster for c in got.clusters} == want and got.total == len(want)


@pytest.mark.parametrize("scan", [False, True])
@pytest.mark.parametrize("where", ["end", "middle", "one character", "one character at the end"])
def test_short_searches_find_text_anywhere(
    run_dir: Path, where: str, scan: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One or two characters are found through the trigrams that start with them and the
    documents' last two characters, or (frequent ones) by a scan."""
    import dedup.serve.index as index_module

    if scan:
        monkeypatch.setattr(index_module, "MAX_TERMS", 0)
    clusters = _clusters(run_dir)
    texts = _texts(run_dir)
    index = Index(run_dir)
    if where.endswith("end"):  # characters that only ever end a text ("网◆")
        width = 1 if where.startswith("one") else 2
        ends = sorted({t[-width:] for t in texts.values() if t[-width:].strip()})
        word = next(w for w in ends if all(t.count(w) == t.endswith(w) for t in texts.values()))
    else:
        rep = texts[clusters[1]["representative"]]
        word = rep[len(rep) // 2 : len(rep) // 2 + (2 if where == "middle" else 1)]
    want = {c["cluster"] for c in clusters if any(word in texts[m["id"]] for m in c["members"])}
    assert want
    assert {c.cluster for c in index.clusters(Query(q=word, per_page=100)).clusters} == want


def test_a_scan_stops_counting_at_the_limit(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dedup.serve.index as index_module

    index = Index(run_dir)
    monkeypatch.setattr(index_module, "MAX_TERMS", 0)  # every short search scans
    every = index.clusters(Query(q="的", per_page=100))
    assert every.total == len(_clusters(run_dir)) and not every.more
    monkeypatch.setattr(index_module, "COUNT_LIMIT", 2)
    capped = index.clusters(Query(q="的", per_page=1, page=3))
    assert capped.more and capped.total == 2
    assert capped.clusters == every.clusters[2:3]  # pages go on past the count


def test_search_by_document_id_and_cluster_number(run_dir: Path) -> None:
    clusters = _clusters(run_dir)
    index = Index(run_dir)
    member = clusters[1]["members"][-1]["id"]
    assert [c.cluster for c in index.clusters(Query(q=member)).clusters] == [clusters[1]["cluster"]]
    number = str(clusters[2]["cluster"])
    assert clusters[2]["cluster"] in {c.cluster for c in index.clusters(Query(q=number)).clusters}


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
    out = serve_run(tmp_path)
    c = _clusters(out)[0]
    others = [m["id"] for m in c["members"] if m["id"] != c["representative"]]
    client = _client(out)
    form = {"a": c["representative"], "b": others, "dup": "false"}
    r = client.post("/labels", data=form, headers={"Host": HOST, "Origin": f"http://{HOST}"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/cluster/{c['cluster']}")
    lines = [json.loads(x) for x in (out / LABELS).read_text("utf-8").splitlines()]
    assert lines == [{"a": c["representative"], "b": b, "dup": False} for b in others]
    page = _get(client, f"/cluster/{c['cluster']}").get_data(as_text=True)
    assert page.count("✗ different") == len(others)


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
