from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from functools import cache

import numpy as np
import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.cluster import (
    Clusters,
    UnionFind,
    Verified,
    cluster,
    cluster_records,
    grouped,
    groups,
    representatives,
    settle,
    split_chains,
)
from dedup.config import ClusterConfig, Config, RefineConfig
from dedup.errors import ConfigError
from dedup.normalize import normalize, normalize_measured
from dedup.pipeline import deduplicate
from dedup.shingle import shingles
from dedup.types import Doc, Figures
from dedup.verify import similarities

LONGEST = ClusterConfig("longest")


def _flat(groups: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    members = np.array([m for g in groups for m in g], dtype=np.int64)
    bounds = np.cumsum([0] + [len(g) for g in groups]).astype(np.int64)
    return members, bounds


def _groups(members: np.ndarray, bounds: np.ndarray) -> list[list[int]]:
    return [members[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _matrix_similarity(close: set[frozenset[int]]):
    """Jaccard 1 for the listed pairs, 0 otherwise; records how many pairs were asked."""
    asked: list[int] = []

    def similarity(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        asked.append(reps.size)
        sims = np.array(
            [frozenset((int(a), int(b))) in close for a, b in zip(reps, others, strict=True)],
            dtype=np.float64,
        )
        return sims, sims

    return similarity, asked


def test_members_close_to_the_representative_stay() -> None:
    # Lengths make 2 the representative of [0, 1, 2]; both others are close to it.
    lengths = Figures.lengths_only([5, 6, 9, 1, 1])
    sim, asked = _matrix_similarity({frozenset((2, 0)), frozenset((2, 1)), frozenset((4, 3))})
    got = split_chains(*_flat([[0, 1, 2], [3, 4]]), lengths, sim, LONGEST)
    assert _groups(*got) == [[0, 1, 2], [3, 4]]
    assert asked == [3]  # one round, one similarity per non-representative member


def test_a_chain_is_cut_where_it_leaves_the_representative() -> None:
    # 0 - 1 - 2 - 3 - 4, each only like its neighbours; 2 is the longest.
    lengths = Figures.lengths_only([10, 10, 50, 40, 10])
    close = {frozenset((i, i + 1)) for i in range(4)}
    sim, _ = _matrix_similarity(close)
    got = split_chains(*_flat([[0, 1, 2, 3, 4]]), lengths, sim, LONGEST)
    # {1, 2, 3} around 2; the rest {0, 4} are not alike: both stay alone.
    assert _groups(*got) == [[1, 2, 3]]


def test_the_split_off_members_form_clusters_of_their_own() -> None:
    lengths = Figures.lengths_only([9, 8, 1, 7, 2, 3])
    # 0 with 1; 3 with 4 and 5: two articles chained into one component.
    close = {frozenset(p) for p in [(0, 1), (3, 4), (3, 5), (1, 3)]}
    sim, _ = _matrix_similarity(close)
    got = split_chains(*_flat([[0, 1, 2, 3, 4, 5]]), lengths, sim, LONGEST)
    assert _groups(*got) == [[0, 1], [3, 4, 5]]


def test_rounds_are_bounded_and_leftovers_stay_alone() -> None:
    # A path where every round peels off only the representative and its neighbour.
    n = 40
    lengths = Figures.lengths_only(np.arange(n, 0, -1))  # 0 is the longest, then 1, ...
    close = {frozenset((i, i + 1)) for i in range(n - 1)}
    sim, asked = _matrix_similarity(close)
    cfg = RefineConfig(max_rounds=3)
    got = split_chains(*_flat([list(range(n))]), lengths, sim, LONGEST, cfg)
    assert _groups(*got) == [[0, 1], [2, 3], [4, 5]]
    # Per round: the members against the representative, then the chain's candidate centres
    # against a sample (no centre here is close to more than twice as many as the
    # representative: the path is split around it); later rounds measure only the pairs the
    # round before did not (here a round's probes and sample overlap the last one's).
    assert len(asked) <= 6
    assert sum(asked) <= 3 * (n + cfg.probes * cfg.sample)


def test_a_round_does_not_measure_again_what_the_round_before_measured() -> None:
    n = 40
    lengths = Figures.lengths_only(np.arange(n, 0, -1))
    close = {frozenset((i, i + 1)) for i in range(n - 1)}
    times: Counter[frozenset[int]] = Counter()

    def similarity(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pairs = [frozenset((int(a), int(b))) for a, b in zip(reps, others, strict=True)]
        times.update(pairs)
        sims = np.array([p in close for p in pairs], dtype=np.float64)
        return sims, sims

    got = split_chains(*_flat([list(range(n))]), lengths, similarity, LONGEST)
    assert _groups(*got)[:3] == [[0, 1], [2, 3], [4, 5]]
    # Every round's probes and sample overlap the round before's (the path loses two members
    # a round); a pair is measured again only two rounds later.
    assert len(times) < sum(times.values())
    assert max(times.values()) <= (RefineConfig().max_rounds + 1) // 2


def _side_article_and_a_large_one() -> tuple[Figures, set[frozenset[int]]]:
    """0 (the longest) and 1 are one small article; 2..11 a large one, all alike, and 7 of
    it is also like 0. 4 is the longest of the large article."""
    lengths = Figures.lengths_only([50, 10, 5, 5, 20, 5, 5, 5, 5, 5, 5, 5])
    close = {frozenset((a, b)) for a in range(2, 12) for b in range(a + 1, 12)}
    close |= {frozenset((0, 1)), frozenset((0, 7))}
    return lengths, close


def test_a_chain_is_split_around_its_largest_article_first() -> None:
    lengths, close = _side_article_and_a_large_one()
    sim, _ = _matrix_similarity(close)
    members, bounds = _flat([list(range(12))])
    # Around the longest member 0, the first round would peel only {0, 1, 7}.
    one = split_chains(members, bounds, lengths, sim, LONGEST, RefineConfig(max_rounds=1))
    assert _groups(*one) == [list(range(2, 12))]
    assert _groups(*split_chains(members, bounds, lengths, sim, LONGEST)) == [
        [0, 1],
        list(range(2, 12)),
    ]
    # When a centre must reach ten times as many members as the representative, the chain
    # is split around its representative.
    high = RefineConfig(max_rounds=1, gain=10.0)
    assert _groups(*split_chains(members, bounds, lengths, sim, LONGEST, high)) == [[0, 1, 7]]


def test_floors() -> None:
    lengths = Figures.lengths_only([3, 2, 1])

    def sim(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        jac = np.where(others == 1, 0.35, 0.1)
        con = np.where(others == 1, 0.1, 0.45)
        return jac, con

    members, bounds = _flat([[0, 1, 2]])
    assert _groups(*split_chains(members, bounds, lengths, sim, LONGEST)) == [[0, 1]]
    loose = RefineConfig(jaccard=0.3, containment=0.4)
    assert _groups(*split_chains(members, bounds, lengths, sim, LONGEST, loose)) == [[0, 1, 2]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"jaccard": -0.1},
        {"containment": 1.5},
        {"max_rounds": 0},
        {"probes": 0},
        {"sample": 0},
        {"gain": 0.5},
    ],
    ids=str,
)
def test_config_is_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RefineConfig(**kwargs)


def test_no_groups() -> None:
    members, bounds = split_chains(
        np.empty(0, np.int64),
        np.zeros(1, np.int64),
        Figures.lengths_only([]),
        None,
        LONGEST,  # type: ignore[arg-type]
    )
    assert members.size == 0 and bounds.tolist() == [0]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 30).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.integers(1, 5), min_size=n, max_size=n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
        )
    )
)
def test_refinement_properties(
    case: tuple[int, list[int], list[tuple[int, int]], list[int], list[int]],
) -> None:
    n, lengths_list, pairs, labels, noise_list = case
    lengths = Figures.lengths_only(lengths_list)
    close = {frozenset(p) for p in pairs if p[0] != p[1]}
    roots = np.array([min(i for i in range(n) if labels[i] == labels[j]) for j in range(n)])
    members, bounds = grouped(roots)
    sim, _ = _matrix_similarity(close)
    out_m, out_b = split_chains(members, bounds, lengths, sim, LONGEST)
    out = _groups(out_m, out_b)
    flat = [m for g in out for m in g]
    assert len(flat) == len(set(flat))  # disjoint
    assert all(len(g) >= 2 and g == sorted(g) for g in out)
    assert [g[0] for g in out] == sorted(g[0] for g in out)
    before = {m: labels[m] for m in members.tolist()}
    assert all(len({before[m] for m in g}) == 1 for g in out)  # a refinement
    reps = representatives(out_m, out_b, lengths, LONGEST)
    for g, rep in zip(out, reps.tolist(), strict=True):
        assert all(m == rep or frozenset((m, rep)) in close for m in g)
    # Refining again changes nothing.
    again = split_chains(out_m, out_b, lengths, sim, LONGEST)
    assert _groups(*again) == out
    # "cleanest" splits around the member it keeps: `settle` gives the same kind of groups,
    # every member close to the representative it was checked against.
    noise = (np.array(noise_list) for _ in range(5))
    figures = Figures(lengths.length, *noise, np.arange(lengths.length.size))
    found = settle(members, bounds, figures, sim, ClusterConfig("cleanest"))
    got = _groups(found.members, found.bounds)
    assert sorted(m for g in got for m in g) == sorted(set(m for g in got for m in g))
    assert all(len(g) >= 2 and g == sorted(g) for g in got)
    assert [g[0] for g in got] == sorted(g[0] for g in got)
    assert all(len({before[m] for m in g}) == 1 for g in got)
    for g, rep in zip(got, found.reps.tolist(), strict=True):
        assert rep in g and all(m == rep or frozenset((m, rep)) in close for m in g)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 40).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(1, 9), min_size=n, max_size=n),
            st.lists(st.integers(0, 2), min_size=n, max_size=n),
            st.integers(0, 2**32 - 1),
        )
    )
)
def test_bounded_measuring_changes_nothing(case: tuple[list[int], list[int], int]) -> None:
    """The pairs `settle` measures with `bounded` come back lower when below the floors, as
    a measurement stopped early would: the clusters and every figure are the same."""
    lengths_list, labels, seed = case
    n = len(lengths_list)
    rng = np.random.default_rng(seed)
    grade = rng.random((n, n))
    grade = np.minimum(grade, grade.T)  # symmetric, some pairs above the floors, most below
    roots = np.array([min(i for i in range(n) if labels[i] == labels[j]) for j in range(n)])
    members, bounds = grouped(roots)
    figures = Figures.lengths_only(lengths_list)
    floors = RefineConfig()
    stopped: list[int] = []

    def similarity(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        jac = grade[reps, others] * 0.7
        return jac, np.minimum(grade[reps, others] * 1.1, 1.0)

    def bounded(
        reps: np.ndarray, others: np.ndarray, jaccard: float, containment: float
    ) -> tuple[np.ndarray, np.ndarray]:
        assert (jaccard, containment) == (floors.jaccard, floors.containment)
        jac, con = similarity(reps, others)
        below = (jac < jaccard) & (con < containment)
        stopped.append(int(below.sum()))
        return np.where(below, jac / 3, jac), np.where(below, con / 3, con)

    for cfg in (ClusterConfig("cleanest"), LONGEST):
        exact = settle(members, bounds, figures, similarity, cfg)
        got = settle(members, bounds, figures, similarity, cfg, bounded=bounded)
        for name in ("members", "bounds", "reps", "jaccard", "containment", "via"):
            assert getattr(got, name).tolist() == getattr(exact, name).tolist()
    assert stopped or bounds.size < 2  # every group asks `bounded` for some pair


# --- the chain on real text ---------------------------------------------------------------


def _article(rng: random.Random, k: int) -> str:
    return "".join(rng.choices([chr(c) for c in range(0x4E00, 0x4E00 + 3000)], k=k))


def test_teasers_in_one_site_frame_chain_two_articles() -> None:
    """frame + X ⊃ frame + start of X ~ frame + start of Y ⊂ frame + Y: union-find alone puts
    both articles in one cluster, as if Y were a copy of X although they share only the frame;
    the run splits Y off and keeps it."""
    rng = random.Random(7)
    header, footer = _article(rng, 200), _article(rng, 200)
    x, y = _article(rng, 3000), _article(rng, 2500)
    texts = {
        "x": f"{header}\n{x}\n{footer}",
        "x-teaser": f"{header}\n{x[:40]}\n{footer}",
        "y-teaser": f"{header}\n{y[:40]}\n{footer}",
        "y": f"{header}\n{y}\n{footer}",
    }
    result = deduplicate([Doc(k, v) for k, v in texts.items()], Config(jobs=1))
    [cluster] = result.clusters
    assert cluster.representative == "x"
    assert "y" in result.kept and "y" not in {m.id for m in cluster.members}
    assert {m.id for m in cluster.members} == {"x", "x-teaser", "y-teaser"}

    sets = [shingles(normalize(t)) for t in texts.values()]
    offsets = np.cumsum([0] + [s.size for s in sets])
    data = np.concatenate(sets)
    lengths = Figures.lengths_only([len(normalize(t)) for t in texts.values()])

    def sim(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return similarities(data, offsets, np.stack([reps, others], axis=1))

    members, bounds = _flat([[0, 1, 2, 3]])
    got = _groups(*split_chains(members, bounds, lengths, sim, LONGEST))
    # The teasers are mostly frame and stay with x; y, an article of its own, is kept.
    assert got == [[0, 1, 2]]


# --- union-find, groups, representatives ---


def test_union_find_roots_are_smallest() -> None:
    uf = UnionFind(6)
    uf.union(5, 2)
    uf.union(4, 5)
    uf.union(1, 0)
    assert uf.roots().tolist() == [0, 0, 2, 3, 2, 2]
    assert [g.tolist() for g in groups(uf.roots())] == [[0, 1], [2, 4, 5]]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda n: st.tuples(
            st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)))
        )
    )
)
def test_groups_partition_and_respect_edges(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, edges = case
    uf = UnionFind(n)
    uf.union_pairs(np.array(edges, dtype=np.int64).reshape(-1, 2))
    gs = groups(uf.roots())
    seen = [i for g in gs for i in g.tolist()]
    assert len(seen) == len(set(seen))  # disjoint
    where = {i: k for k, g in enumerate(gs) for i in g.tolist()}
    for a, b in edges:
        if a != b:
            assert where[a] == where[b]


def representative(members: np.ndarray, lengths: np.ndarray, cfg: ClusterConfig) -> int:
    """The rule of `representatives`, one group at a time: a reference for it."""
    if cfg.representative == "first":
        return int(members.min())
    sizes = lengths[members]
    best = sizes.min() if cfg.representative == "shortest" else sizes.max()
    return int(members[sizes == best].min())


def test_representative_rules() -> None:
    members = np.array([2, 5, 7])
    lengths = np.array([0, 0, 10, 0, 0, 30, 0, 30])
    assert representative(members, lengths, ClusterConfig("longest")) == 5
    assert representative(members, lengths, ClusterConfig("first")) == 2
    assert representative(members, lengths, ClusterConfig("shortest")) == 2


def _simple_groups(roots: np.ndarray) -> list[list[int]]:
    by_root: dict[int, list[int]] = {}
    for i, r in enumerate(roots.tolist()):
        by_root.setdefault(r, []).append(i)
    return [g for _, g in sorted(by_root.items(), key=lambda kv: kv[1][0]) if len(g) > 1]


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 40).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, max(n - 1, 0))))
            if n
            else st.just([]),
            st.lists(st.integers(0, 5), min_size=n, max_size=n),
        )
    )
)
def test_vectorised_groups_equal_the_simple_version(
    case: tuple[int, list[tuple[int, int]], list[int]],
) -> None:
    n, edges, lens = case
    uf = UnionFind(n)
    uf.union_pairs(np.array(edges, dtype=np.int64).reshape(-1, 2))
    roots = uf.roots()
    assert roots.tolist() == [uf.find(i) for i in range(n)]
    simple = _simple_groups(roots)
    assert [g.tolist() for g in groups(roots)] == simple
    members, bounds = grouped(roots)
    assert [members[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)] == simple
    lengths = np.array(lens, dtype=np.int64)
    for rule in ("longest", "shortest", "first"):
        cfg = ClusterConfig(rule)
        want = [representative(np.array(g), lengths, cfg) for g in simple]
        got = representatives(members, bounds, Figures.lengths_only(lengths), cfg)
        assert got.tolist() == want


