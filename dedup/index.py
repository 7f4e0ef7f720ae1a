"""The two-pass index that the local run and the streaming API drive: pass one `add`s signed
batches (ids, the signature columns LSH uses, each text's figures for the cluster stage:
normalized length, noise removed, ..., and shingle sets in a disk store); `finish` runs the
stages after signing once: LSH candidates -> exact verification -> the cluster stage.

>>> from dedup.config import Config
>>> from dedup.sign import sign_texts
>>> cfg = Config()
>>> signed = sign_texts(["同一篇文章的内容", "同一篇文章的內容!"], cfg.normalize, cfg.shingle,
...                     cfg.signature)
>>> with TwoPassIndex(cfg) as index:
...     index.ids.add("a", "<doc>", -1); index.ids.add("b", "<doc>", -1)
...     index.add(signed)
...     found = index.finish()
>>> found.duplicate_of.tolist()
[-1, 0]
"""

from __future__ import annotations

import tempfile
import time
from array import array
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .cluster import Clusters, Verified, cluster
from .config import Config
from .errors import InputError, shown
from .io.outdir import Fate
from .lsh import Buckets, resolve_params
from .memory import release_freed
from .repeats import (
    Groups,
    RepeatCounter,
    Repeats,
    RepeatStats,
    WeighedChunk,
    bucket_roots,
    repeated_shares,
    repeats_of,
)
from .sign import Signed
from .store import ShingleStore, write_segment
from .types import Figures, Member, Skip
from .verify import (
    FETCH_BUDGET,
    is_match,
    link_buckets,
    own_sets,
    own_text,
    similarities_reaching,
    similarities_to,
)


def id_key(doc_id: Any) -> Hashable:
    """What ids are compared by: their text, so the integer 1 and the string "1" are one id
    (every output writes ids as strings, where the two could not be told apart)."""
    return doc_id if isinstance(doc_id, str) else str(doc_id)


def duplicate_id_error(
    doc_id: Any, first_source: str, first_line: int | None, source: str, line: int | None
) -> InputError:
    """The error every engine raises for a repeated id, naming both places; with
    on_error="skip" the later record is skipped with this as its reason (`Ids.add`)."""
    where = shown(first_source) + (f", line {first_line}" if first_line is not None else "")
    return InputError(source, f"duplicate id {doc_id!r} (first seen in {where})", line)


@dataclass
class Ids:
    """Ids in document order with where each came from. A repeated id (compared by
    `id_key`) is an input error or, with on_error="skip", a skip: the first record with an
    id, in input order, is the document, each later one is skipped. Sources are interned and
    lines kept in arrays, so a million documents cost a few bytes each beyond their ids."""

    ids: list[Any] = field(default_factory=list)
    position: dict[Hashable, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    source_of: array[int] = field(default_factory=lambda: array("l"))
    line_of: array[int] = field(default_factory=lambda: array("q"))

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, doc_id: Any, source: str, line: int, on_error: str = "raise") -> Skip | None:
        """Number the next document (`line` -1: none). A repeated id raises, or with
        on_error="skip" numbers nothing and returns the record's Skip."""
        first = self.position.setdefault(id_key(doc_id), len(self.ids))
        if first != len(self.ids):
            first_line = self.line_of[first]
            error = duplicate_id_error(
                doc_id,
                list(self.sources)[self.source_of[first]],
                first_line if first_line >= 0 else None,
                source,
                line if line >= 0 else None,
            )
            if on_error != "skip":
                raise error
            return Skip(error.source, error.line, error.reason)
        self.ids.append(doc_id)
        self.source_of.append(self.sources.setdefault(source, len(self.sources)))
        self.line_of.append(line)
        return None

    def find(self, doc_id: Any) -> int:
        """The number of the document with this id (KeyError when there is none)."""
        return self.position[id_key(doc_id)]

    def truncate(self, n: int) -> None:
        """Forget every document from number `n` on (a batch that failed part way)."""
        for doc_id in self.ids[n:]:
            del self.position[id_key(doc_id)]
        del self.ids[n:], self.source_of[n:], self.line_of[n:]


@dataclass(frozen=True)
class Found:
    """What `finish` found: the clusters, per document its cluster number, the document it
    duplicates and its entry in `clusters.members` (-1 where none), and the figures
    summary.json reports."""

    clusters: Clusters
    cluster_of: np.ndarray
    duplicate_of: np.ndarray
    entry: np.ndarray
    stats: dict[str, Any]
    repeats: Repeats = field(default_factory=Repeats.none)

    def fate(self, doc: int, ids: Sequence[Any], records: Sequence[Member]) -> Fate | None:
        """The fate of document number `doc` (`ids`: every document's id; `records`: the
        `cluster.member_records` of `clusters`)."""
        entry = int(self.entry[doc])
        if entry < 0:
            return None
        dup = int(self.duplicate_of[doc])
        cluster = int(self.cluster_of[doc])
        return Fate.of(records[entry], cluster, None if dup < 0 else ids[dup])


