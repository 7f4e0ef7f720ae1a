"""deduplicate(docs, config) -> Result: the stages, in the order the data flows.

read -> normalize + shingle + sign (batched, parallel) -> LSH candidates -> exact
verification -> union-find clusters -> representatives. Only signatures and per-document
figures stay in memory; shingle sets go to a disk-backed store.
"""

from __future__ import annotations

import gc
import pickle
import shutil
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from . import __version__
from .cluster import UnionFind, grouped, representatives
from .config import ClusterConfig, Config
from .errors import AccountingError, ConfigError, InputError
from .io import read_inputs
from .io.parquet import ParquetSink, Row, infer_schema, pyarrow, unify, with_columns
from .io.readers import input_formats
from .io.writers import JsonlSink, write_json, write_jsonl
from .lsh import candidate_pairs, resolve_params
from .normalize import normalize_codepoints, tables
from .parallel import ordered_map, resolve_jobs
from .progress import ProgressCallback, Reporter, input_size
from .refine import split_chains
from .shingle import shingle_codepoints
from .signature import minhash_many
from .store import Extent, ShingleStore, write_segment
from .types import Cluster, Doc, Member, Result, Skip
from .verify import is_match, stored_similarities


@dataclass(frozen=True)
class Signed:
    """A signed batch: one signature row, shingle count and normalized length per text, the
    batch's shingle sets back to back (or, once a worker stored them, where they went), the
    UTF-8 size of the texts, and the CPU seconds spent normalizing and shingling + signing."""

    sigs: np.ndarray
    shingles: np.ndarray
    sizes: np.ndarray
    lengths: np.ndarray
    input_bytes: int
    normalize_s: float
    sign_s: float
    extent: Extent | None = None

    def sets(self) -> list[np.ndarray]:
        """The shingle set of each text (while they are held here)."""
        return np.split(self.shingles, np.cumsum(self.sizes)[:-1]) if self.sizes.size else []


def sign_texts(texts: list[str], config: Config) -> Signed:
    """Normalize, shingle and sign a batch of texts."""
    t0 = time.perf_counter()
    normalized = [normalize_codepoints(t, config.normalize) for t in texts]
    t1 = time.perf_counter()
    cls = tables(config.normalize).cls
    sets = [shingle_codepoints(cps, cls, config.shingle.ngram) for cps in normalized]
    lengths = np.fromiter((cps.size for cps in normalized), dtype=np.int64, count=len(texts))
    sigs = minhash_many(sets, config.signature)
    sizes = np.fromiter((s.size for s in sets), dtype=np.int64, count=len(sets))
    shingles = np.concatenate(sets) if sets else np.empty(0, dtype=np.uint32)
    nbytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    return Signed(sigs, shingles, sizes, lengths, nbytes, t1 - t0, time.perf_counter() - t1)


