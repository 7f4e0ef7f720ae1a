"""The local engine: read -> sign (batched, in worker processes) -> the two-pass index
(LSH candidates, exact verification, the cluster stage) -> the output folder.

`run` writes an OUTDIR from files; `deduplicate` returns the `Result` of documents in memory.
Only signatures and per-document figures stay in memory; shingle sets go to a disk-backed
store and records to a spool, both written by the workers.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from contextlib import closing, nullcontext
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from .cluster import cluster_records, member_records
from .config import Config
from .errors import InputError
from .index import Found, TwoPassIndex
from .io.outdir import (
    INDEX_MATCHES,
    RESERVED,
    Fate,
    KeptLines,
    LocalFolder,
    Records,
    check_accounting,
    checked_inputs,
    cluster_line,
    complete,
    open_outdir,
    output_format,
    outputs,
    planned,
    summary,
    write_lines,
)
from .io.parquet import pyarrow
from .io.readers import parse_raw, read_items
from .parallel import Background, ordered_map, resolve_jobs
from .progress import ProgressCallback, Reporter, input_size
from .sign import Signed, sign_texts
from .spool import Spool, Spooled, spool_records
from .store import Extent, ShingleStore, write_segment
from .types import Cluster, Counts, Doc, Member, RawLines, RawPages, Result, RunResult, Skip

if TYPE_CHECKING:  # imported when a run uses an index: most runs do not
    from .against import Against, IndexSet

# An item of pass one: a document, a record a reader skipped, or JSONL lines the workers
# parse, or WARC pages whose text they extract; `_Stop` carries an input error met while
# reading to its place in the order.
Item = Doc | Skip | RawLines | RawPages


# At most about this much WARC HTML in one batch of pass one: a batch is `batch_size` pages
# otherwise, and pages may be up to --max-record-bytes each.
_BATCH_HTML_BYTES = 64 << 20


@dataclass(frozen=True)
class _Stop:
    error: InputError


@dataclass(frozen=True)
class _Work:
    """What a worker returns for a batch of items: the documents' ids and where they came
    from, the skips, the first input error (documents after it are not signed), their
    signatures (only the LSH columns) and, in `run`, where their records were spooled."""

    ids: list[str]
    sources: list[str]
    lines: list[int]
    skipped: list[Skip]
    skip_at: list[int]  # documents before each skip, in the batch
    error: InputError | None = None
    signed: Signed | None = None
    spooled: Spooled | None = None
    parse_s: float = 0.0


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
        skip_at: list[int] = []
        error: InputError | None = None
        try:
            for item in items:
                if isinstance(item, _Stop):
                    raise item.error
                parsed_items: Iterable[Doc | Skip] = (
                    parse_raw(item, cfg) if isinstance(item, RawLines | RawPages) else (item,)
                )
                for parsed in parsed_items:
                    if isinstance(parsed, Skip):
                        skipped.append(parsed)
                        skip_at.append(len(docs))
                    else:
                        docs.append(parsed)
        except InputError as e:
            error = e
        ids = [d.id for d in docs]
        sources = [d.source for d in docs]
        lines = [-1 if d.line is None else d.line for d in docs]
        if error is not None:
            return _Work(ids, sources, lines, skipped, skip_at, error)
        spooled = None if self.spool is None else spool_records(docs, *self.spool)
        parse_s = time.perf_counter() - t0
        c = self.config
        signed = sign_texts([d.text for d in docs], c.normalize, c.shingle, c.signature)
        extent = write_segment(self.store, signed.shingles)
        sigs = np.ascontiguousarray(signed.sigs[:, : self.columns])
        signed = replace(signed, sigs=sigs, shingles=signed.shingles[:0], extent=extent)
        return _Work(ids, sources, lines, skipped, skip_at, None, signed, spooled, parse_s)


def _kept_runs(n: int, dropped: list[int]) -> Iterator[tuple[int, int]]:
    """The runs [lo, hi) of a batch's n documents between the `dropped` ones (ascending)."""
    lo = 0
    for k in [*dropped, n]:
        if k > lo:
            yield lo, k
        lo = k + 1


def _rows(signed: Signed, lo: int, hi: int) -> Signed:
    """Documents lo..hi-1 of a stored batch (all of it, unchanged, when that is the batch;
    else without its input bytes, which the caller counts)."""
    n = signed.sizes.size
    if (lo, hi) == (0, n):
        return signed
    assert signed.extent is not None
    start = signed.extent.start + int(signed.sizes[:lo].sum())
    return replace(
        signed,
        sigs=signed.sigs[lo:hi],
        sizes=signed.sizes[lo:hi],
        figures=signed.figures.take(np.arange(lo, hi)),
        input_bytes=0,
        extent=Extent(signed.extent.segment, start),
    )


