"""Text the corpus repeats: site frames, disclaimers, navigation bars, share bars, "related
articles" lists, the fixed wording of templated records. Such text is no evidence that two
documents are versions of one article, so verification compares what is left of each document
once it is set aside (its "own" text).

A shingle is repeated when it occurs in at least `RepeatConfig.min_groups` groups of the
corpus and in at least one group with text of its own (`count_repeats`: a second count
leaves out the groups the first count finds almost all repeated). A group is a set of
versions of one text (`joins` and `held` on their whole shingle sets, `containers`),
counted once, so that an article reposted a thousand times, in other frames or cut short,
does not make its own text "repeated", while a frame around a thousand different articles
is; nor do hundreds of lightly edited reposts that fall into separate groups, as their text
is all they hold. Only documents in some candidate pair are counted: the others are
compared with nothing.

A copy held in a larger document (a truncated copy, a teaser) joins the group of one
document that holds it, the one that holds most of it (`containers`), not of every one: a
page that is only a frame or a disclaimer is held in every page of its site, and joining
them all through it made one group of hundreds of different articles. And a shingle is not
repeated when one group holds at least `RepeatConfig.largest_share` of the documents that
carry it (each group counted by its first document's set, with its size): an article
reposted in a thousand versions, of which a few hundred sit in other sites' frames (each
such copy a group of its own), is still one text, while a frame or a template is spread
over many groups none of which holds most of it.

Counts go to a table of 2**`table_bits` saturating 16-bit counters indexed by the low bits of
the shingle hash; a shingle that shares its slot with others can only be counted too often, so
the error is towards setting aside a little more, never less.

Counts last beyond a run in a persistent index (`RepeatStats`: the slots a run counted in at
least a quarter of `min_groups` groups, with both counts): a run given earlier runs'
statistics (`count_repeats`'s `prior`) adds them to its own counts, so a frame the corpus
repeated in earlier crawls is set aside in a new crawl that holds it only a few times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from .cluster import UnionFind
from .config import RepeatConfig
from .lsh import Buckets

_COUNT_MAX = np.iinfo(np.uint16).max
# Sets as `ShingleStore.fetch` reads them: (data, starts, ends), set k data[starts[k]:ends[k]];
# and groups' samples (data, starts, ends, bounds, sizes), as `RepeatCounter.weigh_fetched`
# takes them.
Fetched = tuple[np.ndarray, np.ndarray, np.ndarray]
WeighedChunk = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


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
    docs: np.ndarray  # uint16: the documents of those groups
    largest: np.ndarray  # uint16: the documents of the largest of them

    @classmethod
    def none(cls) -> RepeatStats:
        empty = np.empty(0, np.uint16)
        return cls(np.empty(0, np.uint32), empty, empty, empty, empty)

    @classmethod
    def counted(cls, slots: np.ndarray, groups: np.ndarray, own: np.ndarray) -> RepeatStats:
        """Statistics that did not keep documents (an index made before they were kept):
        each group taken as one document, none as the largest."""
        return cls(slots, groups, own, groups, np.zeros_like(groups))

    @classmethod
    def of(cls, first: RepeatCounter, own: np.ndarray, keep: int) -> RepeatStats:
        """The statistics kept of a run's counts (`first`, and the second count `own`):
        slots counted `keep` times."""
        groups = first.counts
        slots = np.flatnonzero(groups >= keep)
        docs, largest = first.documents(slots)
        return cls(slots.astype(np.uint32), groups[slots], own[slots], docs, largest)

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
        docs = np.zeros(size, dtype=np.uint32)
        largest = np.zeros(size, dtype=np.uint16)
        for p in parts:
            groups[p.slots] += p.groups  # slots are unique within a part
            own[p.slots] += p.own
            docs[p.slots] += p.docs
            largest[p.slots] = np.maximum(largest[p.slots], p.largest)
        slots = np.flatnonzero(groups).astype(np.uint32)

        def capped(a: np.ndarray) -> np.ndarray:
            return np.minimum(a[slots], _COUNT_MAX).astype(np.uint16)

        return cls(slots, capped(groups), capped(own), capped(docs), largest[slots])

    def repeated(self, cfg: RepeatConfig) -> np.ndarray:
        """The slots these counts alone call repeated, by `RepeatCounter.repeats`'s rule."""
        if cfg.min_groups == 0:
            return self.slots[:0]
        spread = self.largest < cfg.largest_share * self.docs.astype(np.float64)
        if cfg.largest_share == 0:
            spread = np.ones(self.slots.size, dtype=bool)
        return self.slots[(self.groups >= cfg.min_groups) & (self.own > 0) & spread]

    def added_to(self, counts: np.ndarray, which: str) -> np.ndarray:
        """A copy of the dense `counts` (uint16, 2**table_bits) with this `which` count
        ("groups", "own", or "extra": the documents beyond one per group) added at its slots,
        saturating, or for "largest" the larger of the two."""
        out = counts.copy()
        slots = np.asarray(self.slots, dtype=np.int64)
        if which == "largest":
            out[slots] = np.maximum(out[slots], self.largest)
            return out
        if which == "extra":  # the documents beyond one per group
            added = np.maximum(self.docs.astype(np.int64) - self.groups, 0)
        else:
            added = getattr(self, which)
        total = out[slots].astype(np.uint32) + added
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
def _count(
    counts: np.ndarray,
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    mask: int,
    table: np.ndarray,
    check: bool,
    max_share: float,
) -> None:
    """Count the sets data[starts[k]:ends[k]]; if `check`, only those no more than
    `max_share` of which `table` (a `Repeats.table`) holds."""
    top = counts.dtype.type(_COUNT_MAX)
    tmask = table.size - 1
    for s in range(starts.size):
        a, b = starts[s], ends[s]
        if check and b > a:
            hits = 0
            for k in range(a, b):
                hits += table[data[k] & tmask]
            if hits / (b - a) > max_share:
                continue
        for k in range(a, b):
            slot = data[k] & mask
            if counts[slot] < top:
                counts[slot] += 1


