"""Which clusters get a page, and what the index knows of every cluster.

A run of a crawl has thousands of clusters; a page each would make the report most of the run.
The index lists every cluster (searchable in the browser, `IndexEntry`); pages go to the
`n` clusters most worth checking (`pick_pages`), chosen in turn from three rankings so that each
kind of doubt gets its share:

1. the largest clusters (one wrong link there removes many documents);
2. the least similar (lowest Jaccard of a member to its representative: the borderline calls);
3. the noisiest (most kinds of noise folded in its members' first 1,000 characters: where the
   normalizer did the most).

Ties go to the lower cluster number, so the choice depends on clusters.jsonl alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..chars import codepoints, fold_chars, from_codepoints, tables
from ..config import NormalizeConfig
from ..normalize import NOISE_PASSES, NoisePass
from ..types import Cluster
from .diff import ClusterRow, clean, cluster_row, index_order

# Characters of a member read for its noise kinds: the head tells the kinds of a crawl's noise,
# and this bounds the cost of the index whatever the documents' lengths.
_NOISE_HEAD = 1000
SNIPPET_CHARS = 80
# Characters of a text where its first line is looked for first (the whole text when they do
# not hold it).
_LINE_LOOK = 256


@dataclass(frozen=True)
class MemberInfo:
    """What the index keeps of a member that is not a representative."""

    length: int
    first_line: str  # its first non-blank line, cut to SNIPPET_CHARS
    noise: tuple[str, ...]  # the noise kinds (NoiseCounts fields) folded in its head


@dataclass(frozen=True)
class IndexEntry:
    """One cluster as the index's search knows it."""

    row: ClusterRow
    snippet: str  # the first line of its first member besides the representative
    noise: tuple[str, ...]  # noise kinds found in its members, sorted
    members: tuple[str, ...]  # member ids, the representative first (at most max_listed)


def member_infos(docs: Sequence[tuple[str, str]], cfg: NormalizeConfig) -> dict[str, MemberInfo]:
    """Length, first line and noise kinds (in the first _NOISE_HEAD characters) of each
    (id, text), by id: one table look-up over the batch, then each text's own passes."""
    heads = [text[:_NOISE_HEAD] for _, text in docs]
    t = tables(cfg)
    cps = codepoints("".join(heads))  # one code unit per character, as each head alone
    folded = t.fold[cps]
    starts = np.zeros(len(heads) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in heads], out=starts[1:])
    # Both kinds are characters the table changes: only those places are looked at.
    changed = np.flatnonzero(folded != cps) if _trad_folds(cfg) else np.arange(cps.size)
    was = cps[changed]
    trad = _any_at(changed[t.trad[was] != 0], starts).tolist()
    width = _any_at(changed[(was >= 0xFF00) & (was <= 0xFFEF) & (folded[changed] != was)], starts)
    width = width.tolist()
    all_folded = from_codepoints(folded)
    passes = _active_passes(cfg)
    bounds = starts.tolist()
    out: dict[str, MemberInfo] = {}
    for k, (doc_id, text) in enumerate(docs):
        kinds = _kinds_found(all_folded[bounds[k] : bounds[k + 1]], passes)
        if trad[k]:
            kinds.add("traditional")
        if width[k]:
            kinds.add("width")
        line = _first_line(text[:_LINE_LOOK], text)
        out[doc_id] = MemberInfo(len(text), line, tuple(sorted(kinds)))
    return out


