"""Records that flow between the stages: Doc in, Result out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Doc:
    """One input document.

    `record` holds the original fields to write back out (for JSONL every field of the
    line; for a text file just id and text). `source` and `line` locate it for messages.
    """

    id: str
    text: str
    record: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    line: int | None = None


@dataclass(frozen=True)
class Skip:
    """An input that was not read as a document (only with on_error='skip')."""

    source: str
    line: int | None
    reason: str


@dataclass(frozen=True)
class RawLines:
    """Whole JSONL lines as read, not parsed yet: `run` hands them to the worker processes,
    which parse them (`readers.parse_lines`), so that the main process only reads."""

    source: str
    name: str  # prefix of generated ids (`name:line`)
    line: int  # number of the first line
    count: int  # lines in `data` (its newlines, plus one for a last line without)
    data: bytes
    # For a plain file: (byte offset, size) of the lines in `source`, and `data` is empty;
    # the process that parses them reads them itself, so they never cross a pipe.
    span: tuple[int, int] | None = None

    @property
    def size(self) -> int:
        """Bytes of the lines."""
        return len(self.data) if self.span is None else self.span[1]


@dataclass(frozen=True)
class RawPages:
    """HTML pages of a WARC file as read, their main text not extracted yet: `run` hands them
    to the worker processes, which extract it (`warc.extract_pages`) and sign it there, so an
    HTML page crosses a pipe once and its text not at all. Each page already has its id."""

    source: str
    pages: tuple[Any, ...]  # the pages as dedup/io/warc.py reads them
    size: int  # bytes of the input file they took (for progress), or of their HTML

    @property
    def count(self) -> int:
        """Pages in the block."""
        return len(self.pages)

    @property
    def html_bytes(self) -> int:
        """Bytes of the pages' HTML (what the block holds in memory)."""
        return sum(len(p.html) for p in self.pages)


@dataclass(frozen=True)
class Figures:
    """What signing measures of each text for the cluster stage to choose the member kept, in
    columns of int64: entry d is text d (of a batch, or of a run). Every engine carries the
    same columns from `sign.sign_texts` to `cluster.representatives`."""

    # Characters of the normalized text (what is compared); 0 for a text with no text, not
    # even one that is only placeholders such as `null` or `undefined` (normalize.py).
    length: np.ndarray
    # Letters and digits the noise passes removed: HTML, inline pinyin, mojibake, junk.
    noise: np.ndarray
    traditional: np.ndarray  # characters folded from traditional or regional variant forms
    # Damaged layout: line breaks and ASCII punctuation between two CJK characters.
    mangled: np.ndarray
    # Letters and digits in lines that end without punctuation: titles, navigation, menus,
    # bylines, lists of titles (prose ends its paragraphs with punctuation). A page's frame is
    # mostly such lines; an article has few.
    unended: np.ndarray
    full_width: np.ndarray  # full-width Latin letters and digits
    # A 63-bit hash of the text as read: byte-identical copies (reposts of one version) share
    # it, and the cluster stage counts them.
    copy_key: np.ndarray

    def __len__(self) -> int:
        return int(self.length.size)

    def take(self, index: np.ndarray) -> Figures:
        """The figures of the texts at `index`, in that order."""
        return Figures(*(getattr(self, f.name)[index] for f in fields(self)))

    def rows(self) -> list[tuple[int, ...]]:
        """Each text's figures as a tuple of plain ints (a column of Spark's rows)."""
        return list(zip(*(getattr(self, f.name).tolist() for f in fields(self)), strict=True))

    @classmethod
    def lengths_only(cls, length: Sequence[int] | np.ndarray) -> Figures:
        """Figures of texts of these normalized lengths that normalization took nothing from."""
        length = np.asarray(length, dtype=np.int64)
        none = np.zeros(length.size, dtype=np.int64)
        # Each text a version of its own.
        return cls(length, none, none, none, none, none, np.arange(length.size, dtype=np.int64))

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[int]]) -> Figures:
        """The inverse of `rows`."""
        table = np.array(rows, dtype=np.int64).reshape(len(rows), len(fields(cls)))
        return cls(*(np.ascontiguousarray(table[:, k]) for k in range(table.shape[1])))

    @classmethod
    def concat(cls, parts: Iterable[Figures]) -> Figures:
        """The figures of several batches, one after the other."""
        parts = list(parts)
        if not parts:
            return cls.from_rows([])
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


@dataclass(frozen=True)
class Member:
    """A cluster member with its exact similarity to the cluster's representative, and why it
    is in the cluster (`cluster.joined_via`): the member it was verified against (`via`;
    None for the representative), that pair's similarity, and the share of its shingles set
    aside as repeated text (0 when none)."""

    id: str
    jaccard: float
    containment: float
    via: str | None = None
    via_jaccard: float | None = None
    via_containment: float | None = None
    repeated_share: float = 0.0


@dataclass(frozen=True)
class Cluster:
    """Two or more documents judged versions of one article."""

    cluster: int
    representative: str
    members: tuple[Member, ...]


@dataclass(frozen=True)
class Match:
    """A verified pair (indices into the run's document order) with exact similarities."""

    a: int
    b: int
    jaccard: float
    containment: float


@dataclass(frozen=True)
class Result:
    """What a run found: clusters, and for every document read its fate."""

    clusters: tuple[Cluster, ...]
    kept: tuple[str, ...]
    removed: Mapping[str, tuple[str, int | None]]  # id -> (duplicate_of, cluster or None)
    skipped: tuple[Skip, ...]
    stats: Mapping[str, Any]

    @property
    def read(self) -> int:
        return len(self.kept) + len(self.removed) + len(self.skipped)


@dataclass(frozen=True)
class Counts:
    """How many documents a run read and what became of them."""

    read: int
    kept: int
    removed: int
    skipped: int
    clusters: int


@dataclass(frozen=True)
class RunResult:
    """What a run over files returns, whichever engine ran it: the counts, the skipped
    inputs, summary.json as written, and where the output went. `detail` holds the clusters
    and every document's fate when the engine kept them in memory (the local engine; Spark
    keeps them on its executors and gives None)."""

    counts: Counts
    skipped: tuple[Skip, ...]
    summary: Mapping[str, Any]
    outdir: str
    detail: Result | None = None

    @property
    def read(self) -> int:
        return self.counts.read