@njit(cache=True)
def _weigh(
    counts: np.ndarray,
    extra: np.ndarray,
    largest: np.ndarray,
    scratch: np.ndarray,
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    bounds: np.ndarray,
    sizes: np.ndarray,
    mask: int,
) -> None:
    """Count and weigh groups: group g of `sizes[g]` documents by its sample, the sets
    data[starts[k]:ends[k]] for k in bounds[g]..bounds[g + 1] - 1 (its first document's
    first, the one counted). A slot held by t of the sample's sets gets round(size * t /
    sample) documents, of which `extra` takes all but the one the count gave if the first
    set holds it. `scratch` (uint8, one per slot, all 0) counts the sets holding a slot in
    its low 7 bits and marks the first set's in the top one; it is 0 again afterwards."""
    top = extra.dtype.type(_COUNT_MAX)
    for g in range(sizes.size):
        lo, hi = bounds[g], bounds[g + 1]
        for k in range(starts[lo], ends[lo]):
            slot = data[k] & mask
            if counts[slot] < top:
                counts[slot] += 1
        size = sizes[g]
        if size == 1:
            continue
        sample = hi - lo
        for s in range(lo, hi):
            for k in range(starts[s], ends[s]):
                slot = data[k] & mask
                if scratch[slot] & 0x7F < 0x7F:
                    scratch[slot] += 1
        for k in range(starts[lo], ends[lo]):
            scratch[data[k] & mask] |= 0x80
        for s in range(lo, hi):
            for k in range(starts[s], ends[s]):
                slot = data[k] & mask
                mark = scratch[slot]
                if mark == 0:
                    continue  # weighed already
                weight = (size * (mark & 0x7F) + sample // 2) // sample
                extra[slot] = min(extra[slot] + weight - (mark >> 7), top)
                largest[slot] = max(largest[slot], min(weight, top))
                scratch[slot] = 0


def count_repeats(
    sets: Callable[[], Iterable[np.ndarray]],
    cfg: RepeatConfig,
    prior: RepeatStats | None = None,
    weighed: Iterable[tuple[int, Sequence[np.ndarray]]] | None = None,
) -> Repeats:
    """The repeated text of the groups whose first documents' sets `sets()` gives (called
    once, twice when not `weighed`; `weighed`: each group's documents and sample, as
    `RepeatCounter.weigh` takes them, in the same order): `repeats_of` with those sets
    counted here."""

    def count(first: Repeats | None) -> RepeatCounter:
        counter = RepeatCounter(cfg)
        if first is None and weighed is not None:
            counter.weigh(weighed)
        else:
            counter.add(sets(), first)
        return counter

    return repeats_of(count, cfg, prior)


def repeats_of(
    count: Callable[[Repeats | None], RepeatCounter],
    cfg: RepeatConfig,
    prior: RepeatStats | None = None,
) -> Repeats:
    """The repeated text of the groups counted by `count` (the first count, weighed or not,
    with None; the second given the first's table; wherever the sets are, as Spark's
    partitions count them): what the first count finds in `min_groups` groups, not mostly in
    one of them, and the second finds in some group with text of its own
    (`RepeatCounter.repeats`). `prior` (earlier runs' statistics, a persistent index's) adds
    to the counts; the result's `stats` are this run's alone."""
    counter = count(None)
    prior = prior if prior is not None and len(prior) else None
    groups = counter
    if prior is not None:
        extra, largest = counter.weights()
        groups = RepeatCounter.of(
            cfg,
            prior.added_to(counter.counts, "groups"),
            prior.added_to(extra, "extra"),
            prior.added_to(largest, "largest"),
        )
    first = groups.repeats()
    # Nothing is repeated: every group has text of its own (no second count).
    own = RepeatCounter(cfg).merge(counter) if first.count == 0 else count(first)
    stats = RepeatStats.of(counter, own.counts, keep_from(cfg))
    if first.count == 0:
        # The same as a full table of zeros, and verification need not look anything up.
        return Repeats(Repeats.none().table, 0, stats)
    if prior is not None:
        own = RepeatCounter.of(cfg, prior.added_to(own.counts, "own"))
    found = groups.repeats(own)
    return Repeats(found.table, found.count, stats)


class RepeatCounter:
    """Adds shingle sets (each a group's first document's, sorted unique) to the slot counts;
    `repeats` gives the table. Counters from several places add up (`merge`), as Spark's
    partitions do. Weighed groups (`weigh`) also give, per slot, `extra`: the documents of
    the groups that hold it beyond one per group counted, and `largest`: the most documents
    one group of more than one gives it (uint16, saturating; None until weighed). A group
    of one document adds nothing to either, so weighing costs little beyond counting."""

    def __init__(self, cfg: RepeatConfig) -> None:
        self.cfg = cfg
        self.counts = np.zeros(1 << cfg.table_bits, dtype=np.uint16)
        self.extra: np.ndarray | None = None
        self.largest: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        cfg: RepeatConfig,
        counts: np.ndarray,
        extra: np.ndarray | None = None,
        largest: np.ndarray | None = None,
    ) -> RepeatCounter:
        """A counter holding `counts` (2**table_bits uint16), weighed by `extra` and
        `largest` if given."""
        counter = cls(cfg)
        counter.counts, counter.extra, counter.largest = counts, extra, largest
        return counter

    def __getstate__(self) -> dict[str, Any]:
        # Pickled (Spark's partitions to the driver) with the weights at their nonzero slots
        # only: most slots have none, and three dense tables would triple what a task sends.
        state = dict(self.__dict__)
        if self.extra is not None and self.largest is not None:
            slots = np.flatnonzero(self.largest).astype(np.uint32)
            state["extra"] = (slots, self.extra[slots], self.largest[slots])
            state["largest"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if isinstance(self.extra, tuple):
            slots, extra, largest = self.extra
            self.extra = np.zeros_like(self.counts)
            self.largest = np.zeros_like(self.counts)
            self.extra[slots], self.largest[slots] = extra, largest

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(extra, largest): as weighed, or none (each group one document)."""
        if self.extra is None or self.largest is None:
            return np.zeros_like(self.counts), np.zeros_like(self.counts)
        return self.extra, self.largest

    def documents(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(documents, largest group's documents) at `slots`: every group that holds a slot
        gives it at least one."""
        extra, largest = self.weights()
        docs = np.minimum(self.counts[slots].astype(np.uint32) + extra[slots], _COUNT_MAX)
        one = np.minimum(self.counts[slots], 1)
        return docs.astype(np.uint16), np.maximum(largest[slots], one)

    def add(self, sets: Iterable[np.ndarray], first: Repeats | None = None) -> None:
        """Count `sets`; given the `first` count's table, only the sets no more than
        `max_share` of which it calls repeated (the second count)."""
        one = np.zeros(1, dtype=np.int64)
        self.add_fetched(((d, one, np.array([len(d)])) for d in sets), first)

    def add_fetched(self, chunks: Iterable[Fetched], first: Repeats | None = None) -> None:
        """`add` the sets of each chunk (data, starts, ends): data[starts[k]:ends[k]], as
        `ShingleStore.fetch` reads them."""
        table = np.zeros(1, dtype=np.uint8) if first is None else first.table
        mask = self.counts.size - 1
        for data, starts, ends in chunks:
            _count(
                self.counts,
                np.ascontiguousarray(data, dtype=np.uint32),
                np.asarray(starts, dtype=np.int64),
                np.asarray(ends, dtype=np.int64),
                mask,
                table,
                first is not None,
                self.cfg.max_share,
            )

    def weigh(self, groups: Iterable[tuple[int, Sequence[np.ndarray]]]) -> None:
        """Count groups and weigh them by their documents: each (documents, sets of the
        members that stand for it, `sample_ranks`, its first document's first) counts its
        first set, as `add` does,
        and gives a slot the group's documents times the share of its sample whose set
        holds the slot (the sample stands for the group: its first document alone would
        credit its own site's frame with every version of the article)."""

        def chunk(size: int, sample: Sequence[np.ndarray]) -> WeighedChunk:
            lengths = np.array([len(d) for d in sample], dtype=np.int64)
            data = np.concatenate([np.asarray(d, dtype=np.uint32) for d in sample])
            ends = np.cumsum(lengths)
            bounds = np.array([0, len(sample)], dtype=np.int64)
            return data, ends - lengths, ends, bounds, np.array([size], dtype=np.int64)

        self.weigh_fetched(chunk(size, sample) for size, sample in groups)

    def weigh_fetched(self, chunks: Iterable[WeighedChunk]) -> None:
        """`weigh` the groups of each chunk (data, starts, ends, bounds, sizes): group g of
        `sizes[g]` documents has the sample data[starts[k]:ends[k]] for k in
        bounds[g]..bounds[g + 1] - 1 (its first document's first), many groups at a time, as
        `ShingleStore.fetch` reads them."""
        if self.extra is None or self.largest is None:
            self.extra, self.largest = np.zeros_like(self.counts), np.zeros_like(self.counts)
        else:  # the weights may be another counter's (`of`)
            self.extra, self.largest = self.extra.copy(), self.largest.copy()
        scratch = np.zeros(self.counts.size, dtype=np.uint8)
        for data, starts, ends, bounds, sizes in chunks:
            _weigh(
                self.counts,
                self.extra,
                self.largest,
                scratch,
                np.ascontiguousarray(data, dtype=np.uint32),
                np.asarray(starts, dtype=np.int64),
                np.asarray(ends, dtype=np.int64),
                np.asarray(bounds, dtype=np.int64),
                np.asarray(sizes, dtype=np.int64),
                self.counts.size - 1,
            )

    def merge(self, other: RepeatCounter) -> RepeatCounter:
        total = self.counts.astype(np.uint32) + other.counts
        self.counts = np.minimum(total, _COUNT_MAX).astype(np.uint16)
        if other.extra is not None and other.largest is not None:
            extra, largest = self.weights()
            self.extra = np.minimum(extra.astype(np.uint32) + other.extra, _COUNT_MAX).astype(
                np.uint16
            )
            self.largest = np.maximum(largest, other.largest)
        return self

    def repeats(self, own: RepeatCounter | None = None) -> Repeats:
        """The shingles counted in at least `min_groups` groups, and, when weighed, fewer than
        `largest_share` of whose documents are in one group; given the second count (`own`:
        of the groups with text of their own), only those it counts at least once: the text
        of an article whose lightly edited copies fell into many groups is all those copies
        hold, while a site's frame is also in its pages with articles.
        (`RepeatStats.repeated` is the same rule over kept counts.)"""
        table = self.counts >= self.cfg.min_groups
        if own is not None:
            table &= own.counts > 0
        if self.extra is not None and self.cfg.largest_share > 0:
            # Mostly in one group: one text in many versions, not what the corpus repeats.
            slots = np.flatnonzero(table)
            docs, largest = self.documents(slots)
            table[slots[largest >= self.cfg.largest_share * docs.astype(np.float64)]] = False
        table = table.view(np.uint8)
        return Repeats(table, int(np.count_nonzero(table)))


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
    for p in range(m):  # a row at a time: `Buckets.sigs` are row-major
        i, j = pairs[p, 0], pairs[p, 1]
        same = 0
        for c in range(cols):
            same += sigs[i, c] == sigs[j, c]
        out[p] = same
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


def joins(
    pairs: np.ndarray, jaccard: np.ndarray, sizes: np.ndarray, cfg: RepeatConfig
) -> np.ndarray:
    """The pairs that join two groups into one: similar as a whole. Two sets whose sizes
    differ more than `group_jaccard` allows cannot be that similar, whatever MinHash
    estimates (a pair is a candidate because its signatures agree on a band, so its estimate
    errs upwards): a bare frame half the size of its pages is held in them, not joined."""
    a, b = sizes[pairs[:, 0]], sizes[pairs[:, 1]]
    ratio = np.minimum(a, b) / np.maximum(np.maximum(a, b), 1)
    return (jaccard >= cfg.group_jaccard) & (ratio >= cfg.group_jaccard)


def held(
    pairs: np.ndarray, containment: np.ndarray, sizes: np.ndarray, cfg: RepeatConfig
) -> np.ndarray:
    """The pairs whose smaller document the larger holds (a truncated copy, a teaser, or a
    bare frame in a page): each such document joins one group that holds it (`containers`)."""
    a, b = sizes[pairs[:, 0]], sizes[pairs[:, 1]]
    ratio = np.minimum(a, b) / np.maximum(np.maximum(a, b), 1)
    return (containment >= cfg.group_containment) & (ratio >= cfg.group_ratio)


def oriented(pairs: np.ndarray, size_a: np.ndarray, size_b: np.ndarray) -> np.ndarray:
    """Each pair (its documents' set sizes `size_a`, `size_b`) as (smaller, larger): by set
    size, then by number."""
    a, b = pairs[:, 0], pairs[:, 1]
    first = (size_a < size_b) | ((size_a == size_b) & (a < b))
    return np.c_[np.where(first, a, b), np.where(first, b, a)].astype(np.int64)


def containers(holds: np.ndarray, containment: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """The links held pairs add (`holds`: (smaller, larger) rows, with their estimated
    `containment`; `roots`: each document's group by joining pairs alone): for each smaller
    document of a pair whose documents are in different groups, the one pair whose larger
    document holds most of it (ties: the smallest number). A page that is only a frame or a
    disclaimer joins one of the pages that carry it, not all of them into one group."""
    apart = roots[holds[:, 0]] != roots[holds[:, 1]]
    holds, containment = holds[apart], containment[apart]
    if holds.shape[0] == 0:
        return holds.reshape(0, 2)
    order = np.lexsort((holds[:, 1], -containment, holds[:, 0]))
    holds = holds[order]
    first = np.r_[True, holds[1:, 0] != holds[:-1, 0]]
    return holds[first]


SAMPLE = 8  # documents of a group whose sets stand for it when it is weighed, at least
SAMPLE_MAX = 120  # and at most (about the square root of its documents in between)


def sample_ranks(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of `sizes` documents: how many of each group's members stand for it, and
    their ranks (by document number) back to back. A group's first member, and others spread
    evenly over it: `SAMPLE` of them or about the square root of its size, at most
    `SAMPLE_MAX`. Spread, not the first few: a group that chains several articles is weighed
    by all of them."""
    sizes = np.asarray(sizes, dtype=np.int64)
    root = np.ceil(np.sqrt(np.maximum(sizes, 1))).astype(np.int64)
    counts = np.minimum(sizes, np.clip(root, SAMPLE, SAMPLE_MAX))
    size = np.repeat(sizes, counts)
    count = np.repeat(counts, counts)
    at = np.arange(size.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return counts, at * size // np.maximum(count, 1)


@dataclass(frozen=True)
class Groups:
    """The groups counted, ascending by first document: `first`, `size` (documents), and
    `sample[bounds[g]:bounds[g + 1]]`: group g's members that stand for it (`sample_ranks`; its
    first document first)."""

    first: np.ndarray
    size: np.ndarray
    sample: np.ndarray
    bounds: np.ndarray

    @classmethod
    def of(cls, roots: np.ndarray, members: np.ndarray) -> Groups:
        """The groups of `members` (document numbers, ascending), each in the group of its
        `roots` entry (the group's smallest member)."""
        root = roots[members]
        order = np.lexsort((members, root))
        root, members = root[order], members[order]
        first, start, size = np.unique(root, return_index=True, return_counts=True)
        counts, ranks = sample_ranks(size)
        bounds = np.zeros(first.size + 1, dtype=np.int64)
        np.cumsum(counts, out=bounds[1:])
        return cls(first, size, members[np.repeat(start, counts) + ranks], bounds)

    def weighed(self, sets: Iterable[np.ndarray]) -> Iterator[tuple[int, list[np.ndarray]]]:
        """(documents, sample sets) of each group, given the sets of `sample` in order."""
        it = iter(sets)
        for g in range(self.first.size):
            yield int(self.size[g]), [next(it) for _ in range(self.bounds[g], self.bounds[g + 1])]


def group_roots(
    n: int,
    pairs: np.ndarray,
    jaccard: np.ndarray,
    containment: np.ndarray,
    sizes: np.ndarray,
    cfg: RepeatConfig,
) -> Groups:
    """The groups that candidate `pairs` (their estimated whole-set similarities; `sizes` of
    every document's set) make among the documents in some candidate pair: pairs that
    `joins` join groups; each held document then joins its `containers` pick."""
    uf = UnionFind(n)
    uf.union_pairs(pairs[joins(pairs, jaccard, sizes, cfg)])
    grip = held(pairs, containment, sizes, cfg)
    kept = pairs[grip]
    holds = oriented(kept, sizes[kept[:, 0]], sizes[kept[:, 1]])
    uf.union_pairs(containers(holds, containment[grip], uf.roots()))
    return Groups.of(uf.roots(), np.unique(pairs))


def bucket_roots(
    buckets: Buckets, sizes: np.ndarray, cfg: RepeatConfig, empty: np.ndarray
) -> Groups:
    """`group_roots` of every candidate pair of `buckets` (lsh.py), without listing them
    all: band by band, only the pairs whose documents joining pairs have not yet put in one
    group are estimated; the held pairs among them are kept for `containers`. A pair left
    out was in one group already, so it is in one group at the end: the groups come out as
    from every candidate."""
    uf = UnionFind(empty.size)
    holds: list[np.ndarray] = []
    contained: list[np.ndarray] = []
    for band in range(buckets.bands.size - 1):
        # A run of buckets at a time, all listed before the band's joins: as one list.
        joined: list[np.ndarray] = []
        for run in buckets.runs(band):
            pairs = buckets.open_pairs(band, uf.parent, empty, run)
            if pairs.shape[0]:
                jac, con = estimated_similarities(buckets.sigs, pairs, sizes)
                grip = held(pairs, con, sizes, cfg)
                kept = pairs[grip]
                holds.append(oriented(kept, sizes[kept[:, 0]], sizes[kept[:, 1]]))
                contained.append(con[grip])
                joined.append(pairs[joins(pairs, jac, sizes, cfg)])
        for pairs in joined:
            uf.union_pairs(pairs)
    if holds:
        roots = uf.roots()
        uf.union_pairs(containers(np.concatenate(holds), np.concatenate(contained), roots))
    return Groups.of(uf.roots(), np.flatnonzero(buckets.involved(empty)))
