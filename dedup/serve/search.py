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

A member also matches when its text as it is holds the query as typed: a query of what the
normalizer removes (`&nbsp;`, `，，，`, `<b>`, inline pinyin such as `(fā)`) folds to little or
nothing, yet a reviewer looking for that noise expects the documents that carry it. No index
serves this (a trigram index of the raw texts would cost as much again as the two above). Only
a query that folding may lose is looked for as it is (`needs_raw`), with `instr`: in `residue`,
each member's text with its runs of Chinese characters cut to one sign (a quarter of the
text), when the query holds no Chinese character, else in the texts; at most RAW_SCAN_CHARS
characters of either, so a search stays fast. Past that the count is a lower bound, and says so.

A gram is a token as it is: normalized text holds only letters, digits and single spaces
between Latin words, which FTS5's ASCII tokenizer takes whole (it splits on ASCII punctuation
and spaces only, and normalized text has none inside a gram).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from operator import add
from typing import Any

from ..config import NormalizeConfig
from ..normalize import normalize

SEARCH_SQL = """
CREATE TABLE residue(rowid INTEGER PRIMARY KEY, cluster INTEGER NOT NULL, text TEXT NOT NULL);
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


# Characters a raw search reads, at most, in `residue` or in the texts: about 0.1 s of `instr`
# on a 2-core machine; all the texts of a run of 100,000 documents (19 million characters) and
# the residues of about four times as many.
RAW_SCAN_CHARS = 20_000_000
# What stands for a run of Chinese characters in a residue.
PLACEHOLDER = "\x01"
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")
_TRIGGERS = frozenset("?\ufffd")  # what the mojibake pass looks for


def residue(text: str) -> str:
    """A text with each run of Chinese characters cut to PLACEHOLDER: what is left is the
    punctuation, markup, Latin letters and digits, a quarter of a Chinese text. A query with no
    Chinese character is in a text exactly when it is in its residue."""
    return _HAN.sub(PLACEHOLDER, text)


def needs_raw(q: str, folded: str) -> bool:
    """Whether a text may hold a query as it is where its folded text does not hold the folded
    query: the query folds to nothing (`&nbsp;`, `，，，`), folding dropped letters or digits of
    it (a tag, an entity, pinyin after a character), it mixes Latin letters with other signs
    (bracketed pinyin, junk fragments) or holds what the mojibake pass removes. A query of
    Chinese words and punctuation folds character by character, and the folded text finds it."""
    plain = "".join(q.split())
    if not plain:
        return False
    word = folded.replace(" ", "")
    kept = sum(c.isalnum() for c in plain)
    latin = any(c.isascii() and c.isalpha() or "\u00c0" <= c <= "\u024f" for c in plain)
    return (
        not word
        or kept != len(word)
        or (latin and kept != len(plain))
        or not _TRIGGERS.isdisjoint(plain)
    )


def raw_limit(db: sqlite3.Connection, table: str) -> tuple[int, bool]:
    """The last row a raw search reads in `table` (`docs` or `residue`), RAW_SCAN_CHARS into
    its texts in index order, and whether that is every row with a text. Reads the lengths up
    to there only."""
    chars = "length" if table == "docs" else "length(text)"
    rows = db.execute(f"SELECT rowid, {chars} FROM {table} WHERE text IS NOT NULL ORDER BY rowid")
    limit, upto = 0, 0
    for rowid, length in rows:
        upto += length
        if upto > RAW_SCAN_CHARS:
            return limit, False
        limit = rowid
    return limit, True


def raw_table(q: str) -> str:
    """Where a raw search for `q` reads: the residues when it holds no Chinese character,
    else the texts."""
    return "docs" if _HAN.search(q) or PLACEHOLDER in q else "residue"


def raw_hits(db: sqlite3.Connection, q: str, table: str, limit: int) -> str:
    """The clusters with a row of `table` up to rowid `limit` whose text holds `q` as it is,
    as a JSON list (for `json_each`)."""
    rows = db.execute(
        f"SELECT DISTINCT cluster FROM {table} WHERE rowid <= ? AND instr(text, ?) > 0",
        [limit, q],
    )
    return json.dumps([r[0] for r in rows])


RAW_CONDITION = "cluster IN (SELECT value FROM json_each(?))"


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