@dataclass
class _SignTask:
    """A picklable callable for worker processes: signs a batch and appends its shingle sets
    to the worker's own segment of the store, so only signatures travel back, and of them only
    the first `columns` values, the ones LSH bands use."""

    config: Config
    store: Path
    columns: int

    def __call__(self, texts: list[str]) -> Signed:
        signed = sign_texts(texts, self.config)
        extent = write_segment(self.store, signed.shingles)
        sigs = np.ascontiguousarray(signed.sigs[:, : self.columns])
        return replace(signed, sigs=sigs, shingles=signed.shingles[:0], extent=extent)


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
    signature. Sources are interned so a million documents cost a few bytes each; the
    signatures arrive in batches and are joined once (`signatures`)."""

    ids: list[str] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    # Arrays, not lists: a million line numbers as Python ints would cost 36 MB.
    source_of: array[int] = field(default_factory=lambda: array("l"))
    line_of: array[int] = field(default_factory=lambda: array("q"))
    lengths: list[np.ndarray] = field(default_factory=list)
    sigs: list[np.ndarray] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    input_bytes: int = 0

    def signatures(self, columns: int) -> np.ndarray:
        """All signature rows in one array. Batches are freed as they are copied, so the
        peak is one copy plus a batch, not two copies."""
        out = np.empty((sum(b.shape[0] for b in self.sigs), columns), dtype=np.uint32)
        pos = 0
        self.sigs.reverse()
        while self.sigs:
            batch = self.sigs.pop()
            out[pos : pos + batch.shape[0]] = batch
            pos += batch.shape[0]
        return out

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
    bands, rows = resolve_params(config.lsh, config.signature.num_perm)
    task = _SignTask(config, store.directory, bands * rows)
    results = ordered_map(task, _batches(docs, index, config.batch_size, timer), jobs)
    for signed in results:
        assert signed.extent is not None  # _SignTask stores every batch
        store.add(signed.extent, signed.sizes)
        index.sigs.append(signed.sigs)
        index.lengths.append(signed.lengths)
        index.input_bytes += signed.input_bytes
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
    on_stage: Callable[[str], None] | None = None,
) -> Result:
    """Find the clusters of versions of one article among `docs` and decide what is kept.

    `docs` may include `Skip` records (inputs a reader could not use), which are counted.
    Raises InputError on a duplicate id. Nothing is printed; `on_stage` is told the name of
    each stage after reading as it starts ("verify", "cluster").

    >>> r = deduplicate([Doc("a", "同一篇文章的内容"), Doc("b", "同一篇文章的內容!")])
    >>> [c.representative for c in r.clusters], r.kept
    (['a'], ('a',))
    """
    timer = _Timer()
    with tempfile.TemporaryDirectory(prefix=".dedup-", dir=workdir) as tmp:
        store = ShingleStore(Path(tmp))
        index = _sign_all(docs, config, store, timer)
        n = len(index.ids)
        bands, rows = resolve_params(config.lsh, config.signature.num_perm)
        sigs = index.signatures(bands * rows)
        lengths = np.concatenate(index.lengths) if index.lengths else np.empty(0, np.int64)
        index.lengths.clear()

        t = time.perf_counter()
        pairs = candidate_pairs(sigs, bands, rows, config.lsh.max_bucket)
        del sigs  # not needed past LSH: the later stages get its memory
        t = timer.add("lsh", t)

        if on_stage is not None:
            on_stage("verify")
        jac, con = stored_similarities(store, pairs)
        matched = pairs[is_match(jac, con, config.verify)]
        t = timer.add("verify", t)

        if on_stage is not None:
            on_stage("cluster")
        uf = UnionFind(n)
        uf.union_pairs(matched)
        clusters, removed = _clusters(uf, lengths, store, (pairs, jac, con), index.ids, config)
        timer.add("cluster", t)

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
    store: ShingleStore,
    verified: tuple[np.ndarray, np.ndarray, np.ndarray],
    ids: list[str],
    config: Config,
) -> tuple[list[Cluster], dict[str, tuple[str, int]]]:
    """Clusters numbered by their first member, each listing its representative first and
    then the other members in input order with their similarity to the representative.
    """
    members, bounds, reps = final_groups(uf, lengths, store, verified, config.cluster)
    group = np.repeat(np.arange(reps.size), np.diff(bounds))
    other = members != reps[group]
    jac, con = _similarities_to(reps[group[other]], members[other], store, verified)
    with _gc_paused():
        rep_ids = [ids[r] for r in reps.tolist()]
        listed = [[Member(r, 1.0, 1.0)] for r in rep_ids]
        removed: dict[str, tuple[str, int]] = {}
        for number, idx, j, c in zip(
            group[other].tolist(), members[other].tolist(), jac.tolist(), con.tolist(), strict=True
        ):
            listed[number].append(Member(ids[idx], _round(j), _round(c)))
            removed[ids[idx]] = (rep_ids[number], number)
        clusters = [
            Cluster(cluster=number, representative=rep_ids[number], members=tuple(ms))
            for number, ms in enumerate(listed)
        ]
    return clusters, removed


def final_groups(
    uf: UnionFind,
    lengths: np.ndarray,
    store: ShingleStore,
    verified: tuple[np.ndarray, np.ndarray, np.ndarray],
    cfg: ClusterConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Connected components, with chains of matches that end far from the representative
    split off (refine.py), in the flat form of `cluster.grouped`, and their representatives.
    `verified` is (candidate pairs, jaccard, containment) as verification measured them."""
    members, bounds = split_chains(
        *grouped(uf.roots()),
        lengths,
        partial(_similarities_to, store=store, known=verified),
        cfg,
    )
    return members, bounds, representatives(members, bounds, lengths, cfg)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Build many small acyclic objects without the cyclic collector: with millions of live
    objects (ids, index) each of its passes walks them all, which made this step grow faster
    than the number of clusters. The previous state is restored."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _similarities_to(
    reps: np.ndarray,
    others: np.ndarray,
    store: ShingleStore,
    known: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """(jaccard, containment) of each (reps[k], others[k]): taken from the candidate pairs
    verification already measured (both are symmetric), read from the store for the rest."""
    pairs, known_jac, known_con = known
    key = (np.minimum(reps, others) << 32) | np.maximum(reps, others)
    cand = (pairs[:, 0] << 32) | pairs[:, 1]
    order = np.argsort(cand, kind="stable")
    pos = np.searchsorted(cand, key, sorter=order)
    hit = pos < cand.size
    hit[hit] = cand[order[pos[hit]]] == key[hit]
    jac = np.empty(key.size, dtype=np.float64)
    con = np.empty(key.size, dtype=np.float64)
    jac[hit] = known_jac[order[pos[hit]]]
    con[hit] = known_con[order[pos[hit]]]
    miss = ~hit
    jac[miss], con[miss] = stored_similarities(store, np.stack([reps[miss], others[miss]], axis=1))
    return jac, con


