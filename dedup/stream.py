"""Deduplication for pipelines: feed batches of records, get them back annotated.

Two ways, both deterministic and using the same stages as `deduplicate`:

- `DedupIndex` (two passes): `add` every batch, `finish`, then `annotate` every batch. The
  result equals `deduplicate` on the same documents (clusters, the representative rule of
  `config.cluster`, ids).
- `Deduplicator` (one pass): `annotate` each batch against everything seen before. The first
  version of an article is kept, whatever `config.cluster.representative` says: a batch's
  fate is decided when it is annotated, before any cleaner or more complete version can
  arrive. A later one points to the kept document of the earliest document it matches.
  Nothing can be revised afterwards, so a kept document's
  `dedup_cluster` is null even when later versions join it, and clusters never merge. The
  text a corpus repeats (site frames, disclaimers: repeats.py) is only known once the whole
  corpus is seen, so one pass compares whole texts; use `DedupIndex` on crawls with frames.

A batch is a list of dicts, a dict of columns (a HuggingFace batch), a `pyarrow.RecordBatch`
or `Table`, or a `pandas.DataFrame`; it comes back as the same type with the fields
`dedup run --annotate` adds (`FIELDS`): `dedup_cluster` (int or null), `dedup_keep` (bool),
`dedup_duplicate_of` (the kept document's id, or null), and why a document is in its cluster:
`dedup_via` (the member it was verified against), `dedup_via_jaccard`,
`dedup_via_containment` and `dedup_repeated_share`. Without an id field, a
document's id is its position in the stream.
Texts are never held: only signatures, shingle sets on disk and a few numbers per document.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numba import njit, types
from numba.typed import Dict

from .against import match_index, own_table
from .cluster import member_records, round_similarity
from .config import Config
from .errors import DedupError, InputError
from .index import Found, Ids, TwoPassIndex
from .io.outdir import ANNOTATED_COLUMNS, Fate, Fields, fate_fields
from .lsh import band_keys, resolve_params
from .parallel import batched
from .persist import Index
from .segment import Entries, entries
from .sign import sign_texts
from .store import Extent, ShingleStore, write_segment
from .types import Member
from .verify import NO_REPEATS, is_match, own_text, stored_similarities

CLUSTER = "dedup_cluster"
KEEP = "dedup_keep"
DUPLICATE_OF = "dedup_duplicate_of"
VIA = "dedup_via"
# The fields added, as `dedup run --annotate` adds them: the three above, then why a document
# is in its cluster (dedup_via, dedup_via_jaccard, dedup_via_containment,
# dedup_repeated_share).
FIELDS = tuple(name for name, _ in ANNOTATED_COLUMNS)

_SOURCE = "<batch>"  # what InputError names: a batch has no file


# --- batches in, batches out -------------------------------------------------------------


def _module(name: str) -> Any:
    """An optional library, only if the caller already imported it: a batch of its type
    cannot exist otherwise, and `import dedup.stream` stays light."""
    return sys.modules.get(name)


def _columns(batch: Any, text_field: str, id_field: str) -> tuple[list[Any], list[Any] | None]:
    """(texts, ids or None) of a batch of any supported type."""
    pa, pd = _module("pyarrow"), _module("pandas")
    if pa is not None and isinstance(batch, (pa.RecordBatch, pa.Table)):
        names = batch.schema.names
        if text_field not in names:
            raise InputError(_SOURCE, f"no {text_field!r} column")
        ids = batch.column(id_field).to_pylist() if id_field in names else None
        return batch.column(text_field).to_pylist(), ids
    if pd is not None and isinstance(batch, pd.DataFrame):
        if text_field not in batch.columns:
            raise InputError(_SOURCE, f"no {text_field!r} column")
        ids = batch[id_field].tolist() if id_field in batch.columns else None
        return batch[text_field].tolist(), ids
    if isinstance(batch, Mapping):
        if text_field not in batch:
            raise InputError(_SOURCE, f"no {text_field!r} column")
        texts = batch[text_field]
        if isinstance(texts, str):
            raise InputError(_SOURCE, "got one record, not a batch (HuggingFace: batched=True)")
        return list(texts), (list(batch[id_field]) if id_field in batch else None)
    if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)):
        records = list(batch)
        for k, r in enumerate(records):
            if not isinstance(r, Mapping) or text_field not in r:
                raise InputError(_SOURCE, f"record {k} has no {text_field!r} field")
        with_id = sum(id_field in r for r in records)
        if 0 < with_id < len(records):
            raise InputError(_SOURCE, f"some records have an {id_field!r} field, some not")
        ids = [r[id_field] for r in records] if with_id else None
        return [r[text_field] for r in records], ids
    raise TypeError(f"unsupported batch type {type(batch).__name__}")


def _texts(values: list[Any]) -> list[str]:
    for k, t in enumerate(values):
        if not isinstance(t, str):
            raise InputError(_SOURCE, f"record {k}: text is {type(t).__name__}, not str")
    return values


def _annotated(batch: Any, id_field: str, rows: list[Fields]) -> Any:
    """`batch` as the same type with the annotate fields (`FIELDS`; `rows`: each record's,
    as `fate_fields` gives them) added, replacing any already there."""
    values: dict[str, list[Any]] = {name: [] for name in FIELDS}
    for row in rows:
        for name, value in row:
            values[name].append(value)
    pa, pd = _module("pyarrow"), _module("pandas")
    if pa is not None and isinstance(batch, (pa.RecordBatch, pa.Table)):
        schema = batch.schema
        # Explicit types, so a batch without any duplicate does not get a "null" column.
        id_type = schema.field(id_field).type if id_field in schema.names else pa.int64()
        typed = {n: pa.type_for_alias(t) for n, t in ANNOTATED_COLUMNS}
        typed |= {DUPLICATE_OF: id_type, VIA: id_type}
        names = [n for n in schema.names if n not in values]
        arrays = [batch.column(n) for n in names]
        fields = [schema.field(n) for n in names]
        for name, vals in values.items():
            arrays.append(pa.array(vals, type=typed[name]))
            fields.append(pa.field(name, typed[name]))
        cls = pa.Table if isinstance(batch, pa.Table) else pa.RecordBatch
        return cls.from_arrays(arrays, schema=pa.schema(fields, metadata=schema.metadata))
    if pd is not None and isinstance(batch, pd.DataFrame):
        typed = {n: "Float64" for n, t in ANNOTATED_COLUMNS if t == "double"}
        typed |= {CLUSTER: "Int64"}
        columns = {
            name: pd.array(vals, dtype=typed[name])
            if name in typed
            else np.array(vals, dtype=bool)
            if name == KEEP
            else pd.Series(vals, index=batch.index, dtype=object)
            for name, vals in values.items()
        }
        return batch.assign(**columns)
    if isinstance(batch, Mapping):
        return {**batch, **values}
    return [{**r, **dict(row)} for r, row in zip(batch, rows, strict=True)]


def _register(ids: Ids, given: list[Any] | None, count: int) -> list[Any]:
    """Number a batch's documents: by their ids, or without an id field by running position.
    A batch with a null or repeated id adds nothing."""
    n = len(ids)
    given = list(range(n, n + count)) if given is None else given
    try:
        for k, doc_id in enumerate(given):
            if doc_id is None:
                raise InputError(_SOURCE, f"record {k}: id is null")
            ids.add(doc_id, _SOURCE, -1)
    except InputError:
        ids.truncate(n)  # a batch is added whole or not at all
        raise
    return given


class _Workdir:
    """A temporary folder for shingle sets, removed by `close` (or when collected)."""

    def __init__(self, workdir: Path | None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(
            prefix=".dedup-", dir=workdir
        )
        self.path = Path(self._tmp.name)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


# --- two passes ---------------------------------------------------------------------------


class DedupIndex:
    """Two-pass deduplication of a stream of batches; equals `deduplicate` on the same
    documents (it drives the same `TwoPassIndex` as the local run).

    >>> docs = [{"id": "a", "text": "同一篇文章的内容"}, {"id": "b", "text": "同一篇文章的內容!"}]
    >>> index = DedupIndex()
    >>> index.add(docs)
    >>> index.finish()
    >>> [r["dedup_keep"] for r in index.annotate(docs)]
    [True, False]

    Pass one (`add`) keeps signatures, lengths and ids; shingle sets go to a temporary folder
    (in `workdir`) that `finish` removes. Pass two (`annotate`) finds documents by id, or
    without an id field by position (the n-th document annotated is the n-th added).
    """

    def __init__(
        self,
        config: Config = Config(),
        *,
        text_field: str = "text",
        id_field: str = "id",
        workdir: Path | None = None,
    ) -> None:
        self.config = config
        self.text_field = text_field
        self.id_field = id_field
        self._index: TwoPassIndex | None = TwoPassIndex(config, workdir)
        self._ids = self._index.ids
        self._found: Found | None = None
        self._records: list[Member] = []
        self._position = 0  # pass two, for batches without ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, batch: Any) -> None:
        """Pass one: sign a batch. Returns None (for `Dataset.map` that means: unchanged)."""
        if self._index is None:
            raise DedupError("DedupIndex.add after finish()")
        texts, ids = _columns(batch, self.text_field, self.id_field)
        texts = _texts(texts)
        _register(self._ids, ids, len(texts))
        if texts:
            cfg = self.config
            self._index.add(sign_texts(texts, cfg.normalize, cfg.shingle, cfg.signature))

    def finish(self) -> None:
        """Between the passes: candidates, exact verification, clusters, representatives."""
        if self._index is None:
            raise DedupError("DedupIndex.finish() called twice")
        index, self._index = self._index, None
        self._found = index.finish()
        self._records = member_records(self._found.clusters, self._ids.ids)

    def annotate(self, batch: Any) -> Any:
        """Pass two: `batch` with the annotate fields (`FIELDS`) added."""
        if self._found is None:
            raise DedupError("DedupIndex.annotate before finish()")
        texts, ids = _columns(batch, self.text_field, self.id_field)
        if ids is None:
            docs = list(range(self._position, self._position + len(texts)))
            if docs and docs[-1] >= len(self._ids):
                raise InputError(_SOURCE, "more documents annotated than were added")
            self._position += len(texts)
        else:
            try:
                docs = [self._ids.find(i) for i in ids]
            except KeyError as e:
                raise InputError(_SOURCE, f"id {e.args[0]!r} was not added in pass one") from e
        found, names, records = self._found, self._ids.ids, self._records
        rows = [fate_fields(found.fate(d, names, records), annotate=True) for d in docs]
        return _annotated(batch, self.id_field, rows)

    def close(self) -> None:
        """Remove the temporary shingle sets (done by `finish`; for an abandoned index)."""
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> DedupIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- one pass -----------------------------------------------------------------------------


@njit(cache=True)
def _insert(heads: Any, keys: np.ndarray, prev: np.ndarray, base: int) -> None:
    """Chain each document into the buckets of its band keys: prev[i, b] is the previous
    document that had key keys[i, b] (or -1); heads maps a key to its latest document.
    Keys are salted by band, so one table serves every band."""
    for i in range(keys.shape[0]):
        for b in range(keys.shape[1]):
            k = keys[i, b]
            prev[base + i, b] = heads.get(k, -1)
            heads[k] = base + i


@njit(cache=True)
def _chain_pairs(prev: np.ndarray, lo: int, hi: int, limit: int) -> np.ndarray:
    """(earlier, later) pairs for documents lo..hi-1: up to `limit` earlier documents down
    each band's chain (the bound keeps boilerplate buckets linear, as in lsh.py)."""
    bands = prev.shape[1]
    out = np.empty(((hi - lo) * bands * limit, 2), dtype=np.int64)
    t = 0
    for j in range(lo, hi):
        for b in range(bands):
            c = prev[j, b]
            steps = 0
            while c >= 0 and steps < limit:
                out[t, 0] = c
                out[t, 1] = j
                t += 1
                steps += 1
                c = prev[c, b]
    return out[:t]


