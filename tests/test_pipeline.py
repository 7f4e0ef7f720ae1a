from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.config import Config, ReadConfig, VerifyConfig
from dedup.errors import InputError
from dedup.normalize import normalize
from dedup.pipeline import deduplicate, run
from dedup.shingle import shingles
from dedup.types import Doc, RunResult, Skip


def _seed_docs(seed_texts: dict[str, str]) -> list[Doc]:
    return [Doc(name, text) for name, text in seed_texts.items()]


def test_seeds_give_one_cluster(seed_texts: dict[str, str]) -> None:
    result = deduplicate(_seed_docs(seed_texts), Config(jobs=1))
    assert len(result.clusters) == 1
    cluster = result.clusters[0]
    assert {m.id for m in cluster.members} == {
        "000_fa5b47ae513dff0c.txt",
        "001_096293c0fedcb6b3.txt",
    }
    # The representative is the longest version: 001.
    assert cluster.representative == "001_096293c0fedcb6b3.txt"
    member = cluster.members[1]
    assert member.containment > 0.9 and 0.5 < member.jaccard < 0.8
    assert set(result.kept) == set(seed_texts) - {"000_fa5b47ae513dff0c.txt"}
    assert result.removed == {"000_fa5b47ae513dff0c.txt": ("001_096293c0fedcb6b3.txt", 0)}


def test_containment_off_splits_the_pair(seed_texts: dict[str, str]) -> None:
    # Jaccard of the seed pair is about 0.67: only containment joins them.
    cfg = Config(verify=VerifyConfig(threshold=0.9, containment=1.0), jobs=1)
    assert deduplicate(_seed_docs(seed_texts), cfg).clusters == ()


def test_jobs_do_not_change_the_result(seed_texts: dict[str, str]) -> None:
    docs = _seed_docs(seed_texts) * 1
    one = deduplicate(docs, Config(jobs=1, batch_size=2))
    two = deduplicate(docs, Config(jobs=2, batch_size=1))
    assert one.clusters == two.clusters and one.kept == two.kept and one.removed == two.removed


def test_skips_are_counted() -> None:
    items = [Doc("a", "一二三四五六"), Skip("f.jsonl", 2, "not valid JSON"), Doc("b", "七八九十")]
    result = deduplicate(items, Config(jobs=1))
    assert result.read == 3 and len(result.skipped) == 1


def test_short_duplicates_are_found_and_empty_texts_are_versions_of_nothing() -> None:
    docs = [Doc("a", ""), Doc("b", "  \n"), Doc("c", "你好"), Doc("d", "你好!"), Doc("e", "再见")]
    docs += [Doc("f", "**"), Doc("g", "·")]  # nothing left after normalization
    # Nothing but what a page shows where its script had no value, twice each.
    docs += [Doc(f"h{k}", t) for k, t in enumerate(["null", "null ↑", "undefined", "0", "0 。"])]
    docs += [Doc("i0", "[object Object] NaN 404"), Doc("i1", "[object Object] NaN 404")]
    docs += [Doc("j0", "undefined 你好呀"), Doc("j1", "undefined 你好呀")]  # text, found
    result = deduplicate(docs, Config(jobs=1))
    found = [sorted(m.id for m in c.members) for c in result.clusters]
    assert found == [["c", "d"], ["j0", "j1"]]
    assert result.stats["empty"] == 11


_TITLES = [
    f"第{k}号新闻标题讲述{w}的故事" for k, w in enumerate("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未")
]
_FRAME = (
    "前沿网 www.znoeng.net\n首页 | 社会 | 专题 | 军事\n{}\nCopyright © 2010-2023 前沿网 版权所有"
)
_ARTICLE = "今天上午，市政府召开新闻发布会，介绍了今年城市绿化工作的进展和明年的计划安排。"