# Files of an OUTDIR; summary.json is written last and marks a finished run. A run writes
# kept + removed, or annotated (--annotate), as JSONL or Parquet; all kinds are cleared first.
OUTPUT_FILES = (
    "clusters.jsonl",
    "kept.jsonl",
    "removed.jsonl",
    "annotated.jsonl",
    "kept.parquet",
    "removed.parquet",
    "annotated.parquet",
    "errors.jsonl",
    "summary.json",
)
# Columns a run adds (name, Arrow type) to removed records, and to every annotated record.
REMOVED_COLUMNS = (("duplicate_of", "string"), ("cluster", "int64"))
ANNOTATED_COLUMNS = (
    ("dedup_cluster", "int64"),
    ("dedup_keep", "bool"),
    ("dedup_duplicate_of", "string"),
)


class _Spool:
    """Pass-one copy of every record so outputs can be routed later without holding documents
    in memory or reading the input twice (stdin included). Records are pickled, so values
    read from Parquet keep their types; the Arrow schemas of Parquet rows are merged as they
    pass (a file whose columns clash with earlier ones stops the run at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f = open(path, "wb")  # noqa: SIM115
        self.ids: list[str] = []
        self.from_parquet = bytearray()  # per record: 1 if it is a Parquet row
        self.schema: Any = None  # merged Arrow schema of the Parquet rows
        self._last: Any = None

    def tee(self, items: Iterable[Doc | Skip]) -> Iterator[Doc | Skip]:
        for item in items:
            if isinstance(item, Doc):
                record = item.record
                is_row = isinstance(record, Row)
                if isinstance(record, Row) and record.schema is not self._last:
                    self._merge(record.schema, item.source)
                plain = dict(record) if record else {"id": item.id, "text": item.text}
                pickle.dump(plain, self._f, protocol=pickle.HIGHEST_PROTOCOL)
                self.ids.append(item.id)
                self.from_parquet.append(is_row)
            yield item

    def _merge(self, schema: Any, source: str) -> None:
        self._last = schema
        try:
            self.schema = schema if self.schema is None else unify([self.schema, schema])
        except ValueError as e:
            raise InputError(source, f"columns do not match earlier Parquet input: {e}") from e

    def close(self) -> None:
        self._f.close()

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, record) of every document, in input order."""
        with open(self.path, "rb") as f:
            for doc_id in self.ids:
                yield doc_id, pickle.load(f)

    def arrow_schema(self, id_field: str) -> Any:
        """The schema to write the records under as Parquet: the Parquet inputs' own, merged
        with one inferred from the values of the other records."""
        schemas = [] if self.schema is None else [self.schema]
        if self.schema is None or 0 in self.from_parquet:
            plain = (
                r for (_, r), b in zip(self.records(), self.from_parquet, strict=True) if not b
            )
            schemas.append(infer_schema(plain))
        try:
            schema = unify(schemas)
        except ValueError as e:
            raise ConfigError(
                f"Parquet and other input cannot share one Parquet schema ({e}); "
                "use --output-format jsonl"
            ) from e
        if id_field not in schema.names:  # ids generated for rows of a file without them
            schema = with_columns(schema, [(id_field, "string")])
        return schema


def run(
    inputs: Sequence[str],
    outdir: Path,
    config: Config = Config(),
    *,
    stdin: BinaryIO | None = None,
    report: Callable[[Path], object] | None = None,
    progress: ProgressCallback | None = None,
    options: Mapping[str, Any] | None = None,
) -> Result:
    """Read `inputs`, deduplicate, and write the OUTDIR contract files (then the report).

    `progress` receives ProgressEvents (documents read, then each stage); `options` (the
    CLI's effective option values) is recorded in summary.json, next to the inputs.

    Records go out as JSONL or Parquet (config.output.format; auto: Parquet when every input
    is Parquet), split into kept and removed or, with config.output.annotate, all in one
    annotated file. Old output files are removed first, so an interrupted run never leaves a
    mix that looks finished; every file is written under a temporary name and renamed when
    complete.
    """
    fmt = output_format(inputs, config)
    if fmt == "parquet":
        pyarrow()  # a missing extra fails now, not after the whole run
    clear_outdir(outdir)
    reporter = Reporter(progress, input_size(inputs) if progress else None)
    with tempfile.TemporaryDirectory(prefix=".dedup-", dir=outdir) as tmp:
        spool = _Spool(Path(tmp) / "records.spool")
        try:
            read = read_inputs(inputs, config.read, stdin=stdin, jobs=resolve_jobs(config.jobs))
            docs = spool.tee(reporter.track(read))
            result = deduplicate(docs, config, workdir=Path(tmp), on_stage=reporter.stage)
        finally:
            spool.close()
        reporter.stage("write")
        t = time.perf_counter()
        files, kept, removed = _write_outputs(outdir, spool, result, config, fmt)
        write_seconds = time.perf_counter() - t
    _check_accounting(result, kept + removed, len(spool.ids), kept)
    timings = dict(result.stats["timings"], write=round(write_seconds, 4))
    outputs: dict[str, Any] = {
        "outputs": [n for n in OUTPUT_FILES if n in files or n == "summary.json"]
    }
    # What repeats the run: the inputs as given and (from the CLI) every option's value.
    outputs |= {"inputs": list(inputs)} | ({"options": dict(options)} if options else {})
    write_json(outdir / "summary.json", summary(result, config, timings) | outputs)
    if report is not None:
        # The report reads the finished run; its own time is added to the summary after.
        reporter.stage("report")
        t = time.perf_counter()
        report(outdir)
        timings["report"] = round(time.perf_counter() - t, 4)
        write_json(outdir / "summary.json", summary(result, config, timings) | outputs)
    reporter.stage("done")
    return result