class _Grow:
    """A numpy array that grows along its first axis by doubling."""

    def __init__(self, width: int | None, dtype: Any) -> None:
        shape = (1024,) if width is None else (1024, width)
        self.data = np.empty(shape, dtype=dtype)
        self.size = 0

    def reserve(self, extra: int) -> np.ndarray:
        need = self.size + extra
        if need > self.data.shape[0]:
            grown = np.empty(
                (max(need, 2 * self.data.shape[0]), *self.data.shape[1:]), self.data.dtype
            )
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        return self.data

    def extend(self, values: np.ndarray) -> None:
        self.reserve(len(values))[self.size : self.size + len(values)] = values
        self.size += len(values)

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.size]


class Deduplicator:
    """One-pass deduplication: each batch is annotated against every document seen before
    it (and the earlier documents of the same batch). The result does not depend on how the
    stream is cut into batches. The first version of an article is the one kept (the
    representative rule needs the whole cluster, which one pass never sees).

    >>> d = Deduplicator()
    >>> d.annotate([{"id": "a", "text": "同一篇文章的内容"}])[0]["dedup_keep"]
    True
    >>> d.annotate([{"id": "b", "text": "同一篇文章的內容!"}])[0]["dedup_duplicate_of"]
    'a'

    Memory per document: its id, its band keys in a hash table and chain (about 50 bytes per
    LSH band: 35 bands with the defaults) and a few integers; shingle sets go to a temporary
    folder removed by `close`.
    """

    def __init__(
        self,
        config: Config = Config(),
        *,
        text_field: str = "text",
        id_field: str = "id",
        workdir: Path | None = None,
    ) -> None:
        self.config = config
        self.text_field = text_field
        self.id_field = id_field
        self._bands, self._rows = resolve_params(config.lsh, config.signature.num_perm)
        self._ids = Ids()
        self._dir: _Workdir | None = _Workdir(workdir)
        self._segments: dict[str, int] = {}
        self._segment = _Grow(None, np.int32)
        self._start = _Grow(None, np.int64)
        self._size = _Grow(None, np.int64)
        self._empty = _Grow(None, np.bool_)  # no text: never a version of anything
        self._root = _Grow(None, np.int64)  # the kept document each document belongs to
        self._prev = _Grow(self._bands, np.int64)
        self._heads = Dict.empty(key_type=types.uint64, value_type=types.int64)
        self._clusters: dict[int, int] = {}  # kept document -> cluster number

    def __len__(self) -> int:
        return len(self._ids)

    def annotate(self, batch: Any) -> Any:
        """`batch` with the annotate fields (`FIELDS`) added: `dedup_via` is the earliest
        document it matches, and nothing is set aside as repeated text."""
        if self._dir is None:
            raise DedupError("Deduplicator.annotate after close()")
        texts, ids = _columns(batch, self.text_field, self.id_field)
        texts = _texts(texts)
        lo = len(self._ids)
        _register(self._ids, ids, len(texts))
        hi = lo + len(texts)
        matched = self._match(texts, lo, hi) if texts else {}
        rows: list[Fields] = []
        root = self._root.reserve(len(texts))
        names = self._ids.ids
        for j in range(lo, hi):
            earlier = matched.get(j)
            if earlier is None:
                root[j] = j
                rows.append(fate_fields(None, annotate=True))
                continue
            first, jac, con = earlier
            r = int(root[first])  # first < j: already decided
            root[j] = r
            number = self._clusters.setdefault(r, len(self._clusters))
            # One pass sets no repeated text aside.
            fate = Fate(names[r], number, names[first], jac, con, 0.0)
            rows.append(fate_fields(fate, annotate=True))
        self._root.size = hi
        return _annotated(batch, self.id_field, rows)

    def _match(self, texts: list[str], lo: int, hi: int) -> dict[int, tuple[int, float, float]]:
        """Sign and index documents lo..hi-1; for each that matches an earlier document, the
        earliest one it matches and their (jaccard, containment), rounded as the outputs
        give them."""
        assert self._dir is not None
        cfg = self.config
        signed = sign_texts(texts, cfg.normalize, cfg.shingle, cfg.signature)
        extent = write_segment(self._dir.path, signed.shingles)
        seg = self._segments.setdefault(extent.segment, len(self._segments))
        starts = extent.start + np.concatenate(([0], np.cumsum(signed.sizes)[:-1]))
        self._segment.extend(np.full(len(texts), seg, dtype=np.int32))
        self._start.extend(starts)
        self._size.extend(signed.sizes)
        self._empty.extend(signed.lengths == 0)
        keys = np.stack([band_keys(signed.sigs, b, self._rows) for b in range(self._bands)], axis=1)
        _insert(self._heads, keys, self._prev.reserve(len(texts)), lo)
        self._prev.size = hi
        packed = _chain_pairs(self._prev.view, lo, hi, cfg.lsh.max_bucket)
        if packed.shape[0] == 0:
            return {}
        pairs = np.unique(packed, axis=0)  # sorted by earlier, then later document
        empty = self._empty.view
        pairs = pairs[~(empty[pairs[:, 0]] | empty[pairs[:, 1]])]
        docs = np.unique(pairs)
        local = np.searchsorted(docs, pairs)
        # Repeated text needs the whole corpus: one pass compares whole texts.
        own = own_text(NO_REPEATS, cfg.verify)
        jac, con = stored_similarities(self._reader(docs), local, own)
        found: dict[int, tuple[int, float, float]] = {}
        ok = is_match(jac, con, cfg.verify)
        rows = zip(pairs[ok].tolist(), jac[ok].tolist(), con[ok].tolist(), strict=True)
        for (earlier, later), j, c in rows:
            # Rows come earliest first.
            found.setdefault(later, (earlier, round_similarity(j), round_similarity(c)))
        return found

    def _reader(self, docs: np.ndarray) -> ShingleStore:
        """A store over just `docs` (ascending), numbered 0..len(docs)-1."""
        assert self._dir is not None
        store = ShingleStore(self._dir.path)
        names = list(self._segments)
        seg, start, size = self._segment.view, self._start.view, self._size.view
        for d in docs.tolist():
            store.add(Extent(names[seg[d]], int(start[d])), size[d : d + 1])
        return store

    def close(self) -> None:
        """Remove the temporary shingle sets; the Deduplicator cannot be used after."""
        if self._dir is not None:
            self._dir.close()
            self._dir = None

    def __enter__(self) -> Deduplicator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- against a persistent index ---------------------------------------------------------