def test_pages_of_lists_of_links_are_no_versions_of_each_other() -> None:
    # Three listing pages of one small site (different titles in one frame), two pages of
    # titles alone, two footers alone: none is in a cluster. Two copies of one short article in
    # the frame with different lists (longer than the article) are found.
    def titles(k: int, n: int = 9) -> str:
        return "\n".join(f"· {t}（0{k % 9 + 1}-1{k % 9}）" for t in (_TITLES * 2)[k : k + n])

    docs = [Doc(f"l{k}", _FRAME.format("最新新闻：\n" + titles(k, 18))) for k in range(3)]
    docs += [Doc(f"t{k}", "相关阅读：\n" + titles(k + 3)) for k in range(2)]
    docs += [
        Doc(f"f{k}", "关于我们 | 联系我们 | 网站地图\n浙ICP备90031396号-5 版权所有")
        for k in range(2)
    ]
    docs += [Doc(f"a{k}", _FRAME.format(_ARTICLE + "\n相关阅读：\n" + titles(k))) for k in range(2)]
    result = deduplicate(docs, Config(jobs=1))
    assert [sorted(m.id for m in c.members) for c in result.clusters] == [["a0", "a1"]]
    assert result.stats["empty"] == 7


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "今天天气很好我们去公园散步",
                "今天天气很好我们去公园散步吧",
                "完全不同的另一篇文章内容",
                "",
                "abc def ghi jkl mno",
            ]
        ),
        max_size=12,
    )
)
def test_accounting_and_partition(texts: list[str]) -> None:
    docs = [Doc(str(i), t) for i, t in enumerate(texts)]
    result = deduplicate(docs, Config(jobs=1))
    assert len(result.kept) + len(result.removed) == len(docs)
    members = [m.id for c in result.clusters for m in c.members]
    assert len(members) == len(set(members))
    assert set(result.kept).isdisjoint(result.removed)
    for _doc_id, (rep, number) in result.removed.items():
        assert rep in result.kept
        assert result.clusters[number].representative == rep


def _variants() -> list[Doc]:
    base = "今天天气很好我们去公园散步然后一起吃午饭下午回家看书晚上早点睡觉明天还要上班"
    other = "完全不同的另一篇文章讲的是计算机程序设计和数据结构以及算法分析的基本方法"
    docs = []
    for k in range(12):
        text = base if k % 2 else other
        docs.append(Doc(f"d{k}", text[: len(text) - k] + "。" * (k % 3)))
    return docs


def test_jobs_and_batches_give_identical_similarities() -> None:
    docs = _variants()
    one = deduplicate(docs, Config(jobs=1, batch_size=5))
    two = deduplicate(docs, Config(jobs=2, batch_size=3))
    assert one.clusters and one.clusters == two.clusters
    assert one.removed == two.removed and one.kept == two.kept
    assert one.stats["input_bytes"] == sum(len(d.text.encode()) for d in docs)


def test_member_similarities_are_exact() -> None:
    docs = _variants()
    cfg = Config(jobs=1)
    text = {d.id: d.text for d in docs}
    for cluster in deduplicate(docs, cfg).clusters:
        rep = shingles(normalize(text[cluster.representative]), cfg.shingle)
        for m in cluster.members[1:]:
            other = shingles(normalize(text[m.id]), cfg.shingle)
            inter = np.intersect1d(rep, other).size
            assert m.jaccard == round(inter / np.union1d(rep, other).size, 6)
            assert m.containment == round(inter / min(rep.size, other.size), 6)


def test_input_error_survives_pickling() -> None:
    import pickle

    from dedup.errors import InputError

    e = pickle.loads(pickle.dumps(InputError("bad.jsonl", "not valid JSON", 3)))
    assert (str(e), e.source, e.reason, e.line) == (
        "bad.jsonl, line 3: not valid JSON",
        "bad.jsonl",
        "not valid JSON",
        3,
    )


def _run(tmp_path: Path, *files: tuple[str, bytes], **cfg: object) -> RunResult | InputError:
    for name, data in files:
        (tmp_path / name).write_bytes(data)
    try:
        return run([str(tmp_path / n) for n, _ in files], tmp_path / "out", Config(**cfg))
    except InputError as e:
        return e


def _line(doc_id: str, text: str = "正文") -> bytes:
    return json.dumps({"id": doc_id, "text": text}, ensure_ascii=False).encode() + b"\n"


