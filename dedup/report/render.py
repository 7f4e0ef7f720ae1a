"""HTML and Markdown pages from the records of `diff.py`.

The page structure lives in `templates/` (string.Template files); this module only fills them.
Everything that comes from a document or the run directory (ids, texts, field names, reasons)
passes through `esc` on its way into HTML, and into Markdown only inside code spans or fenced
blocks (`md_code`, `md_fence`), where nothing is interpreted.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any

from ..normalize import NoiseCounts
from ..types import Member
from .diff import (
    Block,
    ClusterReport,
    ClusterRow,
    DocText,
    MemberDiff,
    MemberRow,
    Overview,
    Piece,
    clean,
)

if TYPE_CHECKING:
    from . import ReportConfig
    from .select import IndexEntry

_NOISE_LABELS = (
    ("traditional", "characters converted from traditional"),
    ("pinyin", "pinyin annotations"),
    ("junk", "junk fragments"),
    ("mojibake", "mojibake runs"),
    ("width", "full-width characters"),
    ("line_breaks", "line breaks inside sentences"),
    ("html", "HTML tags or entities"),
    ("vocabulary", "regional word forms folded"),
    ("lists", "lists of links"),
)
_BACKTICKS = re.compile(r"`+")
_LINE_BREAKS = re.compile(r"[\n\t\u2028\u2029]")
_PLAIN = re.compile(r"[0-9A-Za-z][0-9A-Za-z ,.×]*")


@dataclass(frozen=True)
class Templates:
    """The template files, read once per report."""

    page: Template
    index_html: Template
    cluster_html: Template
    member_html: Template
    index_md: Template
    cluster_md: Template
    member_md: Template
    style: str
    script: str

    @classmethod
    def load(cls) -> Templates:
        root = resources.files(__package__).joinpath("templates")

        def text(name: str) -> str:
            return root.joinpath(name).read_text("utf-8")

        return cls(
            page=Template(text("page.html")),
            index_html=Template(text("index.html")),
            cluster_html=Template(text("cluster.html")),
            member_html=Template(text("member.html")),
            index_md=Template(text("index.md")),
            cluster_md=Template(text("cluster.md")),
            member_md=Template(text("member.md")),
            style=text("style.css"),
            script=text("report.js"),
        )


def page_name(cluster: int) -> str:
    """File stem of a cluster's pages: its number, never anything taken from a document."""
    return f"{cluster:06d}"


# --- escaping and formatting -----------------------------------------------------------------


def esc(text: str) -> str:
    """Text of any origin as HTML text or attribute value."""
    return html.escape(clean(text), quote=True)


