"""The per-cluster diff report of a run, built from the run directory's files alone.

`build_report(outdir)` reads clusters.jsonl, kept.jsonl, removed.jsonl and summary.json (or,
during a run, the summary it is given) and writes outdir/report/: index.html and index.md,
style.css, report.js, and for each cluster clusters/NNNNNN.html with its Markdown twin
clusters/NNNNNN.md (named by cluster number, never by a document id). Pages are computed first
(`diff.py`) and rendered second (`render.py`). Its files are added to OUTDIR's manifest before
they are written, as every file dedup writes there (io/outdir.py).

It streams: kept.jsonl and removed.jsonl are read once, line by line, and only the heads of the
documents a page shows are held. Every page is bounded by the limits of `ReportConfig`, and the
same run directory always gives byte-identical files.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from contextlib import closing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..config import NormalizeConfig
from ..errors import ConfigError, InputError
from ..io.outdir import REPORT, LocalFolder, disown, own
from ..io.writers import atomic_open, document_files
from ..types import Cluster, Member
from . import render
from .diff import (
    DocText,
    Segmenter,
    cluster_report,
    cluster_row,
    doc_text,
    index_order,
    overview,
    shown_members,
)


@dataclass(frozen=True)
class ReportConfig:
    """Limits that keep every page small whatever the run (each one is named on a page that it
    cuts, with where to find the rest)."""

    max_members: int = 10  # members per cluster compared in full with the representative
    max_listed: int = 1000  # members per cluster listed with their figures
    max_chars: int = 20_000  # characters of each document compared and shown
    max_paragraphs: int = 400  # paragraphs of each document compared
    max_index_rows: int = 5000  # clusters listed on the index page
    max_id_chars: int = 200  # longer ids are shown cut

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            low = 0 if f.name == "max_members" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"report {f.name} must be an integer >= {low}, got {value!r}")


__all__ = ["ReportConfig", "build_report"]


@dataclass(frozen=True)
class _RunInfo:
    """What the report needs from summary.json."""

    summary: Mapping[str, Any]
    id_field: str
    text_field: str
    norm_cfg: NormalizeConfig
    version: str


def build_report(
    outdir: Path, cfg: ReportConfig = ReportConfig(), summary: Mapping[str, Any] | None = None
) -> Path:
    """Write outdir/report/ from the run's files and return the path of its index.html.
    `summary` is the run's summary.json document, when it is not written yet (a run calls
    the report before it writes summary.json, which marks it finished).

    Pages are written in place; pages that an earlier report wrote (as OUTDIR's manifest
    lists) and this one does not are removed, so a rebuild leaves exactly this report's
    files. A file in the way that dedup did not write is an OutputError.
    """
    outdir = Path(outdir)
    where = outdir / "summary.json"
    run = _run_info(where, _summary(where) if summary is None else summary)
    clusters = _read_clusters(outdir / "clusters.jsonl")
    needed: set[str] = set()
    for c in clusters:
        needed.add(c.representative)
        needed.update(m.id for m in shown_members(c, cfg.max_members))
    members = {m.id for c in clusters for m in c.members}
    texts: dict[str, DocText] = {}
    lengths: dict[str, int] = {}
    # removed.jsonl holds only cluster members: read it whole; kept.jsonl (the bulk of a run)
    # only until the representatives are found. (Or their Parquet twins, or the annotated file.)
    for path in document_files(outdir):
        _read_texts(path, needed, members, texts, lengths, run, cfg.max_chars)

    rows = index_order(cluster_row(c) for c in clusters)
    order = [r.cluster for r in rows]
    templates = render.Templates.load()
    segmenter = Segmenter()
    by_number = {c.cluster: c for c in clusters}

    root = outdir / REPORT
    pages = root / "clusters"
    files = [f"{REPORT}/style.css", f"{REPORT}/report.js"]
    files += [f"{REPORT}/clusters/{render.page_name(n)}.{e}" for n in order for e in ("html", "md")]
    files += [f"{REPORT}/index.md", f"{REPORT}/index.html"]
    earlier = own(LocalFolder(outdir), files)
    # The index pages make a report look finished: gone until this report is complete.
    for name in ("index.html", "index.md"):
        (root / name).unlink(missing_ok=True)
    pages.mkdir(parents=True, exist_ok=True)
    _write(root / "style.css", templates.style)
    _write(root / "report.js", templates.script)
    for k, number in enumerate(order):
        c = by_number[number]
        page = cluster_report(
            c,
            texts,
            lengths,
            max_members=cfg.max_members,
            max_listed=cfg.max_listed,
            max_paragraphs=cfg.max_paragraphs,
            norm_cfg=run.norm_cfg,
            segmenter=segmenter,
        )
        for m in c.members:  # each document is in one cluster: free its text
            texts.pop(m.id, None)
        nav = (order[k - 1] if k else None, order[k + 1] if k + 1 < len(order) else None)
        stem = pages / render.page_name(number)
        _write(
            stem.with_suffix(".html"), render.cluster_html(page, nav, run.version, templates, cfg)
        )
        _write(stem.with_suffix(".md"), render.cluster_md(page, nav, templates, cfg))

    # Pages of clusters an earlier report had: removed, and dropped from the manifest.
    writes = set(files)
    stale = [f for f in earlier if f.startswith(f"{REPORT}/") and f not in writes]
    for name in stale:
        path = outdir / name
        if path.is_file():
            path.unlink()
    disown(LocalFolder(outdir), stale)

    ov = overview(clusters)
    listed = rows[: cfg.max_index_rows]
    # Last, each under a temporary name first: an index page exists only complete.
    _write_atomic(
        root / "index.md", render.index_md(run.summary, listed, len(rows), ov, templates, cfg)
    )
    _write_atomic(
        root / "index.html",
        render.index_html(run.summary, listed, len(rows), ov, run.version, templates, cfg),
    )
    return root / "index.html"


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


def _write_atomic(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def _jsonl(path: Path) -> Generator[tuple[int, Any], None, None]:
    """(line number, parsed value) of each non-blank line."""
    try:
        f = path.open("r", encoding="utf-8")
    except OSError as e:
        raise InputError(str(path), f"cannot read: {e.strerror or e}") from e
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(str(path), f"not valid JSON: {e.msg}", n) from e


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
    known = {f.name for f in fields(NormalizeConfig)}
    return _RunInfo(
        summary=summary,
        id_field=str(read.get("id_field", "id")),
        text_field=str(read.get("text_field", "text")),
        norm_cfg=NormalizeConfig(**{k: bool(v) for k, v in norm.items() if k in known}),
        version=str(summary.get("version", "")),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _read_clusters(path: Path) -> list[Cluster]:
    clusters: list[Cluster] = []
    seen: set[int] = set()
    for n, obj in _jsonl(path):
        number = obj.get("cluster") if isinstance(obj, dict) else None
        rep = obj.get("representative") if isinstance(obj, dict) else None
        raw = obj.get("members") if isinstance(obj, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise InputError(str(path), "'cluster' must be a non-negative integer", n)
        if number in seen:
            raise InputError(str(path), f"cluster {number} appears twice", n)
        if not isinstance(rep, str) or not isinstance(raw, list):
            raise InputError(str(path), "expected 'representative' and a list of 'members'", n)
        members = []
        for m in raw:
            mid = m.get("id") if isinstance(m, dict) else None
            jac = _number(m.get("jaccard")) if isinstance(m, dict) else None
            con = _number(m.get("containment")) if isinstance(m, dict) else None
            if not isinstance(mid, str) or jac is None or con is None:
                raise InputError(str(path), "each member needs 'id', 'jaccard', 'containment'", n)
            why = m if isinstance(m.get("via"), str) else {}
            share = _number(m.get("repeated_share")) or 0.0
            vj, vc = _number(why.get("via_jaccard")), _number(why.get("via_containment"))
            members.append(Member(mid, jac, con, why.get("via"), vj, vc, share))
        seen.add(number)
        clusters.append(Cluster(number, rep, tuple(members)))
    return clusters


def _read_texts(
    path: Path,
    needed: set[str],
    members: set[str],
    texts: dict[str, DocText],
    lengths: dict[str, int],
    run: _RunInfo,
    max_chars: int,
) -> None:
    """Add the heads of the `needed` documents in `path` to `texts` and the length of every
    cluster member to `lengths` (first occurrence wins); stop once all members are seen."""
    if not members - lengths.keys():
        return
    left = len(members - lengths.keys())
    if path.suffix == ".parquet":
        from ..io.parquet import parquet_records

        rows = parquet_records(path, [run.id_field, run.text_field])
    else:
        rows = _jsonl(path)
    with closing(rows) as records:
        for _, rec in records:
            doc = _id_and_text(rec, run)
            if doc is None or doc[0] not in members or doc[0] in lengths:
                continue
            doc_id, text = doc
            lengths[doc_id] = len(text)
            if doc_id in needed:
                texts[doc_id] = doc_text(doc_id, text, max_chars, run.norm_cfg)
            left -= 1
            if not left:
                return


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
