"""A Spark run against persistent indexes (`run_spark(..., index=, against=)`): the local
engine's rule (against.py) driven by Spark, so both engines write the same OUTDIR and add the
same segment.

The driver opens the indexes (options checked, the writer's lock taken: `IndexSet`) and hands
the tasks a snapshot of each (`persist.Snapshot`: folder, options, segments). Executors map
the segments and match their partition's documents (`match_all`); each cluster of the run
holding a matched document, and each matched document in no cluster, is settled in one task
(`settle` over its members), so no per-document data reaches the driver but the
index_matches.jsonl lines it streams out. The kept documents are written by the executors as
parts, in document order, in a scratch folder of the index; once the run is complete the
driver merges them into one segment (`Index.add_parts`, streaming, one band at a time) and
commits it. A run that fails leaves the index as it was: its parts are removed, and a
manifest lists only what a complete run added.

An index on a remote file system (hdfs://, indexfs.RemoteDir) is used the same way: the
executors read its segments through pyarrow.fs, and write each part locally, then copy it
into the scratch folder under a name of the task attempt's own, which the task returns.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .against import IndexSet, Matches, fewest, indexed_fate, match_all, settle
from .config import Config
from .indexfs import RemoteDir, is_remote
from .io.outdir import Fate
from .parallel import batched
from .persist import Index, Snapshot
from .repeats import Repeats, RepeatStats
from .segment import Entries, entries, write_segment

_BATCH = 4096  # documents matched, or made into index entries, at a time
PART = "part-{:05d}"
_ROW, _SOURCE, _REMOVED = range(3)  # what a record brought together for a part holds

# A member of a group settled in one task: (document number, id, the fate the run gave it
# (None: in no cluster), what it matched in each index (None: nothing) or None).
Member = tuple[int, Any, Fate | None, tuple[Any, ...] | None]


class SparkIndexes:
    """The indexes of one Spark run (opened, checked and locked by `indexes`), driven from
    the driver: matching, settling, the new segment's parts and its commit."""

    def __init__(self, indexes: IndexSet, sc: Any, config: Config) -> None:
        self.indexes = indexes
        self.sc = sc
        self.config = config
        self.snapshots = [(name, index.snapshot()) for name, index in indexes.opened]
        self.scratch: str | None = None  # the scratch folder's name in the writer's index
        self.removed: dict[str, int] = {}  # documents each index removed (`matches`)

    def prior(self) -> RepeatStats:
        """The indexes' corpus-frequency statistics, added to the run's counts."""
        return self.indexes.prior()

    def match(self, signed: Any, repeats: Repeats) -> Any:
        """(number, (id, hits)) of every document of `signed` (the engine's signed
        documents) that matches an indexed one: hits holds, per index, (segment, position,
        jaccard, containment) or None."""
        if not any(len(index) for _, index in self.indexes.opened):
            return self.sc.emptyRDD()  # nothing indexed yet (a new index): nothing to match
        owns = self.sc.broadcast(self.indexes.owns(repeats))
        task = _Match(self.snapshots, self.config, fewest(self.indexes.opened), owns)
        return signed.mapPartitions(task)

    def settle(self, direct: Any, rendered: Any, parts: int) -> Any:
        """(number, (index_matches.jsonl row, new fate)) of every document the indexes
        remove: `direct` (from `match`) settled with the clusters of `rendered` (number,
        line, fates, ids) that hold one."""
        member_of = rendered.flatMap(lambda r: [(node, r[0]) for node, _ in r[2]])
        # Each matched document keyed by its cluster's number, or by -1 - its number when
        # it is in none; then gathered with its cluster's members (two shuffles in all).
        placed = direct.leftOuterJoin(member_of, parts).map(_by_group)
        clusters = rendered.map(lambda r: (r[0], (r[2], r[3])))
        groups = placed.cogroup(clusters, parts).flatMap(_members)
        return groups.mapPartitions(_Settle(self.snapshots, self.config))

    def matches(self, settled: Any, n: int, parts: int) -> Iterator[dict[str, Any]]:
        """index_matches.jsonl's rows (of `settled`, of `n` documents) in document order, one
        partition at a time on the driver; `removed` counts them by index as they pass."""
        self.removed = {}
        if settled is None:
            return
        rows = settled.map(lambda kv: (kv[0], kv[1][0])).partitionBy(parts, _Range(n, parts))
        for row in rows.mapPartitions(_in_order).toLocalIterator():
            self.removed[row["index"]] = self.removed.get(row["index"], 0) + 1
            yield row

    def stage(
        self, signed: Any, sources: Any, removed: Any, n: int, parts: int
    ) -> list[str] | None:
        """Write the kept documents of the `n` of `signed` (those not in `removed`, keys
        only; `sources`: (number, source)) for the index `--index` adds to, as segment parts
        in its scratch folder, one per range of document numbers, by the executors (one
        shuffle brings each document's entry, source and fate together)."""
        writer = self.indexes.writer
        if writer is None:
            return None
        folder, self.scratch = writer.scratch(f"parts-{time.time_ns()}")
        rows = signed.mapPartitions(_Rows(writer.options, self.config.signature.num_perm))
        tagged = self.sc.union(
            [
                rows.mapValues(lambda v: (_ROW, v)),
                sources.mapValues(lambda v: (_SOURCE, v)),
                removed.mapValues(lambda _: (_REMOVED, None)),
            ]
        )
        write = _WritePart(folder, int(writer.options["lsh"]["bands"]))
        done = tagged.partitionBy(parts, _Range(n, parts)).mapPartitionsWithIndex(write).collect()
        return [f"{self.scratch}/{name}" for _, name in sorted(done)]

    def commit(self, staged: Sequence[str] | None, stats: RepeatStats) -> None:
        """Merge the staged parts into one segment and commit it (the run is complete)."""
        if self.indexes.writer is not None and staged is not None:
            self.indexes.writer.add_parts(staged, stats)

    def close(self) -> None:
        """Remove the staged parts (committed or not)."""
        if self.scratch is not None and self.indexes.writer is not None:
            self.indexes.writer.remove(self.scratch)
        self.scratch = None


