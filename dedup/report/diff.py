"""What a cluster page shows, as data: aligned paragraphs and word-level opcodes.

Nothing here knows HTML or Markdown; `render.py` turns these records into pages.

How two versions are compared (the choices a reader of a report should know):

- **Paragraphs.** A text is cut at blank lines if it has any, else at line breaks; a paragraph
  longer than `_MAX_PARAGRAPH_CHARS` is cut further after sentence ends.
- **Alignment on normalized text.** Every paragraph is normalized as `dedup.normalize` does
  (its character table and its `NOISE_PASSES`; punctuation and spaces dropped) and cut into
  character bigrams. Each member paragraph is linked to its most similar representative
  paragraph and each representative paragraph to its most similar member paragraph (Jaccard of
  the bigram sets, or containment for a fragment: a piece of a paragraph that one version
  splits at a stray blank line). Linked paragraphs form one aligned block, so reordered and
  re-split paragraphs still line up; unlinked paragraphs exist in one version only.
- **Diff on the normalizer's text, shown on the original.** Inside a block the texts are
  compared clause by clause, then, inside clauses that differ, character by character (Latin
  words and numbers whole), with
  `difflib.SequenceMatcher(autojunk=False)`. What is compared is each side's *key*: the text
  as the normalizer compares it (its character table: traditional to simplified, width,
  case; its `NOISE_PASSES` taken out: pinyin annotations, toneless ones such as `的(de)`
  included, `?`-mojibake, junk runs, HTML remnants; punctuation and spaces dropped but for one
  space between Latin words; regional vocabulary folded by `phrases.py`). Each key character
  keeps the span of original characters it stands for, so opcodes index the original text and
  a page shows each version as written. Where the keys are equal but the originals are not
  (`發展` against `发展`, `，` against `,`, 軟體 against 软件) the spans are *variants*, shown
  muted and never counted as a difference; noise is marked as noise; whitespace never counts.
- **Bounds.** Texts are cut at `max_chars` characters and `max_paragraphs` paragraphs before
  any of this, and a stretch too long for a word diff is compared by clauses (or as a whole),
  so a page costs bounded time and space whatever the input.
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np

from ..chars import SEP, WORD, codepoints, from_codepoints, tables
from ..cluster import UnionFind
from ..config import NormalizeConfig
from ..normalize import NOISE_PASSES, NoiseCounts, normalize_counted
from ..phrases import PhraseTable, fold_phrases_batch, vocabulary_table
from ..types import Cluster, Member

PieceKind = Literal["equal", "delete", "insert", "noise", "variant"]
BlockKind = Literal["aligned", "rep_only", "member_only"]
Granularity = Literal["same", "word", "clause", "block", "paragraph"]
Span = tuple[int, int]
# (tag, rep_start, rep_end, member_start, member_end), character offsets into the block texts.
Opcode = tuple[str, int, int, int, int]
# start, end (in the original text), key text, key start, key end
Token = tuple[int, int, str, int, int]

_MAX_PARAGRAPH_CHARS = 1000
# SequenceMatcher is quadratic in the worst case: above this many token pairs a stretch is
# compared by clauses, or as a whole.
_MAX_DIFF_CELLS = 1_000_000
# A link between paragraphs needs this Jaccard similarity of their bigram sets, or (for a
# fragment) this containment of the smaller set in the larger one when the smaller has at
# least _MIN_FRAGMENT bigrams: tiny headings are contained in many paragraphs.
_MIN_JACCARD = 0.3
_MIN_CONTAINMENT = 0.8
_MIN_FRAGMENT = 8
_PARAGRAPH_SEP = "\n\n"
_SEGMENT_CACHE = 20_000

_BLANK_LINE = re.compile(r"\n[ \t\u3000]*\n")
_LINE = re.compile(r"\n")
_SENTENCE_END = re.compile(r"[。！？!?；;…]+[”’」』)）\"']*|\.(?=\s)|\n")
_CLAUSE = re.compile(r"[^。！？!?；;，,、：:\n]*[。！？!?；;，,、：:\n]?")
_FINE_TOKEN = re.compile(r"[0-9a-z\u00c0-\u024f]+|\s+|.", re.S)
_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocText:
    """What the report keeps of one document: its figures and its head, never the whole text."""

    id: str
    length: int
    head: str  # the first max_chars characters, cleaned (see `clean`)
    normalized_length: int
    normalized_head: str
    noise: NoiseCounts

    @property
    def cut(self) -> bool:
        return self.length > len(self.head)


@dataclass(frozen=True)
class Piece:
    """A run of one side's text with one kind: equal, only on this side, or normalizer noise."""

    kind: PieceKind
    text: str


