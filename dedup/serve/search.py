"""Text search in `dedup serve`: what the index stores to find a text, and the condition a
search puts on the cluster list.

Search follows the normalizer, as matching does: the members' texts are indexed as
`normalize` leaves them (simplified characters, half width, lower case, no punctuation) and
a query is normalized the same way, so 軟體 finds 软件, `ＡＢＣ` finds abc and `你好，世界`
finds 你好世界. Two indexes serve it:

- `docs_norm`, an FTS5 trigram index of each member's normalized text (contentless: the
  text is not stored twice), for queries of three characters or more;
- `grams`, one row per cluster listing every distinct character and pair of adjacent
  characters of its members' normalized texts, for queries of one or two: a frequent word
  is one posting list, read in a few milliseconds, where a scan of the texts took seconds.

A gram is a token as it is: normalized text holds only letters, digits and single spaces
between Latin words, which FTS5's ASCII tokenizer takes whole (it splits on ASCII punctuation
and spaces only, and normalized text has none inside a gram).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from operator import add
from typing import Any

from ..config import NormalizeConfig
from ..normalize import normalize

SEARCH_SQL = """
CREATE VIRTUAL TABLE docs_norm USING fts5(text, content='', tokenize='trigram');
CREATE VIRTUAL TABLE grams USING fts5(gram, content='', tokenize='ascii', detail='none');
INSERT INTO docs_norm(docs_norm, rank) VALUES ('automerge', 0), ('crisismerge', 1000);
INSERT INTO grams(grams, rank) VALUES ('automerge', 0), ('crisismerge', 1000);
"""
# The indexes are loaded with merging put off (each batch's segment is left as it is), then
# merged once into one segment each, which queries read fastest.
MERGE_SQL = """
INSERT INTO docs_norm(docs_norm) VALUES ('optimize');
INSERT INTO grams(grams) VALUES ('optimize');
"""


def grams_row(texts: Sequence[str]) -> str:
    """The `grams` text of a cluster: the distinct characters and pairs of adjacent
    characters of `texts` (its members' normalized texts), space-separated; none holds a
    space."""
    grams: set[str] = set()
    for text in texts:
        grams.update(text)
        pairs = map(add, text, text[1:])
        grams.update(pairs if " " not in text else (p for p in pairs if " " not in p))
    grams.discard(" ")
    return " ".join(grams)


def fold_query(q: str, cfg: NormalizeConfig) -> str:
    """A query as the index holds texts: normalized, so every variant finds the others."""
    return normalize(q, cfg).strip()


def text_condition(folded: str, probe: bool = False) -> tuple[str, list[Any]]:
    """A condition on `clusters` for the clusters with a member whose normalized text holds
    `folded` (a query through `fold_query`), and its parameters; nothing matches an empty
    one (a query of punctuation alone). With `probe`, a one- or two-character query looks
    each cluster up in its posting list instead of reading the list whole first: the faster
    way for a frequent one, whose first page is a few clusters into the list's order."""
    if not folded:
        return "0", []
    if is_gram(folded):
        if probe:
            return f"EXISTS ({_GRAM_HITS} AND rowid = clusters.cluster)", [_token(folded)]
        return f"cluster IN ({_GRAM_HITS})", [_token(folded)]
    phrase = '"' + folded.replace('"', '""') + '"'
    return (
        # docs_place maps a member to its cluster without reading the member's row (its text).
        "cluster IN (SELECT d.cluster FROM docs_norm JOIN docs d INDEXED BY docs_place "
        "ON d.rowid = docs_norm.rowid WHERE docs_norm MATCH ?)",
        [phrase],
    )


def is_gram(folded: str) -> bool:
    """Whether a folded query is looked up in `grams` (one or two characters)."""
    return 0 < len(folded) <= 2


def gram_hits(db: sqlite3.Connection, folded: str) -> int:
    """How many clusters hold a one- or two-character folded query: its posting list's
    length, read without touching `clusters`."""
    return int(db.execute(f"SELECT count(*) FROM ({_GRAM_HITS})", [_token(folded)]).fetchone()[0])


_GRAM_HITS = "SELECT rowid FROM grams WHERE grams MATCH ?"


def _token(folded: str) -> str:
    return f'"{folded}"'
