"""The index `dedup serve` builds once into OUTDIR/serve.sqlite and queries on every request.

Tables: `clusters` (figures, first-line snippet, noise kinds as a bit mask, rank in the
report's order) and `docs` (every cluster member: id, cluster, similarity, length, text), and
the text search's indexes over the normalized texts and the texts' residues (`search.py`).
The build writes a temporary file and renames it, so an index is complete or absent; its
`meta` table holds a fingerprint of the run, and a run that changed is indexed again.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..config import NormalizeConfig
from ..errors import DedupError, InputError
from ..io.outdir import LocalFolder, own
from ..normalize import NoiseCounts, normalize_counted
from ..report import read_clusters, run_documents, run_normalize_config, shows_mojibake
from ..report.diff import cluster_row, index_order
from ..types import Cluster, Member
from .search import (
    MERGE_SQL,
    RAW_CONDITION,
    SEARCH_SQL,
    fold_query,
    gram_hits,
    grams_row,
    is_gram,
    needs_raw,
    raw_hits,
    raw_limit,
    raw_table,
    residue,
    text_condition,
)

INDEX = "serve.sqlite"
# Bumped whenever the schema or what is stored changes: an older index is rebuilt.
SCHEMA = 4
# Noise kinds in bit order (the fields of NoiseCounts).
NOISE_KINDS = tuple(f.name for f in fields(NoiseCounts))
# FTS5's trigram tokenizer came with SQLite 3.34.
MIN_SQLITE = (3, 34, 0)
SNIPPET_CHARS = 120
# A look-up of one cluster in a posting list costs about this many reads of a posting when the
# list is read whole (measured: 17 µs against 0.4 µs).
_PROBE_COST = 40
_BATCH = 2000
_PROGRESS = 50_000

SORTS = {
    "rank": "rank",
    "size": "size DESC, rank",
    "-size": "size ASC, rank",
    "similarity": "min_sim ASC, rank",
    "-similarity": "min_sim DESC, rank",
    "mean": "mean_sim ASC, rank",
    "cluster": "cluster",
}

_SCHEMA_SQL = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE clusters(
    cluster INTEGER PRIMARY KEY,
    representative TEXT NOT NULL,
    size INTEGER NOT NULL,
    min_sim REAL NOT NULL,
    mean_sim REAL NOT NULL,
    min_containment REAL NOT NULL,
    noise INTEGER NOT NULL,
    snippet TEXT NOT NULL,
    rank INTEGER NOT NULL
);
CREATE TABLE docs(
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    cluster INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    jaccard REAL NOT NULL,
    containment REAL NOT NULL,
    length INTEGER,
    noise INTEGER NOT NULL,
    text TEXT
);
"""
_INDEX_SQL = """
CREATE INDEX docs_id ON docs(id);
CREATE INDEX docs_cluster ON docs(cluster, pos, id, jaccard, containment, length);
CREATE INDEX docs_place ON docs(rowid, cluster);
CREATE INDEX clusters_rank ON clusters(rank);
CREATE INDEX clusters_size ON clusters(size, rank);
CREATE INDEX clusters_min_sim ON clusters(min_sim, rank);
CREATE INDEX clusters_mean_sim ON clusters(mean_sim, rank);
"""


class ServeError(DedupError):
    """OUTDIR cannot be served: not a finished run, or SQLite too old."""


@dataclass(frozen=True)
class ClusterInfo:
    """A row of the cluster list."""

    cluster: int
    representative: str
    size: int
    min_similarity: float
    mean_similarity: float
    min_containment: float
    noise: tuple[str, ...]
    snippet: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "representative": self.representative,
            "size": self.size,
            "min_similarity": self.min_similarity,
            "mean_similarity": self.mean_similarity,
            "min_containment": self.min_containment,
            "noise": list(self.noise),
            "snippet": self.snippet,
        }