@pytest.mark.parametrize("jobs", [1, 2])
def test_input_errors_come_in_input_order(tmp_path: Path, jobs: int) -> None:
    # A bad line the workers find comes before a corrupt file the main process finds after
    # it, although both are in one batch; a duplicate id before a bad line comes first.
    corrupt = gzip.compress(_line("z") * 100)[:-20]
    got = _run(tmp_path, ("a.jsonl", _line("a") + b"{oops\n"), ("b.jsonl.gz", corrupt), jobs=jobs)
    assert isinstance(got, InputError) and (got.source, got.line) == (str(tmp_path / "a.jsonl"), 2)
    got = _run(tmp_path, ("c.jsonl", _line("x") + _line("x") + b"{oops\n"), jobs=jobs)
    assert isinstance(got, InputError) and got.line == 2 and "duplicate id 'x'" in got.reason


@pytest.mark.parametrize("jobs", [1, 2])
def test_skips_keep_their_order_across_workers_and_reader(tmp_path: Path, jobs: int) -> None:
    corrupt = gzip.compress(b"".join(_line(f"z{i}") for i in range(100)))[:-20]
    files = [("a.jsonl", _line("a") + b"{oops\n" + _line("b")), ("b.jsonl.gz", corrupt)]
    files += [("c.jsonl", b"[1]\n" + _line("c"))]
    result = _run(tmp_path, *files, jobs=jobs, batch_size=2, read=ReadConfig(on_error="skip"))
    assert isinstance(result, RunResult)
    where = [(Path(s.source).name, s.line) for s in result.skipped]
    assert where[0] == ("a.jsonl", 2) and where[1][0] == "b.jsonl.gz" and where[2] == ("c.jsonl", 1)
    errors = [json.loads(x) for x in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert [(Path(e["source"]).name, e["line"]) for e in errors] == where


@settings(max_examples=40, deadline=None)
@given(
    # Each document is one of a few texts (copies of each other) or a text of its own, and
    # may carry a field the run adds (its line is then re-rendered, not spliced).
    picks=st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=24),
    batch_size=st.integers(1, 5),
)
def test_split_outputs_equal_each_record_written_alone(
    picks: list[tuple[int, bool]], batch_size: int
) -> None:
    # kept.jsonl takes runs of kept records as slices of a batch; the reference renders every
    # record on its own, with the run's fields on the removed ones. The run also says where
    # each representative's line starts in kept.jsonl (for the report).
    from dedup.io.outdir import KeptLines
    from dedup.io.writers import json_bytes

    texts = ["同一篇文章的内容，讲的是一件事情。" * 3, "另一篇完全不同的报道，说别的话题。" * 3]
    records = []
    for k, (pick, reserved) in enumerate(picks):
        text = texts[pick] if pick < len(texts) else f"独一无二的第{k}篇文字" * 4
        records.append({"id": f"d{k}", "text": text} | ({"cluster": "x"} if reserved else {}))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_bytes(b"".join(json_bytes(r)[0] for r in records))
        placed: list[KeptLines] = []
        config = Config(jobs=1, batch_size=batch_size)
        done = run([str(src)], Path(tmp) / "out", config, kept_lines=placed.append)
        assert done.detail is not None
        result = done.detail
        kept = (Path(tmp) / "out" / "kept.jsonl").read_bytes()
        removed = (Path(tmp) / "out" / "removed.jsonl").read_bytes()
    want_kept, want_removed = b"", b""
    starts = {}
    for r in records:
        if r["id"] in result.removed:
            rep, cluster = result.removed[r["id"]]
            want_removed += json_bytes(r | {"duplicate_of": rep, "cluster": cluster})[0]
        else:
            starts[r["id"]] = len(want_kept)
            want_kept += json_bytes(r)[0]
    assert kept == want_kept and removed == want_removed
    reps = {c.representative for c in result.clusters}
    assert len(placed) == 1 and placed[0].offsets == {i: starts[i] for i in reps}
    assert len(result.removed) == len(records) - len({r["text"] for r in records})
