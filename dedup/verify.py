"""Exact similarity of candidate pairs on their shingle sets (sorted unique uint32 hashes).

Jaccard = |A & B| / |A | B|; containment = |A & B| / min(|A|, |B|), which is how much of the
shorter version the longer one contains (a truncated copy scores near 1).

Both are taken over the shingles; the numbers of a set (shingle.NUMBER_BIT) can decide two
documents apart. Records on one template (court rulings, tender notices for different road
sections) share most of their shingles but put different numbers in the same places: case
number, amounts, dates, stakes. Versions of one text keep its numbers where they are; a copy
cut short or in a site's frame lacks some or has others, but in places the other text does
not have. So when each of two documents has at least `Own.numbers` numbers that the other
has a different number in place of (repeated text set aside first, such as a frame's fixed
figures), they are different records and their similarity is 0.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numba import njit

from .cluster import Known, UnionFind, find_root, join
from .config import VerifyConfig
from .lsh import Buckets, slices_within
from .shingle import NUMBER_BIT, NUMBER_VALUE_BITS
from .store import ShingleStore, write_segment

_FIRST_NUMBER = np.uint32(NUMBER_BIT)
# The share of its numbers each of two records must have in places where the other has a
# different one (beside `Own.numbers` of them).
_NUMBER_SHARE = 0.1

# Shingle bytes read from the store at a time: memory stays flat whatever the corpus size.
FETCH_BUDGET = 1 << 27
# The own text of the documents in candidate pairs is held in memory up to this many bytes
# (about 900 MB at a million crawl documents): each band's pairs read sets all over it, and
# reading them from the store instead cost more than comparing them (millions of reads).
HELD_BUDGET = 1 << 30


# The repeated-shingle table of a comparison that sets nothing aside (repeats.Repeats.none).
NO_REPEATS = np.zeros(1, dtype=np.uint8)


@dataclass(frozen=True)
class Own:
    """How a pair's own text is found: the repeated-shingle table (repeats.Repeats.table: slot
    h & (size - 1) is 1 for a repeated shingle h); the own shingles both documents need, and
    the share of the larger one's the smaller needs, before containment counts for more than
    Jaccard (VerifyConfig.min_own, min_share); the differing numbers that tell two records
    apart (VerifyConfig.numbers)."""

    table: np.ndarray = field(default_factory=lambda: NO_REPEATS)
    min_own: int = 1
    numbers: int = 0  # VerifyConfig.numbers; 0: numbers do not count
    min_share: float = 0.0  # VerifyConfig.min_share


@njit(cache=True)
def _own_sets(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    table: np.ndarray,
    mask: int,
    least: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sets without their repeated shingles, as (data, starts, ends), and how many
    repeated shingles each had: each set is read once here rather than once per pair it is
    in. A set left with fewer than `least` shingles once some were set aside is left with
    nothing: a page that is only a frame, a footer or a disclaimer has no text of its own,
    however many identical copies of it a crawl holds (a short text with nothing set aside
    keeps what it has)."""
    out = np.empty(data.size, dtype=data.dtype)
    new_starts = np.empty(starts.size, dtype=np.int64)
    new_ends = np.empty(starts.size, dtype=np.int64)
    repeated = np.empty(starts.size, dtype=np.int64)
    pos = 0
    for i in range(starts.size):
        new_starts[i] = pos
        shingles = 0
        for k in range(starts[i], ends[i]):
            v = data[k]
            if table[v & mask] == 0:
                out[pos] = v
                pos += 1
                shingles += v < _FIRST_NUMBER
        repeated[i] = ends[i] - starts[i] - (pos - new_starts[i])
        if shingles < least and repeated[i] > 0:
            pos = new_starts[i]
        new_ends[i] = pos
    return out, new_starts, new_ends, repeated


@njit(cache=True, inline="always")
def _common(data: np.ndarray, x: int, a1: int, y: int, b1: int) -> int:
    """How many values data[x:a1] and data[y:b1] (each sorted unique) share."""
    inter = 0
    # Branch-free merge: which side advances is data-dependent and unpredictable, so
    # comparisons as increments run about twice as fast as if/elif.
    while x < a1 and y < b1:
        va = data[x]
        vb = data[y]
        inter += va == vb
        x += va <= vb
        y += vb <= va
    return inter


# Merge steps between two looks at whether a pair can still match (`_common_reaching`).
_STRIDE = 64


