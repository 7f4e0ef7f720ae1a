"""A run against persistent indexes (persist.py): each document is looked up in every index
(its LSH band keys in each segment's sorted keys, then verification of the sampled shingle sets,
verify.py), and `settle` decides what becomes of the run's documents: a document that matches an
indexed document is its duplicate, an indexed document is never removed. `IndexSet` drives this
for one run (`dedup run --index/--against`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from .config import Config
from .errors import OutputError, shown
from .indexfs import is_remote
from .io.outdir import Fate
from .persist import Index, index_path
from .repeats import Repeats, RepeatStats
from .segment import Entries, Segment, entries
from .verify import FETCH_BUDGET, Own, is_match, own_text, similarities

# --- matches ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matches:
    """For each queried document, the first indexed document it matches (in index order:
    segment, then position) or -1: `segment` and `position` name it, with the measured
    `jaccard` and `containment` of the sampled sets."""

    segment: np.ndarray
    position: np.ndarray
    jaccard: np.ndarray
    containment: np.ndarray

    @classmethod
    def none(cls, n: int) -> Matches:
        return cls(np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.zeros(n), np.zeros(n))


def _candidates(seg: Segment, keys: np.ndarray, todo: np.ndarray, max_bucket: int) -> np.ndarray:
    """(queried, indexed) pairs sharing a band key, at most `max_bucket` indexed documents
    (the earliest) per key; sorted, unique."""
    found = []
    for b in range(seg.bands):
        sorted_keys = seg.keys[b]
        q = keys[todo, b]
        # Sorted queries walk the memory-mapped keys forwards (numpy's search starts from
        # the previous answer when keys ascend): pages are touched once, in order.
        by_key = np.argsort(q)  # the order among equal keys does not matter: pairs are sorted
        q = q[by_key]
        lo = np.searchsorted(sorted_keys, q, side="left")
        # Most keys are in no bucket of the index: search the end only of those that are.
        hit = np.flatnonzero(sorted_keys[np.minimum(lo, sorted_keys.size - 1)] == q)
        count = np.zeros(q.size, dtype=np.int64)
        ends = np.searchsorted(sorted_keys, q[hit], side="right")
        count[hit] = np.minimum(ends - lo[hit], max_bucket)
        todo_b = todo[by_key]
        total = int(count.sum())
        if total == 0:
            continue
        starts = np.zeros(count.size, dtype=np.int64)
        np.cumsum(count[:-1], out=starts[1:])
        pick = np.repeat(lo - starts, count) + np.arange(total)
        found.append((np.repeat(todo_b, count) << 32) | np.asarray(seg.order[b])[pick])
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    packed = np.unique(np.concatenate(found))
    return np.stack([packed >> 32, packed & 0xFFFFFFFF], axis=1)


def match(
    segments: Sequence[Segment],
    batch: Entries,
    empty: np.ndarray,
    own: Own,
    config: Config,
    sample_bits: int,
    budget: int = FETCH_BUDGET,
) -> Matches:
    """The first indexed document each document of `batch` matches (verify.is_match on the
    sampled sets, repeated text set aside by `own`); documents with no text (`empty`) match
    nothing."""
    n = len(batch)
    out = Matches.none(n)
    # The sample holds about 2**-bits of the shingles: so must the own text containment needs.
    numbers = max(1, own.numbers >> sample_bits) if own.numbers else 0
    own = Own(own.table, max(1, own.min_own >> sample_bits), numbers, own.min_share)
    for s, seg in enumerate(segments):
        todo = np.flatnonzero((out.segment < 0) & ~empty)
        if todo.size == 0 or seg.documents == 0:
            continue
        pairs = _candidates(seg, batch.keys, todo, config.lsh.max_bucket)
        if pairs.shape[0] == 0:
            continue
        jac, con = _similarities(seg, batch, pairs, own, budget)
        hit = is_match(jac, con, config.verify)
        rows = pairs[hit]
        # Rows are sorted by queried document, then indexed position: the first is the earliest.
        first = (
            np.flatnonzero(np.r_[True, rows[1:, 0] != rows[:-1, 0]])
            if rows.size
            else np.empty(0, np.int64)
        )
        which = np.flatnonzero(hit)[first]
        q = rows[first, 0]
        out.segment[q] = s
        out.position[q] = rows[first, 1]
        out.jaccard[q] = jac[which]
        out.containment[q] = con[which]
    return out


def _similarities(
    seg: Segment, batch: Entries, pairs: np.ndarray, own: Own, budget: int
) -> tuple[np.ndarray, np.ndarray]:
    """verify.similarities of (queried, indexed) pairs, about `budget` bytes of sets at a time."""
    jac = np.empty(pairs.shape[0])
    con = np.empty(pairs.shape[0])
    q_len = np.diff(batch.offsets)
    cost = (q_len[pairs[:, 0]] + (seg.offsets[pairs[:, 1] + 1] - seg.offsets[pairs[:, 1]])) * 4
    total = np.cumsum(cost)
    lo = 0
    while lo < pairs.shape[0]:
        base = total[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(total, base + budget, side="right")), lo + 1)
        chunk = pairs[lo:hi]
        left = np.unique(chunk[:, 0])
        right = np.unique(chunk[:, 1])
        a = batch.take(left)
        b_lo, b_hi = seg.offsets[right], seg.offsets[right + 1]
        b_data = [
            np.asarray(seg.sets[x:y]) for x, y in zip(b_lo.tolist(), b_hi.tolist(), strict=True)
        ]
        data = np.concatenate([a.sets, *b_data]).astype(np.uint32, copy=False)
        offsets = np.concatenate([a.offsets, a.offsets[-1] + np.cumsum(b_hi - b_lo)])
        local = np.stack(
            [np.searchsorted(left, chunk[:, 0]), left.size + np.searchsorted(right, chunk[:, 1])],
            axis=1,
        )
        jac[lo:hi], con[lo:hi] = similarities(data, offsets, local, own)
        lo = hi
    return jac, con


def match_index(index: Index, batch: Entries, empty: np.ndarray, own: Own) -> Matches:
    """`match` against every segment of `index`, with its sampling and its run's options."""
    return match(index.segments, batch, empty, own, index.config, index.sample_bits)