def _spooled_rows(spooled: Spooled, lo: int, hi: int) -> Spooled:
    """Records lo..hi-1 of a spooled batch."""
    if (lo, hi) == (0, spooled.sizes.size):
        return spooled
    start = spooled.extent.start + int(spooled.sizes[:lo].sum())
    extent = Extent(spooled.extent.segment, start)
    return Spooled(extent, spooled.sizes[lo:hi], spooled.flags[lo:hi])


@dataclass
class _Timer:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now


def _units(
    items: Iterable[Item], size: int, timer: _Timer, observe: Callable[[Doc], None] | None
) -> Iterator[list[Item | _Stop]]:
    """Group items into batches of about `size` documents (lines, for JSONL; pages, for WARC,
    and at most about _BATCH_HTML_BYTES of their HTML); an input error raised while reading
    ends the last batch as a `_Stop`, so it is raised in order, after the batches before it."""
    batch: list[Item | _Stop] = []
    weight = html = 0
    t = time.perf_counter()
    try:
        for item in items:
            if isinstance(item, RawLines | RawPages):
                weight += item.count
                html += item.html_bytes if isinstance(item, RawPages) else 0
            else:
                weight += 1
                if observe is not None and isinstance(item, Doc):
                    observe(item)
            batch.append(item)
            if weight >= size or html >= _BATCH_HTML_BYTES:
                weight = html = 0
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
    index: TwoPassIndex,
    timer: _Timer,
    spool: Spool | None,
    skipped: list[Skip],
) -> None:
    """Pass one: read and sign every item into `index` (in worker processes), and spool
    their records; the skips readers recorded go to `skipped`."""
    jobs = resolve_jobs(config.jobs)
    t = time.perf_counter()
    where = None if spool is None else (spool.format, spool.directory)
    task = _SignTask(config, index.store.directory, index.columns, where)
    observe = None if spool is None else spool.observe
    units = _units(items, config.batch_size, timer, observe)
    first = list(islice(units, 2))
    if len(first) < 2:
        jobs = 1  # one batch: starting worker processes would cost more than they save
    units = chain(first, units)
    if jobs > 1:
        # Load the compiled signing code once here, before the workers fork, rather than in
        # every worker: each load initialises numba's target (about 0.5 s of CPU).
        sign_texts(["預熱 warm-up"], config.normalize, config.shingle, config.signature)
    cpu = timer.seconds
    # closing(): an error or Ctrl-C in this loop ends the workers before the store goes.
    with closing(ordered_map(task, units, jobs)) as results:
        for work in results:
            # A repeated id is an error or, with on_error="skip", a skip in its place.
            repeated: list[tuple[int, Skip]] = []
            rows = zip(work.ids, work.sources, work.lines, strict=True)
            for k, (doc_id, source, line) in enumerate(rows):
                skip = index.ids.add(doc_id, source, line, config.read.on_error)
                if skip is not None:
                    repeated.append((k, skip))
            places = [(p, 0, s) for p, s in zip(work.skip_at, work.skipped, strict=True)]
            in_order = sorted(places + [(k, 1, s) for k, s in repeated], key=lambda t: t[:2])
            skipped.extend(s for *_, s in in_order)
            if work.error is not None:
                raise work.error
            signed = work.signed
            assert signed is not None and signed.extent is not None  # every batch is stored
            if repeated:  # input_bytes counts the text read, repeated ids included
                index.input_bytes += signed.input_bytes
            for lo, hi in _kept_runs(len(work.ids), [k for k, _ in repeated]):
                index.add(_rows(signed, lo, hi))
                if spool is not None:
                    assert work.spooled is not None
                    spool.add(_spooled_rows(work.spooled, lo, hi))
            cpu["parse_cpu"] = cpu.get("parse_cpu", 0.0) + work.parse_s
            cpu["normalize_cpu"] = cpu.get("normalize_cpu", 0.0) + signed.normalize_s
            cpu["shingle_sign_cpu"] = cpu.get("shingle_sign_cpu", 0.0) + signed.sign_s
    # Reading happens inside the same loop; report signing net of it.
    total = time.perf_counter() - t
    timer.seconds["sign"] = max(0.0, total - timer.seconds.get("read", 0.0))


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
    """A run's Result, and what the index found (per document, in input order, its cluster
    number and the number of the document it duplicates) for routing records by position."""

    result: Result
    ids: list[str]
    found: Found
    records: list[Member]  # of every entry of found.clusters.members
    against: Against | None = None

    def counts(self) -> Counts:
        r = self.result
        return Counts(r.read, len(r.kept), len(r.removed), len(r.skipped), len(r.clusters))

    def fate(self, doc: int) -> Fate | None:
        """The fate of document number `doc`: a duplicate of an indexed document
        (against.settle; its cluster, if any, is the run's), else the one the run found."""
        own = self.found.fate(doc, self.ids, self.records)
        if self.against is None or self.against.target[doc] < 0:
            return own
        from .against import indexed_fate

        return indexed_fate(own, self.against.found[self.against.target[doc]])

    def fates(self) -> Iterator[Fate | None]:
        """The fate of every document, in input order."""
        return (self.fate(k) for k in range(len(self.ids)))

    def removed(self) -> np.ndarray:
        """Which documents are removed, as a boolean mask."""
        gone = self.found.duplicate_of >= 0
        return gone if self.against is None else gone | (self.against.target >= 0)