@njit(cache=True, inline="always")
def _common_reaching(data: np.ndarray, x: int, a1: int, y: int, b1: int, need: int) -> int:
    """`_common`, but given up as soon as the two cannot share `need` values, even if every
    value left matched: then a number below `need`. Most candidates in a crawl are different
    articles in one site's frame: with the frame set aside they share next to nothing, and
    the merge stops after about a quarter of their shingles."""
    inter = 0
    while x < a1 and y < b1:
        left = min(a1 - x, b1 - y)
        if inter + left < need:
            return inter
        # x and y each move at most one place a step: `left` steps stay in range.
        for _ in range(min(left, _STRIDE)):
            va = data[x]
            vb = data[y]
            inter += va == vb
            x += va <= vb
            y += vb <= va
    return inter


@njit(cache=True, inline="always")
def _least_shared(na: int, nb: int, enough: bool, threshold: float, min_containment: float) -> int:
    """A number of shared shingles below which two sets of na and nb cannot match
    (`_matches`): Jaccard >= t needs inter >= t (na + nb) / (1 + t), containment >= c needs
    inter >= c min(na, nb) when it counts (`enough`) and is the Jaccard when not. One below
    the floor, so that rounding can only make it lower."""
    if not enough:
        threshold = min(threshold, min_containment)
    if threshold <= 0.0:
        return 0
    least = threshold * (na + nb) / (1.0 + threshold)
    if enough:
        least = min(least, min_containment * min(na, nb))
    return max(int(np.floor(least)) - 1, 0)


@njit(cache=True)
def _differing(data: np.ndarray, x: int, a1: int, y: int, b1: int) -> tuple[int, int]:
    """The numbers of data[x:a1] and of data[y:b1] (sorted number elements, grouped by
    place) that the other lacks in a place both have."""
    only_a = 0
    only_b = 0
    while x < a1 and y < b1:
        pa = data[x] >> NUMBER_VALUE_BITS
        pb = data[y] >> NUMBER_VALUE_BITS
        xe = x
        while xe < a1 and data[xe] >> NUMBER_VALUE_BITS == pa:
            xe += 1
        ye = y
        while ye < b1 and data[ye] >> NUMBER_VALUE_BITS == pb:
            ye += 1
        if pa == pb:
            shared = _common(data, x, xe, y, ye)
            only_a += xe - x - shared
            only_b += ye - y - shared
            x, y = xe, ye
        elif pa < pb:
            x = xe
        else:
            y = ye
    return only_a, only_b


@njit(cache=True, inline="always")
def _pair(
    data: np.ndarray,
    a0: int,
    a1: int,
    b0: int,
    b1: int,
    min_own: int,
    numbers: int,
    min_share: float,
    threshold: float = -1.0,
    min_containment: float = -1.0,
) -> tuple[float, float]:
    """(jaccard, containment) of the sorted sets data[a0:a1] and data[b0:b1] (`Own`). Given
    the thresholds of a match (`_matches`), exact only for a pair that matches: the merge
    stops once the pair cannot match, and the figures of a pair that does not are then lower
    than its own, still below the thresholds."""
    # Numbers sort after every shingle (shingle.NUMBER_BIT): a set is [shingles, numbers].
    am = a0 + int(np.searchsorted(data[a0:a1], _FIRST_NUMBER))
    bm = b0 + int(np.searchsorted(data[b0:b1], _FIRST_NUMBER))
    if numbers > 0:
        only_a, only_b = _differing(data, am, a1, bm, b1)
        # And a share of each side's numbers: long texts repeat the contexts of their
        # numbers, so a few edits can put other numbers in some shared places.
        share = min(only_a / max(a1 - am, 1), only_b / max(b1 - bm, 1))
        if min(only_a, only_b) >= numbers and share >= _NUMBER_SHARE:
            return 0.0, 0.0
    na = am - a0
    nb = bm - b0
    small = min(na, nb)
    enough = small >= max(min_own, 1) and small >= min_share * max(na, nb)
    need = _least_shared(na, nb, enough, threshold, min_containment)
    inter = _common_reaching(data, a0, am, b0, bm, need)
    union = na + nb - inter
    jac = inter / union if union > 0 else 0.0
    con = inter / small if enough else jac
    return jac, con


@njit(cache=True)
def _similarities(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    pairs: np.ndarray,
    table: np.ndarray,
    min_own: int,
    numbers: int,
    min_share: float,
    threshold: float = -1.0,
    min_containment: float = -1.0,
) -> tuple[np.ndarray, np.ndarray]:
    m = pairs.shape[0]
    jac = np.empty(m, dtype=np.float64)
    con = np.empty(m, dtype=np.float64)
    if table.size > 1:
        data, starts, ends, _ = _own_sets(data, starts, ends, table, table.size - 1, min_own)
    for p in range(m):
        i = pairs[p, 0]
        j = pairs[p, 1]
        jac[p], con[p] = _pair(
            data,
            starts[i],
            ends[i],
            starts[j],
            ends[j],
            min_own,
            numbers,
            min_share,
            threshold,
            min_containment,
        )
    return jac, con