def output_format(inputs: Sequence[str], config: Config) -> str:
    """jsonl or parquet: as configured, or for "auto" Parquet when every input is Parquet."""
    if config.output.format != "auto":
        return config.output.format
    formats = input_formats(inputs, config.read)
    return "parquet" if formats == {"parquet"} else "jsonl"


def clear_outdir(outdir: Path) -> None:
    """Make OUTDIR and remove what an earlier run left there: its output files first, so an
    interrupted run never leaves a mix that looks finished, then its report (a report with
    an index page is always this run's: build_report writes its index pages last), and what
    a killed run left behind (its temporary folder and partial files)."""
    outdir.mkdir(parents=True, exist_ok=True)
    for name in reversed(OUTPUT_FILES):
        (outdir / name).unlink(missing_ok=True)
    for name in ("index.html", "index.md"):  # first, in case the removal is cut short
        (outdir / "report" / name).unlink(missing_ok=True)
    shutil.rmtree(outdir / "report", ignore_errors=True)
    for stale in sorted(outdir.glob(".dedup-*")):
        shutil.rmtree(stale, ignore_errors=True)
    for leftover in sorted(outdir.glob(".*.partial")):
        leftover.unlink(missing_ok=True)


def _write_outputs(
    outdir: Path, spool: _Spool, result: Result, config: Config, fmt: str
) -> tuple[list[str], int, int]:
    """Route every spooled record to its file; return the names of the files written and how
    many records went out as kept and as removed."""
    schema = spool.arrow_schema(config.read.id_field) if fmt == "parquet" else None
    text_field = config.read.text_field
    kept_n = removed_n = 0
    if config.output.annotate:
        files = [f"annotated.{fmt}"]
        cluster_of = {m.id: c.cluster for c in result.clusters for m in c.members}
        with _sink(outdir / files[0], schema, ANNOTATED_COLUMNS, text_field) as out:
            for doc_id, record in spool.records():
                fate = result.removed.get(doc_id)
                record["dedup_cluster"] = cluster_of.get(doc_id)
                record["dedup_keep"] = fate is None
                record["dedup_duplicate_of"] = None if fate is None else fate[0]
                out.write(record)
                kept_n += fate is None
                removed_n += fate is not None
    else:
        files = [f"kept.{fmt}", f"removed.{fmt}"]
        with (
            _sink(outdir / files[0], schema, (), text_field) as kept,
            _sink(outdir / files[1], schema, REMOVED_COLUMNS, text_field) as removed,
        ):
            for doc_id, record in spool.records():
                fate = result.removed.get(doc_id)
                if fate is None:
                    kept.write(record)
                    kept_n += 1
                else:
                    record["duplicate_of"], record["cluster"] = fate
                    removed.write(record)
                    removed_n += 1
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
    return [*files, "clusters.jsonl", "errors.jsonl"], kept_n, removed_n


def _sink(
    path: Path, schema: Any, columns: Sequence[tuple[str, str]], text_field: str
) -> JsonlSink | ParquetSink:
    """A JSONL writer, or with an Arrow schema a Parquet writer adding `columns`."""
    if schema is None:
        return JsonlSink(path)
    return ParquetSink(path, with_columns(schema, columns), text_field)


def _check_accounting(result: Result, written: int, docs: int, kept: int | None = None) -> None:
    """kept + removed + skipped == read, checked on what was actually written (and, when
    given, the kept count written against the result's)."""
    if not (len(result.kept) + len(result.removed) == written == docs) or (
        kept is not None and kept != len(result.kept)
    ):
        raise AccountingError(
            f"accounting mismatch: {docs} documents read, {written} written "
            f"({kept} as kept), {len(result.kept)} kept + {len(result.removed)} removed"
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
