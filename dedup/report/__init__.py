"""The diff report of a run, built from the run directory's files alone.

`build_report(outdir)` reads clusters.jsonl, kept.jsonl, removed.jsonl and summary.json (or,
during a run, the summary it is given) and writes outdir/report/: index.html and index.md,
index-data.js (every cluster, for the index page's search), style.css, report.js, and for the
clusters most worth checking (`select.py`, `ReportConfig.clusters` of them)
clusters/NNNNNN.html with its Markdown twin clusters/NNNNNN.md (named by cluster number, never by
a document id). Pages are computed first (`diff.py`) and rendered second (`render.py`), in
parallel over `jobs` processes; the files are the same whatever `jobs`. Its files are added to
OUTDIR's manifest before they are written, as every file dedup writes there (io/outdir.py).

It streams: removed.jsonl is read once for every member's length, first line and noise kinds
(in chunks, each looked at in the worker process that reads it), then the documents of the
pages are looked up (kept.jsonl is only read up to the last representative a page needs, and
only the lines holding a wanted id are parsed; a run that says where the representatives'
lines start, `KeptLines`, spares even that). All that reading and choosing makes a
`ReportPlan`; a run makes the same plan without reading its files back (`plan_report`: from
its clusters and its spooled records, in a worker process while it writes the files), and
hands it to `build_report`, which then only computes and writes the pages. Every page is
bounded by the limits of `ReportConfig`, and the same run directory always gives byte-identical
files.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence, Set
from contextlib import closing
from dataclasses import dataclass, fields, replace
from itertools import chain, islice
from pathlib import Path
from typing import Any

from ..config import NormalizeConfig
from ..errors import ConfigError, InputError
from ..io.outdir import REPORT, KeptLines, LocalFolder, cluster_line, cluster_record, disown, own
from ..io.writers import atomic_open, document_files
from ..parallel import batched, ordered_map, resolve_jobs
from ..phrases import vocabulary_table
from ..types import Cluster, Member
from . import render
from .diff import (
    DocText,
    Overview,
    Thresholds,
    cluster_report,
    doc_text,
    overview,
    shown_members,
)
from .select import (
    IndexEntry,
    MemberInfo,
    index_entries,
    member_infos,
    pick_pages,
    shows_mojibake,
)


@dataclass(frozen=True)
class ReportConfig:
    """Limits that keep every page small whatever the run (each one is named on a page that it
    cuts, with where to find the rest)."""

    max_members: int = 10  # members per cluster compared in full with the representative
    max_listed: int = 1000  # members per cluster listed with their figures
    max_chars: int = 20_000  # characters of each document compared and shown
    max_paragraphs: int = 400  # paragraphs of each document compared
    max_index_rows: int = 5000  # clusters listed on the index page without script
    max_id_chars: int = 200  # longer ids are shown cut
    # Clusters that get a page of their own (the ones most worth checking, see `select.py`);
    # every cluster is in the index's search whatever this is. 50 pages keep the report at
    # about a tenth of the run's CPU time on 100,000 documents (bench/report_bench.py).
    clusters: int = 50

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            low = 0 if f.name in ("max_members", "clusters") else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"report {f.name} must be an integer >= {low}, got {value!r}")


__all__ = [
    "RecordLookup",
    "ReportConfig",
    "ReportPlan",
    "build_report",
    "plan_report",
    "read_clusters",
    "run_documents",
    "run_normalize_config",
    "run_thresholds",
    "shows_mojibake",
]

# Members whose noise kinds are looked for at once (one table look-up each).
_INFO_BATCH = 512
# Bytes of a JSONL document file that one task of the first pass reads.
_CHUNK_BYTES = 4 << 20
# Pages handed to a worker at once: enough to keep the pipes quiet, few enough to share well.
_PAGES_PER_TASK = 4
# Tasks in flight per worker while the pages are computed.
_TASKS_AHEAD = 4

PageProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class _RunInfo:
    """What the report needs from summary.json."""

    summary: Mapping[str, Any]
    id_field: str
    text_field: str
    norm_cfg: NormalizeConfig
    version: str
    thresholds: Thresholds


@dataclass(frozen=True)
class _PageTask:
    """One cluster page to compute and render: everything a worker process needs."""

    cluster: Cluster
    texts: dict[str, DocText]
    lengths: dict[str, int]
    nav: tuple[int | None, int | None]
    extras: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class _PageMaker:
    """Computes and renders pages (called in worker processes)."""

    cfg: ReportConfig
    run: _RunInfo
    templates: render.Templates

    def __call__(self, tasks: list[_PageTask]) -> list[tuple[int, str, str]]:
        out = []
        for task in tasks:
            page = cluster_report(
                task.cluster,
                task.texts,
                task.lengths,
                max_members=self.cfg.max_members,
                max_listed=self.cfg.max_listed,
                max_paragraphs=self.cfg.max_paragraphs,
                norm_cfg=self.run.norm_cfg,
                extras=task.extras,
                thresholds=self.run.thresholds,
            )
            html = render.cluster_html(page, task.nav, self.run.version, self.templates, self.cfg)
            md = render.cluster_md(page, task.nav, self.templates, self.cfg)
            out.append((task.cluster.cluster, html, md))
        return out


@dataclass(frozen=True)
class _Index:
    """What the index pages show."""

    entries: list[IndexEntry]
    chosen: frozenset[int]
    overview: Overview
    paged: int

    def render(
        self, run: _RunInfo, templates: render.Templates, cfg: ReportConfig
    ) -> tuple[str, str, str]:
        """index-data.js, index.md and index.html."""
        listed = [e.row for e in self.entries if e.row.cluster in self.chosen]
        listed = listed[: cfg.max_index_rows]
        total, ov, paged = len(self.entries), self.overview, self.paged
        return (
            render.index_data_js(self.entries, self.chosen, cfg),
            render.index_md(run.summary, listed, total, ov, templates, cfg, paged),
            render.index_html(run.summary, listed, total, ov, run.version, templates, cfg, paged),
        )


@dataclass(frozen=True)
class ReportPlan:
    """A report before a file of it is written: its pages, each with the texts it shows
    (in the index's order), and its index, rendered (index-data.js, index.md, index.html) or
    to render. `build_report` makes it from a run's files; a run makes it from what it holds
    while it writes them (`plan_report`), the same."""

    pages: list[_PageTask]
    index: tuple[str, str, str] | _Index


# The records of a run's documents with these ids, as its record files hold them.
RecordLookup = Callable[[Set[str]], Iterator[Mapping[str, Any]]]


def plan_report(
    clusters: Sequence[Cluster],
    records: RecordLookup,
    summary: Mapping[str, Any],
    cfg: ReportConfig = ReportConfig(),
) -> ReportPlan:
    """The plan of the report of a run whose files are not written yet: `clusters` are the
    ones its clusters.jsonl will hold (`io.outdir.cluster_record`), `records` finds its
    records by id, `summary` is its summary.json document. The plan is the one
    `build_report` would make from the files, made in one process: a run makes it while it
    writes them."""
    run = _run_info(Path("summary.json"), summary)
    # Clusters as clusters.jsonl gives them back: as they are, but for a cluster whose
    # figures JSON would change (parsed from its line, then).
    lines = {c.cluster: json.loads(cluster_line(c)) for c in clusters if not _as_read(c)}
    if lines:
        rows = enumerate(lines.values(), 1)
        back = {c.cluster: c for c in _parse_clusters(rows, "clusters.jsonl")[0]}
        clusters = [back.get(c.cluster, c) for c in clusters]

    def extras(c: Cluster) -> dict[str, dict[str, Any]]:
        line = lines[c.cluster] if c.cluster in lines else cluster_record(c)
        return _member_extras(line["members"])

    def texts(wanted: Set[str]) -> Iterator[tuple[str, str]]:
        left = set(wanted)
        for rec in records(wanted):
            doc = _id_and_text(rec, run)
            if doc is not None and doc[0] in left:  # an id's first occurrence only
                left.discard(doc[0])
                yield doc

    seen: dict[str, MemberInfo] = {}
    for batch in batched(texts(_others(clusters)), _INFO_BATCH):
        seen.update(member_infos(batch, run.norm_cfg))
    plan = _plan(clusters, extras, seen, cfg, run, texts)
    assert isinstance(plan.index, _Index)
    # Rendered here: text travels between processes far faster than the entries.
    return replace(plan, index=plan.index.render(run, render.Templates.load(), cfg))


def build_report(
    outdir: Path,
    cfg: ReportConfig = ReportConfig(),
    summary: Mapping[str, Any] | None = None,
    *,
    jobs: int = 1,
    progress: PageProgress | None = None,
    kept_lines: KeptLines | None = None,
    plan: ReportPlan | None = None,
) -> Path:
    """Write outdir/report/ from the run's files and return the path of its index.html.
    `summary` is the run's summary.json document, when it is not written yet (a run calls
    the report before it writes summary.json, which marks it finished). `jobs` processes
    compute the pages (0: all cores); `progress(done, total)` is called as pages are written;
    `kept_lines` (from the run) is where representatives' lines start in kept.jsonl; `plan`,
    what the run planned while writing its files (`plan_report`): then none is read.

    Pages are written in place; pages that an earlier report wrote (as OUTDIR's manifest
    lists) and this one does not are removed, so a rebuild leaves exactly this report's
    files. A file in the way that dedup did not write is an OutputError.
    """
    outdir = Path(outdir)
    where = outdir / "summary.json"
    run = _run_info(where, _summary(where) if summary is None else summary)
    if plan is None:
        plan = _plan_from_files(outdir, run, cfg, jobs, kept_lines)
    order = [task.cluster.cluster for task in plan.pages]

    templates = render.Templates.load()
    root = outdir / REPORT
    pages = root / "clusters"
    files = [f"{REPORT}/style.css", f"{REPORT}/report.js", f"{REPORT}/{render.INDEX_DATA}"]
    files += [f"{REPORT}/clusters/{render.page_name(n)}.{e}" for n in order for e in ("html", "md")]
    files += [f"{REPORT}/index.md", f"{REPORT}/index.html"]
    earlier = own(LocalFolder(outdir), files)
    # The index pages make a report look finished: gone until this report is complete.
    for name in ("index.html", "index.md"):
        (root / name).unlink(missing_ok=True)
    pages.mkdir(parents=True, exist_ok=True)
    _write(root / "style.css", templates.style)
    _write(root / "report.js", templates.script)

    workers = min(resolve_jobs(jobs), max(1, -(-len(order) // _PAGES_PER_TASK)))
    if order and run.norm_cfg.t2s and run.norm_cfg.fold_phrases:
        vocabulary_table()  # built once, before the workers are forked
    maker = _PageMaker(cfg, run, templates)
    done = 0
    if progress is not None:
        progress(0, len(order))
    # Enough pages in flight to keep the workers busy while this process renders the index.
    tasks = batched(plan.pages, _PAGES_PER_TASK)
    pending = ordered_map(maker, tasks, workers, ahead=_TASKS_AHEAD * workers)
    with closing(pending):
        first = list(islice(pending, 1))  # the workers are started and have their pages
        index = plan.index
        if isinstance(index, _Index):
            index = index.render(run, templates, cfg)
        for result in chain(first, pending):
            for number, html, md in result:
                stem = pages / render.page_name(number)
                _write(stem.with_suffix(".html"), html)
                _write(stem.with_suffix(".md"), md)
            done += len(result)
            if progress is not None:
                progress(done, len(order))

    # Pages of clusters an earlier report had: removed, and dropped from the manifest.
    writes = set(files)
    stale = [f for f in earlier if f.startswith(f"{REPORT}/") and f not in writes]
    for name in stale:
        path = outdir / name
        if path.is_file():
            path.unlink()
    disown(LocalFolder(outdir), stale)

    index_data, index_md, index_html = index
    _write(root / render.INDEX_DATA, index_data)
    # Last, each under a temporary name first: an index page exists only complete.
    _write_atomic(root / "index.md", index_md)
    _write_atomic(root / "index.html", index_html)
    return root / "index.html"


def _others(clusters: Iterable[Cluster]) -> set[str]:
    """Every member but the representatives: the ones the index looks at."""
    return {m.id for c in clusters for m in c.members if m.id != c.representative}


def _plan_from_files(
    outdir: Path, run: _RunInfo, cfg: ReportConfig, jobs: int, kept_lines: KeptLines | None
) -> ReportPlan:
    """The plan of the report of the run in `outdir`, from its files."""
    clusters, found = _read_clusters(outdir / "clusters.jsonl")

    def extras(c: Cluster) -> dict[str, dict[str, Any]]:
        return found.get(c.cluster, {})

    # First pass: every member but the representatives (removed.jsonl, the small file).
    # `places`: where each line was, to read it again at once.
    seen, places = _first_pass(outdir, run, _others(clusters), jobs)
    if kept_lines is not None:
        kept = outdir / "kept.jsonl"
        for i, at in kept_lines.offsets.items():
            places.setdefault(i, (kept, at))

    def texts(wanted: Set[str]) -> Iterator[tuple[str, str]]:
        placed = dict(_read_at(run, {i: places[i] for i in wanted if i in places}))
        yield from placed.items()
        yield from ((i, t) for i, t, _ in _find(outdir, run, set(wanted) - placed.keys()))

    return _plan(clusters, extras, seen, cfg, run, texts)


def _plan(
    clusters: Sequence[Cluster],
    extras: Callable[[Cluster], dict[str, dict[str, Any]]],
    seen: Mapping[str, MemberInfo],
    cfg: ReportConfig,
    run: _RunInfo,
    texts: Callable[[Set[str]], Iterable[tuple[str, str]]],
) -> ReportPlan:
    """The pages and index of a report (the index to render), given the clusters, what the
    first pass saw of the members and a way to the texts of documents by id (each at most
    once)."""
    entries = index_entries(clusters, seen, cfg.max_listed)
    chosen = pick_pages(entries, cfg.clusters)
    order = [e.row.cluster for e in entries if e.row.cluster in chosen]
    by_number = {c.cluster: c for c in clusters}

    # Second pass: the documents the pages show, and the lengths of their members.
    needed: set[str] = set()
    members: set[str] = set()
    for number in order:
        c = by_number[number]
        needed.add(c.representative)
        needed.update(m.id for m in shown_members(c, cfg.max_members))
        members.update(m.id for m in c.members)
    lengths = {i: seen[i].length for i in members if i in seen}
    shown: dict[str, DocText] = {}
    for doc_id, text in texts((members - lengths.keys()) | needed):
        lengths[doc_id] = len(text)
        if doc_id in needed:
            shown[doc_id] = doc_text(doc_id, text, cfg.max_chars, run.norm_cfg)

    pages = []
    for k, number in enumerate(order):
        c = by_number[number]
        ids = {m.id for m in c.members}
        pages.append(
            _PageTask(
                c,
                {i: shown.pop(i) for i in ids if i in shown},
                {i: lengths[i] for i in ids if i in lengths},
                (order[k - 1] if k else None, order[k + 1] if k + 1 < len(order) else None),
                extras(c),
            )
        )
    return ReportPlan(pages, _Index(entries, chosen, overview(clusters), len(order)))


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


def _write_atomic(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def _jsonl(
    path: Path, keep: Callable[[bytes], bool] | None = None
) -> Generator[tuple[int, Any], None, None]:
    """(line number, parsed value) of each non-blank line (of those `keep` accepts)."""
    with closing(_jsonl_at(path, keep)) as rows:
        for n, _, value in rows:
            yield n, value


def _jsonl_at(
    path: Path, keep: Callable[[bytes], bool] | None = None, span: _Span = (0, None)
) -> Generator[tuple[int, int, Any], None, None]:
    """`_jsonl`, with the byte offset where each line starts; only the lines of `span` (the
    bytes [start, end) of the file, end None: to its end, start at the start of a line)."""
    start, end = span
    try:
        f = path.open("rb")
    except OSError as e:
        raise InputError(str(path), f"cannot read: {e.strerror or e}") from e
    with f:
        f.seek(start)
        offset = start
        for n, line in enumerate(f, 1):
            if end is not None and offset >= end:
                return
            at, offset = offset, offset + len(line)
            if not line.strip() or (keep is not None and not keep(line)):
                continue
            try:
                yield n, at, json.loads(line)
            except json.JSONDecodeError as e:
                line_no = n + _lines_before(path, start)
                raise InputError(str(path), f"not valid JSON: {e.msg}", line_no) from e
            except UnicodeDecodeError as e:
                line_no = n + _lines_before(path, start)
                raise InputError(str(path), f"not valid UTF-8: {e.reason}", line_no) from e


def _lines_before(path: Path, offset: int) -> int:
    """How many lines of `path` end before byte `offset` (for the line number of an error)."""
    if offset == 0:
        return 0
    with path.open("rb") as f:
        count = 0
        while offset > 0:
            block = f.read(min(offset, 1 << 20))
            if not block:
                break
            count += block.count(b"\n")
            offset -= len(block)
        return count


def _summary(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except OSError as e:
        raise InputError(str(path), f"cannot read: {e.strerror or e}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(str(path), f"not valid JSON: {e}") from e


def _run_info(path: Path, summary: Any) -> _RunInfo:
    if not isinstance(summary, Mapping):
        raise InputError(str(path), "expected a JSON object")
    config = _dict(summary.get("config"))
    read = _dict(config.get("read"))
    norm = _dict(config.get("normalize"))
    verify = _dict(config.get("verify"))
    known = {f.name for f in fields(NormalizeConfig)}
    return _RunInfo(
        summary=summary,
        id_field=str(read.get("id_field", "id")),
        text_field=str(read.get("text_field", "text")),
        norm_cfg=NormalizeConfig(**{k: bool(v) for k, v in norm.items() if k in known}),
        version=str(summary.get("version", "")),
        thresholds=Thresholds(_number(verify.get("threshold")), _number(verify.get("containment"))),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _read_clusters(path: Path) -> tuple[list[Cluster], dict[int, dict[str, dict[str, Any]]]]:
    """The clusters, and the fields of their members beyond id, jaccard and containment (by
    cluster number, then member id)."""
    return _parse_clusters(_jsonl(path), str(path))


def _parse_clusters(
    rows: Iterable[tuple[int, Any]], where: str
) -> tuple[list[Cluster], dict[int, dict[str, dict[str, Any]]]]:
    """`_read_clusters` of the (line number, value) of each line of clusters.jsonl."""
    clusters: list[Cluster] = []
    extras: dict[int, dict[str, dict[str, Any]]] = {}
    seen: set[int] = set()
    for n, obj in rows:
        number = obj.get("cluster") if isinstance(obj, dict) else None
        rep = obj.get("representative") if isinstance(obj, dict) else None
        raw = obj.get("members") if isinstance(obj, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise InputError(where, "'cluster' must be a non-negative integer", n)
        if number in seen:
            raise InputError(where, f"cluster {number} appears twice", n)
        if not isinstance(rep, str) or not isinstance(raw, list):
            raise InputError(where, "expected 'representative' and a list of 'members'", n)
        members = []
        for m in raw:
            mid = m.get("id") if isinstance(m, dict) else None
            jac = _number(m.get("jaccard")) if isinstance(m, dict) else None
            con = _number(m.get("containment")) if isinstance(m, dict) else None
            if not isinstance(mid, str) or jac is None or con is None:
                raise InputError(where, "each member needs 'id', 'jaccard', 'containment'", n)
            why = m if isinstance(m.get("via"), str) else {}
            share = _number(m.get("repeated_share")) or 0.0
            vj, vc = _number(why.get("via_jaccard")), _number(why.get("via_containment"))
            members.append(Member(mid, jac, con, why.get("via"), vj, vc, share))
        more = _member_extras(raw)
        if more:
            extras[number] = more
        seen.add(number)
        clusters.append(Cluster(number, rep, tuple(members)))
    return clusters, extras


def _member_extras(raw: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The fields of members (as clusters.jsonl holds them) beyond id, jaccard and
    containment, by member id, for the "why it is in" column."""
    extras = {}
    for m in raw:
        more = {k: v for k, v in m.items() if k not in _MEMBER_FIELDS}
        if more:
            extras[m["id"]] = more
    return extras


