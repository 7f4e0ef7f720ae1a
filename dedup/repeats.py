"""Text the corpus repeats: site frames, disclaimers, navigation bars, share bars, "related
articles" lists, the fixed wording of templated records. Such text is no evidence that two
documents are versions of one article, so verification compares what is left of each document
once it is set aside (its "own" text).

A shingle is repeated when it occurs in at least `RepeatConfig.min_groups` groups of the
corpus and in at least one group with text of its own (`count_repeats`: a second count
leaves out the groups the first count finds almost all repeated). A group is a set of
versions of one text (`same_group` on their whole shingle sets, joined transitively),
counted once, so that an article reposted a thousand times, in other frames or cut short,
does not make its own text "repeated", while a frame around a thousand different articles
is; nor do hundreds of lightly edited reposts that fall into separate groups, as their text
is all they hold. Only documents in some candidate pair are counted: the others are
compared with nothing.

Counts go to a table of 2**`table_bits` saturating 16-bit counters indexed by the low bits of
the shingle hash; a shingle that shares its slot with others can only be counted too often, so
the error is towards setting aside a little more, never less.

Counts last beyond a run in a persistent index (`RepeatStats`: the slots a run counted in at
least a quarter of `min_groups` groups, with both counts): a run given earlier runs'
statistics (`count_repeats`'s `prior`) adds them to its own counts, so a frame the corpus
repeated in earlier crawls is set aside in a new crawl that holds it only a few times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .cluster import UnionFind
from .config import RepeatConfig
from .lsh import Buckets

_COUNT_MAX = np.iinfo(np.uint16).max


def keep_from(cfg: RepeatConfig) -> int:
    """The fewest groups a slot is counted in for a run's statistics to keep it: a quarter of
    `min_groups`, at least 2. Fewer are mostly chance: at 100,000 documents a run puts about
    two counts in each slot of the table, from shingles that share it."""
    return max(2, cfg.min_groups // 4)


@dataclass(frozen=True)
class RepeatStats:
    """Corpus-frequency statistics that outlive a run: for each slot a run counted in at
    least `keep_from(cfg)` groups, the groups counted (`groups`, the first count) and those
    with text of their own (`own`, the second count), 16-bit saturating. Bounded by the table
    (7 bytes a kept slot). What is dropped: a frame seen in fewer than a quarter of
    `min_groups` groups of every run is never carried over, however many runs see it."""

    slots: np.ndarray  # uint32, ascending, unique
    groups: np.ndarray  # uint16
    own: np.ndarray  # uint16

    @classmethod
    def none(cls) -> RepeatStats:
        return cls(np.empty(0, np.uint32), np.empty(0, np.uint16), np.empty(0, np.uint16))

    @classmethod
    def of(cls, groups: np.ndarray, own: np.ndarray, keep: int) -> RepeatStats:
        """The statistics kept of a run's two dense counts (slots counted `keep` times)."""
        slots = np.flatnonzero(groups >= keep)
        return cls(slots.astype(np.uint32), groups[slots], own[slots])

    def __len__(self) -> int:
        return int(self.slots.size)

    @classmethod
    def combine(cls, parts: Sequence[RepeatStats]) -> RepeatStats:
        """The statistics of several runs (or segments) together: counts add, saturating.
        Added up in two dense tables of the table's size, so memory does not grow with the
        number of parts."""
        parts = [p for p in parts if len(p)]
        if len(parts) <= 1:
            return parts[0] if parts else cls.none()
        size = max(int(p.slots[-1]) for p in parts) + 1
        groups = np.zeros(size, dtype=np.uint32)
        own = np.zeros(size, dtype=np.uint32)
        for p in parts:
            groups[p.slots] += p.groups  # slots are unique within a part
            own[p.slots] += p.own
        slots = np.flatnonzero(groups).astype(np.uint32)
        return cls(
            slots,
            np.minimum(groups[slots], _COUNT_MAX).astype(np.uint16),
            np.minimum(own[slots], _COUNT_MAX).astype(np.uint16),
        )

    def repeated(self, cfg: RepeatConfig) -> np.ndarray:
        """The slots these counts alone call repeated, by `RepeatCounter.repeats`'s rule."""
        if cfg.min_groups == 0:
            return self.slots[:0]
        return self.slots[(self.groups >= cfg.min_groups) & (self.own > 0)]

    def added_to(self, counts: np.ndarray, which: str) -> np.ndarray:
        """A copy of the dense `counts` (uint16, 2**table_bits) with this `which` count
        ("groups" or "own") added at its slots, saturating."""
        out = counts.copy()
        slots = np.asarray(self.slots, dtype=np.int64)
        total = out[slots].astype(np.uint32) + getattr(self, which)
        out[slots] = np.minimum(total, _COUNT_MAX)
        return out