def fewest(opened: Sequence[tuple[str, Index]]) -> dict[str, Any]:
    """The options of the index of `opened` that samples most: a run's documents are
    sampled so for all of them (`match_all` samples that sample again for each)."""
    return min((index.options for _, index in opened), key=lambda o: o["sample_bits"])


def match_all(
    opened: Sequence[tuple[str, Index]], batch: Entries, have: int, owns: Sequence[Own]
) -> list[tuple[str, Index, Matches]]:
    """What each document of `batch` (sampled with `have` bits, `fewest`) matches in each
    index of `opened` (with its own text `owns`, `IndexSet.owns`), as `settle` takes it."""
    empty = batch.sizes == 0
    return [
        (name, index, match_index(index, batch.resample(index.sample_bits, have), empty, own))
        for (name, index), own in zip(opened, owns, strict=True)
    ]


# --- the rule: what becomes of a run's documents given the indexes ------------------------


@dataclass(frozen=True)
class Against:
    """What the indexes decided for a run's n documents: `target[d]` is -1 or the row of
    `found` naming the indexed document d duplicates; each row of `found` is one document
    that duplicates an indexed one, as index_matches.jsonl writes it."""

    target: np.ndarray
    found: list[dict[str, Any]]

    def removed_by(self) -> dict[str, int]:
        """How many documents each index (by name) removed."""
        return count_by_index(self.found)