def _as_read(c: Cluster) -> bool:
    """Whether `c` is what its line in clusters.jsonl gives back (`_parse_clusters`): ids
    and figures of the types JSON gives back, via figures only with a via, as a run makes
    them."""
    if type(c.cluster) is not int or type(c.representative) is not str:
        return False
    for m in c.members:
        if m.via is None:
            via = m.via_jaccard is None and m.via_containment is None
        else:
            via = type(m.via) is str and all(
                x is None or type(x) is float for x in (m.via_jaccard, m.via_containment)
            )
        share = m.repeated_share
        if not (
            via
            and type(m.id) is str
            and type(m.jaccard) is float
            and type(m.containment) is float
            and type(share) is float
            and (share > 0.0 or (share == 0.0 and math.copysign(1.0, share) > 0))
        ):
            return False
    return True


_MEMBER_FIELDS = frozenset(("id", "jaccard", "containment"))


# Where a document's line starts: a JSONL file and a byte offset.
_Place = tuple[Path, int]


# The bytes [start, end) of a file (end None: to its end).
_Span = tuple[int, int | None]
# A part of a document file that the first pass reads in one task: a span of a JSONL file
# (from the start of a line), or a whole Parquet file.
_Chunk = tuple[Path, _Span]


def _first_pass(
    outdir: Path, run: _RunInfo, wanted: Set[str], jobs: int
) -> tuple[dict[str, MemberInfo], dict[str, _Place]]:
    """The `MemberInfo` of each `wanted` document (its first occurrence in the run's document
    files, as `_find` reads them) and where its line starts. Each file is read in chunks
    over `jobs` processes, each chunk's documents looked at where they are read (only ids
    and figures travel back); the files after the one where the last is found are not read.
    Documents the quick look at JSONL lines misses are then read as `_find` reads them."""
    seen: dict[str, MemberInfo] = {}
    places: dict[str, _Place] = {}
    left = set(wanted)
    for path in document_files(outdir):
        if not left:
            break
        chunks = _chunks(path)
        scan = _ChunkScan(run, frozenset(left))
        workers = min(resolve_jobs(jobs), len(chunks))
        for found in ordered_map(scan, chunks, workers):
            for doc_id, info, at in found:
                if doc_id in left:  # an id's first occurrence only
                    left.discard(doc_id)
                    seen[doc_id] = info
                    if at is not None:
                        places[doc_id] = at
    if left:
        for batch in batched(_find(outdir, run, left, quick=False), _INFO_BATCH):
            seen.update(member_infos([(i, text) for i, text, _ in batch], run.norm_cfg))
            places.update((i, at) for i, _, at in batch if at is not None)
    return seen, places


