from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.config import Config, VerifyConfig
from dedup.pipeline import deduplicate
from dedup.types import Doc, Skip


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


def test_short_and_empty_exact_duplicates_are_found() -> None:
    docs = [Doc("a", ""), Doc("b", "  \n"), Doc("c", "你好"), Doc("d", "你好!"), Doc("e", "再见")]
    result = deduplicate(docs, Config(jobs=1))
    assert [sorted(m.id for m in c.members) for c in result.clusters] == [["a", "b"], ["c", "d"]]


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