def _deduplicate(
    items: Iterable[Item],
    config: Config,
    *,
    workdir: Path | None,
    on_stage: Callable[[str], None] | None,
    spool: Spool | None = None,
    indexes: IndexSet | None = None,
) -> _Outcome:
    timer = _Timer()
    skipped: list[Skip] = []
    with TwoPassIndex(config, workdir) as index:
        _sign_all(items, config, index, timer, spool, skipped)
        observe = None
        if indexes is not None:
            numbered = index.ids

            def observe(sigs: np.ndarray, store: ShingleStore) -> None:
                names = list(numbered.sources)
                sources = [names[k] for k in numbered.source_of]
                indexes.prepare(sigs, store.fetch, numbered.ids, sources)

        prior = indexes.prior() if indexes is not None else None
        found = index.finish(on_stage, observe, prior)
    ids = index.ids.ids
    records = member_records(found.clusters, ids)
    clusters = cluster_records(found.clusters, ids, records)
    removed: dict[str, tuple[str, int | None]]
    removed = {m.id: (c.representative, c.cluster) for c in clusters for m in c.members[1:]}
    against = None
    if indexes is not None:
        t = time.perf_counter()
        against = indexes.settle(ids, found.duplicate_of, found.repeats)
        gone = np.flatnonzero(against.target >= 0).tolist()
        for row, k in zip(against.found, gone, strict=True):
            c = int(found.cluster_of[k])
            removed[row["id"]] = (row["duplicate_of"], c if c >= 0 else None)
        timer.add("index_match", t)
    kept = tuple(i for i in ids if i not in removed)
    timings = timer.seconds | found.stats["timings"]
    stats = found.stats | {"timings": {k: round(v, 4) for k, v in timings.items()}}
    result = Result(
        clusters=tuple(clusters),
        kept=kept,
        removed=removed,
        skipped=tuple(skipped),
        stats=stats,
    )
    return _Outcome(result, ids, found, records, against)


@dataclass(frozen=True)
class Unwritten:
    """A run's outputs as it is about to write them, for work that would otherwise read them
    back (the report), done while they are written: the summary (but the write's figures),
    the clusters (as clusters.jsonl will hold them), and the records of documents by id, as
    the record files will hold them (valid until the run's write stage ends)."""

    summary: Mapping[str, Any]
    clusters: Sequence[Cluster]
    records: Callable[[Set[str]], Iterator[dict[str, Any]]]