def _chunks(path: Path) -> list[_Chunk]:
    """`path` in chunks of about _CHUNK_BYTES, each from the start of a line (a Parquet file,
    or one that cannot be read, as one chunk: reading it says what is wrong)."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if path.suffix == ".parquet" or size <= _CHUNK_BYTES:
        return [(path, (0, None))]
    starts = [0]
    with path.open("rb") as f:
        while starts[-1] + _CHUNK_BYTES < size:
            f.seek(starts[-1] + _CHUNK_BYTES - 1)
            f.readline()  # to the end of the line holding that byte
            if f.tell() >= size:
                break
            starts.append(f.tell())
    ends: list[int | None] = [*starts[1:], None]
    return [(path, (a, b)) for a, b in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class _ChunkScan:
    """The first pass over one chunk (called in worker processes): (id, MemberInfo, where its
    line starts) of each wanted document in it, in file order, an id's first occurrence."""

    run: _RunInfo
    wanted: frozenset[str]

    def __call__(self, chunk: _Chunk) -> list[tuple[str, MemberInfo, _Place | None]]:
        path, span = chunk
        docs: dict[str, tuple[str, _Place | None]] = {}
        for doc_id, text, at in _documents(path, self.run, self.wanted, True, span):
            docs.setdefault(doc_id, (text, at))
        infos: dict[str, MemberInfo] = {}
        for batch in batched(docs.items(), _INFO_BATCH):
            infos.update(member_infos([(i, text) for i, (text, _) in batch], self.run.norm_cfg))
        return [(i, infos[i], at) for i, (_, at) in docs.items()]