class TwoPassIndex:
    """Signatures, figures and shingle sets of the documents added, in the order added.

    Shingle sets go to a folder: a temporary one in `workdir`, removed by `close` (or
    `finish`). A batch a worker process already stored (`Signed.extent`) is recorded, not
    written again. The document ids live in `ids`; callers add them (with where each came
    from) before or after the batch's signatures, as long as both counts agree at `finish`.
    """

    def __init__(self, config: Config, workdir: Path | None = None) -> None:
        self.config = config
        self.bands, self.rows = resolve_params(config.lsh, config.signature.num_perm)
        self.ids = Ids()
        self.input_bytes = 0
        self._sigs: list[np.ndarray] = []
        self._figures: list[Figures] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(
            prefix=".dedup-", dir=workdir
        )
        self.store = ShingleStore(Path(self._tmp.name))

    @property
    def columns(self) -> int:
        """Signature values LSH reads; only these are kept."""
        return self.bands * self.rows

    def __len__(self) -> int:
        return sum(s.shape[0] for s in self._sigs)

    def add(self, signed: Signed) -> None:
        """Record a signed batch (its documents follow the ones added before)."""
        if self._tmp is None:
            raise RuntimeError("TwoPassIndex.add after finish or close")
        extent = signed.extent
        if extent is None:
            extent = write_segment(self.store.directory, signed.shingles)
        self.store.add(extent, signed.sizes)
        sigs = signed.sigs
        if sigs.shape[1] != self.columns:
            sigs = np.ascontiguousarray(sigs[:, : self.columns])
        self._sigs.append(sigs)
        self._figures.append(signed.figures)
        self.input_bytes += signed.input_bytes

    def _signatures(self) -> np.ndarray:
        """All signature rows in one array, row-major (as `Buckets` keeps them). Batches are
        freed as they are copied, so the peak is one copy plus a batch, not two copies."""
        n = sum(b.shape[0] for b in self._sigs)
        out = np.empty((n, self.columns), dtype=np.uint32)
        pos = 0
        self._sigs.reverse()
        while self._sigs:
            batch = self._sigs.pop()
            out[pos : pos + batch.shape[0]] = batch
            pos += batch.shape[0]
        return out

    def finish(
        self,
        on_stage: Callable[[str], None] | None = None,
        observe: Callable[[np.ndarray, ShingleStore], None] | None = None,
        prior: RepeatStats | None = None,
    ) -> Found:
        """LSH candidates, exact verification and the cluster stage over everything added.
        `on_stage` is told "verify" and "cluster" as they start; `observe` is given every
        signature row (the LSH columns) and the store while both are there (a persistent
        index takes what it keeps of them); `prior` are earlier runs' corpus-frequency statistics
        (a persistent index's), added to this run's counts of repeated text. The shingle sets
        are removed afterwards."""
        if self._tmp is None:
            raise RuntimeError("TwoPassIndex.finish called twice")
        n = len(self.ids)
        cfg = self.config
        timings: dict[str, float] = {}
        t = time.perf_counter()
        try:
            if n != len(self):
                raise RuntimeError(f"{n} ids for {len(self)} signatures")
            sigs = self._signatures()
            figures = Figures.concat(self._figures)
            self._figures.clear()
            # The batches were small arrays in malloc's heap: what they leave free there
            # would stay resident through verification (about 0.25 GiB at 1M documents).
            release_freed()
            # A document with no text is never a version of anything: it is left out of LSH
            # (a million empty records would share every band's bucket).
            empty = figures.length == 0
            buckets = Buckets.of(sigs, self.bands, self.rows, cfg.lsh.max_bucket, empty)
            del sigs  # the buckets hold them
            t = _lap(timings, "lsh", t)
            if observe is not None:
                observe(buckets.sigs, self.store)
                t = _lap(timings, "index_prepare", t)

            if on_stage is not None:
                on_stage("verify")
            groups = self._groups(buckets, empty)
            # The groups were the last to read the signatures: pairing reads only the
            # buckets. They go before the pass counts; its tables, before verification
            # holds the own text, the run's peak.
            buckets = buckets.without_signatures()
            release_freed()
            repeats = self._repeats(groups, prior)
            del groups
            release_freed()
            t = _lap(timings, "repeats", t)
            own = own_text(repeats.table, cfg.verify)
            # Every document a cluster can hold is in a candidate pair: the cluster stage
            # compares them on the same own text as verification.
            with own_sets(self.store, buckets.involved(empty), own) as (sets, own, read):
                linked = link_buckets(buckets, sets, cfg.verify, empty, own)
                del buckets  # not needed past here: the later stages get its memory
                matched = Verified(linked.pairs, linked.jaccard, linked.containment)
                t = _lap(timings, "verify", t)

                if on_stage is not None:
                    on_stage("cluster")
                # Similarities verification already measured are not read again.
                measured = linked.known
                known = partial(similarities_to, store=sets, known=measured, own=own)
                bounded = partial(similarities_reaching, store=sets, known=measured, own=own)
                shares = partial(_stored_shares, self.store, repeats.table, known=read)
                direct = partial(is_match, cfg=cfg.verify)
                clusters = cluster(
                    n,
                    matched,
                    figures,
                    known,
                    cfg.cluster,
                    repeated=shares,
                    direct=direct,
                    bounded=bounded,
                )
            cluster_of, duplicate_of = clusters.fates(n)
            entry = clusters.entries(n)
            _lap(timings, "cluster", t)
        finally:
            self.close()
        stats: dict[str, Any] = {
            "lsh": {"bands": self.bands, "rows": self.rows},
            "candidates": linked.verified,
            "verified_pairs": int(matched.pairs.shape[0]),
            "repeated_slots": repeats.count,
            "empty": int(empty.sum()),
            "input_bytes": self.input_bytes,
            "timings": timings,
        }
        return Found(clusters, cluster_of, duplicate_of, entry, stats, repeats)

    def _groups(self, buckets: Buckets, empty: np.ndarray) -> Groups | None:
        """The groups of versions the repeated-text pass counts (repeats.py), None when the
        pass is off."""
        cfg = self.config.repeat
        if cfg.min_groups == 0:
            return None
        return bucket_roots(buckets, self.store.sizes(), cfg, empty)

    def _repeats(self, groups: Groups | None, prior: RepeatStats | None = None) -> Repeats:
        """The repeated text of `groups` (the documents in candidate pairs, repeats.py),
        counted on top of `prior`."""
        cfg = self.config.repeat
        if groups is None:
            return Repeats.none()
        roots = groups.first
        if roots.size == 0 and (prior is None or not len(prior)):
            return Repeats.none()
        if prior is None and roots.size < cfg.min_groups:
            # No shingle can be in `min_groups` groups, and no index keeps the counts.
            return Repeats.none()
        store = self.store

        def count(first: Repeats | None) -> RepeatCounter:
            counter = RepeatCounter(cfg)
            if first is None:
                counter.weigh_fetched(_samples(store, groups, FETCH_BUDGET))
            else:
                runs = store.runs(roots, FETCH_BUDGET)
                counter.add_fetched((store.fetch(roots[lo:hi]) for lo, hi in runs), first)
            return counter

        return repeats_of(count, cfg, prior)

    def close(self) -> None:
        """Remove the shingle sets (done by `finish`; for an abandoned index)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> TwoPassIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _samples(store: ShingleStore, groups: Groups, budget: int) -> Iterator[WeighedChunk]:
    """The samples of `groups` as `RepeatCounter.weigh_fetched` takes them, read about
    `budget` bytes at a time, whole groups at once."""
    for lo, hi in store.runs(groups.sample, budget, groups.bounds):
        g0, g1 = np.searchsorted(groups.bounds, [lo, hi])
        data, starts, ends = store.fetch(groups.sample[lo:hi])
        yield data, starts, ends, groups.bounds[g0 : g1 + 1] - lo, groups.size[g0:g1]


def _stored_shares(
    store: ShingleStore,
    table: np.ndarray,
    docs: np.ndarray,
    budget: int = FETCH_BUDGET,
    known: np.ndarray | None = None,
) -> np.ndarray:
    """`repeated_shares` of the sets of `docs` in `store`, reading about `budget` bytes of
    them at a time; taken from `known` (per document, NaN where not known) where it has
    them."""
    out = np.zeros(docs.size, dtype=np.float64)
    if table.size < 2:
        return out
    todo = np.arange(docs.size)
    if known is not None:
        out = known[docs]
        todo = np.flatnonzero(np.isnan(out))
    for lo, hi in store.runs(docs[todo], budget):
        data, starts, ends = store.fetch(docs[todo[lo:hi]])
        out[todo[lo:hi]] = repeated_shares(data, starts, ends, table)
    return out


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    now = time.perf_counter()
    timings[stage] = timings.get(stage, 0.0) + now - since
    return now