@dataclass(frozen=True)
class Repeats:
    """Which shingle slots are repeated text: `table[h & mask]` is 1 for a repeated shingle h.
    `none()` sets nothing aside (a table of one slot that is 0). `stats` are the run's own
    counts, as a persistent index keeps them."""

    table: np.ndarray  # uint8, 2**bits slots
    count: int  # repeated slots
    stats: RepeatStats = field(default_factory=RepeatStats.none)

    @property
    def mask(self) -> int:
        return self.table.size - 1

    @classmethod
    def none(cls) -> Repeats:
        return cls(np.zeros(1, dtype=np.uint8), 0)


@njit(cache=True)
def _count(counts: np.ndarray, data: np.ndarray, mask: int) -> None:
    top = counts.dtype.type(_COUNT_MAX)
    for k in range(data.size):
        slot = data[k] & mask
        if counts[slot] < top:
            counts[slot] += 1


@njit(cache=True)
def _share(table: np.ndarray, data: np.ndarray, mask: int) -> float:
    if data.size == 0:
        return 0.0
    hits = 0
    for k in range(data.size):
        hits += table[data[k] & mask]
    return hits / data.size


def count_repeats(
    sets: Callable[[], Iterable[np.ndarray]],
    cfg: RepeatConfig,
    prior: RepeatStats | None = None,
) -> Repeats:
    """The repeated text of the groups whose first documents' sets `sets()` gives (called
    twice): `repeats_of` with those sets counted here."""

    def count(first: Repeats | None) -> RepeatCounter:
        counter = RepeatCounter(cfg)
        counter.add(sets(), first)
        return counter

    return repeats_of(count, cfg, prior)


def repeats_of(
    count: Callable[[Repeats | None], RepeatCounter],
    cfg: RepeatConfig,
    prior: RepeatStats | None = None,
) -> Repeats:
    """The repeated text of the groups counted by `count` (the first count with None, the
    second given the first's table; wherever the sets are, as Spark's partitions count
    them): what the first count finds in `min_groups` groups and the second finds in some
    group with text of its own (`RepeatCounter.repeats`). `prior` (earlier runs' statistics,
    a persistent index's) adds to both counts; the result's `stats` are this run's alone."""
    counter = count(None)
    prior = prior if prior is not None and len(prior) else None
    groups = counter
    if prior is not None:
        groups = RepeatCounter.of(cfg, prior.added_to(counter.counts, "groups"))
    first = groups.repeats()
    # Nothing is repeated: every group has text of its own (no second count).
    own = RepeatCounter(cfg).merge(counter) if first.count == 0 else count(first)
    stats = RepeatStats.of(counter.counts, own.counts, keep_from(cfg))
    if first.count == 0:
        # The same as a full table of zeros, and verification need not look anything up.
        return Repeats(Repeats.none().table, 0, stats)
    owns = own if prior is None else RepeatCounter.of(cfg, prior.added_to(own.counts, "own"))
    found = groups.repeats(owns)
    return Repeats(found.table, found.count, stats)


class RepeatCounter:
    """Adds shingle sets (each a document's, sorted unique) to the slot counts; `repeats`
    gives the table. Counters from several places add up (`merge`), as Spark's partitions do."""

    def __init__(self, cfg: RepeatConfig) -> None:
        self.cfg = cfg
        self.counts = np.zeros(1 << cfg.table_bits, dtype=np.uint16)

    @classmethod
    def of(cls, cfg: RepeatConfig, counts: np.ndarray) -> RepeatCounter:
        """A counter holding `counts` (2**table_bits uint16)."""
        counter = cls(cfg)
        counter.counts = counts
        return counter

    def add(self, sets: Iterable[np.ndarray], first: Repeats | None = None) -> None:
        """Count `sets`; given the `first` count's table, only the sets no more than
        `max_share` of which it calls repeated (the second count)."""
        mask = self.counts.size - 1
        for data in sets:
            data = np.ascontiguousarray(data, dtype=np.uint32)
            if first is None or _share(first.table, data, first.mask) <= self.cfg.max_share:
                _count(self.counts, data, mask)

    def merge(self, other: RepeatCounter) -> RepeatCounter:
        total = self.counts.astype(np.uint32) + other.counts
        self.counts = np.minimum(total, _COUNT_MAX).astype(np.uint16)
        return self

    def repeats(self, own: RepeatCounter | None = None) -> Repeats:
        """The shingles counted in at least `min_groups` groups; given the second count
        (`own`: of the groups with text of their own), only those it counts at least once:
        the text of an article whose lightly edited copies fell into many groups is all
        those copies hold, while a site's frame is also in its pages with articles.
        (`RepeatStats.repeated` is the same rule over kept counts.)"""
        table = self.counts >= self.cfg.min_groups
        if own is not None:
            table &= own.counts > 0
        table = table.astype(np.uint8)
        return Repeats(table, int(table.sum()))