def _find(
    outdir: Path, run: _RunInfo, wanted: set[str], quick: bool = True
) -> Iterator[tuple[str, str, _Place | None]]:
    """(id, text, where its line starts, for JSONL) of each `wanted` document of the run (its
    first occurrence), reading the
    document files in order (removed before kept) and stopping once all are found. A JSONL
    line is parsed only when its id field names a wanted id (most of kept.jsonl is skipped
    unparsed); should that quick look miss some (an id field inside a nested object first),
    the files are read again, every line parsed (only that, `quick` False)."""
    left = set(wanted)
    for look in (True, False) if quick else (False,):
        for path in document_files(outdir):
            if not left:
                return
            for doc_id, text, at in _documents(path, run, left, look):
                left.discard(doc_id)
                yield doc_id, text, at
                if not left:
                    return


def _read_at(run: _RunInfo, places: Mapping[str, _Place]) -> Iterator[tuple[str, str]]:
    """(id, text) of each document of `places` (id -> where its line starts: from `_find`, or
    the run's `KeptLines`), read there, file by file in order. A line that does not hold the
    document is passed over (`_find` looks for it)."""
    by_file: dict[Path, list[tuple[int, str]]] = {}
    for doc_id, (path, offset) in places.items():
        by_file.setdefault(path, []).append((offset, doc_id))
    for path, at in by_file.items():
        try:
            f = path.open("rb")
        except OSError:
            continue
        with f:
            for offset, doc_id in sorted(at):
                f.seek(offset)
                try:
                    doc = _id_and_text(json.loads(f.readline()), run)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if doc is not None and doc[0] == doc_id:
                    yield doc


