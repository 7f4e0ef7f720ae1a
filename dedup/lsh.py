"""Candidate pairs from banded MinHash signatures.

Each band of `rows` signature values is hashed to one 64-bit key; documents sharing a key in
any band become candidate pairs (`bucket_pairs` says which pairs of a bucket). Candidates are
only candidates: verify.py decides.

The local engine never lists every candidate: `Buckets` keeps each band's buckets, and a
pass over them (`open_pairs`, band by band) only yields the pairs whose two documents a
union-find does not already join. Union-find carries transitivity, so the components come
out as from every candidate, and an article in a thousand copies costs about a thousand
comparisons, not half a million.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from numba import njit

from .cluster import find_root
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
    return _band_keys(sigs, band, rows)


@njit(cache=True)
def _band_keys(sigs: np.ndarray, band: int, rows: int) -> np.ndarray:
    # A document at a time, so that row-major signatures (what verification reads) are read
    # in place: a column of a million values at a stride of a row, converted and hashed in
    # numpy passes, cost more than compiled code reading each row's few values.
    n = sigs.shape[0]
    out = np.empty(n, dtype=np.uint64)
    salt = np.uint64(band + 1) * np.uint64(0x9E3779B97F4A7C15)
    for i in range(n):
        h = salt
        for col in range(band * rows, (band + 1) * rows):
            h = (h ^ np.uint64(sigs[i, col])) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
        out[i] = h
    return out


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


@njit(cache=True)
def _band_buckets(order: np.ndarray, keys_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The buckets of two or more documents of one band, members ascending, as (members,
    sizes), in the order of their keys."""
    n = order.size
    members = np.empty(n, dtype=np.int32)
    sizes = np.empty(n // 2 + 1, dtype=np.int64)
    t = 0
    count = 0
    start = 0
    while start < n:
        end = start + 1
        while end < n and keys_sorted[end] == keys_sorted[start]:
            end += 1
        k = end - start
        if k > 1:
            members[t : t + k] = np.sort(order[start:end])
            t += k
            sizes[count] = k
            count += 1
        start = end
    return members[:t], sizes[:count]


def slices_within(cost: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive slices [lo, hi) of items whose summed cost stays within `budget` (an item
    costing more than the budget gets a slice of its own)."""
    total = np.cumsum(cost)
    bounds = [0]
    while bounds[-1] < cost.size:
        lo = bounds[-1]
        base = total[lo - 1] if lo else 0
        hi = int(np.searchsorted(total, base + budget, side="right"))
        bounds.append(max(hi, lo + 1))
    return list(zip(bounds[:-1], bounds[1:], strict=True))


# Candidate pairs listed at a time (`Buckets.runs`).
PAIRS_AT_ONCE = 1 << 18


@dataclass(frozen=True)
class Buckets:
    """Every band's buckets of two or more documents: bucket k is
    members[bounds[k]:bounds[k + 1]] (ascending), band b's buckets are
    bands[b]..bands[b + 1] - 1; `tag[i, b]` is 0 where document i is in no bucket of band b
    or in one of more than `max_bucket` documents (paired as a star plus a chain,
    `bucket_pairs`), else 1 + its bucket's place in the band: two documents with one tag in
    a band are in one bucket of it, and a document's tags lie together, so `open_pairs` asks
    which earlier band paired two documents by comparing a few numbers. The signatures are
    for the repeated-text pass's estimates only (`without_signatures` lets them go): 4 bytes
    per document per band without them."""

    members: np.ndarray  # int32
    bounds: np.ndarray  # int64
    bands: np.ndarray  # int64
    tag: np.ndarray  # uint32, (documents, bands), row-major
    sigs: np.ndarray  # the signature columns the bands hash, row-major (or none of them)
    rows: int
    max_bucket: int

    @classmethod
    def of(
        cls,
        sigs: np.ndarray,
        bands: int,
        rows: int,
        max_bucket: int,
        leave_out: np.ndarray | None = None,
    ) -> Buckets:
        """The buckets of signatures `sigs` (one row per document), without the documents
        `leave_out` marks (empty ones: a million would share every band's bucket)."""
        members, sizes, per_band = [], [], [0]
        tag = np.zeros((sigs.shape[0], bands), dtype=np.uint32)
        for band in range(bands):
            keys = band_keys(sigs, band, rows)
            # Members are sorted within each bucket, so an unstable sort is enough.
            order = np.argsort(keys).astype(np.int64)
            if leave_out is not None:
                order = order[~leave_out[order]]
            m, k = _band_buckets(order, keys[order])
            members.append(m)
            sizes.append(k)
            per_band.append(per_band[-1] + k.size)
            number = np.arange(1, k.size + 1, dtype=np.uint32)
            tag[m, band] = np.repeat(np.where(k > max_bucket, 0, number), k)
        size = np.concatenate(sizes) if sizes else np.empty(0, dtype=np.int64)
        bounds = np.zeros(size.size + 1, dtype=np.int64)
        np.cumsum(size, out=bounds[1:])
        flat = np.concatenate(members) if members else np.empty(0, dtype=np.int32)
        starts = np.asarray(per_band, dtype=np.int64)
        # Row-major: pairs are compared (`repeats.estimated_similarities`) a document's row
        # at a time, at random rows; read a column at a time, each value of a pair is a
        # cache miss once a column outgrows the cache. Given row-major (`TwoPassIndex`
        # makes them so), they are kept, not copied.
        return cls(flat, bounds, starts, tag, np.ascontiguousarray(sigs), rows, max_bucket)

    def without_signatures(self) -> Buckets:
        """These buckets without the signatures, which pairing does not read (verification
        holds the buckets, and at a million documents the signatures are 0.26 GiB)."""
        # A new empty array: a slice of them would keep them all.
        return replace(self, sigs=np.empty((0, self.sigs.shape[1]), dtype=self.sigs.dtype))

    def open_pairs(
        self,
        band: int,
        parent: np.ndarray,
        empty: np.ndarray,
        run: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """Band `band`'s candidate pairs (the rule of `bucket_pairs`), as rows (i, j), i < j,
        but for those with a document with no text, those an earlier band already gave, and
        those whose two documents `parent` (a union-find array) already joins; a bucket whose
        members are all joined costs one look at each. Buckets in key order, pairs in the
        order `bucket_pairs` gives them; given a `run` of the band's buckets (`runs`), only
        theirs."""
        lo, hi = run if run is not None else (self.bands[band], self.bands[band + 1])
        return _open_pairs(
            self.members,
            self.bounds,
            lo,
            hi,
            parent,
            self.max_bucket,
            empty,
            band,
            self.tag,
        )

    def runs(self, band: int, most: int = PAIRS_AT_ONCE) -> list[tuple[int, int]]:
        """Band `band`'s buckets in consecutive runs [lo, hi) that give at most `most` pairs
        each (`bucket_pairs`; a bucket that gives more, in a run of its own). Listing a
        band's pairs a run at a time keeps them, and what is computed per pair, small: at a
        million crawl documents the first band gives three million."""
        lo, hi = int(self.bands[band]), int(self.bands[band + 1])
        size = np.diff(self.bounds[lo : hi + 1])
        pairs = np.where(size <= self.max_bucket, size * (size - 1) // 2, 2 * (size - 1))
        return [(lo + a, lo + b) for a, b in slices_within(pairs, most)]

    def involved(self, empty: np.ndarray) -> np.ndarray:
        """Whether each document is in some candidate pair (with a document with text)."""
        return _involved(self.members, self.bounds, self.max_bucket, empty)


@njit(cache=True)
def _given_before(band: int, tag: np.ndarray, i: int, j: int) -> bool:
    """Whether an earlier band than `band` paired i and j: they are in one of its buckets,
    one paired in full (`Buckets.tag`)."""
    for b in range(band):
        t = tag[i, b]
        if t != 0 and t == tag[j, b]:
            return True
    return False


@njit(cache=True)
def _open_pairs(
    members: np.ndarray,
    bounds: np.ndarray,
    lo: int,
    hi: int,
    parent: np.ndarray,
    max_bucket: int,
    empty: np.ndarray,
    band: int,
    tag: np.ndarray,
) -> np.ndarray:
    out = np.empty((16, 2), dtype=np.int64)
    roots = np.empty(16, dtype=np.int64)  # of the bucket's members, found once
    t = 0
    for k in range(lo, hi):
        a0, a1 = bounds[k], bounds[k + 1]
        first = find_root(parent, members[a0])
        joined = True
        for x in range(a0 + 1, a1):
            if find_root(parent, members[x]) != first:
                joined = False
                break
        if joined:
            continue
        size = a1 - a0
        need = size * (size - 1) // 2 if size <= max_bucket else 2 * (size - 1)
        if t + need > out.shape[0]:
            grown = np.empty((max(2 * out.shape[0], t + need), 2), dtype=np.int64)
            grown[:t] = out[:t]
            out = grown
        if size > roots.size:
            roots = np.empty(size, dtype=np.int64)
        for x in range(a0, a1):
            roots[x - a0] = find_root(parent, members[x])
        if size <= max_bucket:
            for x in range(a0, a1 - 1):
                i = members[x]
                if empty[i]:
                    continue
                ri = roots[x - a0]
                for y in range(x + 1, a1):
                    j = members[y]
                    if not empty[j] and roots[y - a0] != ri and not _given_before(band, tag, i, j):
                        out[t, 0] = i
                        out[t, 1] = j
                        t += 1
        else:  # a star around the first member plus a chain
            for y in range(a0 + 1, a1):
                j = members[y]
                if empty[j]:
                    continue
                rj = roots[y - a0]
                # The star's ray, then the chain's link (the same pair for the second member).
                for x in range(a0, y, max(y - 1 - a0, 1)):
                    i = members[x]
                    if not empty[i] and roots[x - a0] != rj and not _given_before(band, tag, i, j):
                        out[t, 0] = i
                        out[t, 1] = j
                        t += 1
    return out[:t]


@njit(cache=True)
def _involved(
    members: np.ndarray, bounds: np.ndarray, max_bucket: int, empty: np.ndarray
) -> np.ndarray:
    n = empty.size
    out = np.zeros(n, dtype=np.bool_)
    for k in range(bounds.size - 1):
        a0, a1 = bounds[k], bounds[k + 1]
        size = a1 - a0
        if size <= max_bucket:
            with_text = 0
            for x in range(a0, a1):
                with_text += not empty[members[x]]
            if with_text >= 2:
                for x in range(a0, a1):
                    if not empty[members[x]]:
                        out[members[x]] = True
        else:
            head = members[a0]
            for x in range(a0 + 1, a1):
                j = members[x]
                for i in (head, members[x - 1]):
                    if not empty[i] and not empty[j]:
                        out[i] = True
                        out[j] = True
    return out
