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
        for x in range(self.parent.size):
            _find(self.parent, x)
        return self.parent.copy()


def groups(roots: np.ndarray) -> list[np.ndarray]:
    """Member indices of every group of two or more, ordered by their first member."""
    order = np.argsort(roots, kind="stable")
    sorted_roots = roots[order]
    bounds = np.flatnonzero(np.diff(sorted_roots)) + 1
    return [g for g in np.split(order, bounds) if g.size > 1]


def representative(members: np.ndarray, lengths: np.ndarray, cfg: ClusterConfig) -> int:
    """The member kept: by default the longest normalized text (the most complete version),
    ties going to the earliest in input order."""
    if cfg.representative == "first":
        return int(members.min())
    sizes = lengths[members]
    best = sizes.min() if cfg.representative == "shortest" else sizes.max()
    return int(members[sizes == best].min())
