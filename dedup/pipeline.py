"""deduplicate(docs, config) -> Result: the stages, in the order the data flows.

read -> normalize + shingle + sign (batched, parallel) -> LSH candidates -> exact
verification -> union-find clusters -> representatives. Only signatures and per-document
figures stay in memory; shingle sets go to a disk-backed store.
"""

from __future__ import annotations

import gc
import json
import pickle
import shutil
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from . import __version__
from .cluster import UnionFind, grouped, representatives
from .config import ClusterConfig, Config
from .errors import AccountingError, InputError
from .io.parquet import ParquetSink, Row, merge_schema, output_schema, pyarrow, with_columns
from .io.readers import input_formats, parse_lines, read_items
from .io.writers import atomic_path, json_bytes, write_chunked, write_json, write_jsonl
from .lsh import candidate_pairs, resolve_params
from .normalize import normalize_batch, tables
from .parallel import ordered_map, resolve_jobs
from .progress import ProgressCallback, Reporter, input_size
from .refine import split_chains
from .shingle import shingle_batch
from .signature import minhash_concatenated
from .store import Extent, ShingleStore, append_bytes, read_bytes, write_segment
from .types import Cluster, Doc, Member, RawLines, Result, Skip
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
    normalized, bounds = normalize_batch(texts, config.normalize)
    t1 = time.perf_counter()
    cls = tables(config.normalize).cls
    lengths = np.diff(bounds)
    shingles, sizes = shingle_batch(normalized, bounds, cls, config.shingle.ngram)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    sigs = minhash_concatenated(shingles, offsets, config.signature)
    nbytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    return Signed(sigs, shingles, sizes, lengths, nbytes, t1 - t0, time.perf_counter() - t1)


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


# An item of pass one: a document, a record a reader skipped, or JSONL lines the workers
# parse; `_Stop` carries an input error met while reading to its place in the order.
Item = Doc | Skip | RawLines


@dataclass(frozen=True)
class _Stop:
    error: InputError


# Spool flags, one byte per record: its line cannot take the run's fields by splicing (it has
# one of their names, or fell back to ASCII escapes), and it is a Parquet row.
_RERENDER = 1
_PARQUET_ROW = 2
_RESERVED = frozenset(name for name, _ in (*REMOVED_COLUMNS, *ANNOTATED_COLUMNS))


@dataclass(frozen=True)
class Spooled:
    """Where a worker wrote a batch's records for the output pass: the spool file and byte
    offset, the size of each record, and its flags."""

    extent: Extent
    sizes: np.ndarray
    flags: bytes


@dataclass(frozen=True)
class _Work:
    """What a worker returns for a batch of items: the documents' ids and where they came
    from, the skips, the first input error (documents after it are not signed), their
    signatures (only the LSH columns) and, in `run`, where their records were spooled."""

    ids: list[str]
    sources: list[str]
    lines: list[int]
    skipped: list[Skip]
    error: InputError | None = None
    signed: Signed | None = None
    spooled: Spooled | None = None
    parse_s: float = 0.0


def _spool_records(docs: list[Doc], fmt: str, directory: Path) -> Spooled:
    """Write each document's record as the output pass will need it: its JSON line (JSONL
    output) or its pickle (Parquet output, so that values keep their types)."""
    parts: list[bytes] = []
    flags = bytearray()
    for d in docs:
        record: Mapping[str, Any] = d.record or {"id": d.id, "text": d.text}
        row = _PARQUET_ROW if isinstance(record, Row) else 0
        if fmt == "jsonl":
            data, escaped = json_bytes(record)
            flags.append(row | (_RERENDER if escaped or not _RESERVED.isdisjoint(record) else 0))
        else:
            plain = record if type(record) is dict else dict(record)
            data = pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)
            flags.append(row | _RERENDER)
        parts.append(data)
    sizes = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    return Spooled(append_bytes(directory, "spool", b"".join(parts)), sizes, bytes(flags))


