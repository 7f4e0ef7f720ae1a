"""deduplicate(docs, config) -> Result: the stages, in the order the data flows.

read -> normalize + shingle + sign (batched, parallel) -> LSH candidates -> exact
verification -> union-find clusters -> representatives. Only signatures and per-document
figures stay in memory; shingle sets go to a disk-backed store.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from . import __version__
from .cluster import UnionFind, groups, representative
from .config import Config
from .errors import AccountingError, InputError
from .io import read_inputs
from .io.writers import atomic_open, json_line, write_json, write_jsonl
from .lsh import candidate_pairs, resolve_params
from .normalize import normalize_codepoints, tables
from .parallel import ordered_map, resolve_jobs
from .shingle import shingle_codepoints
from .signature import minhash_many
from .store import ShingleStore
from .types import Cluster, Doc, Member, Result, Skip
from .verify import is_match, similarities


@dataclass(frozen=True)
class Signed:
    """A signed batch: one signature row, shingle set and normalized length per text, and the
    CPU seconds spent normalizing and shingling + signing (for per-stage throughput)."""

    sigs: np.ndarray
    sets: list[np.ndarray]
    lengths: np.ndarray
    normalize_s: float
    sign_s: float


def sign_texts(texts: list[str], config: Config) -> Signed:
    """Normalize, shingle and sign a batch of texts."""
    t0 = time.perf_counter()
    normalized = [normalize_codepoints(t, config.normalize) for t in texts]
    t1 = time.perf_counter()
    cls = tables(config.normalize).cls
    sets = [shingle_codepoints(cps, cls, config.shingle.ngram) for cps in normalized]
    lengths = np.fromiter((cps.size for cps in normalized), dtype=np.int64, count=len(texts))
    sigs = minhash_many(sets, config.signature)
    return Signed(sigs, sets, lengths, t1 - t0, time.perf_counter() - t1)


@dataclass
class _SignTask:
    """A picklable callable for worker processes."""

    config: Config

    def __call__(self, texts: list[str]) -> Signed:
        return sign_texts(texts, self.config)


@dataclass
class _Timer:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now


@dataclass
class _Index:
    """What pass one keeps per document: id, where it came from, normalized length and
    signature. Sources are interned so a million documents cost a few bytes each."""

    ids: list[str] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    source_of: list[int] = field(default_factory=list)
    line_of: list[int] = field(default_factory=list)
    lengths: list[np.ndarray] = field(default_factory=list)
    sigs: list[np.ndarray] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    input_bytes: int = 0

    def add(self, doc: Doc) -> None:
        first = self.seen.get(doc.id)
        if first is not None:
            src = list(self.sources)[self.source_of[first]]
            line = self.line_of[first]
            where = f"{src}, line {line}" if line >= 0 else src
            raise InputError(
                doc.source, f"duplicate id {doc.id!r} (first seen in {where})", doc.line
            )
        self.seen[doc.id] = len(self.ids)
        self.ids.append(doc.id)
        self.source_of.append(self.sources.setdefault(doc.source, len(self.sources)))
        self.line_of.append(doc.line if doc.line is not None else -1)
        self.input_bytes += len(doc.text.encode("utf-8", "surrogatepass"))


def _batches(
    docs: Iterable[Doc | Skip], index: _Index, size: int, timer: _Timer
) -> Iterator[list[str]]:
    """Group documents into text batches, recording ids and skips as they pass."""
    batch: list[str] = []
    t = time.perf_counter()
    for item in docs:
        t = timer.add("read", t)
        if isinstance(item, Skip):
            index.skipped.append(item)
        else:
            index.add(item)
            batch.append(item.text)
            if len(batch) >= size:
                yield batch
                batch = []
        t = time.perf_counter()
    timer.add("read", t)
    if batch:
        yield batch


def _sign_all(
    docs: Iterable[Doc | Skip], config: Config, store: ShingleStore, timer: _Timer
) -> _Index:
    index = _Index()
    jobs = resolve_jobs(config.jobs)
    t = time.perf_counter()
    results = ordered_map(_SignTask(config), _batches(docs, index, config.batch_size, timer), jobs)
    for signed in results:
        for s in signed.sets:
            store.append(s)
        index.sigs.append(signed.sigs)
        index.lengths.append(signed.lengths)
        timer.seconds["normalize_cpu"] = (
            timer.seconds.get("normalize_cpu", 0.0) + signed.normalize_s
        )
        timer.seconds["shingle_sign_cpu"] = (
            timer.seconds.get("shingle_sign_cpu", 0.0) + signed.sign_s
        )
    # Reading happens inside the same loop; report signing net of it.
    total = time.perf_counter() - t
    timer.seconds["sign"] = max(0.0, total - timer.seconds.get("read", 0.0))
    return index


def _round(x: float) -> float:
    return round(float(x), 6)


def deduplicate(
    docs: Iterable[Doc | Skip],
    config: Config = Config(),
    *,
    workdir: Path | None = None,
) -> Result:
    """Find the clusters of versions of one article among `docs` and decide what is kept.

    `docs` may include `Skip` records (inputs a reader could not use), which are counted.
    Raises InputError on a duplicate id. Nothing is printed.

    >>> r = deduplicate([Doc("a", "同一篇文章的内容"), Doc("b", "同一篇文章的內容!")])
    >>> [c.representative for c in r.clusters], r.kept
    (['a'], ('a',))
    """
    timer = _Timer()
    with tempfile.TemporaryDirectory(prefix=".dedup-", dir=workdir) as tmp:
        store = ShingleStore(Path(tmp) / "shingles.u32")
        try:
            index = _sign_all(docs, config, store, timer)
            n = len(index.ids)
            sigs = (
                np.concatenate(index.sigs)
                if index.sigs
                else np.empty((0, config.signature.num_perm), dtype=np.uint32)
            )
            lengths = np.concatenate(index.lengths) if index.lengths else np.empty(0, np.int64)
            index.sigs.clear()  # the batches are copied into `sigs`: do not hold them twice
            index.lengths.clear()
            data, offsets = store.freeze()

            t = time.perf_counter()
            bands, rows = resolve_params(config.lsh, config.signature.num_perm)
            pairs = candidate_pairs(sigs, bands, rows, config.lsh.max_bucket)
            t = timer.add("lsh", t)

            jac, con = similarities(data, offsets, pairs)
            matched = pairs[is_match(jac, con, config.verify)]
            t = timer.add("verify", t)

            uf = UnionFind(n)
            uf.union_pairs(matched)
            clusters, removed = _clusters(uf, lengths, data, offsets, index.ids, config)
            timer.add("cluster", t)
        finally:
            store.close()

    kept = tuple(i for i in index.ids if i not in removed)
    stats: dict[str, Any] = {
        "lsh": {"bands": bands, "rows": rows},
        "candidates": int(pairs.shape[0]),
        "verified_pairs": int(matched.shape[0]),
        "input_bytes": index.input_bytes,
        "timings": {k: round(v, 4) for k, v in timer.seconds.items()},
    }
    return Result(
        clusters=tuple(clusters),
        kept=kept,
        removed=removed,
        skipped=tuple(index.skipped),
        stats=stats,
    )


def _clusters(
    uf: UnionFind,
    lengths: np.ndarray,
    data: np.ndarray,
    offsets: np.ndarray,
    ids: list[str],
    config: Config,
) -> tuple[list[Cluster], dict[str, tuple[str, int]]]:
    clusters: list[Cluster] = []
    removed: dict[str, tuple[str, int]] = {}
    for number, members in enumerate(groups(uf.roots())):
        rep = representative(members, lengths, config.cluster)
        others = members[members != rep]
        pairs = np.stack([np.full(others.size, rep, dtype=np.int64), others], axis=1)
        jac, con = similarities(data, offsets, pairs)
        listed = [Member(ids[rep], 1.0, 1.0)]
        for idx, j, c in zip(others.tolist(), jac.tolist(), con.tolist(), strict=True):
            listed.append(Member(ids[idx], _round(j), _round(c)))
            removed[ids[idx]] = (ids[rep], number)
        clusters.append(Cluster(cluster=number, representative=ids[rep], members=tuple(listed)))
    return clusters, removed


# Contract files of an OUTDIR; summary.json is written last and marks a finished run.
OUTPUT_FILES = ("clusters.jsonl", "kept.jsonl", "removed.jsonl", "errors.jsonl", "summary.json")


class _Spool:
    """Pass-one copy of every record (one JSON line each) so outputs can be routed later
    without holding documents in memory or reading the input twice (stdin included)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        self.ids: list[str] = []

    def tee(self, items: Iterable[Doc | Skip]) -> Iterator[Doc | Skip]:
        for item in items:
            if isinstance(item, Doc):
                record = dict(item.record) if item.record else {"id": item.id, "text": item.text}
                self._f.write(json_line(record))
                self.ids.append(item.id)
            yield item

    def close(self) -> None:
        self._f.close()

    def lines(self) -> Iterator[tuple[str, str]]:
        with open(self.path, encoding="utf-8") as f:
            yield from zip(self.ids, f, strict=True)