def _any_at(places: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """For each span [starts[k], starts[k + 1]), whether one of `places` (ascending) is in
    it: the places counted between the bounds (a running sum of the whole batch into int64
    cost ten times as much)."""
    return np.diff(np.searchsorted(places, starts)) > 0


@cache
def _trad_folds(cfg: NormalizeConfig) -> bool:
    """Whether the table changes every traditional character (so the places it changes hold
    them all), as it is built to."""
    t = tables(cfg)
    return not np.any((t.trad != 0) & (t.fold == np.arange(t.fold.size, dtype=t.fold.dtype)))


def noise_kinds(folded: str, cfg: NormalizeConfig) -> set[str]:
    """The kinds of `NOISE_PASSES` (`NoiseCounts` fields) found in `folded` (text folded by
    the character table): a look for the first occurrence of each, far cheaper than
    normalizing."""
    return _kinds_found(folded, _active_passes(cfg))


def _active_passes(cfg: NormalizeConfig) -> list[NoisePass]:
    return [noise for noise in NOISE_PASSES if noise.enabled(cfg)]


def _kinds_found(folded: str, passes: Sequence[NoisePass]) -> set[str]:
    kinds: set[str] = set()
    for noise in passes:
        if noise.kind in kinds or not noise.may_occur(folded):
            continue
        spans = iter(noise.spans(folded))
        if noise.kind == "mojibake":
            spans = (s for s in spans if _mangled(folded[s[0] : s[1]]))
        if next(spans, None) is not None:
            kinds.add(noise.kind)
    return kinds


def shows_mojibake(text: str, cfg: NormalizeConfig) -> bool:
    """Whether `text` holds mojibake as the report labels it (`_mangled`): the normalizer
    counts every `?` its mojibake pass removes, a lone question mark too."""
    noise = next((n for n in _active_passes(cfg) if n.kind == "mojibake"), None)
    if noise is None:
        return False
    folded = fold_chars(text, cfg)
    if not noise.may_occur(folded):
        return False
    return any(_mangled(folded[a:b]) for a, b in noise.spans(folded))


def _mangled(piece: str) -> bool:
    """Whether a piece the mojibake pass removes is mojibake to show as such: a run of two or
    more `?`, a U+FFFD, or a `?` glued to pinyin. A lone `?` is a question mark (`？` folds to
    it), which the pass removes with the rest, but which names no noise."""
    return len(piece) >= 2 or "\ufffd" in piece


def first_line(text: str) -> str:
    """The first non-blank line of `text`, whitespace folded, cut to SNIPPET_CHARS."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return clean(line[:SNIPPET_CHARS])
    return ""


def _first_line(head: str, text: str) -> str:
    """`first_line(text)`, found in `head` (a prefix of `text`) when it holds it: any line of
    the head but its last is whole, and the last one is whole too, or the start of its
    line, which is enough once it folds to SNIPPET_CHARS characters or more."""
    if len(head) == len(text):
        return first_line(text)
    lines = head.splitlines()
    for k, line in enumerate(lines):
        line = " ".join(line.split())
        if line and (k + 1 < len(lines) or len(line) >= SNIPPET_CHARS):
            return clean(line[:SNIPPET_CHARS])
    return first_line(text)


def index_entries(
    clusters: Iterable[Cluster], info: Mapping[str, MemberInfo], max_ids: int
) -> list[IndexEntry]:
    """Every cluster's entry, in the index's order (`index_order`)."""
    entries = []
    for c in clusters:
        others = [m.id for m in c.members if m.id != c.representative]
        known = [info[i] for i in others if i in info]
        kinds = sorted({k for m in known for k in m.noise})
        ids = [c.representative, *others][:max_ids]
        entries.append(
            IndexEntry(
                row=cluster_row(c),
                snippet=known[0].first_line if known else "",
                noise=tuple(kinds),
                members=tuple(ids),
            )
        )
    order = {r.cluster: k for k, r in enumerate(index_order(e.row for e in entries))}
    entries.sort(key=lambda e: order[e.row.cluster])
    return entries


def pick_pages(entries: Sequence[IndexEntry], n: int) -> frozenset[int]:
    """The numbers of the `n` clusters that get a page: in turn the largest, the least similar
    and the noisiest not yet taken (see the module's docstring)."""
    rankings = [
        sorted(entries, key=lambda e: (-e.row.size, e.row.min_jaccard, e.row.cluster)),
        sorted(entries, key=lambda e: (e.row.min_jaccard, e.row.min_containment, e.row.cluster)),
        sorted(entries, key=lambda e: (-len(e.noise), e.row.min_jaccard, e.row.cluster)),
    ]
    chosen: set[int] = set()
    at = [0] * len(rankings)
    n = min(n, len(entries))
    while len(chosen) < n:
        for k, ranking in enumerate(rankings):
            while at[k] < len(ranking) and ranking[at[k]].row.cluster in chosen:
                at[k] += 1
            if at[k] < len(ranking) and len(chosen) < n:
                chosen.add(ranking[at[k]].row.cluster)
    return frozenset(chosen)