@dataclass(frozen=True)
class _Range:
    """Partition function: `parts` ranges of the document numbers 0..n-1, in order."""

    n: int
    parts: int

    def __call__(self, doc: int) -> int:
        return doc * self.parts // max(self.n, 1)


def _in_order(part: Iterable[tuple[int, Any]]) -> Iterator[Any]:
    return (v for _, v in sorted(part, key=lambda kv: kv[0]))


def _by_group(kv: tuple[int, tuple[tuple[Any, Any], int | None]]) -> tuple[int, Any]:
    """(node, ((id, hits), cluster number or None)) -> (group key, (node, id, hits))."""
    node, ((doc_id, hits), number) = kv
    return (-1 - node if number is None else number), (node, doc_id, hits)


def _members(kv: tuple[int, tuple[Iterable[Any], Iterable[Any]]]) -> list[list[Member]]:
    """A group to settle, as `Member`s: a cluster's members (in its order) with what each
    matched, or a matched document in no cluster (none for a cluster without a match)."""
    found, cluster = (list(x) for x in kv[1])
    if not found:
        return []
    if not cluster:
        return [[(node, doc_id, None, hits) for node, doc_id, hits in found]]
    hits = {node: h for node, _, h in found}
    fates, ids = cluster[0]
    return [
        [
            (node, doc_id, fate, hits.get(node))
            for (node, fate), doc_id in zip(fates, ids, strict=True)
        ]
    ]