class PersistentIndex:
    """A persistent index (persist.py, the one `dedup run --index` writes) for pipelines:
    `query` annotates a batch against every indexed document, `add` commits a batch's
    documents as a new segment. Open it with `write=True` to add (one writer at a time; the
    folder is made when missing); read-only, any number may query it at once.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> text = "同一篇文章的内容，一字不差地转载到了另一个网站上面"
    >>> with PersistentIndex(folder + "/idx", write=True) as idx:
    ...     segment = idx.add([{"id": "a", "text": text}])
    ...     out = idx.query([{"id": "b", "text": text + "！"}])
    >>> out[0]["dedup_keep"], out[0]["dedup_duplicate_of"]
    (False, 'a')

    A queried document matching an indexed one gets dedup_keep false and the indexed id in
    dedup_duplicate_of (dedup_cluster stays null: the index holds no clusters); documents of
    one batch are not compared with each other (combine with `Deduplicator` for that). Every
    `add` is a segment: add large batches, or `dedup index compact` now and then.
    """

    def __init__(
        self,
        path: str | Path,
        config: Config = Config(),
        *,
        write: bool = False,
        text_field: str = "text",
        id_field: str = "id",
    ) -> None:
        self.config = config
        self.text_field = text_field
        self.id_field = id_field
        self._index: Index | None = Index(path, config, write=write)

    def __len__(self) -> int:
        return 0 if self._index is None else len(self._index)

    def _entries(self, batch: Any) -> tuple[Entries, list[Any]]:
        texts, ids = _columns(batch, self.text_field, self.id_field)
        texts = _texts(texts)
        if ids is None:
            raise InputError(_SOURCE, f"an index needs ids: no {self.id_field!r} field")
        cfg = self.config
        signed = sign_texts(texts, cfg.normalize, cfg.shingle, cfg.signature)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(signed.sizes, out=offsets[1:])

        def fetch(docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return signed.shingles, offsets[docs], offsets[docs + 1]

        assert self._index is not None
        found = entries(signed.sigs, fetch, ids, [_SOURCE] * len(ids), self._index.options)
        return found, ids

    def query(self, batch: Any) -> Any:
        """`batch` with dedup_cluster, dedup_keep and dedup_duplicate_of added: each document
        against every indexed one (the first it matches, in index order)."""
        if self._index is None:
            raise DedupError("PersistentIndex.query after close()")
        index = self._index
        found, ids = self._entries(batch)
        own = own_text(own_table(index), self.config.verify)
        m = match_index(index, found, found.sizes == 0, own)
        dup = [
            index.describe(s, p)[0] if s >= 0 else None
            for s, p in zip(m.segment.tolist(), m.position.tolist(), strict=True)
        ]
        rows = [fate_fields(None if d is None else Fate(d, None), annotate=True) for d in dup]
        return _annotated(batch, self.id_field, rows)

    def add(self, batch: Any) -> str | None:
        """Commit the batch's documents as a new segment; its name (None for an empty batch)."""
        if self._index is None:
            raise DedupError("PersistentIndex.add after close()")
        found, _ = self._entries(batch)
        return self._index.add(found)

    def close(self) -> None:
        """Release the index (and a writer's lock)."""
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> PersistentIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- a datatrove-style step ---------------------------------------------------------------


class DocumentLike(Protocol):
    """What the step needs of a document (datatrove's `Document` has these)."""

    text: str
    id: Any
    metadata: dict[str, Any]


class DedupStep:
    """A pipeline step for datatrove-style executors: `run(data, rank, world_size)` takes
    documents and yields them with the annotate fields (`FIELDS`) in their
    `metadata` (or, with `drop_duplicates`, yields only the kept ones).

    One pass (`Deduplicator`) by default. `two_pass=True` gives the `deduplicate` result (the
    longest version kept) at the cost of spooling the documents to a temporary file between
    the passes. Each task deduplicates its own documents; for one result over a whole corpus
    run it as a single task.
    """

    name = "dedup"

    def __init__(
        self,
        config: Config = Config(),
        *,
        two_pass: bool = False,
        drop_duplicates: bool = False,
        batch_size: int = 256,
        workdir: Path | None = None,
    ) -> None:
        self.config = config
        self.two_pass = two_pass
        self.drop_duplicates = drop_duplicates
        self.batch_size = batch_size
        self.workdir = workdir

    def __call__(
        self, data: Iterable[DocumentLike] | None, rank: int = 0, world_size: int = 1
    ) -> Iterator[DocumentLike]:
        return self.run(data, rank, world_size)

    def run(
        self, data: Iterable[DocumentLike] | None, rank: int = 0, world_size: int = 1
    ) -> Iterator[DocumentLike]:
        """Annotate (or filter) the documents of this task, in their order."""
        batches = batched(data or (), self.batch_size)
        if self.two_pass:
            yield from self._two_pass(batches)
            return
        with Deduplicator(self.config, workdir=self.workdir) as dedup:
            for docs in batches:
                yield from self._emit(docs, dedup.annotate(_records(docs)))

    def _two_pass(self, batches: Iterator[list[DocumentLike]]) -> Iterator[DocumentLike]:
        import pickle

        with tempfile.TemporaryDirectory(prefix=".dedup-", dir=self.workdir) as tmp:
            spool = Path(tmp) / "documents.pickle"
            with DedupIndex(self.config, workdir=Path(tmp)) as index:
                with open(spool, "wb") as f:
                    for docs in batches:
                        index.add(_records(docs))
                        pickle.dump(docs, f, protocol=pickle.HIGHEST_PROTOCOL)
                index.finish()
                with open(spool, "rb") as f:
                    while True:
                        try:
                            docs = pickle.load(f)
                        except EOFError:
                            break
                        yield from self._emit(docs, index.annotate(_records(docs)))

    def _emit(
        self, docs: list[DocumentLike], annotated: list[dict[str, Any]]
    ) -> Iterator[DocumentLike]:
        for doc, record in zip(docs, annotated, strict=True):
            for name in FIELDS:
                doc.metadata[name] = record[name]
            if record[KEEP] or not self.drop_duplicates:
                yield doc


def _records(docs: list[DocumentLike]) -> list[dict[str, Any]]:
    return [{"id": d.id, "text": d.text} for d in docs]