def run(
    inputs: Sequence[str],
    outdir: Path,
    config: Config = Config(),
    *,
    stdin: BinaryIO | None = None,
    report: Callable[[Path], object] | None = None,
) -> Result:
    """Read `inputs`, deduplicate, and write the OUTDIR contract files (then the report).

    Old contract files are removed first, so an interrupted run never leaves a mix that
    looks finished; every file is written under a temporary name and renamed when complete.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    for name in reversed(OUTPUT_FILES):
        (outdir / name).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix=".dedup-", dir=outdir) as tmp:
        spool = _Spool(Path(tmp) / "records.jsonl")
        try:
            docs = spool.tee(read_inputs(inputs, config.read, stdin=stdin))
            result = deduplicate(docs, config, workdir=Path(tmp))
        finally:
            spool.close()
        t = time.perf_counter()
        written = _write_outputs(outdir, spool, result)
        write_seconds = time.perf_counter() - t
    _check_accounting(result, written, len(spool.ids))
    timings = dict(result.stats["timings"], write=round(write_seconds, 4))
    write_json(outdir / "summary.json", summary(result, config, timings))
    if report is not None:
        # The report reads the finished run; its own time is added to the summary after.
        t = time.perf_counter()
        report(outdir)
        timings["report"] = round(time.perf_counter() - t, 4)
        write_json(outdir / "summary.json", summary(result, config, timings))
    return result


def _write_outputs(outdir: Path, spool: _Spool, result: Result) -> int:
    written = 0
    with (
        atomic_open(outdir / "kept.jsonl") as kept,
        atomic_open(outdir / "removed.jsonl") as removed,
    ):
        for doc_id, line in spool.lines():
            fate = result.removed.get(doc_id)
            if fate is None:
                kept.write(line)
            else:
                record = json.loads(line)
                record["duplicate_of"], record["cluster"] = fate
                removed.write(json_line(record))
            written += 1
    write_jsonl(
        outdir / "clusters.jsonl",
        (
            {
                "cluster": c.cluster,
                "representative": c.representative,
                "members": [asdict(m) for m in c.members],
            }
            for c in result.clusters
        ),
    )
    write_jsonl(outdir / "errors.jsonl", (asdict(s) for s in result.skipped))
    return written


def _check_accounting(result: Result, written: int, docs: int) -> None:
    """kept + removed + skipped == read, checked on what was actually written."""
    if not (len(result.kept) + len(result.removed) == written == docs):
        raise AccountingError(
            f"accounting mismatch: {docs} documents read, {written} written, "
            f"{len(result.kept)} kept + {len(result.removed)} removed"
        )


def summary(result: Result, config: Config, timings: dict[str, float]) -> dict[str, Any]:
    """The summary.json document. Only `timings` and `throughput` vary between identical runs."""
    stats = dict(result.stats)
    total = sum(timings.values())
    mb = stats["input_bytes"] / 1e6
    return {
        "version": __version__,
        "documents": {
            "read": result.read,
            "kept": len(result.kept),
            "removed": len(result.removed),
            "skipped": len(result.skipped),
        },
        "clusters": len(result.clusters),
        "skipped": [asdict(s) for s in result.skipped],
        "lsh": stats["lsh"],
        "candidates": stats["candidates"],
        "verified_pairs": stats["verified_pairs"],
        "input_bytes": stats["input_bytes"],
        "config": config.to_dict(),
        "timings": timings,
        "throughput": {
            "docs_per_s": round(result.read / total, 1) if total else None,
            "mb_per_s": round(mb / total, 3) if total else None,
        },
    }