def _entries(batch: Sequence[tuple[int, Any]], options: dict[str, Any], num_perm: int) -> Entries:
    """The index entries (segment.entries, sampled as `options` say) of signed documents
    (number, (signature bytes, shingle set bytes, figures, id)); sources left empty."""
    raw = b"".join(v[0] for _, v in batch)
    sigs = np.frombuffer(raw, dtype=np.uint32).reshape(len(batch), num_perm)
    sets = [np.frombuffer(v[1], dtype=np.uint32) for _, v in batch]
    offsets = np.zeros(len(sets) + 1, dtype=np.int64)
    np.cumsum([s.size for s in sets], out=offsets[1:])
    data = np.concatenate(sets) if sets else np.empty(0, dtype=np.uint32)

    def fetch(docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return data, offsets[docs], offsets[docs + 1]

    ids = [v[3] for _, v in batch]
    return entries(sigs, fetch, ids, [""] * len(batch), options)


def _reopened(snapshots: Sequence[tuple[str, Snapshot]], config: Config) -> list[Any]:
    return [(name, Index.reopen(snap, config)) for name, snap in snapshots]


@dataclass(frozen=True)
class _Match:
    """Executor side: the documents of a partition that match an indexed one (`match_all`
    against the indexes of `snapshots`, mapped here), as (number, (id, hits))."""

    snapshots: list[tuple[str, Snapshot]]
    config: Config
    options: dict[str, Any]  # of the index that samples most (against.fewest)
    owns: Any  # Broadcast of IndexSet.owns

    def __call__(self, part: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        opened = _reopened(self.snapshots, self.config)
        have, num_perm = int(self.options["sample_bits"]), self.config.signature.num_perm
        for batch in batched(part, _BATCH):
            found = match_all(
                opened, _entries(batch, self.options, num_perm), have, self.owns.value
            )
            hit = np.zeros(len(batch), dtype=bool)
            for _, _, m in found:
                hit |= m.segment >= 0
            for k in np.flatnonzero(hit).tolist():
                hits = tuple(
                    (
                        int(m.segment[k]),
                        int(m.position[k]),
                        float(m.jaccard[k]),
                        float(m.containment[k]),
                    )
                    if m.segment[k] >= 0
                    else None
                    for _, _, m in found
                )
                yield batch[k][0], (batch[k][1][3], hits)


def _hit(m: Matches, k: int) -> tuple[int, int, float, float] | None:
    """What document k matched: (segment, position, jaccard, containment), or None."""
    if m.segment[k] < 0:
        return None
    return int(m.segment[k]), int(m.position[k]), float(m.jaccard[k]), float(m.containment[k])


@dataclass(frozen=True)
class _Settle:
    """Executor side: groups of `Member`s (a cluster of the run, or one document in none) ->
    (number, (index_matches.jsonl row, fate)) of each member the indexes remove, by
    `settle` over the group: the rule sees a document and its cluster's representative, both
    in the group."""

    snapshots: list[tuple[str, Snapshot]]
    config: Config

    def __call__(self, groups: Iterable[list[Member]]) -> Iterator[tuple[int, Any]]:
        opened = None
        for group in groups:
            if opened is None:
                opened = _reopened(self.snapshots, self.config)
            n = len(group)
            ids = [m[1] for m in group]
            # The run's fates: each member a duplicate of the representative, the one member
            # whose fate names none (or the lone document in no cluster).
            rep = next(k for k, m in enumerate(group) if m[2] is None or m[2].duplicate_of is None)
            duplicate_of = np.full(n, rep, dtype=np.int64)
            duplicate_of[rep] = -1
            found = []
            for k, (name, index) in enumerate(opened):
                m = Matches.none(n)
                for d, member in enumerate(group):
                    hit = None if member[3] is None else member[3][k]
                    if hit is not None:
                        m.segment[d], m.position[d], m.jaccard[d], m.containment[d] = hit
                found.append((name, index, m))
            against = settle(ids, duplicate_of, found)
            for d in np.flatnonzero(against.target >= 0).tolist():
                row = against.found[int(against.target[d])]
                yield group[d][0], (row, indexed_fate(group[d][2], row))


@dataclass(frozen=True)
class _Rows:
    """Executor side: signed documents -> (number, (band keys, sampled set, set size, id)),
    as the index `options` hold them."""

    options: dict[str, Any]
    num_perm: int

    def __call__(self, part: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        for batch in batched(part, _BATCH):
            e = _entries(batch, self.options, self.num_perm)
            for k, (idx, _) in enumerate(batch):
                lo, hi = int(e.offsets[k]), int(e.offsets[k + 1])
                sampled = np.asarray(e.sets[lo:hi], dtype=np.uint32).tobytes()
                yield idx, (e.keys[k].tobytes(), sampled, int(e.sizes[k]), e.ids[k])


@dataclass(frozen=True)
class _WritePart:
    """Executor side: one range of documents, each as records (number, (what, value)) of
    its entry (`_Rows`: keys, set, size, id), its source and, if it is removed, a mark ->
    the kept ones, in order, as segment part `PART` in `folder`, yielded as (part, its
    name in `folder`). In a local folder it is written under a name of this attempt's own,
    then renamed; on a remote file system it is written locally and copied in under a name
    of this attempt's own, the one yielded: a retried or duplicated task never mixes its
    files."""

    folder: str  # a local path or a URI
    bands: int

    def __call__(
        self, part: int, tagged: Iterable[tuple[int, tuple[int, Any]]]
    ) -> Iterator[tuple[int, str]]:
        from pyspark import TaskContext

        context = TaskContext.get()
        attempt = context.taskAttemptId() if context else os.getpid()
        docs: dict[int, list[Any]] = {}
        for doc, (what, value) in tagged:
            docs.setdefault(doc, [None, None, False])[what] = True if what == _REMOVED else value
        table = [(v[_ROW], v[_SOURCE]) for _, v in sorted(docs.items()) if not v[_REMOVED]]
        sets = [np.frombuffer(r[0][1], dtype=np.uint32) for r in table]
        offsets = np.zeros(len(sets) + 1, dtype=np.int64)
        np.cumsum([s.size for s in sets], out=offsets[1:])
        keys = b"".join(r[0][0] for r in table)
        batch = Entries(
            np.frombuffer(keys, dtype=np.uint32).reshape(len(table), self.bands),
            np.concatenate(sets) if sets else np.empty(0, dtype=np.uint32),
            offsets,
            np.array([r[0][2] for r in table], dtype=np.int64),
            [r[0][3] for r in table],
            [r[1] for r in table],
        )
        if is_remote(self.folder):
            name = f"{PART.format(part)}.{attempt}"
            with tempfile.TemporaryDirectory(prefix=".dedup-part-") as local:
                write_segment(Path(local) / name, batch, RepeatStats.none())
                RemoteDir(self.folder).put(Path(local) / name, name)
            yield part, name
            return
        final = Path(self.folder) / PART.format(part)
        tmp = Path(self.folder) / f".{attempt}-{final.name}"
        write_segment(tmp, batch, RepeatStats.none())
        try:
            os.rename(tmp, final)
        except OSError:  # another attempt of this task renamed the same part first
            shutil.rmtree(tmp, ignore_errors=True)
        yield part, final.name