# --- which member is kept: "cleanest" -----------------------------------------------------

_CHARS = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def _prose(rng: random.Random, paragraphs: int) -> str:
    """A title, then paragraphs of sentences ending in punctuation, as an article has."""
    out = ["".join(rng.choices(_CHARS, k=12))]
    for _ in range(paragraphs):
        sentences = ["".join(rng.choices(_CHARS, k=rng.randint(12, 30))) for _ in range(5)]
        out.append("，".join(sentences) + "。")
    return "\n".join(out)


def _html(text: str) -> str:
    return "\n".join(f'<p style="text-indent:2em;">&nbsp;{line}</p>' for line in text.split("\n"))


@cache
def _versions() -> dict[str, str]:
    """An article and versions of it, each with one kind of crawl noise (or none: "copy")."""
    rng = random.Random(16)
    clean = _prose(rng, 8)
    traditional = opencc.OpenCC("s2t").convert(clean)
    menu = "首页 | 新闻 | 财经 | 科技 | 体育\n您现在的位置：首页 > 新闻 > 正文\n登录 | 注册"
    related = "\n".join("".join(rng.choices(_CHARS, k=14)) for _ in range(6))
    footer = f"相关文章\n{related}\n关于我们 | 联系方式 | 广告服务\nCopyright 2010-2024 版权所有"
    return {
        "clean": clean,
        "copy": clean,
        "pinyin": "".join(c + "(xiàng)" if i % 8 == 7 else c for i, c in enumerate(clean)),
        "traditional": traditional,
        "traditional html": _html(traditional),
        "html": _html(clean),
        "junk": clean.replace("\n", "\n) x- F6 b+ P5 t/ W7 q! N# {\n"),
        "framed": f"{menu}\n{clean}\n{footer}",
        "truncated": clean[: len(clean) // 2],
        "extended": f"{clean}\n相关背景\n{_prose(rng, 4)}",
        # Teaser pages in the same frame (the second of another article): chained members.
        "teaser": f"{menu}\n{clean[:40]}\n{footer}",
        "other teaser": f"{menu}\n{_prose(rng, 1)[:40]}\n{footer}",
    }


def _measured(texts: list[str]):  # type: ignore[no-untyped-def]
    """The figures of `texts` and a similarity function over their shingle sets, as an engine
    hands them to the cluster stage."""
    figures = normalize_measured(texts)[2]
    sets = [shingles(normalize(t)) for t in texts]
    offsets = np.cumsum([0] + [s.size for s in sets])
    data = np.concatenate(sets)

    def sim(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return similarities(data, offsets, np.stack([reps, others], axis=1))

    return figures, sim


def _kept(names: list[str], cfg: ClusterConfig) -> str:
    """The member `representatives` keeps of one group of these versions."""
    texts = [_versions()[n] for n in names]
    figures, sim = _measured(texts)

    members, bounds = _flat([list(range(len(names)))])
    [rep] = representatives(members, bounds, figures, cfg, sim).tolist()
    return names[rep]


# (members in input order, kept by "cleanest", kept by "longest")
KEPT = [
    (["pinyin", "clean"], "clean", "pinyin"),
    (["traditional", "clean"], "clean", "traditional"),
    (["html", "clean"], "clean", "html"),
    (["junk", "clean"], "clean", "junk"),
    # The frame is text in unended lines, which counts against it.
    (["framed", "clean"], "clean", "framed"),
    (["pinyin", "traditional", "html", "junk", "framed", "clean"], "clean", "framed"),
    # Most complete first: a truncated copy is not kept, however clean.
    (["truncated", "clean"], "clean", "clean"),
    (["truncated", "html"], "html", "html"),
    # Two members agree where the article ends: the note added after it is foreign. With one
    # shorter member alone, the longer is kept (it may be the shorter that was truncated).
    (["extended", "pinyin", "clean"], "clean", "extended"),
    (["extended", "clean"], "extended", "extended"),
    # The group's script is its members' (lower median): here traditional.
    (["traditional html", "clean", "traditional"], "traditional", "traditional html"),
    # A frame held in common is no article: two teasers agree on it, but hold little prose.
    (["teaser", "other teaser", "framed"], "framed", "framed"),
    (["clean", "copy"], "clean", "clean"),
    (["copy", "clean"], "copy", "copy"),
]


@pytest.mark.parametrize(("names", "cleanest", "longest"), KEPT, ids=[str(k[0]) for k in KEPT])
def test_the_cleanest_complete_member_is_kept(
    names: list[str], cleanest: str, longest: str
) -> None:
    assert _kept(names, ClusterConfig("cleanest")) == cleanest
    assert _kept(names, LONGEST) == longest


def test_teasers_agreeing_on_a_frame_are_not_complete() -> None:
    # A long frame around a short article, with no punctuation anywhere: the teaser pages hold
    # half of the article's page and agree on it, but none of it as prose.
    rng = random.Random(3)
    header, footer, x, y = (_article(rng, k) for k in (300, 300, 600, 600))
    texts = [f"{header}\n{body}\n{footer}" for body in (x, x[:40], y[:40])]
    figures, sim = _measured(texts)

    assert representatives(*_flat([[0, 1, 2]]), figures, ClusterConfig(), sim).tolist() == [0]


def _alike(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair identical: the figures alone choose."""
    return np.ones(reps.size), np.ones(reps.size)


def test_byte_identical_copies_count_once_for_the_script() -> None:
    # The simplified original and two byte-identical traditional copies of it (one version):
    # the group's versions are one simplified and one traditional, and simplified is kept.
    length = np.full(3, 100)
    zeros = np.zeros(3, dtype=np.int64)
    traditional, key = np.array([30, 0, 30]), np.array([7, 8, 7])
    figures = Figures(length, zeros, traditional, zeros, zeros, zeros, key)
    members, bounds = _flat([[0, 1, 2]])
    assert representatives(members, bounds, figures, ClusterConfig(), _alike).tolist() == [1]
    # Three versions, two of them traditional: traditional is the group's script.
    figures = replace(figures, copy_key=np.array([7, 8, 9]))
    assert representatives(members, bounds, figures, ClusterConfig(), _alike).tolist() == [0]


def test_full_width_letters_follow_the_group() -> None:
    # Full-width digits are a house style, not damage: the one version that differs from the
    # others in width is the odd one, whichever way it differs.
    length = np.full(3, 100)
    zeros = np.zeros(3, dtype=np.int64)
    members, bounds = _flat([[0, 1, 2]])
    for width, odd in (([0, 12, 12], 0), ([12, 0, 0], 0)):
        figures = Figures(length, zeros, zeros, zeros, zeros, np.array(width), np.arange(3))
        kept = representatives(members, bounds, figures, ClusterConfig(), _alike).item()
        assert kept != odd


def test_a_framed_copy_does_not_outweigh_the_clean_article() -> None:
    # Figures of a page in another site's frame (0) and the clean article it carries (1), as
    # a crawl gives them: a third of the page is the site's repeated text; of the rest, its
    # byline and related titles are unended lines of its own. The article holds half of the
    # page's own text, but all of it that is not the frame: it is complete, and kept.
    length, unended = np.array([602, 166]), np.array([245, 9])
    zeros = np.zeros(2, dtype=np.int64)
    figures = Figures(length, zeros, zeros, zeros, unended, zeros, np.arange(2))

    def repeated(docs: np.ndarray) -> np.ndarray:
        return np.array([0.34, 0.0])[docs]

    def kept(jaccard: float) -> int:
        def similarity(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return np.full(reps.size, jaccard), np.full(reps.size, 0.98)

        members, bounds = _flat([[0, 1]])
        return settle(
            members, bounds, figures, similarity, ClusterConfig(), repeated=repeated
        ).reps.item()

    assert kept(0.49) == 1
    # A truncated article, holding less than a third of the page, is not complete.
    assert kept(0.3) == 0


def test_deduplicate_keeps_the_clean_version() -> None:
    names = ["pinyin", "traditional", "html", "junk", "framed", "clean", "truncated"]
    docs = [Doc(n, _versions()[n]) for n in names]
    [cluster] = deduplicate(docs, Config(jobs=1)).clusters
    assert {m.id for m in cluster.members} == set(names)
    assert cluster.representative == "clean"
    longest = Config(jobs=1, cluster=ClusterConfig("longest"))
    assert deduplicate(docs, longest).clusters[0].representative == "framed"


def test_cleanest_needs_similarities() -> None:
    members, bounds = _flat([[0, 1]])
    with pytest.raises(ValueError, match="similarity"):
        representatives(members, bounds, Figures.lengths_only([2, 1]), ClusterConfig())
    # One-member groups never occur, but nothing is measured for a group's longest member.
    assert representatives(*_flat([]), Figures.lengths_only([]), ClusterConfig()).size == 0


def test_representative_is_checked() -> None:
    with pytest.raises(ConfigError):
        ClusterConfig("cleanest-ish")  # type: ignore[arg-type]


# --- why each member is in its cluster ------------------------------------------------------


def _pair_similarity(known: dict[frozenset[int], tuple[float, float]]):
    """(jaccard, containment) of the listed pairs, 0 for the others."""

    def similarity(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = zip(reps.tolist(), others.tolist(), strict=True)
        sims = [known.get(frozenset(row), (0.0, 0.0)) for row in rows]
        return np.array([s[0] for s in sims]), np.array([s[1] for s in sims])

    return similarity


# A (0) is the longest. Verified pairs: A-B, B-C, A-D, C-D, B-G, G-F. G is not even loosely
# like A (split off, alone); F is (it stays), but its only verified pair is with G.
CHAIN_IDS = ["A", "B", "C", "D", "G", "F"]
CHAIN_PAIRS = [(0, 1, 0.9, 0.95), (1, 2, 0.7, 0.85), (0, 3, 0.65, 0.9), (2, 3, 0.75, 0.8),
               (1, 4, 0.7, 0.9), (4, 5, 0.8, 0.9)]  # fmt: skip
CHAIN_MEASURED = {(0, 1): (0.9, 0.95), (0, 2): (0.4, 0.6), (0, 3): (0.65, 0.9),
                  (0, 4): (0.1, 0.2), (0, 5): (0.35, 0.55)}  # fmt: skip


def _chain(rows: list[tuple[int, int, float, float]]) -> Clusters:
    pairs = np.array([r[:2] for r in rows], dtype=np.int64)
    verified = Verified(pairs, np.array([r[2] for r in rows]), np.array([r[3] for r in rows]))
    sim = _pair_similarity({frozenset(k): v for k, v in CHAIN_MEASURED.items()})
    figures = Figures.lengths_only([100, 50, 50, 50, 50, 50])
    return cluster(6, verified, figures, sim, LONGEST, repeated=lambda d: d / 10)


def test_each_member_is_joined_via_the_member_it_was_verified_against() -> None:
    found = _chain(CHAIN_PAIRS)
    [record] = cluster_records(found, CHAIN_IDS)
    why = {m.id: (m.via, m.via_jaccard, m.via_containment) for m in record.members}
    assert record.representative == "A" and set(why) == {"A", "B", "C", "D", "F"}
    assert why["A"] == (None, None, None)  # the representative
    assert why["B"] == ("A", 0.9, 0.95)
    assert why["D"] == ("A", 0.65, 0.9)
    # C is one pair from B and from D, both one pair from A: D's pair is the closer.
    assert why["C"] == ("D", 0.75, 0.8)
    # F's path went through G, which left: F is there by its measure against A.
    assert why["F"] == ("A", 0.35, 0.55)
    # Similarities to the representative are still the measured ones; shares as given.
    assert {m.id: m.jaccard for m in record.members}["C"] == 0.4
    assert {m.id: m.repeated_share for m in record.members} == {
        "A": 0.0, "B": 0.1, "C": 0.2, "D": 0.3, "F": 0.5}  # fmt: skip


def test_via_does_not_depend_on_the_order_of_the_pairs() -> None:
    first = _chain(CHAIN_PAIRS)
    rng = random.Random(3)
    for _ in range(5):
        rows = [(b, a, j, c) if rng.random() < 0.5 else (a, b, j, c) for a, b, j, c in CHAIN_PAIRS]
        rng.shuffle(rows)
        found = _chain(rows)
        assert found.via.tolist() == first.via.tolist()
        assert found.via_jaccard.tolist()[1:] == first.via_jaccard.tolist()[1:]


def test_ties_go_to_the_earliest_member() -> None:
    # 3 is one pair from 1 and from 2 (equal Jaccard), both one pair from 0.
    rows = [(0, 1, 0.9, 0.9), (0, 2, 0.9, 0.9), (1, 3, 0.7, 0.8), (2, 3, 0.7, 0.9)]
    pairs = np.array([r[:2] for r in rows])
    verified = Verified(pairs, np.array([r[2] for r in rows]), np.array([r[3] for r in rows]))
    sim = _pair_similarity({frozenset((0, k)): (0.9, 0.9) for k in (1, 2, 3)})
    found = cluster(4, verified, Figures.lengths_only([9, 5, 5, 5]), sim, LONGEST)
    assert found.via.tolist() == [-1, 0, 0, 1]
    assert found.via_containment.tolist()[1:] == [0.9, 0.9, 0.8]
    assert found.repeated_share.tolist() == [0.0] * 4  # none measured: none set aside


def test_a_run_says_a_truncated_copy_was_joined_via_the_copy_it_matches() -> None:
    # A; B, its first 60%; C, its first half and text of its own. C matches B (B holds most
    # of C) but not A; it is loosely like A, so it stays in A's cluster, joined via B.
    rng = random.Random(5)
    x, own = _article(rng, 3000), _article(rng, 600)
    texts = {"A": x, "B": x[:1800], "C": x[:1500] + own}
    result = deduplicate([Doc(k, v) for k, v in texts.items()], Config(cluster=LONGEST, jobs=1))
    [found] = result.clusters
    members = {m.id: m for m in found.members}
    assert found.representative == "A" and set(members) == {"A", "B", "C"}
    assert members["B"].via == "A" and members["C"].via == "B"
    assert members["C"].via_containment >= 0.8 > members["C"].containment  # a match with B only
    assert members["B"].via_jaccard == members["B"].jaccard  # verified against A itself
    assert result.removed["C"] == ("A", 0)  # still a duplicate of the member kept