@dataclass(frozen=True)
class Query:
    """What the cluster list shows: a text search, filters, an order and a page."""

    q: str = ""
    size_min: int | None = None
    size_max: int | None = None
    sim_min: float | None = None  # on the cluster's least similar member (Jaccard)
    sim_max: float | None = None
    noise: str | None = None  # a kind from NOISE_KINDS
    sort: str = "rank"
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class Page:
    """One page of the cluster list and how many clusters match in all."""

    clusters: tuple[ClusterInfo, ...]
    total: int
    query: Query
    more: bool = False  # `total` is a lower bound: the raw texts were read in part


@dataclass(frozen=True)
class StoredDoc:
    """A cluster member as the index holds it."""

    id: str
    jaccard: float
    containment: float
    length: int | None
    text: str | None


def noise_names(mask: int) -> tuple[str, ...]:
    return tuple(k for i, k in enumerate(NOISE_KINDS) if mask >> i & 1)


def _noise_mask(counts: NoiseCounts) -> int:
    values = counts.as_dict()
    return sum(1 << i for i, k in enumerate(NOISE_KINDS) if values.get(k))


_MOJIBAKE = 1 << NOISE_KINDS.index("mojibake")


def _noise_of(text: str, counts: NoiseCounts, cfg: NormalizeConfig) -> int:
    """The noise kinds of a text as the report labels them (a mask): the normalizer's counts,
    except that a lone `?` it removes is a question mark, not mojibake."""
    mask = _noise_mask(counts)
    if mask & _MOJIBAKE and not shows_mojibake(text, cfg):
        mask &= ~_MOJIBAKE
    return mask


def snippet(text: str) -> str:
    """The first non-blank line of a text, cut to SNIPPET_CHARS."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:SNIPPET_CHARS] + ("…" if len(line) > SNIPPET_CHARS else "")
    return ""


def fingerprint(outdir: Path) -> str:
    """What identifies a finished run: its summary.json and the size and time of clusters.jsonl."""
    h = hashlib.sha256(f"schema {SCHEMA}\n".encode())
    try:
        h.update((outdir / "summary.json").read_bytes())
        st = (outdir / "clusters.jsonl").stat()
    except FileNotFoundError as e:
        raise ServeError(
            f"{outdir}: not a finished dedup run (no {Path(e.filename).name}); "
            "run `dedup run INPUT -o OUTDIR` first"
        ) from None
    h.update(f"{st.st_size} {st.st_mtime_ns}".encode())
    return h.hexdigest()


def check_sqlite() -> None:
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise ServeError(
            f"SQLite {sqlite3.sqlite_version} is too old: dedup serve needs 3.34 or newer "
            "(FTS5 with the trigram tokenizer)"
        )


def current(outdir: Path) -> bool:
    """Whether OUTDIR holds an index of the run as it is now."""
    path = outdir / INDEX
    if not path.exists():
        return False
    try:
        with closing(_connect(path)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == fingerprint(outdir)


def ensure_index(outdir: Path, progress: Callable[[str], None] = lambda _: None) -> bool:
    """Build OUTDIR/serve.sqlite unless it indexes the run as it is now; True when built.
    Holds OUTDIR's lock while building (never while a run writes it)."""
    check_sqlite()
    outdir = Path(outdir)
    fingerprint(outdir)  # a finished run, or ServeError
    if current(outdir):
        return False
    folder = LocalFolder(outdir)
    with folder.lock():
        own(folder, [INDEX])
        build_index(outdir, progress)
    return True


def build_index(outdir: Path, progress: Callable[[str], None] = lambda _: None) -> None:
    """Write OUTDIR/serve.sqlite from the run's files (under a temporary name, then renamed)."""
    outdir = Path(outdir)
    stamp = fingerprint(outdir)
    clusters = read_clusters(outdir)
    places: dict[str, _Place] = {}
    for c in clusters:
        for k, m in enumerate(c.members):
            places.setdefault(m.id, (c, k, m))
    progress(f"indexing {len(clusters):,} clusters, {len(places):,} documents")
    tmp = outdir / f".{INDEX}.partial"
    tmp.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(tmp)) as db:
            # Nothing to recover: a build that fails leaves no index.
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            db.executescript(_SCHEMA_SQL + SEARCH_SQL)
            noise, snippets = _insert_documents(db, outdir, places, progress)
            _insert_clusters(db, clusters, noise, snippets)
            progress("merging the text indexes")
            db.executescript(_INDEX_SQL + MERGE_SQL)
            db.executemany(
                "INSERT INTO meta VALUES (?, ?)", [("fingerprint", stamp), ("schema", str(SCHEMA))]
            )
            db.commit()
        os.replace(tmp, outdir / INDEX)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


