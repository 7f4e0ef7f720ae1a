from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.cluster import UnionFind, grouped, groups, representatives
from dedup.config import ClusterConfig


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
        assert representatives(members, bounds, lengths, cfg).tolist() == want