@njit(cache=True)
def _set_aside(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, table: np.ndarray, mask: int
) -> np.ndarray:
    out = np.zeros(starts.size, dtype=np.float64)
    for i in range(starts.size):
        hits = 0
        for k in range(starts[i], ends[i]):
            hits += table[data[k] & mask]
        if ends[i] > starts[i]:
            out[i] = hits / (ends[i] - starts[i])
    return out


def repeated_shares(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, table: np.ndarray
) -> np.ndarray:
    """The share of each set (data[starts[k]:ends[k]]) that verification sets aside as
    repeated text (`Repeats.table`); 0 for an empty set or when nothing is set aside."""
    return _set_aside(
        np.ascontiguousarray(data, dtype=np.uint32),
        np.asarray(starts, dtype=np.int64),
        np.asarray(ends, dtype=np.int64),
        np.ascontiguousarray(table, dtype=np.uint8),
        table.size - 1,
    )


@njit(cache=True)
def _agreement(sigs: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    m, cols = pairs.shape[0], sigs.shape[1]
    out = np.zeros(m, dtype=np.int64)
    for c in range(cols):  # a column at a time: signatures are column-major
        for p in range(m):
            out[p] += sigs[pairs[p, 0], c] == sigs[pairs[p, 1], c]
    return out


def estimated_similarities(
    sigs: np.ndarray, pairs: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(jaccard, containment) of each pair as MinHash estimates them: the share of equal
    signature values, and from it and the set sizes the share of the smaller set shared.
    Cheap (no shingle set is read) and good enough to group versions for counting."""
    if pairs.shape[0] == 0:
        return np.empty(0), np.empty(0)
    pairs = np.ascontiguousarray(pairs, dtype=np.int64)
    jac = _agreement(sigs, pairs) / sigs.shape[1]
    a, b = sizes[pairs[:, 0]], sizes[pairs[:, 1]]
    inter = jac * (a + b) / (1.0 + jac)
    con = np.minimum(inter / np.maximum(np.minimum(a, b), 1), 1.0)
    return jac, con


def same_group(
    pairs: np.ndarray,
    jaccard: np.ndarray,
    containment: np.ndarray,
    sizes: np.ndarray,
    cfg: RepeatConfig,
) -> np.ndarray:
    """Which candidate pairs (`estimated_similarities` of the whole sets; `sizes` of every
    document's set) are versions of one text for counting (RepeatConfig)."""
    a, b = sizes[pairs[:, 0]], sizes[pairs[:, 1]]
    ratio = np.minimum(a, b) / np.maximum(np.maximum(a, b), 1)
    close = (containment >= cfg.group_containment) & (ratio >= cfg.group_ratio)
    return (jaccard >= cfg.group_jaccard) | close


def group_roots(n: int, pairs: np.ndarray, linked: np.ndarray) -> np.ndarray:
    """The documents counted: one per group (its first), the groups joined by the `linked`
    pairs, among the documents in some candidate pair; ascending."""
    uf = UnionFind(n)
    uf.union_pairs(pairs[linked])
    roots = uf.roots()
    involved = np.unique(pairs)
    return np.unique(roots[involved])


def bucket_roots(
    buckets: Buckets, sizes: np.ndarray, cfg: RepeatConfig, empty: np.ndarray
) -> np.ndarray:
    """`group_roots` of every candidate pair of `buckets` (lsh.py), without listing them
    all: band by band, only the pairs whose documents are not yet in one group are
    estimated (`same_group`), so the groups come out as from every candidate."""
    uf = UnionFind(empty.size)
    for band in range(buckets.bands.size - 1):
        pairs = buckets.open_pairs(band, uf.parent, empty)
        if pairs.shape[0]:
            jac, con = estimated_similarities(buckets.sigs, pairs, sizes)
            uf.union_pairs(pairs[same_group(pairs, jac, con, sizes, cfg)])
    roots = uf.roots()
    return np.unique(roots[buckets.involved(empty)])