# How a normalized text waits for the rest of its cluster (lone surrogates included).
_HELD = ("utf-16-le", "surrogatepass")
# A member's cluster, its place in the cluster's listing and its figures.
_Place = tuple[Cluster, int, Member]


def _insert_documents(
    db: sqlite3.Connection,
    outdir: Path,
    places: dict[str, _Place],
    progress: Callable[[str], None],
) -> tuple[dict[int, int], dict[int, str]]:
    """Store every member with its text (read once from the record files), its normalized
    text in the search indexes and the noise kinds the normalizer finds in it; returns each
    cluster's noise kinds (a mask) and the first line of its representative.

    A cluster's `grams` row is written once its last member is read: only the clusters with
    members still to come are held, as normalized texts in UTF-16 (bytes: a text bound to a
    statement would also keep its UTF-8 copy, two and a half times the memory)."""
    norm_cfg = run_normalize_config(outdir)
    noise: dict[int, int] = {}
    snippets: dict[int, str] = {}
    left: dict[int, int] = {}  # members not yet read, per cluster
    for c, _, _ in places.values():
        left[c.cluster] = left.get(c.cluster, 0) + 1
    pending: dict[int, list[bytes]] = {}
    rows = _Rows(db)
    for rowid, (doc_id, text) in enumerate(run_documents(outdir, places.keys()), 1):
        c, k, m = places[doc_id]
        norm, counts = normalize_counted(text, norm_cfg)
        mask = _noise_of(text, counts, norm_cfg)
        noise[c.cluster] = noise.get(c.cluster, 0) | mask
        if doc_id == c.representative:
            snippets[c.cluster] = snippet(text)
        rows.doc((rowid, doc_id, c.cluster, k, m.jaccard, m.containment, len(text), mask, text))
        rows.norm((rowid, norm))
        rows.residue((rowid, c.cluster, residue(text)))
        left[c.cluster] -= 1
        if left[c.cluster]:
            pending.setdefault(c.cluster, []).append(norm.encode(*_HELD))
        else:
            held = [t.decode(*_HELD) for t in pending.pop(c.cluster, ())]
            rows.grams((c.cluster, grams_row([*held, norm])))
        if rowid % _PROGRESS == 0:
            progress(f"indexed {rowid:,} of {len(places):,} documents")
    for number in sorted(pending):  # clusters with a member whose text is missing
        rows.grams((number, grams_row([t.decode(*_HELD) for t in pending[number]])))
    rows.flush()
    # Members whose text is not in the record files are listed all the same.
    stored = {r[0] for r in db.execute("SELECT id FROM docs")}
    for doc_id in sorted(places.keys() - stored):
        c, k, m = places[doc_id]
        rows.doc((None, doc_id, c.cluster, k, m.jaccard, m.containment, None, 0, None))
    rows.flush()
    return noise, snippets