def run(
    inputs: Sequence[str],
    outdir: str | Path,
    config: Config = Config(),
    *,
    stdin: BinaryIO | None = None,
    report: Callable[[Path, Mapping[str, Any]], object] | None = None,
    progress: ProgressCallback | None = None,
    options: Mapping[str, Any] | None = None,
    index: str | Path | None = None,
    against: Sequence[str | Path] = (),
    index_sample: int | None = None,
    kept_lines: Callable[[KeptLines], object] | None = None,
    prepare_report: Callable[[Unwritten], object] | None = None,
) -> RunResult:
    """Read `inputs`, deduplicate, and write the OUTDIR contract files (then the report).

    `progress` receives ProgressEvents (documents read, then each stage); `options` (the
    CLI's effective option values) is recorded in summary.json, next to the inputs;
    `report` is called with OUTDIR and the summary before summary.json is written;
    `kept_lines`, before it, with where the kept representatives' lines start in kept.jsonl
    (JSONL output split into kept and removed only), so that the report seeks to them.
    `prepare_report` is called with the outputs about to be written (`Unwritten`), in a
    worker process while they are written (config.jobs > 1); what it returns is handed to
    `report` as its `prepared` argument.

    Records go out as JSONL or Parquet (config.output.format; auto: Parquet when every input
    is Parquet), split into kept and removed or, with config.output.annotate, all in one
    annotated file (io/outdir.py). The main process only reads: JSONL lines are parsed, and
    every record is rendered for the output, by the workers. OUTDIR is checked against the
    inputs, then held (one run at a time) and cleared of an earlier run's files only
    (io/outdir.py `open_outdir`).

    With `index` (a folder: made when missing) the documents are also deduplicated against
    every document in it, and the kept ones added to it once the run is complete; with
    `against` (existing indexes, read-only) against theirs (against.py `settle`). Both are
    opened, options checked and the writer's lock taken before OUTDIR is touched.
    `index_sample` (1, 2, 4, ...: one shingle in so many kept for verification) is the
    index's when it exists, else 4.
    """
    inputs = checked_inputs(inputs, outdir)
    fmt = output_format(inputs, config)
    if fmt == "parquet":
        pyarrow()  # a missing extra fails now, not after the whole run
    go = partial(_run, inputs, outdir, config, fmt, stdin, report, progress, options)
    if index is None and not against:
        return go(None, kept_lines, prepare_report)
    from .against import IndexSet, apart

    apart(outdir, [*([index] if index is not None else []), *against])
    from .persist import sample_bits

    bits = None if index_sample is None else sample_bits(index_sample)
    with IndexSet(config, index, against, bits) as indexes:
        return go(indexes, kept_lines, prepare_report)


def _run(
    inputs: Sequence[str],
    outdir: str | Path,
    config: Config,
    fmt: str,
    stdin: BinaryIO | None,
    report: Callable[[Path, Mapping[str, Any]], object] | None,
    progress: ProgressCallback | None,
    options: Mapping[str, Any] | None,
    indexes: IndexSet | None,
    kept_lines: Callable[[KeptLines], object] | None = None,
    prepare_report: Callable[[Unwritten], object] | None = None,
) -> RunResult:
    folder = LocalFolder(Path(outdir))
    reporter = Reporter(progress, input_size(inputs) if progress else None)
    plan = planned(fmt, config.output.annotate, indexes is not None)
    with open_outdir(folder, plan):
        if indexes is not None:
            indexes.spill_in(Path(outdir))
        with tempfile.TemporaryDirectory(prefix=".dedup-", dir=folder.local) as tmp:
            spool = Spool(Path(tmp), fmt)
            read = read_items(inputs, config.read, stdin=stdin, jobs=resolve_jobs(config.jobs))
            outcome = _deduplicate(
                reporter.track(read),
                config,
                workdir=Path(tmp),
                on_stage=reporter.stage,
                spool=spool,
                indexes=indexes,
            )
            result = outcome.result
            reporter.stage("write")
            ahead = None
            if prepare_report is not None and report is not None:
                ahead = _ahead_of_write(prepare_report, spool, outcome, config)
            t = time.perf_counter()
            with ahead if ahead is not None else nullcontext():
                files, written = _write_outputs(folder, spool, outcome, config, fmt)
                write_seconds = time.perf_counter() - t
                if kept_lines is not None and _split_jsonl(spool, outcome, config, fmt):
                    kept_lines(_representative_lines(spool, outcome))
                t = time.perf_counter()
                if ahead is not None and report is not None:  # before the spool goes
                    report = _handed(report, ahead.result())
                waited = time.perf_counter() - t
        counts = outcome.counts()
        check_accounting(spool.count, len(result.skipped), counts, written)
        timings = dict(result.stats["timings"], write=round(write_seconds, 4))
        if ahead is not None:  # the report's time, of which the rest is to come
            timings["report"] = waited
        doc = summary(counts, result.skipped, result.stats, config, timings)
        # What repeats the run: the inputs as given and (from the CLI) every option's value.
        doc |= {"outputs": outputs(files), "inputs": list(inputs)}
        doc |= {"options": dict(options)} if options else {}
        if indexes is not None:
            assert outcome.against is not None
            kept = ~outcome.removed()
            doc |= indexes.summary(outcome.against.removed_by(), int(kept.sum()))
        doc = complete(folder, doc, timings, report, reporter)
        if indexes is not None:
            # Last: the index changes only once the run is complete.
            indexes.commit(kept)
    return RunResult(counts, result.skipped, doc, str(outdir), result)