def own_text(table: np.ndarray, cfg: VerifyConfig) -> Own:
    """The `Own` of a run: its repeated-shingle table (`NO_REPEATS` for none) and its
    verification settings."""
    return Own(table, cfg.min_own, cfg.numbers, cfg.min_share)


def similarities(
    data: np.ndarray, offsets: np.ndarray, pairs: np.ndarray, own: Own = Own()
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (jaccard, containment) of the own text of each row (i, j) of `pairs`; set i is
    data[offsets[i]:offsets[i + 1]]. Two documents with no own text share nothing."""
    if pairs.shape[0] == 0:
        return np.empty(0), np.empty(0)
    offsets = np.asarray(offsets, dtype=np.int64)
    return _similarities(
        data,
        offsets[:-1],
        offsets[1:],
        np.ascontiguousarray(pairs, dtype=np.int64),
        own.table,
        own.min_own,
        own.numbers,
        own.min_share,
    )


def stored_similarities(
    store: ShingleStore | Held,
    pairs: np.ndarray,
    own: Own = Own(),
    budget: int = FETCH_BUDGET,
    floors: tuple[float, float] = (-1.0, -1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """`similarities` for pairs of documents of `store`, reading only their sets and at most
    about `budget` bytes of them at a time. Results do not depend on the budget. Given
    `floors` (jaccard, containment), exact only for the pairs that reach one of them: the
    others are measured only until they cannot, and come back lower, still below both."""
    pairs = np.ascontiguousarray(pairs, dtype=np.int64).reshape(-1, 2)
    jac = np.empty(pairs.shape[0], dtype=np.float64)
    con = np.empty(pairs.shape[0], dtype=np.float64)
    sizes = store.sizes()
    cost = (sizes[pairs[:, 0]] + sizes[pairs[:, 1]]) * 4
    for lo, hi in slices_within(cost, budget):
        data, starts, ends, local = _fetch_pairs(store, pairs[lo:hi])
        jac[lo:hi], con[lo:hi] = _similarities(
            data, starts, ends, local, own.table, own.min_own, own.numbers, own.min_share, *floors
        )
    return jac, con


def is_match(jaccard: np.ndarray, containment: np.ndarray, cfg: VerifyConfig) -> np.ndarray:
    """Boolean mask: versions of one article by either criterion (`_matches`, vectorised)."""
    return (jaccard >= cfg.threshold) | (containment >= cfg.containment)


@njit(cache=True, inline="always")
def _matches(jaccard: float, containment: float, threshold: float, min_containment: float) -> bool:
    """`is_match` for one pair."""
    return jaccard >= threshold or containment >= min_containment


@njit(cache=True)
def _link(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    local: np.ndarray,
    pairs: np.ndarray,
    parent: np.ndarray,
    table: np.ndarray,
    min_own: int,
    numbers: int,
    min_share: float,
    threshold: float,
    min_containment: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Verify `pairs` in order (their sets at rows `local` of data/starts/ends), skipping a
    pair whose documents `parent` already joins and joining the two of a match. Per pair:
    whether it was measured, its (jaccard, containment), whether it matched."""
    m = pairs.shape[0]
    measured = np.zeros(m, dtype=np.bool_)
    matched = np.zeros(m, dtype=np.bool_)
    jac = np.zeros(m, dtype=np.float64)
    con = np.zeros(m, dtype=np.float64)
    if table.size > 1:
        data, starts, ends, _ = _own_sets(data, starts, ends, table, table.size - 1, min_own)
    for p in range(m):
        a, b = pairs[p, 0], pairs[p, 1]
        if find_root(parent, a) == find_root(parent, b):
            continue
        i, j = local[p, 0], local[p, 1]
        jac[p], con[p] = _pair(
            data,
            starts[i],
            ends[i],
            starts[j],
            ends[j],
            min_own,
            numbers,
            min_share,
            threshold,
            min_containment,
        )
        measured[p] = True
        if _matches(jac[p], con[p], threshold, min_containment):
            matched[p] = True
            join(parent, a, b)
    return measured, jac, con, matched


@njit(cache=True)
def _still_open(pairs: np.ndarray, parent: np.ndarray) -> np.ndarray:
    out = np.empty(pairs.shape[0], dtype=np.bool_)
    for p in range(pairs.shape[0]):
        out[p] = find_root(parent, pairs[p, 0]) != find_root(parent, pairs[p, 1])
    return out


@dataclass(frozen=True)
class Linked:
    """What `link_buckets` found: the pairs that matched (rows (i, j), i < j) with their
    (jaccard, containment), and how many pairs it verified."""

    pairs: np.ndarray
    jaccard: np.ndarray
    containment: np.ndarray
    verified: int

    @property
    def known(self) -> Known:
        """The `known` argument of `similarities_to`."""
        return Known.of(self.pairs, self.jaccard, self.containment)


def own_store(
    store: ShingleStore,
    docs: np.ndarray,
    table: np.ndarray,
    folder: Path,
    budget: int,
    least: int = 1,
) -> tuple[ShingleStore, np.ndarray]:
    """The own text of `docs` (ascending; repeated shingles of `table` set aside, as
    `_own_sets` does, with `least`) in a store in `folder`, where every other document's set
    is empty; and the share of each of `docs`' sets that is repeated text, as
    `repeats.repeated_shares` gives it (the cluster stage reports it: read here, the sets
    are not read again for it).
    Made once, read for every band: a set is filtered once, not once for each band that
    pairs it (a look-up in a table of millions of slots per shingle, which cost
    verification more than comparing)."""
    out = ShingleStore(folder)
    n = len(store)
    shares = np.empty(docs.size, dtype=np.float64)
    cost = np.cumsum(store.sizes()[docs] * 4)
    # A part read and its own text are both held: a quarter of the budget each keeps the two
    # well within it (a part is read in one pass, so smaller parts cost nothing more).
    step = max(budget // 4, 1)
    lo = done = 0
    while lo < docs.size:
        base = cost[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(cost, base + step, side="right")), lo + 1)
        part = docs[lo:hi]
        data, starts, ends = store.fetch(part)
        kept, _, kept_ends, repeated = _own_sets(data, starts, ends, table, table.size - 1, least)
        # hits / size, 0 for an empty set: `repeated_shares`'s figure to the last bit.
        shares[lo:hi] = repeated / np.maximum(ends - starts, 1)
        # Documents done..part[-1], back to back in number order: the empty ones between
        # those of `part` take no room.
        sizes = np.zeros(int(part[-1]) + 1 - done, dtype=np.int64)
        sizes[part - done] = np.diff(kept_ends, prepend=0)
        out.add(write_segment(folder, kept[: kept_ends[-1]]), sizes)
        done = int(part[-1]) + 1
        lo = hi
    if done < n:
        out.add(write_segment(folder, np.empty(0, dtype=np.uint32)), np.zeros(n - done))
    return out, shares


def link_buckets(
    buckets: Buckets,
    store: ShingleStore | Held,
    cfg: VerifyConfig,
    empty: np.ndarray,
    own: Own = Own(),
    budget: int = FETCH_BUDGET,
    held: int = HELD_BUDGET,
) -> Linked:
    """Verify the candidate pairs of `buckets` (lsh.py) band by band, skipping every pair
    whose two documents matches already join (union-find): the connected components of the
    matches are those of verifying every candidate, at a cost that grows with the documents,
    not with the square of a cluster's size. One band's open pairs are held at a time; the
    own text is held in memory up to `held` bytes, else sets are read about `budget` bytes at
    a time. Deterministic: bands, buckets and pairs are taken in one order."""
    with own_sets(store, buckets.involved(empty), own, budget, held) as (sets, kept, _):
        return _link_buckets(buckets, sets, cfg, empty, kept, budget)


@contextmanager
def own_sets(
    store: ShingleStore | Held,
    involved: np.ndarray,
    own: Own,
    budget: int = FETCH_BUDGET,
    held: int = HELD_BUDGET,
) -> Iterator[tuple[ShingleStore | Held, Own, np.ndarray | None]]:
    """The sets to compare the `involved` documents (a mask) by, with the `Own` to compare
    them with, and per document the share of its set that is repeated text (NaN where not
    read: the documents not involved), or None where nothing was read for it: when `own`
    sets repeated text aside, their own text (`own_store`), in memory when it fits `held`
    bytes, and an `Own` that sets nothing aside; else `store`, `own` and None. Comparisons
    on either give the same figures."""
    if own.table.size < 2 or not isinstance(store, ShingleStore):
        yield store, own, None
        return
    # Inside the store's folder, so that it goes with the store whatever happens.
    with tempfile.TemporaryDirectory(prefix="own-", dir=store.directory) as folder:
        docs = np.flatnonzero(involved)
        kept, read = own_store(store, docs, own.table, Path(folder), budget, own.min_own)
        shares = np.full(involved.size, np.nan)
        shares[docs] = read
        del read
        sets: ShingleStore | Held = kept
        if int(kept.sizes().sum()) * 4 <= held:
            sets = Held(*kept.fetch(np.arange(len(kept))))
        yield sets, replace(own, table=NO_REPEATS), shares


@dataclass(frozen=True)
class Held:
    """Sets held in memory, read as `ShingleStore.fetch` reads a store's (for verifying every
    band's pairs when the own text of a run fits the budget): every set is there, so a fetch
    only says where they are."""

    data: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    def sizes(self) -> np.ndarray:
        return self.ends - self.starts

    def fetch(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.data, self.starts[docs], self.ends[docs]


def _fetch_pairs(
    store: ShingleStore | Held, pairs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sets of the documents in `pairs` as (data, starts, ends), and the pairs as rows of
    those: for sets held in memory all of them, and the pairs as they are (finding each
    document's place among the pairs' cost more than comparing them, at a million
    documents)."""
    if isinstance(store, Held):
        return store.data, store.starts, store.ends, pairs
    docs = np.unique(pairs)
    data, starts, ends = store.fetch(docs)
    return data, starts, ends, np.searchsorted(docs, pairs)


def _link_buckets(
    buckets: Buckets,
    store: ShingleStore | Held,
    cfg: VerifyConfig,
    empty: np.ndarray,
    own: Own,
    budget: int,
) -> Linked:
    n = empty.size
    uf = UnionFind(n)
    sizes = store.sizes()
    found: list[tuple[np.ndarray, ...]] = []
    verified = 0
    # A run of buckets at a time: the pairs of a run listed after earlier runs were verified
    # leave out those they joined, which verifying would skip anyway.
    runs = ((band, run) for band in range(buckets.bands.size - 1) for run in buckets.runs(band))
    for band, run in runs:
        pairs = buckets.open_pairs(band, uf.parent, empty, run)
        if pairs.shape[0] == 0:
            continue
        cost = (sizes[pairs[:, 0]] + sizes[pairs[:, 1]]) * 4
        for lo, hi in slices_within(cost, budget):
            chunk = pairs[lo:hi]
            if not isinstance(store, Held):  # pairs joined since are not read
                chunk = chunk[_still_open(chunk, uf.parent)]
            if chunk.shape[0] == 0:
                continue
            data, starts, ends, local = _fetch_pairs(store, chunk)
            measured, jac, con, matched = _link(
                data,
                starts,
                ends,
                local,
                chunk,
                uf.parent,
                own.table,
                own.min_own,
                own.numbers,
                own.min_share,
                cfg.threshold,
                cfg.containment,
            )
            verified += int(measured.sum())
            found.append((chunk[matched], jac[matched], con[matched]))
    if not found:
        return Linked(np.empty((0, 2), dtype=np.int64), np.empty(0), np.empty(0), verified)
    pairs, jac, con = (np.concatenate(p) for p in zip(*found, strict=True))
    return Linked(pairs, jac, con, verified)


def similarities_to(
    reps: np.ndarray,
    others: np.ndarray,
    store: ShingleStore | Held,
    known: Known | tuple[np.ndarray, np.ndarray, np.ndarray],
    own: Own = Own(),
    floors: tuple[float, float] = (-1.0, -1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """(jaccard, containment) of each (reps[k], others[k]): taken from `known` (candidate
    pairs as rows (smaller, larger), with the similarities verification measured, or those
    as `Known`; both are symmetric), read from the store for the rest (exact only for the
    pairs that reach one of `floors`, as `stored_similarities` says)."""
    if not isinstance(known, Known):
        known = Known.of(*known)
    at = known.find(reps, others)
    hit = at >= 0
    jac = np.empty(at.size, dtype=np.float64)
    con = np.empty(at.size, dtype=np.float64)
    jac[hit] = known.jaccard[at[hit]]
    con[hit] = known.containment[at[hit]]
    miss = ~hit
    missing = np.stack([reps[miss], others[miss]], axis=1)
    jac[miss], con[miss] = stored_similarities(store, missing, own, floors=floors)
    return jac, con


def similarities_reaching(
    reps: np.ndarray,
    others: np.ndarray,
    jaccard: float,
    containment: float,
    *,
    store: ShingleStore | Held,
    known: Known,
    own: Own = Own(),
) -> tuple[np.ndarray, np.ndarray]:
    """`similarities_to`, exact only for the pairs that reach `jaccard` or `containment`
    (the cluster stage's `Bounded`): most pairs a chain's centre is measured against are
    far from it, and measuring one stops once it cannot reach them."""
    return similarities_to(reps, others, store, known, own, (jaccard, containment))