class _Rows:
    """Rows on their way to the index's tables, inserted a batch at a time."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.docs: list[tuple[Any, ...]] = []
        self.norms: list[tuple[int, str]] = []
        self.gram_rows: list[tuple[int, str]] = []
        self.residues: list[tuple[int, int, str]] = []

    def doc(self, row: tuple[Any, ...]) -> None:
        self.docs.append(row)
        if len(self.docs) >= _BATCH:
            self.flush()

    def norm(self, row: tuple[int, str]) -> None:
        self.norms.append(row)

    def grams(self, row: tuple[int, str]) -> None:
        self.gram_rows.append(row)

    def residue(self, row: tuple[int, int, str]) -> None:
        self.residues.append(row)

    def flush(self) -> None:
        self.db.executemany(
            "INSERT INTO docs(rowid, id, cluster, pos, jaccard, containment, length, noise, text) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.docs,
        )
        self.db.executemany("INSERT INTO docs_norm(rowid, text) VALUES (?, ?)", self.norms)
        self.db.executemany("INSERT INTO grams(rowid, gram) VALUES (?, ?)", self.gram_rows)
        self.db.executemany("INSERT INTO residue VALUES (?, ?, ?)", self.residues)
        for batch in (self.docs, self.norms, self.gram_rows, self.residues):
            batch.clear()


def _insert_clusters(
    db: sqlite3.Connection,
    clusters: list[Cluster],
    noise: dict[int, int],
    snippets: dict[int, str],
) -> None:
    rows = [cluster_row(c) for c in clusters]
    rank = {r.cluster: k for k, r in enumerate(index_order(rows))}
    db.executemany(
        "INSERT INTO clusters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (r.cluster, r.representative, r.size, r.min_jaccard, r.mean_jaccard)
            + (r.min_containment, noise.get(r.cluster, 0), snippets.get(r.cluster, ""))
            + (rank[r.cluster],)
            for r in rows
        ),
    )


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)


class Index:
    """Read-only queries over OUTDIR/serve.sqlite; one connection per thread."""

    def __init__(self, outdir: Path) -> None:
        self.path = Path(outdir) / INDEX
        if not self.path.exists():
            raise InputError(str(self.path), "no index: build it with ensure_index first")
        self.norm_cfg = run_normalize_config(Path(outdir))  # queries fold as the run's texts
        self.size: int | None = None  # clusters in all
        self.raw: dict[str, tuple[int, bool]] = {}  # how far a raw search reads, per table

    def _db(self) -> sqlite3.Connection:
        return _connect(self.path)

    def clusters(self, query: Query) -> Page:
        order = SORTS.get(query.sort, SORTS["rank"])
        offset = min((max(query.page, 1) - 1) * query.per_page, 2**62)
        q = query.q.strip()
        folded = fold_query(q, self.norm_cfg) if q else ""
        with closing(self._db()) as db:
            total = None
            probe = False
            raw, complete = None, True
            if needs_raw(q, folded):
                table = raw_table(q)
                limit, complete = self._raw_limit(db, table)
                raw = raw_hits(db, q, table, limit)
            elif is_gram(folded):
                hits = gram_hits(db, folded)
                # A page by probing takes about (offset + per_page) * clusters / hits look-ups,
                # each some _PROBE_COST times a posting read whole.
                probe = (offset + query.per_page) * self._size(db) < hits * hits // _PROBE_COST
                if not _filtered(query):  # the posting list's length, and the named ones
                    named, values = _named(q)
                    text, tvalues = text_condition(folded, probe=True)
                    more = f"SELECT count(*) FROM clusters WHERE ({named}) AND NOT {text}"
                    total = hits + db.execute(more, [*values, *tvalues]).fetchone()[0]
            if total is None:  # counting reads every cluster: the posting list whole
                where, params = _filters(query, folded, raw, probe=False)
                count = f"SELECT count(*) FROM clusters WHERE {where}"
                total = db.execute(count, params).fetchone()[0]
            where, params = _filters(query, folded, raw, probe)
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM clusters WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, query.per_page, offset],
            ).fetchall()
        return Page(tuple(_info(r) for r in rows), total, query, more=not complete)

    def _raw_limit(self, db: sqlite3.Connection, table: str) -> tuple[int, bool]:
        if table not in self.raw:
            self.raw[table] = raw_limit(db, table)
        return self.raw[table]

    def warm(self) -> None:
        """Work out now what the first searches would (how far a raw search reads, ~0.1 s
        at 100,000 clusters), so that no request waits for it."""
        with closing(self._db()) as db:
            for table in ("residue", "docs"):
                self._raw_limit(db, table)
            self._size(db)

    def _size(self, db: sqlite3.Connection) -> int:
        if self.size is None:
            self.size = int(db.execute("SELECT count(*) FROM clusters").fetchone()[0])
        return self.size

    def cluster(self, number: int) -> ClusterInfo | None:
        with closing(self._db()) as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM clusters WHERE cluster = ?", (number,)
            ).fetchone()
        return None if row is None else _info(row)

    def members(self, number: int, with_text: Sequence[str] = ()) -> list[StoredDoc]:
        """The members of a cluster in clusters.jsonl order, with the texts of `with_text`."""
        wanted = set(with_text)
        with closing(self._db()) as db:
            # docs_cluster holds all of these: a cluster of thousands reads no text.
            rows = db.execute(
                "SELECT id, jaccard, containment, length, rowid FROM docs "
                "INDEXED BY docs_cluster WHERE cluster = ? ORDER BY pos",
                (number,),
            ).fetchall()
            rowids = [r[4] for r in rows if r[0] in wanted]
            sql = f"SELECT rowid, text FROM docs WHERE rowid IN ({','.join('?' * len(rowids))})"
            texts = dict(db.execute(sql, rowids).fetchall()) if rowids else {}
        return [StoredDoc(r[0], r[1], r[2], r[3], texts.get(r[4])) for r in rows]

    def neighbours(self, number: int) -> tuple[int | None, int | None]:
        """The clusters before and after this one in the list's default order."""
        with closing(self._db()) as db:
            row = db.execute("SELECT rank FROM clusters WHERE cluster = ?", (number,)).fetchone()
            if row is None:
                return None, None
            prev = db.execute("SELECT cluster FROM clusters WHERE rank = ?", (row[0] - 1,))
            nxt = db.execute("SELECT cluster FROM clusters WHERE rank = ?", (row[0] + 1,))
            p, n = prev.fetchone(), nxt.fetchone()
        return (p[0] if p else None), (n[0] if n else None)

    def lookup(self, doc_id: str) -> int | None:
        """The cluster of a document, or None when it is in none."""
        with closing(self._db()) as db:
            row = db.execute(
                "SELECT cluster FROM docs WHERE id = ? ORDER BY rowid LIMIT 1", (doc_id,)
            ).fetchone()
        return None if row is None else int(row[0])

    def counts(self) -> tuple[int, int]:
        """Clusters and documents in clusters."""
        with closing(self._db()) as db:
            c = db.execute("SELECT count(*) FROM clusters").fetchone()[0]
            d = db.execute("SELECT count(*) FROM docs").fetchone()[0]
        return int(c), int(d)