def _documents(
    path: Path, run: _RunInfo, wanted: Set[str], quick: bool, span: _Span = (0, None)
) -> Generator[tuple[str, str, _Place | None], None, None]:
    """(id, text, where its line starts) of the documents of `path` (of its lines in `span`,
    for JSONL) whose id is in `wanted` (a set the caller may shrink as it goes)."""
    if path.suffix == ".parquet":
        if not quick:
            return  # Parquet is read by columns: the quick pass read every id
        from ..io.parquet import parquet_records

        with closing(parquet_records(path, [run.id_field, run.text_field])) as rows:
            for _, rec in rows:
                doc = _id_and_text(rec, run)
                if doc is not None and doc[0] in wanted:
                    yield (*doc, None)
        return
    keep = _id_filter(run.id_field, wanted) if quick else None
    with closing(_jsonl_at(path, keep, span)) as lines:
        for _, offset, rec in lines:
            doc = _id_and_text(rec, run)
            if doc is not None and doc[0] in wanted:
                yield (*doc, (path, offset))


def _id_filter(id_field: str, wanted: Set[str]) -> Callable[[bytes], bool]:
    """Whether a JSONL line may hold a wanted id, by the first `"<id_field>": value` in it."""
    key = re.escape(json.dumps(id_field, ensure_ascii=False).encode("utf-8"))
    pattern = re.compile(key + rb'\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?[0-9]+))')

    def may_hold(line: bytes) -> bool:
        m = pattern.search(line)
        if m is None:
            return True  # let the parser say what is wrong, or find the id
        raw = m.group(1) if m.group(1) is not None else m.group(2)
        if b"\\" in raw:
            try:
                return bool(json.loads(b'"' + raw + b'"') in wanted)
            except ValueError:
                return True
        try:
            return raw.decode("utf-8") in wanted
        except UnicodeDecodeError:
            return True

    return may_hold


