"""Candidate pairs from banded MinHash signatures.

Each band of `rows` signature values is hashed to one 64-bit key; documents sharing a key in
any band become candidate pairs. Candidates are only candidates: verify.py decides.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit

from .config import LSHConfig


def _collision_probability(s: np.ndarray, bands: int, rows: int) -> np.ndarray:
    return 1.0 - (1.0 - s**rows) ** bands


@cache
def lsh_params(
    threshold: float,
    num_perm: int,
    fp_weight: float = 0.2,
    fn_weight: float = 0.8,
) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive and negative areas around
    `threshold` (the same criterion as datasketch's MinHashLSH, weighted towards recall)."""
    lo = np.linspace(0.0, threshold, 200)
    hi = np.linspace(threshold, 1.0, 200)
    best = (float("inf"), 1, 1)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(_collision_probability(lo, bands, rows), lo)
            fn = np.trapezoid(1.0 - _collision_probability(hi, bands, rows), hi)
            err = fp * fp_weight + fn * fn_weight
            if err < best[0] - 1e-12:
                best = (err, bands, rows)
    return best[1], best[2]


def resolve_params(cfg: LSHConfig, num_perm: int) -> tuple[int, int]:
    """The (bands, rows) a run uses."""
    if cfg.bands is not None and cfg.rows is not None:
        return cfg.bands, cfg.rows
    return lsh_params(cfg.threshold, num_perm)


def band_keys(sigs: np.ndarray, band: int, rows: int) -> np.ndarray:
    """uint64 key per document: a hash of one band's rows, salted by the band number."""
    n = sigs.shape[0]
    with np.errstate(over="ignore"):
        h = np.full(n, np.uint64(band + 1) * np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64)
        for col in range(band * rows, (band + 1) * rows):
            h = (h ^ sigs[:, col].astype(np.uint64)) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
    return h


@njit(cache=True)
def bucket_pairs(order: np.ndarray, keys_sorted: np.ndarray, max_bucket: int) -> np.ndarray:
    """Pairs (as i << 32 | j, i < j) of documents sharing a key. A bucket larger than
    `max_bucket` contributes a star around its first member plus a chain in input order,
    linear in its size: clustering is transitive, so this keeps hostile inputs (thousands of
    identical boilerplate pages) bounded without losing the group. The pairs do not depend on
    the order of documents within a bucket, so `order` may come from an unstable sort."""
    n = order.size
    # First pass: count.
    total = 0
    start = 0
    while start < n:
        end = start + 1
        while end < n and keys_sorted[end] == keys_sorted[start]:
            end += 1
        k = end - start
        if k > 1:
            total += k * (k - 1) // 2 if k <= max_bucket else 2 * (k - 1)
        start = end
    out = np.empty(total, dtype=np.int64)
    t = 0
    start = 0
    while start < n:
        end = start + 1
        while end < n and keys_sorted[end] == keys_sorted[start]:
            end += 1
        k = end - start
        if k > 1:
            if k <= max_bucket:
                for x in range(start, end):
                    for y in range(x + 1, end):
                        a = min(order[x], order[y])
                        b = max(order[x], order[y])
                        out[t] = (np.int64(a) << 32) | np.int64(b)
                        t += 1
            else:
                members = np.sort(order[start:end])
                for x in range(1, k):
                    out[t] = (np.int64(members[0]) << 32) | np.int64(members[x])
                    t += 1
                    out[t] = (np.int64(members[x - 1]) << 32) | np.int64(members[x])
                    t += 1
        start = end
    return out[:t]


def candidate_pairs(sigs: np.ndarray, bands: int, rows: int, max_bucket: int = 64) -> np.ndarray:
    """Sorted unique candidate pairs, shape (m, 2), int64, each row i < j."""
    if sigs.shape[0] < 2:
        return np.empty((0, 2), dtype=np.int64)
    found = []
    for band in range(bands):
        # One band at a time: memory stays at one key per document, not one per band.
        keys = band_keys(sigs, band, rows)
        # The pairs do not depend on the order within a bucket, so the (several times
        # faster) unstable sort keeps the output deterministic.
        order = np.argsort(keys).astype(np.int64)
        found.append(bucket_pairs(order, keys[order], max_bucket))
    packed = np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)
    pairs = np.empty((packed.size, 2), dtype=np.int64)
    pairs[:, 0] = packed >> 32
    pairs[:, 1] = packed & 0xFFFFFFFF
    return pairs