@dataclass(frozen=True)
class Block:
    """One row of a member's diff: aligned paragraphs, or paragraphs of one version only.

    `opcodes` are difflib opcodes over character offsets of `rep_text` and `member_text`
    (paragraphs joined by a blank line); `*_noise` are the spans the normalizer removes.
    """

    kind: BlockKind
    rep_paragraphs: tuple[int, ...]
    member_paragraphs: tuple[int, ...]
    similarity: float  # Jaccard of the bigram sets of the normalized sides
    granularity: Granularity
    rep_text: str
    member_text: str
    opcodes: tuple[Opcode, ...]
    rep_noise: tuple[Span, ...] = ()
    member_noise: tuple[Span, ...] = ()
    # Spans that differ from the other side only by what the normalizer folds (a character's
    # form, punctuation, a regional word): variants, never changes.
    rep_variants: tuple[Span, ...] = ()
    member_variants: tuple[Span, ...] = ()
    # The member's paragraphs of this block stand elsewhere in the member's order (moved).
    moved: bool = False

    @cached_property
    def rep_pieces(self) -> tuple[Piece, ...]:
        """The representative's text marked equal / delete (only here) / noise / variant."""
        marks = [(s, e) for t, s, e, _, _ in self.opcodes if t in ("delete", "replace")]
        return _pieces(self.rep_text, marks, "delete", self.rep_noise, self.rep_variants)

    @cached_property
    def member_pieces(self) -> tuple[Piece, ...]:
        """The member's text marked equal / insert (only here) / noise / variant."""
        marks = [(s, e) for t, _, _, s, e in self.opcodes if t in ("insert", "replace")]
        return _pieces(self.member_text, marks, "insert", self.member_noise, self.member_variants)

    @cached_property
    def unified_pieces(self) -> tuple[Piece, ...]:
        """One interleaved text (as `git diff --word-diff`), noise left out: equal runs as the
        representative writes them, then what only one side has."""
        out: list[Piece] = []
        ops = self.opcodes
        rep_cuts = [0] + [op[1] for op in ops[1:]] + [len(self.rep_text)]
        for k, (tag, a1, a2, b1, b2) in enumerate(ops):
            r0, r1 = rep_cuts[k], rep_cuts[k + 1]
            if tag == "equal":
                out.append(Piece("equal", _without(self.rep_text, self.rep_noise, r0, r1)))
                continue
            # What stands between the changed words (punctuation the normalizer ignores)
            # is shown as the representative writes it.
            a1, a2 = max(a1, r0), max(min(a2, r1), max(a1, r0))
            out.append(Piece("equal", _without(self.rep_text, self.rep_noise, r0, a1)))
            rep = _without(self.rep_text, self.rep_noise, a1, a2)
            mem = _without(self.member_text, self.member_noise, b1, b2)
            trail = rep[len(rep.rstrip()) :] if rep.strip() else ""
            if rep.strip():
                out.append(Piece("delete", rep.rstrip()))
            if mem.strip():
                out.append(Piece("insert", mem.strip()))
            if trail:
                out.append(Piece("equal", trail))
            out.append(Piece("equal", _without(self.rep_text, self.rep_noise, a2, r1)))
        return _merge(out)

    @cached_property
    def changed_chars(self) -> tuple[int, int]:
        """Non-space, non-noise characters only in the representative / only in the member."""
        return _count(self.rep_pieces, "delete"), _count(self.member_pieces, "insert")


@dataclass(frozen=True)
class MemberDiff:
    """One member compared with its representative, block by block."""

    member: Member
    doc: DocText
    blocks: tuple[Block, ...]
    rep_paragraphs: int  # compared (after the caps)
    member_paragraphs: int
    rep_paragraphs_cut: bool  # more paragraphs than max_paragraphs in the compared head
    member_paragraphs_cut: bool

    @cached_property
    def stats(self) -> dict[str, int]:
        """Counts for the page's one-line summary of this diff."""
        s = dict.fromkeys(_STAT_KEYS, 0)
        for b in self.blocks:
            d, i = b.changed_chars
            if b.kind == "aligned":
                s["aligned"] += 1
                s["identical"] += b.granularity == "same"
                s["aligned_delete_chars"] += d
                s["aligned_insert_chars"] += i
            elif b.kind == "rep_only":
                s["rep_only"] += len(b.rep_paragraphs)
                s["rep_only_chars"] += d
            else:
                s["member_only"] += len(b.member_paragraphs)
                s["member_only_chars"] += i
        return s


_STAT_KEYS = (
    "aligned",
    "identical",
    "aligned_delete_chars",
    "aligned_insert_chars",
    "rep_only",
    "rep_only_chars",
    "member_only",
    "member_only_chars",
)


@dataclass(frozen=True)
class MemberRow:
    """A member as listed on a cluster page; `shown` numbers the full diff, if there is one."""

    member: Member
    length: int | None  # None: its text was not found in kept.jsonl / removed.jsonl
    representative: bool
    shown: int | None
    # Why it is in the cluster, as (label, value) pairs: the rule it passed against the
    # representative, and any further per-member field of clusters.jsonl (`via`, ...).
    why: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Thresholds:
    """The verification rule of the run (summary.json's config.verify): a pair is a duplicate
    when its Jaccard or its containment reaches its threshold."""

    jaccard: float | None = None
    containment: float | None = None


# Labels of per-member fields of clusters.jsonl beyond id, jaccard and containment.
_WHY_LABELS = {
    "via": "verified against",
    "similarity": "similarity",
    "repeated_share": "repeated share",
    "repeated": "repeated",
}