def short(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def md_code(text: str, table: bool = False) -> str:
    """`text` as a Markdown code span on one line (pipes escaped inside table cells)."""
    text = _LINE_BREAKS.sub(" ", clean(text))
    if table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_value(text: str) -> str:
    """A table cell value: as is when it is plainly a number or word, else a code span."""
    return text if _PLAIN.fullmatch(text) else md_code(text, table=True)


def md_fence(text: str) -> str:
    """`text` as a fenced block that no line of it can close."""
    fence = "`" * max(3, max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    return f"{fence}text\n{clean(text).rstrip(chr(10))}\n{fence}"


def _f(x: float) -> str:
    return f"{x:.3f}"


def _paras(idx: Sequence[int]) -> str:
    """1-based paragraph numbers with runs folded: (0, 33, 34) -> '1, 34–35'."""
    parts: list[str] = []
    k = 0
    while k < len(idx):
        end = k
        while end + 1 < len(idx) and idx[end + 1] == idx[end] + 1:
            end += 1
        a, b = idx[k] + 1, idx[end] + 1
        parts.append(str(a) if a == b else f"{a}–{b}")
        k = end + 1
    return ", ".join(parts)


def noise_text(noise: NoiseCounts) -> str:
    counts = noise.as_dict()
    return ", ".join(f"{counts.get(k, 0):,} {label}" for k, label in _NOISE_LABELS)


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _stats_text(d: MemberDiff) -> str:
    s = d.stats
    return (
        f"{_n(s['aligned'], 'aligned block')} ({s['identical']:,} identical after folding); "
        f"inside them {_n(s['aligned_delete_chars'], 'character')} only in the representative "
        f"and {s['aligned_insert_chars']:,} only in the member. "
        f"{_n(s['rep_only'], 'paragraph')} ({_n(s['rep_only_chars'], 'character')}) only in "
        f"the representative; {_n(s['member_only'], 'paragraph')} "
        f"({_n(s['member_only_chars'], 'character')}) only in the member."
    )


def _doc_cut_notes(d: MemberDiff, rep: DocText, cfg: ReportConfig) -> list[str]:
    notes = []
    for who, doc, source in (
        ("the representative", rep, "kept.jsonl"),
        ("this member", d.doc, "removed.jsonl"),
    ):
        if doc.cut:
            notes.append(
                f"Only the first {len(doc.head):,} of {doc.length:,} characters of {who} are "
                f"compared and shown (limit --max-chars {cfg.max_chars:,}); the whole text is "
                f"in {source}."
            )
    if d.rep_paragraphs_cut or d.member_paragraphs_cut:
        notes.append(
            f"Only the first {cfg.max_paragraphs:,} paragraphs of each text are compared "
            f"(limit --max-paragraphs)."
        )
    return notes


def _block_note(b: Block) -> str:
    if b.granularity == "clause":
        return "compared by clause (too long for a word diff)"
    if b.granularity == "block":
        return "too long to compare in detail"
    return ""


# --- HTML ------------------------------------------------------------------------------------

_HTML_TAGS = {
    "equal": ("", ""),
    "delete": ('<del class="del">', "</del>"),
    "insert": ('<ins class="ins">', "</ins>"),
    "noise": ('<span class="noise" title="removed by the normalizer">', "</span>"),
    "variant": ('<span class="var" title="differs only by what the normalizer folds">', "</span>"),
}
# The file of the index's search data, next to index.html.
INDEX_DATA = "index-data.js"


def pieces_html(pieces: Iterable[Piece]) -> str:
    """Pieces of a diff as HTML (their texts are already `clean`: only escaped here)."""
    out = []
    for p in pieces:
        open_, close = _HTML_TAGS[p.kind]
        out.append(f"{open_}{html.escape(p.text, quote=False)}{close}")
    return "".join(out)


def _id_html(doc_id: str, cfg: ReportConfig) -> str:
    return f'<code class="id">{esc(short(doc_id, cfg.max_id_chars))}</code>'


def _note_html(notes: Iterable[str]) -> str:
    return "\n".join(f'<p class="note">{n}</p>' for n in notes)


def _text_views(doc: DocText, who: str) -> str:
    def view(title: str, text: str, total: int) -> str:
        shown = f"first {len(text):,} of {total:,}" if len(text) < total else f"{total:,}"
        return (
            f"<details><summary>{title} of {who} ({shown} characters)</summary>\n"
            f'<pre class="text" lang="zh">{esc(text)}</pre></details>'
        )

    return "\n".join(
        (
            view("Original text", doc.head, doc.length),
            view("Normalized text", doc.normalized_head, doc.normalized_length),
        )
    )


def _block_row_html(b: Block, n: int, k: int) -> str:
    classes = b.kind + (" same" if b.granularity == "same" else " change")
    classes += " moved" if b.moved else ""
    empty = '<td class="text empty">—</td>'
    rep = (
        f'<td class="text rep" lang="zh">{pieces_html(b.rep_pieces)}</td>' if b.rep_text else empty
    )
    mem = (
        f'<td class="text mem" lang="zh">{pieces_html(b.member_pieces)}</td>'
        if b.member_text
        else empty
    )
    if b.kind == "aligned":
        what = "identical after folding" if b.granularity == "same" else f"{b.similarity:.2f}"
        note = _block_note(b)
        where = f"¶ {_paras(b.rep_paragraphs)} ↔ ¶ {_paras(b.member_paragraphs)}"
        mid = f"{what}<br>{where}" + (f"<br>{note}" if note else "")
        if b.moved:
            mid += '<br><span class="moved-mark">⇅ moved</span>'

    elif b.kind == "rep_only":
        mid = f"only in the representative<br>¶ {_paras(b.rep_paragraphs)}"
    else:
        mid = f"only in the member<br>¶ {_paras(b.member_paragraphs)}"
    return (
        f'<tr class="{classes}" id="m{n}-b{k}" tabindex="-1">{rep}'
        f'<td class="sim">{mid}</td>{mem}</tr>'
    )


def _block_rows_html(blocks: Sequence[Block], n: int) -> str:
    """The diff's rows, in table bodies: a run of blocks identical after folding is a body of
    its own, collapsed by the page's script behind a row that says how many they are."""
    out: list[str] = []
    k = 0
    while k < len(blocks):
        end = k
        same = blocks[k].granularity == "same"
        while end + 1 < len(blocks) and (blocks[end + 1].granularity == "same") == same:
            end += 1
        rows = "\n".join(_block_row_html(blocks[i], n, i + 1) for i in range(k, end + 1))
        if same:
            count = end - k + 1
            paras = _paras([p for b in blocks[k : end + 1] for p in b.rep_paragraphs])
            label = f"{_n(count, 'block')} identical after folding (¶ {paras})"
            out.append(
                f'<tbody class="same-run">\n<tr class="fold" hidden><td colspan="3">'
                f'<button type="button" aria-expanded="false">{label}: show</button></td></tr>\n'
                f"{rows}\n</tbody>"
            )
        else:
            out.append(f"<tbody>\n{rows}\n</tbody>")
        k = end + 1
    return "\n".join(out)


def _why_note(m: Member, code: Callable[[str], str]) -> list[str]:
    """Why a member is in its cluster (`types.Member`), when clusters.jsonl says."""
    if m.via is None or m.via_jaccard is None or m.via_containment is None:
        return []
    return [
        f"Verified against {code(m.via)}: Jaccard {_f(m.via_jaccard)}, containment "
        f"{_f(m.via_containment)}; {m.repeated_share:.1%} of its shingles set aside as "
        "repeated text."
    ]


def _member_html(n: int, d: MemberDiff, rep: DocText, t: Templates, cfg: ReportConfig) -> str:
    return t.member_html.substitute(
        n=n,
        id=esc(short(d.member.id, cfg.max_id_chars)),
        jaccard=_f(d.member.jaccard),
        containment=_f(d.member.containment),
        length=f"{d.doc.length:,}",
        noise=noise_text(d.doc.noise),
        stats=_stats_text(d),
        notes=_note_html(
            _why_note(d.member, lambda i: _id_html(i, cfg)) + _doc_cut_notes(d, rep, cfg)
        ),
        views=_text_views(d.doc, "this member"),
        rows=_block_rows_html(d.blocks, n),
    )


def _row_status(r: MemberRow) -> str:
    """Where a member row points: the one decision both renderers share."""
    if r.representative:
        return "representative"
    if r.shown is not None:
        return "shown"
    return "missing" if r.length is None else "not diffed"


def _member_row_html(k: int, r: MemberRow, cfg: ReportConfig) -> str:
    who = _id_html(r.member.id, cfg)
    status = _row_status(r)
    if status == "representative":
        who += ' <span class="muted">(representative)</span>'
    link = {
        "representative": '<a href="#representative">above</a>',
        "shown": f'<a href="#member-{r.shown}">diff {r.shown}</a>',
        "missing": '<span class="muted">text not found</span>',
    }.get(status, '<span class="muted">not diffed</span>')
    length = "—" if r.length is None else f"{r.length:,}"
    why = "<br>".join(
        f'<span class="muted">{esc(k)}:</span> {_why_value(k, v, cfg)}' for k, v in r.why
    )
    return (
        f'<tr><td class="num">{k}</td><td>{who}</td>'
        f'<td class="num">{_f(r.member.jaccard)}</td>'
        f'<td class="num">{_f(r.member.containment)}</td>'
        f'<td class="num" data-v="{r.length or 0}">{length}</td><td>{link}</td>'
        f'<td class="why">{why or "—"}</td></tr>'
    )


def _why_value(label: str, value: str, cfg: ReportConfig) -> str:
    """A "why" value; a document id (what `via` names) as an isolated id."""
    if label == "verified against":
        return _id_html(value, cfg)
    return esc(value)


def _cluster_notes(rep: ClusterReport, cfg: ReportConfig) -> list[str]:
    notes = []
    others = rep.size - 1
    if rep.not_shown and rep.diffs:
        notes.append(
            f"{len(rep.diffs):,} of the {others:,} other members are compared with the "
            f"representative below (the least similar first); the other {rep.not_shown:,} are "
            f"listed with their figures only (limit --max-members {cfg.max_members:,}). Their "
            f"texts are in removed.jsonl (duplicate_of is the representative's id); rebuild "
            f"the report with a larger --max-members to see more."
        )
    elif rep.not_shown:
        notes.append(
            f"No member is compared in full (limit --max-members {cfg.max_members:,}); "
            f"their texts are in removed.jsonl."
        )
    if rep.missing or rep.rep_doc is None:
        notes.append(
            f"{len(rep.missing) + (rep.rep_doc is None):,} texts of this cluster were not "
            "found in kept.jsonl or removed.jsonl, so they cannot be compared."
        )
    return notes


def _list_note(rep: ClusterReport, cfg: ReportConfig) -> str:
    if not rep.not_listed:
        return ""
    return (
        f"The list shows {len(rep.rows):,} of {rep.size:,} members (limit --max-listed "
        f"{cfg.max_listed:,}); every member is on this cluster's line in clusters.jsonl."
    )


def cluster_body(rep: ClusterReport, t: Templates, cfg: ReportConfig) -> str:
    """A cluster page's main content: also what `dedup serve` shows of a cluster."""
    if rep.rep_doc is not None:
        doc = rep.rep_doc
        rep_info = (
            f'<p class="figures">{doc.length:,} characters. The normalizer removed: '
            f"{noise_text(doc.noise)}.</p>\n{_text_views(doc, 'the representative')}"
        )
    else:
        rep_info = '<p class="note">The text of the representative was not found.</p>'
    return t.cluster_html.substitute(
        number=rep.cluster,
        size=f"{rep.size:,}",
        rep_id=esc(short(rep.representative, cfg.max_id_chars)),
        notes=_note_html(_cluster_notes(rep, cfg)),
        rep_info=rep_info,
        member_rows="\n".join(_member_row_html(k, r, cfg) for k, r in enumerate(rep.rows)),
        list_note=_note_html([_list_note(rep, cfg)] if rep.not_listed else []),
        member_sections="\n".join(
            _member_html(k + 1, d, rep.rep_doc, t, cfg)
            for k, d in enumerate(rep.diffs)
            if rep.rep_doc is not None
        ),
    )


def cluster_html(
    rep: ClusterReport,
    nav: tuple[int | None, int | None],
    version: str,
    t: Templates,
    cfg: ReportConfig,
) -> str:
    """A cluster page: the representative, the member list and each shown member's diff."""
    name = page_name(rep.cluster)
    body = cluster_body(rep, t, cfg)
    links = ['<a href="../index.html">Index</a>']
    prev, nxt = nav
    if prev is not None:
        links.append(f'<a href="{page_name(prev)}.html" rel="prev">Previous: cluster {prev}</a>')
    if nxt is not None:
        links.append(f'<a href="{page_name(nxt)}.html" rel="next">Next: cluster {nxt}</a>')
    return t.page.substitute(
        title=f"Cluster {rep.cluster} – dedup report",
        root="../",
        nav=" ".join(links),
        body=body,
        version=esc(version),
        twin=f'Markdown version: <a href="{name}.md">{name}.md</a>.',
    )


def _bars_svg(bins: Sequence[tuple[str, int]], label: str, every: int, end_label: str = "") -> str:
    """A bar chart as inline SVG (no script, no fonts, no network)."""
    bar, gap, left, top, height, bottom = (18, 4, 44, 16, 140, 40)
    if len(bins) <= 12:
        bar = 48
    width = left + len(bins) * (bar + gap) + 8
    total_h = top + height + bottom
    peak = max((n for _, n in bins), default=0) or 1
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{total_h}" viewBox="0 0 {width} {total_h}" role="img" '
        f'aria-label="{esc(label)}">',
        f"<title>{esc(label)}</title>",
        f'<line class="axis" x1="{left - 4}" y1="{top + height}" x2="{width - 4}" '
        f'y2="{top + height}" stroke="#59636e"/>',
        f'<text x="{left - 8}" y="{top + 4}" text-anchor="end">{peak:,}</text>',
        f'<text x="{left - 8}" y="{top + height}" text-anchor="end">0</text>',
    ]
    for k, (name, n) in enumerate(bins):
        h = round(height * n / peak, 1)
        x = left + k * (bar + gap)
        out.append(
            f'<rect class="bar" x="{x}" y="{round(top + height - h, 1)}" width="{bar}" '
            f'height="{h}" fill="#54aeff"><title>{esc(name)}: {n:,}</title></rect>'
        )
        if n and len(bins) <= 12:  # wide bars have room for their count
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{round(top + height - h - 3, 1)}" '
                f'text-anchor="middle">{n:,}</text>'
            )
        if k % every == 0:
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + height + 14}" '
                f'text-anchor="middle">{esc(name)}</text>'
            )
    if end_label:
        out.append(
            f'<text x="{left + len(bins) * (bar + gap) - gap}" y="{top + height + 14}" '
            f'text-anchor="middle">{esc(end_label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flatten(f"{prefix}.{k}" if prefix else str(k), v)
    else:
        yield prefix, value


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)