def _ahead_of_write(
    prepare: Callable[[Unwritten], object], spool: Spool, outcome: _Outcome, config: Config
) -> Background[object] | None:
    """`prepare` of the outputs about to be written, started in a worker process (None
    when the spool does not hold exactly the run's documents, or a field the run adds
    would replace the id or the text in the record files)."""
    if spool.count != len(outcome.ids) or {config.read.id_field, config.read.text_field} & (
        RESERVED
    ):
        return None
    result = outcome.result
    doc = summary(outcome.counts(), result.skipped, result.stats, config, {})
    ids = outcome.ids

    def records(wanted: Set[str]) -> Iterator[dict[str, Any]]:
        at = [k for k, doc_id in enumerate(ids) if doc_id in wanted]
        return (record for _, record in spool.records_at(at))

    work = Unwritten(doc, result.clusters, records)
    return Background(lambda _: prepare(work), None, resolve_jobs(config.jobs))


def _handed(report: Callable[..., object], prepared: object) -> Callable[..., object]:
    """`report`, called with what was prepared for it."""
    return partial(report, prepared=prepared)


def _write_outputs(
    folder: LocalFolder, spool: Spool, outcome: _Outcome, config: Config, fmt: str
) -> tuple[list[str], list[int]]:
    """Route every spooled record to its file, with the fields the run adds; return the names
    of the files written and how many records went out as kept and as removed."""
    result = outcome.result
    annotate = config.output.annotate
    schema = spool.arrow_schema(config.read.id_field) if fmt == "parquet" else None
    # Not strict: a spool and an index of different lengths is an accounting error, which
    # the counts make `check_accounting` report.
    with Records(folder, fmt, annotate, schema, config.read.text_field) as out:
        if fmt == "parquet":
            for (record, _), fate in zip(spool.records(), outcome.fates(), strict=False):
                out.record(record, fate)
        elif _split_jsonl(spool, outcome, config, fmt):
            _write_split(spool, outcome, out)
        else:
            for (data, flags), fate in zip(spool.entries(), outcome.fates(), strict=False):
                out.line(data, flags, fate)
    write_lines(folder, "clusters.jsonl", (cluster_line(c) for c in result.clusters))
    write_lines(folder, "errors.jsonl", (asdict(s) for s in result.skipped))
    names = [*out.names, "clusters.jsonl", "errors.jsonl"]
    if outcome.against is not None:
        write_lines(folder, INDEX_MATCHES, outcome.against.found)
        names.append(INDEX_MATCHES)
    return names, out.counts


def _split_jsonl(spool: Spool, outcome: _Outcome, config: Config, fmt: str) -> bool:
    """Whether the records go out by `_write_split` (kept ones as spooled)."""
    return fmt == "jsonl" and not config.output.annotate and spool.count == len(outcome.ids)


def _representative_lines(spool: Spool, outcome: _Outcome) -> KeptLines:
    """Where each kept representative's line starts in kept.jsonl: `_write_split` writes
    kept records as spooled, so a line starts after the kept records before it."""
    sizes = [b.sizes for b in spool.batches]
    kept = np.where(outcome.removed(), 0, np.concatenate(sizes) if sizes else np.zeros(0, int))
    starts = np.cumsum(kept) - kept
    reps = outcome.found.clusters.reps
    reps = reps[kept[reps] > 0].tolist()
    return KeptLines({outcome.ids[r]: int(starts[r]) for r in reps})


def _write_split(spool: Spool, outcome: _Outcome, out: Records) -> None:
    """kept.jsonl and removed.jsonl from the spool, a batch at a time: the kept records
    between two removed ones go out unchanged, as one slice of the batch; each removed record
    gets its fields."""
    removed = outcome.removed()
    first = 0  # number of the batch's first document
    for batch, blob in spool.blobs():
        n = batch.sizes.size
        gone = np.flatnonzero(removed[first : first + n]).tolist()
        fates = ((k, outcome.fate(first + k)) for k in gone)
        out.split_lines(blob, batch.sizes.tolist(), batch.flags, fates)
        first += n