@dataclass
class _SignTask:
    """A picklable callable for worker processes: parses a batch's JSONL lines, signs its
    documents and appends their shingle sets to the worker's own segment of the store (and,
    given `spool` (format, folder), their records to its own spool file), so only ids and
    signatures travel back, and of the signatures only the first `columns` values, the ones
    LSH bands use."""

    config: Config
    store: Path
    columns: int
    spool: tuple[str, Path] | None = None

    def __call__(self, items: list[Item | _Stop]) -> _Work:
        t0 = time.perf_counter()
        cfg = self.config.read
        docs: list[Doc] = []
        skipped: list[Skip] = []
        error: InputError | None = None
        try:
            for item in items:
                if isinstance(item, _Stop):
                    raise item.error
                for parsed in parse_lines(item, cfg) if isinstance(item, RawLines) else (item,):
                    if isinstance(parsed, Skip):
                        skipped.append(parsed)
                    else:
                        docs.append(parsed)
        except InputError as e:
            error = e
        ids = [d.id for d in docs]
        sources = [d.source for d in docs]
        lines = [-1 if d.line is None else d.line for d in docs]
        if error is not None:
            return _Work(ids, sources, lines, skipped, error)
        spooled = None if self.spool is None else _spool_records(docs, *self.spool)
        parse_s = time.perf_counter() - t0
        signed = sign_texts([d.text for d in docs], self.config)
        extent = write_segment(self.store, signed.shingles)
        sigs = np.ascontiguousarray(signed.sigs[:, : self.columns])
        signed = replace(signed, sigs=sigs, shingles=signed.shingles[:0], extent=extent)
        return _Work(ids, sources, lines, skipped, None, signed, spooled, parse_s)


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
        peak is one copy plus a batch, not two copies. Column-major: LSH reads a band's
        columns over all documents, which then lie together (at 1M documents, LSH took
        1.44 s instead of 2.45 s)."""
        n = sum(b.shape[0] for b in self.sigs)
        out = np.empty((n, columns), dtype=np.uint32, order="F")
        pos = 0
        self.sigs.reverse()
        while self.sigs:
            batch = self.sigs.pop()
            out[pos : pos + batch.shape[0]] = batch
            pos += batch.shape[0]
        return out

    def add(self, doc_id: str, source: str, line: int) -> None:
        """Number the next document (`line` -1: none); a repeated id is an input error."""
        first = self.seen.get(doc_id)
        if first is not None:
            src = list(self.sources)[self.source_of[first]]
            where = f"{src}, line {self.line_of[first]}" if self.line_of[first] >= 0 else src
            raise InputError(
                source,
                f"duplicate id {doc_id!r} (first seen in {where})",
                line if line >= 0 else None,
            )
        self.seen[doc_id] = len(self.ids)
        self.ids.append(doc_id)
        self.source_of.append(self.sources.setdefault(source, len(self.sources)))
        self.line_of.append(line)


def _units(
    items: Iterable[Item], size: int, timer: _Timer, observe: Callable[[Doc], None] | None
) -> Iterator[list[Item | _Stop]]:
    """Group items into batches of about `size` documents (lines, for JSONL); an input error
    raised while reading ends the last batch as a `_Stop`, so it is raised in order, after the
    batches before it."""
    batch: list[Item | _Stop] = []
    weight = 0
    t = time.perf_counter()
    try:
        for item in items:
            if isinstance(item, RawLines):
                weight += item.count
            else:
                weight += 1
                if observe is not None and isinstance(item, Doc):
                    observe(item)
            batch.append(item)
            if weight >= size:
                weight = 0
                t = timer.add("read", t)
                yield batch
                batch = []
                t = time.perf_counter()
    except InputError as e:
        batch.append(_Stop(e))
    timer.add("read", t)
    if batch:
        yield batch


def _sign_all(
    items: Iterable[Item],
    config: Config,
    store: ShingleStore,
    timer: _Timer,
    spool: _Spool | None = None,
) -> _Index:
    index = _Index()
    jobs = resolve_jobs(config.jobs)
    t = time.perf_counter()
    bands, rows = resolve_params(config.lsh, config.signature.num_perm)
    where = None if spool is None else (spool.format, spool.directory)
    task = _SignTask(config, store.directory, bands * rows, where)
    observe = None if spool is None else spool.observe
    if jobs > 1:
        # Load the compiled signing code once here, before the workers fork, rather than in
        # every worker: each load initialises numba's target (about 0.5 s of CPU).
        sign_texts(["預熱 warm-up"], config)
    cpu = timer.seconds
    # closing(): an error or Ctrl-C in this loop ends the workers before the store goes.
    units = _units(items, config.batch_size, timer, observe)
    with closing(ordered_map(task, units, jobs)) as results:
        for work in results:
            for doc_id, source, line in zip(work.ids, work.sources, work.lines, strict=True):
                index.add(doc_id, source, line)
            index.skipped.extend(work.skipped)
            if work.error is not None:
                raise work.error
            signed = work.signed
            assert signed is not None and signed.extent is not None  # every batch is stored
            store.add(signed.extent, signed.sizes)
            if spool is not None:
                assert work.spooled is not None
                spool.add(work.spooled)
            index.sigs.append(signed.sigs)
            index.lengths.append(signed.lengths)
            index.input_bytes += signed.input_bytes
            cpu["parse_cpu"] = cpu.get("parse_cpu", 0.0) + work.parse_s
            cpu["normalize_cpu"] = cpu.get("normalize_cpu", 0.0) + signed.normalize_s
            cpu["shingle_sign_cpu"] = cpu.get("shingle_sign_cpu", 0.0) + signed.sign_s
    # Reading happens inside the same loop; report signing net of it.
    total = time.perf_counter() - t
    timer.seconds["sign"] = max(0.0, total - timer.seconds.get("read", 0.0))
    return index


def round_similarity(x: float) -> float:
    """A similarity as clusters.jsonl and the report give it: six decimals, both engines."""
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
    return _deduplicate(docs, config, workdir=workdir, on_stage=on_stage).result


@dataclass(frozen=True)
class _Outcome:
    """A run's Result, and per document (in input order) its cluster number and the number
    of the document it duplicates (-1 where none), for routing records by position."""

    result: Result
    ids: list[str]
    cluster_of: np.ndarray
    duplicate_of: np.ndarray


def _deduplicate(
    items: Iterable[Item],
    config: Config,
    *,
    workdir: Path | None,
    on_stage: Callable[[str], None] | None,
    spool: _Spool | None = None,
) -> _Outcome:
    timer = _Timer()
    with tempfile.TemporaryDirectory(prefix=".dedup-", dir=workdir) as tmp:
        store = ShingleStore(Path(tmp))
        index = _sign_all(items, config, store, timer, spool)
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
        clusters, removed, fates = _clusters(
            uf, lengths, store, (pairs, jac, con), index.ids, config
        )
        timer.add("cluster", t)

    kept = tuple(i for i in index.ids if i not in removed)
    stats: dict[str, Any] = {
        "lsh": {"bands": bands, "rows": rows},
        "candidates": int(pairs.shape[0]),
        "verified_pairs": int(matched.shape[0]),
        "input_bytes": index.input_bytes,
        "timings": {k: round(v, 4) for k, v in timer.seconds.items()},
    }
    result = Result(
        clusters=tuple(clusters),
        kept=kept,
        removed=removed,
        skipped=tuple(index.skipped),
        stats=stats,
    )
    return _Outcome(result, index.ids, *fates)


def _clusters(
    uf: UnionFind,
    lengths: np.ndarray,
    store: ShingleStore,
    verified: tuple[np.ndarray, np.ndarray, np.ndarray],
    ids: list[str],
    config: Config,
) -> tuple[list[Cluster], dict[str, tuple[str, int]], tuple[np.ndarray, np.ndarray]]:
    """Clusters numbered by their first member, each listing its representative first and
    then the other members in input order with their similarity to the representative; and
    per document its cluster number and the document it duplicates (-1 where none).
    """
    members, bounds, reps = final_groups(uf, lengths, store, verified, config.cluster)
    group = np.repeat(np.arange(reps.size), np.diff(bounds))
    other = members != reps[group]
    cluster_of = np.full(len(ids), -1, dtype=np.int64)
    cluster_of[members] = group
    duplicate_of = np.full(len(ids), -1, dtype=np.int64)
    duplicate_of[members[other]] = reps[group[other]]
    jac, con = _similarities_to(reps[group[other]], members[other], store, verified)
    with _gc_paused():
        rep_ids = [ids[r] for r in reps.tolist()]
        listed = [[Member(r, 1.0, 1.0)] for r in rep_ids]
        removed: dict[str, tuple[str, int]] = {}
        for number, idx, j, c in zip(
            group[other].tolist(), members[other].tolist(), jac.tolist(), con.tolist(), strict=True
        ):
            listed[number].append(Member(ids[idx], round_similarity(j), round_similarity(c)))
            removed[ids[idx]] = (rep_ids[number], number)
        clusters = [
            Cluster(cluster=number, representative=rep_ids[number], members=tuple(ms))
            for number, ms in enumerate(listed)
        ]
    return clusters, removed, (cluster_of, duplicate_of)


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


class _Spool:
    """Pass-one copy of every record, so outputs can be routed later without holding documents
    in memory or reading the input twice (stdin included). The workers write it
    (`_spool_records`: JSON lines for JSONL output, pickles for Parquet output, so values
    keep their types); this keeps where each batch went, in input order, and merges the Arrow
    schemas of Parquet rows as they pass (a file whose columns clash with earlier ones stops
    the run at once)."""

    def __init__(self, directory: Path, fmt: str) -> None:
        self.directory = directory
        self.format = fmt
        self.batches: list[Spooled] = []
        self.count = 0
        self.schema: Any = None  # merged Arrow schema of the Parquet rows
        self._last: Any = None

    def observe(self, doc: Doc) -> None:
        """Merge the schema of a Parquet row's file (once per file)."""
        record = doc.record
        if isinstance(record, Row) and record.schema is not self._last:
            self._last = record.schema
            self.schema = merge_schema(self.schema, record.schema, doc.source)

    def add(self, spooled: Spooled) -> None:
        self.batches.append(spooled)
        self.count += spooled.sizes.size

    def blobs(self) -> Iterator[tuple[Spooled, bytes]]:
        """Every batch and its spooled records back to back, in input order."""
        for batch in self.batches:
            yield batch, read_bytes(self.directory, batch.extent, int(batch.sizes.sum()))

    def entries(self) -> Iterator[tuple[bytes, int]]:
        """(spooled record, flags) of every document, in input order."""
        for batch, blob in self.blobs():
            pos = 0
            for size, flags in zip(batch.sizes.tolist(), batch.flags, strict=True):
                yield blob[pos : pos + size], flags
                pos += size

    def records(self) -> Iterator[tuple[dict[str, Any], int]]:
        """(record, flags) of every document, in input order."""
        load = pickle.loads if self.format == "parquet" else json.loads
        for data, flags in self.entries():
            yield load(data), flags

    def arrow_schema(self, id_field: str) -> Any:
        """The schema to write the records under as Parquet: the Parquet inputs' own, merged
        with one inferred from the values of the other records."""
        rows = all(f & _PARQUET_ROW for b in self.batches for f in b.flags)
        others = None if rows else (r for r, f in self.records() if not f & _PARQUET_ROW)
        return output_schema(self.schema, others, id_field)


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
    complete. The main process only reads: JSONL lines are parsed, and every record is
    rendered for the output, by the workers.
    """
    fmt = output_format(inputs, config)
    if fmt == "parquet":
        pyarrow()  # a missing extra fails now, not after the whole run
    clear_outdir(outdir)
    reporter = Reporter(progress, input_size(inputs) if progress else None)
    with tempfile.TemporaryDirectory(prefix=".dedup-", dir=outdir) as tmp:
        spool = _Spool(Path(tmp), fmt)
        read = read_items(inputs, config.read, stdin=stdin, jobs=resolve_jobs(config.jobs))
        outcome = _deduplicate(
            reporter.track(read), config, workdir=Path(tmp), on_stage=reporter.stage, spool=spool
        )
        result = outcome.result
        reporter.stage("write")
        t = time.perf_counter()
        files, kept, removed = _write_outputs(outdir, spool, outcome, config, fmt)
        write_seconds = time.perf_counter() - t
    _check_accounting(result, kept + removed, spool.count, kept)
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
    outdir: Path, spool: _Spool, outcome: _Outcome, config: Config, fmt: str
) -> tuple[list[str], int, int]:
    """Route every spooled record to its file, with the fields the run adds; return the names
    of the files written and how many records went out as kept and as removed."""
    result = outcome.result
    annotate = config.output.annotate
    names = [f"annotated.{fmt}"] if annotate else [f"kept.{fmt}", f"removed.{fmt}"]
    counts = [0, 0]  # kept, removed: what was written, for the accounting check
    # Not strict: a spool and an index of different lengths is an accounting error, which
    # the counts make `_check_accounting` report.
    with ExitStack() as stack:
        if fmt == "jsonl":
            files = [stack.enter_context(_open_bytes(outdir / n)) for n in names]
            if not annotate and spool.count == len(outcome.ids):
                counts = _write_split(spool, outcome, files[0], files[1])
            else:
                for (data, flags), (out, keep, fields) in zip(
                    spool.entries(), _fates(outcome, annotate), strict=False
                ):
                    files[out].write(_with_fields(data, flags, fields) if fields else data)
                    counts[not keep] += 1
        else:
            schema = spool.arrow_schema(config.read.id_field)
            added = [ANNOTATED_COLUMNS] if annotate else [(), REMOVED_COLUMNS]
            sinks = [
                stack.enter_context(
                    ParquetSink(outdir / n, with_columns(schema, cols), config.read.text_field)
                )
                for n, cols in zip(names, added, strict=True)
            ]
            for (record, _), (out, keep, fields) in zip(
                spool.records(), _fates(outcome, annotate), strict=False
            ):
                record.update(fields)
                sinks[out].write(record)
                counts[not keep] += 1
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
    return [*names, "clusters.jsonl", "errors.jsonl"], counts[0], counts[1]


def _write_split(spool: _Spool, outcome: _Outcome, kept: BinaryIO, removed: BinaryIO) -> list[int]:
    """kept.jsonl and removed.jsonl from the spool, a batch at a time: the kept records
    between two removed ones go out unchanged, as one slice of the batch; each removed record
    gets its two fields. Returns the counts written, as `_write_outputs` keeps them."""
    ids = outcome.ids
    counts = [0, 0]
    first = 0  # number of the batch's first document
    for batch, blob in spool.blobs():
        n = batch.sizes.size
        dup = outcome.duplicate_of[first : first + n]
        gone = np.flatnonzero(dup >= 0)
        ends = np.cumsum(batch.sizes)
        view = memoryview(blob)
        start = 0  # byte where the current run of kept records begins
        for k in gone.tolist():
            a, b = int(ends[k] - batch.sizes[k]), int(ends[k])
            write_chunked(kept, view[start:a])
            fields = _removed_fields(ids[dup[k]], int(outcome.cluster_of[first + k]))
            removed.write(_with_fields(blob[a:b], batch.flags[k], fields))
            start = b
        write_chunked(kept, view[start:])
        counts[0] += n - gone.size
        counts[1] += gone.size
        first += n
    return counts


Fields = list[tuple[str, Any]]


def _fates(outcome: _Outcome, annotate: bool) -> Iterator[tuple[int, bool, Fields]]:
    """Per document in input order: which output file its record goes to, whether it is
    kept, and the fields the run adds to it."""
    ids = outcome.ids
    for c, d in zip(outcome.cluster_of.tolist(), outcome.duplicate_of.tolist(), strict=True):
        if annotate:
            dup = None if d < 0 else ids[d]
            yield (
                0,
                d < 0,
                [
                    ("dedup_cluster", None if c < 0 else c),
                    ("dedup_keep", d < 0),
                    ("dedup_duplicate_of", dup),
                ],
            )
        elif d < 0:
            yield 0, True, []
        else:
            yield 1, False, _removed_fields(ids[d], c)


def _removed_fields(representative: str, cluster: int) -> Fields:
    """The fields a removed record gets (REMOVED_COLUMNS)."""
    return [("duplicate_of", representative), ("cluster", cluster)]


def _with_fields(line: bytes, flags: int, fields: Fields) -> bytes:
    """A spooled JSON line with `fields` set, exactly as `json_bytes` writes the record with
    them: appended before the closing brace when the record has none of their names (and
    needs no ASCII escapes), else through the record."""
    if not flags & _RERENDER:
        try:
            tail = "".join(f', "{k}": {json.dumps(v, ensure_ascii=False)}' for k, v in fields)
            return b"%s%s}\n" % (line[:-2], tail.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate in an id: the line goes ASCII
            pass
    record = json.loads(line)
    record.update(fields)
    return json_bytes(record)[0]


@contextmanager
def _open_bytes(path: Path) -> Iterator[BinaryIO]:
    """A binary file written under a temporary name and renamed when complete."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f


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