def why_member(
    member: Member, extras: Mapping[str, Any], thresholds: Thresholds
) -> tuple[tuple[str, str], ...]:
    """Why `member` is in its cluster, as (label, value) pairs for a page."""
    out: list[tuple[str, str]] = []
    t = thresholds
    if t.jaccard is not None and member.jaccard >= t.jaccard:
        out.append(("rule", f"Jaccard {member.jaccard:.3f} ≥ {t.jaccard:g}"))
    elif t.containment is not None and member.containment >= t.containment:
        out.append(("rule", f"containment {member.containment:.3f} ≥ {t.containment:g}"))
    elif t.jaccard is not None or t.containment is not None:
        out.append(
            ("rule", "below both thresholds to the representative: linked through another member")
        )
    known = [k for k in _WHY_LABELS if k in extras]
    for key in known + sorted(k for k in extras if k not in _WHY_LABELS):
        value = extras[key]
        text = (
            f"{value:.3f}"
            if isinstance(value, float)
            else (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        )
        out.append((_WHY_LABELS.get(key, key), text))
    return tuple(out)


@dataclass(frozen=True)
class ClusterReport:
    """Everything one cluster page shows."""

    cluster: int
    representative: str
    size: int
    rep_doc: DocText | None
    rows: tuple[MemberRow, ...]  # at most max_listed, representative first
    diffs: tuple[MemberDiff, ...]
    missing: tuple[str, ...]  # members to be shown whose text was not found
    not_shown: int  # members (besides the representative) without a full diff
    not_listed: int
    thresholds: Thresholds = Thresholds()


@dataclass(frozen=True)
class Overview:
    """What the index page charts: cluster sizes and similarities to representatives."""

    size_bins: tuple[tuple[str, int], ...]
    jaccard_bins: tuple[tuple[str, int], ...]
    containment_bins: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ClusterRow:
    """One line of the index table."""

    cluster: int
    representative: str
    size: int
    min_jaccard: float
    mean_jaccard: float
    min_containment: float


# --- documents -------------------------------------------------------------------------------


def clean(text: str) -> str:
    """Replace control characters and lone surrogates by U+FFFD, one for one (offsets stay
    valid), and line ends by `\\n`: the result can be written as UTF-8 into any page."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE_CHARS.sub("\ufffd", text)


def doc_text(
    doc_id: str, text: str, max_chars: int, norm_cfg: NormalizeConfig | None = None
) -> DocText:
    """Figures of a whole document and the head the report shows (noise counted on it all)."""
    normalized, noise = normalize_counted(text, norm_cfg or NormalizeConfig())
    return DocText(
        id=doc_id,
        length=len(text),
        head=clean(text[:max_chars]),
        normalized_length=len(normalized),
        normalized_head=clean(normalized[:max_chars]),
        noise=noise,
    )


def shown_members(cluster: Cluster, max_members: int) -> tuple[Member, ...]:
    """The members diffed in full: the least similar first, since they most need checking."""
    others = [m for m in cluster.members if m.id != cluster.representative]
    others.sort(key=lambda m: (m.jaccard, m.containment, m.id))
    return tuple(others[:max_members])


def paragraph_spans(text: str) -> list[Span]:
    """Paragraphs of `text` as (start, end): blocks between blank lines if it has any, else
    lines; a long one is cut after sentence ends (at `_MAX_PARAGRAPH_CHARS` at worst). Blank
    ones are dropped, and line breaks around each are not part of it."""
    sep = _BLANK_LINE if _BLANK_LINE.search(text) else _LINE
    spans: list[Span] = []
    pos = 0
    for m in [*sep.finditer(text), None]:
        s, e = pos, (m.start() if m else len(text))
        pos = m.end() if m else len(text)
        while s < e and text[s] == "\n":
            s += 1
        while e > s and text[e - 1] == "\n":
            e -= 1
        if text[s:e].strip():
            spans.extend(_cut_long(text, s, e))
    return spans


def _cut_long(text: str, start: int, end: int) -> list[Span]:
    if end - start <= _MAX_PARAGRAPH_CHARS:
        return [(start, end)]
    out: list[Span] = []
    chunk = last = start
    for m in _SENTENCE_END.finditer(text, start, end):
        if m.end() - chunk > _MAX_PARAGRAPH_CHARS and last > chunk:
            out.append((chunk, last))
            chunk = last
        last = m.end()
    while end - chunk > _MAX_PARAGRAPH_CHARS:
        out.append((chunk, chunk + _MAX_PARAGRAPH_CHARS))
        chunk += _MAX_PARAGRAPH_CHARS
    out.append((chunk, end))
    return [(s, e) for s, e in out if text[s:e].strip()]


def split_paragraphs(text: str) -> list[str]:
    """The paragraphs of `text` (see `paragraph_spans`)."""
    return [text[s:e] for s, e in paragraph_spans(text)]


def _chars(key: str) -> list[str]:
    """A key cut for the fine diff: Latin words and numbers whole, every other character (CJK
    ideographs) alone. Finer than words, and free: no dictionary to load."""
    return _FINE_TOKEN.findall(key)


# --- folding and noise -----------------------------------------------------------------------


def noise_spans(folded: str, cfg: NormalizeConfig | None = None) -> list[Span]:
    """Spans of `folded` that the normalizer's noise passes remove (`NOISE_PASSES`, in their
    order; each removal is blanked in place so later spans keep their offsets)."""
    cfg = cfg or NormalizeConfig()
    spans: list[Span] = []
    text = folded
    for noise in NOISE_PASSES:
        if noise.shown_in_report and noise.enabled(cfg) and noise.may_occur(text):
            found = list(noise.spans(text))
            spans.extend(found)
            text = _blanked(text, found)
    return _merge_spans(spans)


def _blanked(text: str, spans: Sequence[Span]) -> str:
    """`text` with each of the sorted, disjoint `spans` replaced by as many spaces."""
    if not spans:
        return text
    parts: list[str] = []
    at = 0
    for s, e in spans:
        parts += (text[at:s], " " * (e - s))
        at = e
    parts.append(text[at:])
    return "".join(parts)


def _merge_spans(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


@dataclass
class _Context:
    norm_cfg: NormalizeConfig
    fold: np.ndarray = field(init=False)
    cls: np.ndarray = field(init=False)
    vocabulary: PhraseTable | None = field(init=False)

    def __post_init__(self) -> None:
        t = tables(self.norm_cfg)
        self.fold, self.cls = t.fold, t.cls
        cfg = self.norm_cfg
        self.vocabulary = vocabulary_table() if cfg.t2s and cfg.fold_phrases else None


@dataclass(frozen=True)
class _Text:
    """A paragraph, or paragraphs joined, with the normalizer's view of it.

    `key` is what the normalizer compares: the folded text without its noise and separators
    (punctuation, spaces), with regional vocabulary folded. Key character k stands for the
    original characters `text[kstart[k]:kend[k]]` (more than one where a word of another length
    was folded), and `kclause[k]` numbers the clause it is in.
    """

    text: str
    noise: tuple[Span, ...]
    key: str
    kstart: Sequence[int]
    kend: Sequence[int]
    kclause: Sequence[int]

    @classmethod
    def join(cls, parts: Sequence[_Text]) -> _Text:
        if len(parts) == 1:
            return parts[0]
        noise: list[Span] = []
        kstart: list[int] = []
        kend: list[int] = []
        kclause: list[int] = []
        off = clause = 0
        for k, p in enumerate(parts):
            off += len(_PARAGRAPH_SEP) if k else 0
            noise.extend((s + off, e + off) for s, e in p.noise)
            kstart.extend(x + off for x in p.kstart)
            kend.extend(x + off for x in p.kend)
            kclause.extend(c + clause for c in p.kclause)
            clause += (p.kclause[-1] + 1) if p.kclause else 0
            off += len(p.text)
        return cls(
            _PARAGRAPH_SEP.join(p.text for p in parts),
            tuple(noise),
            "".join(p.key for p in parts),
            kstart,
            kend,
            kclause,
        )

    def tokens(self, cut: Callable[[str], Iterable[str]] | None, k0: int, k1: int) -> list[Token]:
        """Tokens of key[k0:k1]: its clauses (cut None) or the words `cut` finds in it."""
        toks: list[Token] = []
        if cut is None:
            start = k0
            for k in range(k0 + 1, k1 + 1):
                if k == k1 or self.kclause[k] != self.kclause[k - 1]:
                    toks.append(self._token(start, k))
                    start = k
            return toks
        pos = k0
        for w in cut(self.key[k0:k1]):
            if w.strip():
                toks.append(self._token(pos, pos + len(w)))
            pos += len(w)
        return toks

    def _token(self, k0: int, k1: int) -> Token:
        return (self.kstart[k0], max(self.kend[k0:k1]), self.key[k0:k1], k0, k1)


def _remap(
    pre: str, key: str, starts: list[int], ends: list[int], clause: list[int]
) -> tuple[list[int], list[int], list[int]]:
    """Spans and clauses of the characters of `key`, the vocabulary fold of `pre` (whose
    characters have `starts`, `ends`, `clause`): a word folded to one of another length gives
    each of its characters the span of the whole word."""
    ks: list[int] = []
    ke: list[int] = []
    kc: list[int] = []
    matcher = difflib.SequenceMatcher(None, pre, key, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for j in range(j1, j2):
            first = min(i1 + (j - j1) if tag == "equal" else i1, len(pre) - 1)
            last = min(first if tag == "equal" else max(i1, i2 - 1), len(pre) - 1)
            ks.append(starts[first])
            ke.append(ends[last])
            kc.append(clause[first])
    return ks, ke, kc


@dataclass(frozen=True)
class _Para:
    """A paragraph of one side, with what alignment needs."""

    body: _Text
    bigrams: frozenset[str]


def _bigrams(key: str) -> frozenset[str]:
    if len(key) < 2:
        return frozenset([key] if key else [])
    return frozenset(key[i : i + 2] for i in range(len(key) - 1))


def _paragraphs(head: str, max_paragraphs: int, ctx: _Context) -> tuple[list[_Para], bool]:
    """The first `max_paragraphs` paragraphs of `head`, folded and keyed (the whole head at
    once: one pass of the normalizer's table, patterns and vocabulary, then slices)."""
    spans = paragraph_spans(head)
    cut = len(spans) > max_paragraphs
    spans = spans[:max_paragraphs]
    cps = codepoints(head)
    folded_cps = ctx.fold[cps].astype(np.uint32)
    folded = from_codepoints(folded_cps)
    noise = noise_spans(folded, ctx.norm_cfg)
    # The normalizer's comparison text: its noise out, its separators (punctuation, spaces)
    # dropped but for a space between two words (Latin, numbers) that a separator parts.
    cls = ctx.cls[folded_cps]
    keep = cls != SEP
    for s, e in noise:
        keep[s:e] = False
    word = cls == WORD
    pos = np.flatnonzero(keep)
    span_starts = np.array([s for s, _ in spans] or [0], dtype=np.int64)
    para = np.searchsorted(span_starts, pos, side="right")
    starts, ends, chars = pos, pos + 1, folded_cps[pos]
    if pos.size > 1:
        gap = np.flatnonzero(
            (np.diff(pos) > 1) & word[pos[1:]] & word[pos[:-1]] & (para[1:] == para[:-1])
        )
        if gap.size:
            starts = np.insert(starts, gap + 1, pos[gap] + 1)
            ends = np.insert(ends, gap + 1, pos[gap + 1])
            chars = np.insert(chars, gap + 1, 0x20)
    clause_ends = np.array([m.end() for m in _CLAUSE.finditer(folded) if m.group(0)], np.int64)
    clause = np.searchsorted(clause_ends, starts, side="right")
    # Each paragraph's key characters: those whose span starts inside it.
    bounds = np.searchsorted(starts, np.array([x for sp in spans for x in sp], dtype=np.int64))
    lo, hi = bounds[0::2], bounds[1::2]
    keys = chars.astype(np.uint32)
    offsets = np.concatenate(([0], np.cumsum(hi - lo))).astype(np.int64)
    if len(spans):
        keys = np.concatenate([chars[a:b] for a, b in zip(lo, hi, strict=True)]).astype(np.uint32)
    folds = np.zeros(len(spans), dtype=np.int64)
    folded_keys, folded_off = keys, offsets
    if ctx.vocabulary is not None and keys.size:
        folded_keys, folded_off, folds = fold_phrases_batch(keys, offsets, ctx.vocabulary)
    noise_ends = [b for _, b in noise]  # noise spans are sorted and disjoint
    out: list[_Para] = []
    for k, (s, e) in enumerate(spans):
        inner: list[Span] = []
        for a, b in noise[bisect.bisect_right(noise_ends, s) :]:
            if a >= e:
                break
            inner.append((max(a, s) - s, min(b, e) - s))
        a, b = int(lo[k]), int(hi[k])
        ks = (starts[a:b] - s).tolist()
        ke = (ends[a:b] - s).tolist()
        kc = clause[a:b].tolist()
        key = from_codepoints(folded_keys[folded_off[k] : folded_off[k + 1]])
        if folds[k]:
            pre = from_codepoints(keys[offsets[k] : offsets[k + 1]])
            if len(pre) != len(key):
                ks, ke, kc = _remap(pre, key, ks, ke, kc)
        body = _Text(head[s:e], tuple(inner), key, ks, ke, kc)
        out.append(_Para(body, _bigrams(key)))
    return out, cut


# --- alignment -------------------------------------------------------------------------------


def _candidates(
    rep_sets: Sequence[frozenset[Any]], member_sets: Sequence[frozenset[Any]]
) -> list[tuple[int, int, float, bool]]:
    """(rep, member, Jaccard, strong) for every pair similar enough to be versions of one
    paragraph: strong by Jaccard, or not strong when only a fragment is contained."""
    out: list[tuple[int, int, float, bool]] = []
    for j, t in enumerate(rep_sets):
        lt = len(t)
        for i, s in enumerate(member_sets):
            ls = len(s)
            small = min(ls, lt)
            # Skip pairs that could not pass even with all of the smaller set shared.
            if not small or (small < _MIN_FRAGMENT and small < _MIN_JACCARD * max(ls, lt)):
                continue
            ov = len(s & t)
            if not ov:
                continue
            jac = ov / (ls + lt - ov)
            if jac >= _MIN_JACCARD:
                out.append((j, i, jac, True))
            elif small >= _MIN_FRAGMENT and ov >= _MIN_CONTAINMENT * small:
                out.append((j, i, jac, False))
    return out


def _best(
    pairs: Iterable[tuple[int, int, float, bool]], n_from: int, n_to: int
) -> dict[int, tuple[int, bool]]:
    """For each paragraph on the `from` side (first in the pairs), its most similar one on the
    other side; ties go to the paragraph at the nearer relative position."""
    best: dict[int, tuple[float, float, int, bool]] = {}
    for f, t, jac, strong in pairs:
        key = (-jac, abs(t / max(n_to, 1) - f / max(n_from, 1)), t, strong)
        if f not in best or key < best[f]:
            best[f] = key
    return {f: (k[2], k[3]) for f, k in best.items()}


def _links(
    rep_sets: Sequence[frozenset[Any]], member_sets: Sequence[frozenset[Any]]
) -> set[tuple[int, int]]:
    """Accepted (representative, member) paragraph links.

    A strong link is accepted at once. A fragment's link (a piece of a paragraph that the
    other version split at a stray line break) is accepted when a neighbour of the fragment is
    linked to the same paragraph; otherwise a heading quoted inside a long paragraph would
    pull that paragraph out of place.
    """
    pairs = _candidates(rep_sets, member_sets)
    n_rep, n_mem = len(rep_sets), len(member_sets)
    strong: set[tuple[int, int]] = set()
    weak: set[tuple[int, int, int]] = set()  # (rep, member, side of the fragment: 0 rep, 1 member)
    by_member = _best(((i, j, jac, st) for j, i, jac, st in pairs), n_mem, n_rep)
    for i, (j, is_strong) in by_member.items():
        (strong.add((j, i)) if is_strong else weak.add((j, i, 1)))
    for j, (i, is_strong) in _best(pairs, n_rep, n_mem).items():
        (strong.add((j, i)) if is_strong else weak.add((j, i, 0)))
    accepted = set(strong)
    changed = True
    while changed:
        changed = False
        for j, i, side in sorted(weak):
            if (j, i) in accepted:
                continue
            near = ((j - 1, i), (j + 1, i)) if side == 0 else ((j, i - 1), (j, i + 1))
            if any(n in accepted for n in near):
                accepted.add((j, i))
                changed = True
    return accepted


def align(
    rep_sets: Sequence[frozenset[Any]], member_sets: Sequence[frozenset[Any]]
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Group paragraphs into blocks (representative indices, member indices), in display order.

    Each paragraph is linked to its best match on the other side (see `_links`); linked
    paragraphs form one block. A block with both sides is aligned; the others exist in one
    version only, and a run of them is one block (a missing section). Blocks follow the
    representative's order; a member-only paragraph comes right after the block of the member
    paragraph before it.
    """
    off = len(rep_sets)
    uf = UnionFind(off + len(member_sets))
    linked = [(j, off + i) for j, i in _links(rep_sets, member_sets)]
    uf.union_pairs(np.array(linked, dtype=np.int64).reshape(-1, 2))
    root = uf.roots().tolist()  # the smallest paragraph number of each block

    groups: dict[int, tuple[list[int], list[int]]] = {}
    for j in range(len(rep_sets)):
        groups.setdefault(root[j], ([], []))[0].append(j)
    for i in range(len(member_sets)):
        groups.setdefault(root[off + i], ([], []))[1].append(i)

    anchor_of: dict[
        int, int
    ] = {}  # member paragraph -> first representative paragraph of its block
    for reps, mems in groups.values():
        if reps:
            for i in mems:
                anchor_of[i] = reps[0]
    # Sort key: (representative position, 0 for blocks with representative text / 1 after).
    keyed: list[tuple[tuple[int, int, int], tuple[tuple[int, ...], tuple[int, ...]]]] = []
    for reps, mems in groups.values():
        if reps:
            keyed.append(((reps[0], 0, mems[0] if mems else -1), (tuple(reps), tuple(mems))))
        else:
            i = mems[0]
            prev = next((anchor_of[k] for k in range(i - 1, -1, -1) if k in anchor_of), -1)
            keyed.append(((prev, 1, i), ((), tuple(mems))))
    keyed.sort()
    out: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    for _, (rs, ms) in keyed:
        if out and out[-1][1] == () and not ms and out[-1][0][-1] + 1 == rs[0]:
            out[-1] = (out[-1][0] + rs, ())
        elif out and out[-1][0] == () and not rs and out[-1][1][-1] + 1 == ms[0]:
            out[-1] = ((), out[-1][1] + ms)
        else:
            out.append((rs, ms))
    return out


# --- diffs -----------------------------------------------------------------------------------


def _span(toks: Sequence[Token], i1: int, i2: int, lo: int, hi: int) -> Span:
    """Characters covered by tokens [i1, i2); for none, the empty span where they would be."""
    if i2 > i1:
        return toks[i1][0], max(t[1] for t in toks[i1:i2])
    pos = toks[i1][0] if i1 < len(toks) else hi
    return max(pos, lo), max(pos, lo)


def _opcodes(
    a: Sequence[Token], b: Sequence[Token], a_range: Span, b_range: Span
) -> list[tuple[Opcode, Span, Span]] | None:
    """Character opcodes of two token lists, each with the key ranges it covers; None when
    they are too long to compare."""
    if len(a) * len(b) > _MAX_DIFF_CELLS:
        return None
    matcher = difflib.SequenceMatcher(None, [t[2] for t in a], [t[2] for t in b], autojunk=False)
    out: list[tuple[Opcode, Span, Span]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        a1, a2 = _span(a, i1, i2, *a_range)
        b1, b2 = _span(b, j1, j2, *b_range)
        out.append(((tag, a1, a2, b1, b2), _kspan(a, i1, i2), _kspan(b, j1, j2)))
    return out


def _kspan(toks: Sequence[Token], i1: int, i2: int) -> Span:
    if i2 > i1:
        return toks[i1][3], toks[i2 - 1][4]
    k = toks[i1][3] if i1 < len(toks) else (toks[-1][4] if toks else 0)
    return k, k


class _Variants:
    """Where the two sides differ only by what the normalizer folds (a character's form,
    punctuation, a regional word): collected over the stretches that compare equal."""

    def __init__(self, rep: _Text, mem: _Text) -> None:
        self.rep, self.mem = rep, mem
        self.rep_spans: list[Span] = []
        self.mem_spans: list[Span] = []

    def _visible(self, t: _Text, s: int, e: int) -> str:
        return "".join(_without(t.text, t.noise, s, e).split()) if e > s else ""

    def _gap(self, ra: Span, ma: Span) -> None:
        if self._visible(self.rep, *ra) != self._visible(self.mem, *ma):
            self.rep_spans.extend(_trimmed(self.rep.text, *ra))
            self.mem_spans.extend(_trimmed(self.mem.text, *ma))

    def equal(self, ka: Span, kb: Span) -> None:
        """Key ranges that compare equal: their characters, what stands between them and
        what stands on either side of the range (up to the next key character)."""
        r, m = self.rep, self.mem
        if ka[1] <= ka[0]:
            return
        a0, a1 = r.kstart[ka[0]], max(r.kend[ka[0] : ka[1]])
        b0, b1 = m.kstart[kb[0]], max(m.kend[kb[0] : kb[1]])
        before_a = r.kend[ka[0] - 1] if ka[0] else 0
        before_b = m.kend[kb[0] - 1] if kb[0] else 0
        self._gap((min(before_a, a0), a0), (min(before_b, b0), b0))
        after_a = r.kstart[ka[1]] if ka[1] < len(r.key) else len(r.text)
        after_b = m.kstart[kb[1]] if kb[1] < len(m.key) else len(m.text)
        self._gap((a1, max(a1, after_a)), (b1, max(b1, after_b)))
        if r.text[a0:a1] == m.text[b0:b1]:
            return
        for k in range(ka[1] - ka[0]):
            i, j = ka[0] + k, kb[0] + k
            rs, re_, ms, me = r.kstart[i], r.kend[i], m.kstart[j], m.kend[j]
            if r.text[rs:re_] != m.text[ms:me]:
                self.rep_spans.append((rs, re_))
                self.mem_spans.append((ms, me))
            if k + 1 < ka[1] - ka[0]:
                ra = (max(re_, rs), max(r.kstart[i + 1], re_))
                ma = (max(me, ms), max(m.kstart[j + 1], me))
                if r.text[ra[0] : ra[1]] != m.text[ma[0] : ma[1]]:
                    self._gap(ra, ma)

    def edges(self) -> None:
        """What stands before the first and after the last key character of each side."""
        r, m = self.rep, self.mem
        first_a = r.kstart[0] if r.key else len(r.text)
        first_b = m.kstart[0] if m.key else len(m.text)
        self._gap((0, first_a), (0, first_b))
        if r.key and m.key:
            self._gap((max(r.kend), len(r.text)), (max(m.kend), len(m.text)))


def _trimmed(text: str, s: int, e: int) -> list[Span]:
    """[s, e) without the whitespace at its ends (nothing if it is all whitespace)."""
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return [(s, e)] if e > s else []


def _diff(
    rep: _Text, mem: _Text, ctx: _Context
) -> tuple[tuple[Opcode, ...], Granularity, _Variants]:
    """Clauses first; inside clauses that differ, words. Words are only cut where needed.
    Both compare the key (what the normalizer compares); opcodes are over the original text."""
    variants = _Variants(rep, mem)
    whole_a, whole_b = (0, len(rep.text)), (0, len(mem.text))
    na, nb = len(rep.key), len(mem.key)
    variants.edges()
    if rep.key == mem.key:
        variants.equal((0, na), (0, nb))
        return (("equal", 0, len(rep.text), 0, len(mem.text)),), "same", variants
    coarse = _opcodes(rep.tokens(None, 0, na), mem.tokens(None, 0, nb), whole_a, whole_b)
    if coarse is None:
        return (("replace", 0, len(rep.text), 0, len(mem.text)),), "block", variants
    out: list[Opcode] = []
    granularity: Granularity = "word"
    for op, ka, kb in coarse:
        tag, a1, a2, b1, b2 = op
        if tag == "equal":
            variants.equal(ka, kb)
        if tag != "replace":
            out.append(op)
            continue
        fine = _opcodes(rep.tokens(_chars, *ka), mem.tokens(_chars, *kb), (a1, a2), (b1, b2))
        if fine is None:
            granularity = "clause"
            out.append(op)
            continue
        for fop, fka, fkb in fine:
            if fop[0] == "equal":
                variants.equal(fka, fkb)
            out.append(fop)
    return tuple(out), granularity, variants


def _similarity(a: Iterable[frozenset[str]], b: Iterable[frozenset[str]]) -> float:
    sa: frozenset[str] = frozenset().union(*a)
    sb: frozenset[str] = frozenset().union(*b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def _block(
    rep: Sequence[_Para],
    rep_idx: tuple[int, ...],
    mem: Sequence[_Para],
    mem_idx: tuple[int, ...],
    ctx: _Context,
) -> Block:
    r = _Text.join([p.body for p in rep])
    m = _Text.join([p.body for p in mem])
    if not mem:
        ops: tuple[Opcode, ...] = (("delete", 0, len(r.text), 0, 0),)
        return Block("rep_only", rep_idx, (), 0.0, "paragraph", r.text, "", ops, r.noise, ())
    if not rep:
        ops = (("insert", 0, 0, 0, len(m.text)),)
        return Block("member_only", (), mem_idx, 0.0, "paragraph", "", m.text, ops, (), m.noise)
    sim = _similarity((p.bigrams for p in rep), (p.bigrams for p in mem))
    ops, granularity, variants = _diff(r, m, ctx)
    return Block(
        "aligned",
        rep_idx,
        mem_idx,
        sim,
        granularity,
        r.text,
        m.text,
        ops,
        r.noise,
        m.noise,
        rep_variants=tuple(_merge_spans(variants.rep_spans)),
        member_variants=tuple(_merge_spans(variants.mem_spans)),
    )


def _diff_member(
    rep_paras: Sequence[_Para],
    rep_cut: bool,
    member: Member,
    doc: DocText,
    max_paragraphs: int,
    ctx: _Context,
) -> MemberDiff:
    mem_paras, mem_cut = _paragraphs(doc.head, max_paragraphs, ctx)
    groups = align([p.bigrams for p in rep_paras], [p.bigrams for p in mem_paras])
    blocks = tuple(
        _block([rep_paras[j] for j in r], r, [mem_paras[i] for i in m], m, ctx) for r, m in groups
    )
    blocks = mark_moved(blocks)
    return MemberDiff(member, doc, blocks, len(rep_paras), len(mem_paras), rep_cut, mem_cut)


def mark_moved(blocks: Sequence[Block]) -> tuple[Block, ...]:
    """Mark the aligned blocks whose member paragraphs are out of the member's order: the
    fewest blocks such that the others keep one order in both versions (the complement of a
    longest increasing run of the member's paragraph numbers, taken in the representative's
    order)."""
    aligned = [k for k, b in enumerate(blocks) if b.kind == "aligned"]
    keys = [blocks[k].member_paragraphs[0] for k in aligned]
    # Longest strictly increasing subsequence, with the blocks that form it.
    tails: list[int] = []
    tail_at: list[int] = []
    prev = [-1] * len(keys)
    for i, x in enumerate(keys):
        pos = bisect.bisect_left(tails, x)
        if pos == len(tails):
            tails.append(x)
            tail_at.append(i)
        else:
            tails[pos] = x
            tail_at[pos] = i
        prev[i] = tail_at[pos - 1] if pos else -1
    keep: set[int] = set()
    i = tail_at[-1] if tail_at else -1
    while i >= 0:
        keep.add(aligned[i])
        i = prev[i]
    return tuple(
        replace(b, moved=True) if b.kind == "aligned" and k not in keep else b
        for k, b in enumerate(blocks)
    )


def diff_texts(
    rep_text: str,
    member_text: str,
    *,
    max_paragraphs: int = 400,
    norm_cfg: NormalizeConfig | None = None,
) -> tuple[Block, ...]:
    """Blocks of a member text against a representative text (no limit on characters)."""
    norm_cfg = norm_cfg or NormalizeConfig()
    ctx = _Context(norm_cfg)
    rep, rep_cut = _paragraphs(clean(rep_text), max_paragraphs, ctx)
    doc = doc_text("member", member_text, len(member_text), norm_cfg)
    return _diff_member(rep, rep_cut, Member("member", 0.0, 0.0), doc, max_paragraphs, ctx).blocks


def cluster_report(
    cluster: Cluster,
    texts: Mapping[str, DocText],
    lengths: Mapping[str, int],
    *,
    max_members: int,
    max_listed: int,
    max_paragraphs: int,
    norm_cfg: NormalizeConfig,
    extras: Mapping[str, Mapping[str, Any]] | None = None,
    thresholds: Thresholds = Thresholds(),
) -> ClusterReport:
    """Diff the shown members of `cluster` against its representative and list the rest
    (`texts`: heads of the shown documents; `lengths`: of every member found; `extras`:
    further fields of each member in clusters.jsonl, by id)."""
    extras = extras or {}
    ctx = _Context(norm_cfg)
    rep_doc = texts.get(cluster.representative)
    diffs: list[MemberDiff] = []
    missing: list[str] = []
    rep_paras, rep_cut = _paragraphs(rep_doc.head, max_paragraphs, ctx) if rep_doc else ([], False)
    for m in shown_members(cluster, max_members):
        doc = texts.get(m.id)
        if doc is None or rep_doc is None:
            missing.append(m.id)
            continue
        diffs.append(_diff_member(rep_paras, rep_cut, m, doc, max_paragraphs, ctx))
    number = {d.member.id: k + 1 for k, d in enumerate(diffs)}
    rep_member = [m for m in cluster.members if m.id == cluster.representative][:1]
    ordered = rep_member + [m for m in cluster.members if m.id != cluster.representative]
    rows = tuple(
        MemberRow(
            member=m,
            length=lengths.get(m.id),
            representative=m.id == cluster.representative,
            shown=number.get(m.id),
            why=()
            if m.id == cluster.representative
            else why_member(m, extras.get(m.id, {}), thresholds),
        )
        for m in ordered[:max_listed]
    )
    return ClusterReport(
        cluster=cluster.cluster,
        representative=cluster.representative,
        size=len(cluster.members),
        rep_doc=rep_doc,
        rows=rows,
        diffs=tuple(diffs),
        missing=tuple(missing),
        not_shown=len(ordered) - len(rep_member) - len(diffs),
        not_listed=max(0, len(ordered) - max_listed),
        thresholds=thresholds,
    )


# --- index -----------------------------------------------------------------------------------

_SIZE_BINS = ((2, 2), (3, 3), (4, 4), (5, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, 1000))


def cluster_row(cluster: Cluster) -> ClusterRow:
    """Size and similarity figures of a cluster (over members other than the representative)."""
    others = [m for m in cluster.members if m.id != cluster.representative]
    others = others or list(cluster.members)
    jac = [m.jaccard for m in others]
    return ClusterRow(
        cluster=cluster.cluster,
        representative=cluster.representative,
        size=len(cluster.members),
        min_jaccard=min(jac, default=1.0),
        mean_jaccard=sum(jac) / len(jac) if jac else 1.0,
        min_containment=min((m.containment for m in others), default=1.0),
    )


def index_order(rows: Iterable[ClusterRow]) -> list[ClusterRow]:
    """Largest clusters first; among equal sizes the least similar first (the ones to check)."""
    return sorted(rows, key=lambda r: (-r.size, r.min_jaccard, r.mean_jaccard, r.cluster))


def overview(clusters: Iterable[Cluster]) -> Overview:
    """Histograms of cluster sizes and of members' similarity to their representative."""
    sizes = Counter[int]()
    jac = [0] * 20
    con = [0] * 20
    for c in clusters:
        sizes[len(c.members)] += 1
        for m in c.members:
            if m.id != c.representative:
                jac[min(19, max(0, int(m.jaccard * 20)))] += 1
                con[min(19, max(0, int(m.containment * 20)))] += 1
    size_bins = []
    for lo, hi in _SIZE_BINS:
        n = sum(v for s, v in sizes.items() if lo <= s <= hi)
        size_bins.append((str(lo) if lo == hi else f"{lo}–{hi}", n))
    size_bins.append((f">{_SIZE_BINS[-1][1]}", sum(v for s, v in sizes.items() if s > 1000)))
    labels = [f"{k / 20:.2f}" for k in range(20)]
    return Overview(
        size_bins=tuple(size_bins),
        jaccard_bins=tuple(zip(labels, jac, strict=True)),
        containment_bins=tuple(zip(labels, con, strict=True)),
    )


# --- pieces ----------------------------------------------------------------------------------


def _pieces(
    text: str,
    marks: Sequence[Span],
    kind: PieceKind,
    noise: Sequence[Span],
    variants: Sequence[Span] = (),
) -> tuple[Piece, ...]:
    """Runs of `text`: noise inside `noise`, `kind` inside `marks`, variant inside `variants`,
    equal elsewhere."""
    marks = _merge_spans(marks)
    spans = (*marks, *noise, *variants)
    cuts = sorted({0, len(text), *(x for s in spans for x in s)})
    mark_starts = [s for s, _ in marks]
    noise_starts = [s for s, _ in noise]
    variant_starts = [s for s, _ in variants]

    def inside(spans: Sequence[Span], starts: list[int], pos: int) -> bool:
        k = bisect.bisect_right(starts, pos) - 1
        return k >= 0 and spans[k][0] <= pos < spans[k][1]

    out: list[Piece] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        if a == b:
            continue
        if inside(noise, noise_starts, a):
            k: PieceKind = "noise"
        elif inside(marks, mark_starts, a):
            k = kind
        elif inside(variants, variant_starts, a):
            k = "variant"
        else:
            k = "equal"
        out.append(Piece(k, text[a:b]))
    return _merge(out)


def _without(text: str, noise: Sequence[Span], start: int, end: int) -> str:
    """text[start:end] with the noise spans taken out."""
    parts = []
    pos = start
    for s, e in noise:
        if e <= pos or s >= end:
            continue
        parts.append(text[pos:s] if s > pos else "")
        pos = max(pos, e)
    parts.append(text[pos:end] if end > pos else "")
    return "".join(parts)


def _merge(pieces: Iterable[Piece]) -> tuple[Piece, ...]:
    out: list[Piece] = []
    for p in pieces:
        if not p.text:
            continue
        if out and out[-1].kind == p.kind:
            out[-1] = Piece(p.kind, out[-1].text + p.text)
        else:
            out.append(p)
    return tuple(out)


def _count(pieces: Iterable[Piece], kind: str) -> int:
    return sum(len("".join(p.text.split())) for p in pieces if p.kind == kind)