def count_by_index(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many of index_matches.jsonl's `rows` each index (by name) accounts for."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["index"]] = counts.get(row["index"], 0) + 1
    return counts


def settle(
    ids: Sequence[Any],
    duplicate_of: np.ndarray,
    indexes: Sequence[tuple[str, Index, Matches]],
) -> Against:
    """The rule of a run against indexes (`indexes`: the name an index was given, the index,
    what each document matched in it, in the order given). A document that matches an
    indexed document is a duplicate of it (of the first index that has one, of its earliest
    there); so is every member of a cluster of the run whose representative does, through
    that representative (`duplicate_of`: the run's own fates, -1 for kept). Indexed
    documents are never removed; everything else keeps the fate the run gave it."""
    n = len(ids)
    direct = np.full(n, -1, dtype=np.int64)  # which of `indexes` matched each document
    for k, (_, _, m) in enumerate(indexes):
        direct[(direct < 0) & (m.segment >= 0)] = k
    rep = np.where(duplicate_of >= 0, duplicate_of, np.arange(n))
    via = np.where(direct >= 0, np.arange(n), np.where(direct[rep] >= 0, rep, -1))
    target = np.full(n, -1, dtype=np.int64)
    found: list[dict[str, Any]] = []
    for d in np.flatnonzero(via >= 0).tolist():
        v = int(via[d])
        name, index, m = indexes[int(direct[v])]
        doc_id, source, segment = index.describe(int(m.segment[v]), int(m.position[v]))
        target[d] = len(found)
        found.append(
            {
                "id": ids[d],
                "duplicate_of": doc_id,
                "duplicate_of_source": source,
                "index": name,
                "segment": segment,
                "through": None if v == d else ids[v],
                "jaccard": round(float(m.jaccard[v]), 4),
                "containment": round(float(m.containment[v]), 4),
            }
        )
    return Against(target, found)


def indexed_fate(own: Fate | None, row: Mapping[str, Any]) -> Fate:
    """The fate of a document `settle` found (`row`, its line of index_matches.jsonl) given
    the one the run gave it (`own`, None: in no cluster): a duplicate of the indexed
    document, in the run's cluster, if any."""
    indexed = row["duplicate_of"]
    return Fate(indexed, None) if own is None else own._replace(duplicate_of=indexed)


class IndexSet:
    """The indexes one run is checked against, in order: at most one it adds its kept
    documents to (`add_to`, `--index`, made when missing) and any number read-only
    (`against`, `--against`). Opening checks every option and takes the writer's lock, so a
    run that would be refused is refused before it starts."""

    def __init__(
        self,
        config: Config,
        add_to: str | Path | None = None,
        against: Sequence[str | Path] = (),
        sample_bits: int | None = None,
    ) -> None:
        self.config = config
        self.opened: list[tuple[str, Index]] = []
        self.entries: Entries | None = None
        self.sample_bits = 0
        self._spill: tempfile.TemporaryDirectory[str] | None = None
        self.stats = RepeatStats.none()
        try:
            if add_to is not None:
                index = Index(add_to, config, write=True, sample_bits=sample_bits)
                self.opened.append((str(add_to), index))
            for path in against:
                self.opened.append((str(path), Index(path, config)))
        except BaseException:
            self.close()
            raise
        self.writer = self.opened[0][1] if add_to is not None else None
        self.before = {name: len(index) for name, index in self.opened}

    def spill_in(self, folder: Path) -> None:
        """Keep the run's sampled sets in files in a temporary folder in `folder` (removed by
        `close`) rather than in memory."""
        self._spill = tempfile.TemporaryDirectory(prefix=".dedup-", dir=folder)

    def prepare(
        self, sigs: np.ndarray, fetch: Any, ids: Sequence[Any], sources: Sequence[str]
    ) -> None:
        """Take what matching and a new segment need of the run's documents
        (TwoPassIndex.finish's `observe`): sampled as the index sampling most needs."""
        options = fewest(self.opened)
        self.entries = entries(sigs, fetch, ids, sources, options, self._file("prepared"))
        self.sample_bits = options["sample_bits"]

    def owns(self, repeats: Repeats) -> list[Own]:
        """For each index, the own text of a comparison with it: `repeats` is the run's
        repeated text (counted with `prior`), set aside with what the index's statistics
        call repeated (`own_table`)."""
        slots = np.flatnonzero(repeats.table) if repeats.table.size > 1 else None
        return [own_text(own_table(index, slots), self.config.verify) for _, index in self.opened]

    def settle(self, ids: Sequence[Any], duplicate_of: np.ndarray, repeats: Repeats) -> Against:
        """Match the prepared documents against every index and apply the rule (`settle`);
        `repeats` is the run's repeated text (`owns`)."""
        assert self.entries is not None, "prepare first"
        self.stats = repeats.stats
        found = match_all(self.opened, self.entries, self.sample_bits, self.owns(repeats))
        return settle(ids, duplicate_of, found)

    def prior(self) -> RepeatStats:
        """The corpus-frequency statistics of every index, added up: a run counts repeated
        text with them (repeats.count_repeats)."""
        return RepeatStats.combine([index.repeat_stats() for _, index in self.opened])

    def commit(self, kept: np.ndarray) -> str | None:
        """Add the kept documents (a boolean mask) to the index as a new segment."""
        if self.writer is None or self.entries is None:
            return None
        batch = self.entries.resample(self.writer.sample_bits, self.sample_bits)
        kept_rows = batch.take(np.flatnonzero(kept), self._file("kept"))
        return self.writer.add(kept_rows, self.stats)

    def _file(self, name: str) -> Path | None:
        return None if self._spill is None else Path(self._spill.name) / name

    def summary(self, removed: Mapping[str, int], added: int) -> dict[str, Any]:
        """What summary.json says of the indexes (`removed`: the run's documents each index
        removed, by name, `Against.removed_by`; `added`: documents the run adds)."""
        out = []
        for name, index in self.opened:
            entry: dict[str, Any] = {
                "path": name,
                "mode": "add" if index is self.writer else "read",
                "documents": self.before[name],
                "segments": len(index.segment_names),
                "removed": removed.get(name, 0),
            }
            if index is self.writer:
                entry["segment"] = f"seg-{index.next:06d}" if added else None
                entry["added"] = added
            out.append(entry)
        return {"indexes": out}

    def close(self) -> None:
        for _, index in self.opened:
            index.close()
        self.entries = None
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None

    def __enter__(self) -> IndexSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def own_table(index: Index, run: np.ndarray | None = None) -> np.ndarray:
    """The repeated-shingle table of a comparison with `index`: the slots its statistics call
    repeated (with the run's repeat options) and those `run` found (verify.Own.table)."""
    slots = index.repeat_stats().repeated(index.config.repeat)
    if run is not None:
        slots = np.union1d(slots, run)
    if slots.size == 0:
        return np.zeros(1, dtype=np.uint8)
    table = np.zeros(1 << int(index.options["repeat_table_bits"]), dtype=np.uint8)
    table[slots.astype(np.int64)] = 1
    return table


def apart(outdir: str | Path, indexes: Sequence[str | Path]) -> None:
    """An index is not OUTDIR, inside it or around it: a run clears OUTDIR. URIs other than
    file: are compared by scheme, host and path; a URI and a local folder are apart."""
    out = _place(outdir)
    for index in indexes:
        where = _place(index)
        a, b = out[1], where[1]
        if out[0] == where[0] and (a == b or a[: len(b)] == b or b[: len(a)] == a):
            raise OutputError(
                f"index {shown(str(index))} and output folder {shown(str(outdir))} overlap: "
                "keep the index in a folder of its own"
            )


def _place(given: str | Path) -> tuple[tuple[str, str], tuple[str, ...]]:
    """(scheme and host, path parts) of a folder, a local one resolved."""
    if is_remote(given):
        parts = urlsplit(str(given))
        path = PurePosixPath("/" + parts.path.strip("/"))
        return (parts.scheme.lower(), parts.netloc.lower()), path.parts
    return ("", ""), index_path(given).resolve().parts