def summary_items(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run's figures shown at the top of the index, as (label, value) strings."""
    docs = summary.get("documents") or {}
    items = [
        (f"Documents {k}", f"{docs[k]:,}" if isinstance(docs.get(k), int) else "—")
        for k in ("read", "kept", "removed", "skipped")
    ]
    clusters = summary.get("clusters")
    items.append(("Clusters", f"{clusters:,}" if isinstance(clusters, int) else "—"))
    lsh = summary.get("lsh")
    if isinstance(lsh, Mapping):
        items.append(
            ("LSH bands × rows", f"{_value(lsh.get('bands'))} × {_value(lsh.get('rows'))}")
        )
    # Timings stay in summary.json: they vary between identical runs, and the report must
    # be byte-identical for the same input and options.
    items.append(("dedup version", _value(summary.get("version", "—"))))
    return items


def _skipped(summary: Mapping[str, Any], limit: int = 50) -> list[str]:
    skipped = summary.get("skipped")
    if not isinstance(skipped, list):
        return []
    out = []
    for s in skipped[:limit]:
        if isinstance(s, Mapping):
            where = _value(s.get("source", ""))
            if s.get("line") is not None:
                where += f", line {_value(s.get('line'))}"
            out.append(f"{where}: {_value(s.get('reason', ''))}")
        else:
            out.append(_value(s))
    return out


def index_html(
    summary: Mapping[str, Any],
    rows: Sequence[ClusterRow],
    total: int,
    ov: Overview,
    version: str,
    t: Templates,
    cfg: ReportConfig,
    paged: int | None = None,
) -> str:
    """The index page: the search over every cluster (index-data.js, with the page's script),
    the (capped) table of the clusters with a page (`rows`, of `paged`; all `total` clusters
    when None), charts and the run's summary."""
    summary_rows = "\n".join(
        f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>'
        for k, v in summary_items(summary)
    )
    skipped = _skipped(summary)
    n_skipped = len(summary.get("skipped") or [])
    skipped_html = (
        f"<details><summary>Skipped inputs ({n_skipped:,}"
        f"{', first 50 shown' if n_skipped > 50 else ''})</summary><ul>"
        + "".join(f"<li>{esc(s)}</li>" for s in skipped)
        + "</ul></details>"
        if skipped
        else ""
    )
    cluster_rows = "\n".join(
        f'<tr><td class="num" data-v="{r.cluster}"><a href="clusters/{page_name(r.cluster)}'
        f'.html">{r.cluster}</a></td><td class="num">{r.size:,}</td>'
        f'<td>{_id_html(r.representative, cfg)}</td><td class="num">{_f(r.min_jaccard)}</td>'
        f'<td class="num">{_f(r.mean_jaccard)}</td><td class="num">{_f(r.min_containment)}</td>'
        "</tr>"
        for r in rows
    )
    note = _note_html([_index_note(len(rows), total if paged is None else paged, total, cfg)])
    if not total:
        note = '<p class="note">No clusters: every document is distinct.</p>'
    noise_options = "\n".join(
        f'<option value="{k}">{esc(label)}</option>' for k, (_, label) in enumerate(_NOISE_LABELS)
    )
    params = "\n".join(
        f'<tr><th scope="row">{esc(k)}</th><td>{esc(_value(v))}</td></tr>'
        for k, v in _flatten("", summary.get("config") or {})
    )
    body = t.index_html.substitute(
        summary_rows=summary_rows,
        skipped=skipped_html,
        size_chart=_bars_svg(ov.size_bins, "Clusters by number of members", 1),
        jaccard_chart=_bars_svg(ov.jaccard_bins, "Members by Jaccard similarity", 4, "1.00"),
        containment_chart=_bars_svg(ov.containment_bins, "Members by containment", 4, "1.00"),
        clusters_note=note,
        cluster_rows=cluster_rows,
        parameter_rows=params,
        total=f"{total:,}",
        noise_options=noise_options,
        data=INDEX_DATA,
    )
    return t.page.substitute(
        title="dedup report",
        root="",
        nav='<a href="index.html">Index</a>',
        body=body,
        version=esc(version),
        twin='Markdown version: <a href="index.md">index.md</a>.',
    )


_INDEX_FIELDS = (
    "cluster",
    "size",
    "min_jaccard",
    "mean_jaccard",
    "min_containment",
    "page",
    "noise",
    "snippet",
    "members",
)


def index_data_js(entries: Sequence[IndexEntry], paged: Collection[int], cfg: ReportConfig) -> str:
    """Every cluster as the index page's search reads it: one JSON object assigned in a
    script (a page opened from disk may load a script, not fetch a file). Rows are arrays in
    the order of `fields`; `noise` is a bit mask over `noise_kinds`; `page` is 1 when the
    cluster has a page of its own."""
    kinds = [k for k, _ in _NOISE_LABELS]
    rows = []
    for e in entries:
        r = e.row
        mask = sum(1 << kinds.index(k) for k in e.noise if k in kinds)
        rows.append(
            [
                r.cluster,
                r.size,
                float(_f(r.min_jaccard)),
                float(_f(r.mean_jaccard)),
                float(_f(r.min_containment)),
                int(r.cluster in paged),
                mask,
                clean(e.snippet),
                [clean(short(i, cfg.max_id_chars)) for i in e.members],
            ]
        )
    data = {
        "fields": list(_INDEX_FIELDS),
        "noise_kinds": [label for _, label in _NOISE_LABELS],
        "rows": rows,
    }
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = '"use strict";\n// Every cluster of the run, for the search of index.html.\n'
    return f"{head}window.dedupIndex = {text};\n"


def _index_note(shown: int, paged: int, total: int, cfg: ReportConfig) -> str:
    pages = "a page" if paged == 1 else "pages"
    note = (
        f"{paged:,} of the {total:,} clusters have {pages} of their own (--report-clusters "
        f"{cfg.clusters:,}: in turn the largest, the least similar and the noisiest); the "
        "search finds every cluster, and every cluster has its line in clusters.jsonl."
    )
    if shown < paged:
        note += f" The table lists the first {shown:,} (limit --max-index-rows)."
    return note


# --- Markdown --------------------------------------------------------------------------------


def unified_text(pieces: Iterable[Piece]) -> str:
    """Pieces as `git diff --word-diff=plain` text: [-only left-] {+only right+}."""
    marks = {"equal": ("", ""), "delete": ("[-", "-]"), "insert": ("{+", "+}"), "noise": ("", "")}
    return "".join(f"{marks[p.kind][0]}{p.text}{marks[p.kind][1]}" for p in pieces)


def _block_md(b: Block, k: int) -> str:
    if b.kind == "aligned":
        where = f"¶ {_paras(b.rep_paragraphs)} ↔ ¶ {_paras(b.member_paragraphs)}"
        if b.granularity == "same":
            n = len("".join(b.rep_text.split()))
            return f"Block {k}: {where}, identical after folding ({n:,} characters).\n"
        note = _block_note(b)
        head = f"### Block {k}: {where}, similarity {b.similarity:.2f}" + (
            f", {note}" if note else ""
        )
        if b.moved:
            head += ", moved"
    elif b.kind == "rep_only":
        head = f"### Block {k}: ¶ {_paras(b.rep_paragraphs)} only in the representative"
    else:
        head = f"### Block {k}: ¶ {_paras(b.member_paragraphs)} only in the member"
    return f"{head}\n\n{md_fence(unified_text(b.unified_pieces))}\n"


def _member_md(n: int, d: MemberDiff, rep: DocText, t: Templates, cfg: ReportConfig) -> str:
    why = _why_note(d.member, lambda i: md_code(short(i, cfg.max_id_chars)))
    notes = why + _doc_cut_notes(d, rep, cfg)
    return t.member_md.substitute(
        n=n,
        id=md_code(short(d.member.id, cfg.max_id_chars)),
        jaccard=_f(d.member.jaccard),
        containment=_f(d.member.containment),
        length=f"{d.doc.length:,}",
        noise=noise_text(d.doc.noise),
        stats=_stats_text(d),
        notes="".join(f"\n> {n}\n" for n in notes),
        rows="\n".join(_block_md(b, k + 1) for k, b in enumerate(d.blocks)),
    )


def _member_row_md(k: int, r: MemberRow, cfg: ReportConfig) -> str:
    who = md_code(short(r.member.id, cfg.max_id_chars), table=True)
    status = _row_status(r)
    if status == "representative":
        who += " (representative)"
    link = {
        "representative": "above",
        "shown": f"member {r.shown} below",
        "missing": "text not found",
    }.get(status, "not diffed")
    length = "—" if r.length is None else f"{r.length:,}"
    why = "; ".join(f"{k}: {v}" for k, v in r.why)
    return (
        f"| {k} | {who} | {_f(r.member.jaccard)} | {_f(r.member.containment)} | {length} | {link} "
        f"| {md_value(why) if why else '—'} |"
    )


def cluster_md(
    rep: ClusterReport,
    nav: tuple[int | None, int | None],
    t: Templates,
    cfg: ReportConfig,
) -> str:
    """The Markdown twin of a cluster page (same content, same limits, diffs as word-diff)."""
    links = ["[Index](../index.md)", f"[HTML]({page_name(rep.cluster)}.html)"]
    prev, nxt = nav
    if prev is not None:
        links.append(f"[Previous: cluster {prev}]({page_name(prev)}.md)")
    if nxt is not None:
        links.append(f"[Next: cluster {nxt}]({page_name(nxt)}.md)")
    if rep.rep_doc is not None:
        doc = rep.rep_doc
        rep_info = f"{doc.length:,} characters. The normalizer removed: {noise_text(doc.noise)}."
    else:
        rep_info = "The text of the representative was not found."
    text = t.cluster_md.substitute(
        number=rep.cluster,
        nav=" · ".join(links),
        size=f"{rep.size:,}",
        rep_id=md_code(short(rep.representative, cfg.max_id_chars)),
        notes="".join(f"\n> {n}\n" for n in _cluster_notes(rep, cfg)),
        rep_info=rep_info,
        member_rows="\n".join(_member_row_md(k, r, cfg) for k, r in enumerate(rep.rows)),
        list_note=f"\n> {_list_note(rep, cfg)}\n" if rep.not_listed else "",
        member_sections="".join(
            _member_md(k + 1, d, rep.rep_doc, t, cfg)
            for k, d in enumerate(rep.diffs)
            if rep.rep_doc is not None
        ),
    )
    return text.rstrip("\n") + "\n"


def index_md(
    summary: Mapping[str, Any],
    rows: Sequence[ClusterRow],
    total: int,
    ov: Overview,
    t: Templates,
    cfg: ReportConfig,
    paged: int | None = None,
) -> str:
    """The Markdown twin of the index page (histograms as tables)."""
    peak = max((n for _, n in ov.size_bins), default=0) or 1
    size_rows = "\n".join(
        f"| {name} | {n:,} | {'█' * round(20 * n / peak)} |" for name, n in ov.size_bins
    )
    sim_rows = "\n".join(
        f"| {a}–{float(a) + 0.05:.2f} | {j:,} | {c:,} |"
        for (a, j), (_, c) in zip(ov.jaccard_bins, ov.containment_bins, strict=True)
    )
    skipped = _skipped(summary)
    skipped_md = (
        "\nSkipped inputs:\n\n" + "\n".join(f"- {md_code(s)}" for s in skipped) + "\n"
        if skipped
        else ""
    )
    note = f"\n> {_index_note(len(rows), total if paged is None else paged, total, cfg)}\n"
    if not total:
        note = "\n> No clusters: every document is distinct.\n"
    cluster_rows = "\n".join(
        f"| [{r.cluster}](clusters/{page_name(r.cluster)}.md) | {r.size:,} | "
        f"{md_code(short(r.representative, cfg.max_id_chars), table=True)} | "
        f"{_f(r.min_jaccard)} | {_f(r.mean_jaccard)} | {_f(r.min_containment)} |"
        for r in rows
    )
    text = t.index_md.substitute(
        nav="[HTML version](index.html)",
        summary_rows="\n".join(f"| {k} | {md_value(v)} |" for k, v in summary_items(summary)),
        skipped=skipped_md,
        size_rows=size_rows,
        similarity_rows=sim_rows,
        clusters_note=note,
        cluster_rows=cluster_rows,
        parameter_rows="\n".join(
            f"| {md_code(k, table=True)} | {md_value(_value(v))} |"
            for k, v in _flatten("", summary.get("config") or {})
        ),
    )
    return text.rstrip("\n") + "\n"