_COLUMNS = "cluster, representative, size, min_sim, mean_sim, min_containment, noise, snippet"


def _info(r: Sequence[Any]) -> ClusterInfo:
    return ClusterInfo(r[0], r[1], r[2], r[3], r[4], r[5], noise_names(r[6]), r[7])


def _named(q: str) -> tuple[str, list[Any]]:
    """The clusters a query names: one with a member of that id, or of that number."""
    ids = "cluster IN (SELECT cluster FROM docs WHERE id = ?)"
    if q.isdigit() and len(q) < 19:
        return f"{ids} OR cluster = ?", [q, int(q)]
    return ids, [q]


def _filtered(query: Query) -> bool:
    values = (query.size_min, query.size_max, query.sim_min, query.sim_max)
    return any(v is not None for v in values) or query.noise in NOISE_KINDS


def _filters(query: Query, folded: str, raw: str | None, probe: bool) -> tuple[str, list[Any]]:
    """The WHERE clause of a query and its parameters; `raw` is the clusters whose texts as
    they are hold the query (`raw_hits`), when they were read."""
    where = ["1"]
    params: list[Any] = []
    q = query.q.strip()
    if q:
        # The members' folded text or their text as it is, exactly a member's id, or a
        # cluster's number.
        text, values = text_condition(folded, probe)
        named, nvalues = _named(q)
        if raw is not None:
            text, values = f"{text} OR {RAW_CONDITION}", [*values, raw]
        where.append(f"({text} OR {named})")
        params += [*values, *nvalues]
    for column, op, value in (
        ("size", ">=", query.size_min),
        ("size", "<=", query.size_max),
        ("min_sim", ">=", query.sim_min),
        ("min_sim", "<=", query.sim_max),
    ):
        if value is not None:
            where.append(f"{column} {op} ?")
            params.append(value)
    if query.noise in NOISE_KINDS:
        where.append("noise & ? != 0")
        params.append(1 << NOISE_KINDS.index(query.noise))
    return " AND ".join(where), params
