"""Clusters from verified pairs (union-find) and a deterministic representative per cluster."""

from __future__ import annotations

import numpy as np
from numba import njit

from .config import ClusterConfig


@njit(cache=True)
def _find(parent: np.ndarray, x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True)
def _union_all(parent: np.ndarray, pairs: np.ndarray) -> None:
    for p in range(pairs.shape[0]):
        ra = _find(parent, pairs[p, 0])
        rb = _find(parent, pairs[p, 1])
        if ra != rb:
            # The smaller index becomes the root: roots are the first member in input order.
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb


class UnionFind:
    """Disjoint sets over 0..n-1 whose roots are always the smallest member."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def union(self, a: int, b: int) -> None:
        self.union_pairs(np.array([[a, b]], dtype=np.int64))

    def union_pairs(self, pairs: np.ndarray) -> None:
        if pairs.shape[0]:
            _union_all(self.parent, np.ascontiguousarray(pairs, dtype=np.int64))

    def find(self, x: int) -> int:
        return int(_find(self.parent, x))

    def roots(self) -> np.ndarray:
        """Root of every element."""
        _compress(self.parent)
        return self.parent.copy()


@njit(cache=True)
def _compress(parent: np.ndarray) -> None:
    # In index order every parent is smaller than its child and already final, so one
    # forward pass points everything at its root.
    for x in range(parent.size):
        parent[x] = parent[parent[x]]


def grouped(roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups of two or more as (members, bounds): group g is members[bounds[g]:bounds[g + 1]],
    members ascending, groups ordered by their first member. The flat form of `groups`."""
    order = np.argsort(roots, kind="stable")
    sorted_roots = roots[order]
    bounds = np.flatnonzero(np.diff(sorted_roots)) + 1
    first = np.concatenate(([0], bounds))
    last = np.concatenate((bounds, [roots.size])) if roots.size else first
    big = (last - first) > 1
    keep = np.repeat(big, last - first)
    sizes = (last - first)[big]
    out_bounds = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=out_bounds[1:])
    return order[keep], out_bounds


def groups(roots: np.ndarray) -> list[np.ndarray]:
    """Member indices of every group of two or more, ordered by their first member."""
    members, bounds = grouped(roots)
    return np.split(members, bounds[1:-1]) if bounds.size > 1 else []


def representatives(
    members: np.ndarray, bounds: np.ndarray, lengths: np.ndarray, cfg: ClusterConfig
) -> np.ndarray:
    """`representative` of every group of `grouped` at once."""
    count = bounds.size - 1
    if cfg.representative == "first" or count == 0:
        return members[bounds[:-1]].astype(np.int64)
    group = np.repeat(np.arange(count), np.diff(bounds))
    size = lengths[members].astype(np.int64)
    key = size if cfg.representative == "shortest" else -size
    # Per group: the best size, ties to the smallest index (members are ascending).
    order = np.lexsort((members, key, group))
    return members[order[bounds[:-1]]].astype(np.int64)


def representative(members: np.ndarray, lengths: np.ndarray, cfg: ClusterConfig) -> int:
    """The member kept: by default the longest normalized text (the most complete version),
    ties going to the earliest in input order."""
    if cfg.representative == "first":
        return int(members.min())
    sizes = lengths[members]
    best = sizes.min() if cfg.representative == "shortest" else sizes.max()
    return int(members[sizes == best].min())