def _id_and_text(rec: Any, run: _RunInfo) -> tuple[str, str] | None:
    if not isinstance(rec, dict):
        return None
    raw_id = rec.get(run.id_field)
    doc_id = raw_id if isinstance(raw_id, str) else _id_string(raw_id)
    text = rec.get(run.text_field)
    if doc_id is None or not isinstance(text, str):
        return None
    return doc_id, text


def _id_string(value: Any) -> str | None:
    """Integer ids of JSONL input appear as strings in clusters.jsonl."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


# -- a run's files, as `dedup serve` reads them ------------------------------------------------


def read_clusters(outdir: Path) -> list[Cluster]:
    """The clusters of OUTDIR/clusters.jsonl (InputError naming the line of a bad one)."""
    return _read_clusters(Path(outdir) / "clusters.jsonl")[0]


def run_thresholds(outdir: Path) -> Thresholds:
    """The verification thresholds of the run in OUTDIR (from its summary.json), for the
    "why it is in" column."""
    where = Path(outdir) / "summary.json"
    return _run_info(where, _summary(where)).thresholds


def run_normalize_config(outdir: Path) -> NormalizeConfig:
    """The normalizer settings of the run in OUTDIR (from its summary.json)."""
    where = Path(outdir) / "summary.json"
    return _run_info(where, _summary(where)).norm_cfg


def run_documents(outdir: Path, wanted: Set[str]) -> Iterator[tuple[str, str]]:
    """(id, whole text) of each document of `wanted` in the run's record files, the first
    occurrence of an id only; stops reading once every one is found."""
    where = Path(outdir) / "summary.json"
    run = _run_info(where, _summary(where))
    left = set(wanted)
    for path in document_files(Path(outdir)):
        if not left:
            return
        if path.suffix == ".parquet":
            from ..io.parquet import parquet_records

            rows = parquet_records(path, [run.id_field, run.text_field])
        else:
            rows = _jsonl(path)
        with closing(rows) as records:
            for _, rec in records:
                doc = _id_and_text(rec, run)
                if doc is not None and doc[0] in left:
                    left.discard(doc[0])
                    yield doc
                    if not left:
                        break
