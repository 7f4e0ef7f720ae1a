"""Exact similarity of candidate pairs on their shingle sets (sorted unique uint32 hashes).

Jaccard = |A & B| / |A | B|; containment = |A & B| / min(|A|, |B|), which is how much of the
shorter version the longer one contains (a truncated copy scores near 1).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .config import VerifyConfig


@njit(cache=True)
def _similarities(
    data: np.ndarray, offsets: np.ndarray, pairs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    m = pairs.shape[0]
    jac = np.empty(m, dtype=np.float64)
    con = np.empty(m, dtype=np.float64)
    for p in range(m):
        i = pairs[p, 0]
        j = pairs[p, 1]
        a0, a1 = offsets[i], offsets[i + 1]
        b0, b1 = offsets[j], offsets[j + 1]
        na = a1 - a0
        nb = b1 - b0
        inter = 0
        x, y = a0, b0
        while x < a1 and y < b1:
            va = data[x]
            vb = data[y]
            if va == vb:
                inter += 1
                x += 1
                y += 1
            elif va < vb:
                x += 1
            else:
                y += 1
        union = na + nb - inter
        jac[p] = inter / union if union > 0 else 1.0
        small = min(na, nb)
        con[p] = inter / small if small > 0 else 1.0
    return jac, con


def similarities(
    data: np.ndarray, offsets: np.ndarray, pairs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (jaccard, containment) for each row (i, j) of `pairs`."""
    if pairs.shape[0] == 0:
        return np.empty(0), np.empty(0)
    return _similarities(data, offsets, np.ascontiguousarray(pairs, dtype=np.int64))


def is_match(jaccard: np.ndarray, containment: np.ndarray, cfg: VerifyConfig) -> np.ndarray:
    """Boolean mask: versions of one article by either criterion."""
    return (jaccard >= cfg.threshold) | (containment >= cfg.containment)
