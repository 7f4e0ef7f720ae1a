from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.store import Extent, ShingleStore, write_segment


def _sets(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return [
        np.unique(rng.integers(0, 1 << 32, rng.integers(1, 50), dtype=np.uint32)) for _ in range(n)
    ]


def _write(path: Path, sets: list[np.ndarray]) -> int:
    """Append `sets` to `path` as a worker would; return their element offset."""
    start = path.stat().st_size // 4 if path.exists() else 0
    with open(path, "ab") as f:
        for s in sets:
            f.write(s.astype(np.uint32).tobytes())
    return start


def test_batches_in_several_segments_read_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    sets = _sets(rng, 30)
    store = ShingleStore(tmp_path)
    # Batches land in two segment files, out of document order inside each file.
    batches = [(0, 7, "a.u32"), (7, 12, "b.u32"), (12, 20, "b.u32"), (20, 30, "a.u32")]
    for lo, hi, name in batches:
        start = _write(tmp_path / name, sets[lo:hi])
        store.add(Extent(name, start), np.array([s.size for s in sets[lo:hi]]))
    assert len(store) == 30
    assert store.sizes().tolist() == [s.size for s in sets]
    for docs in ([0], [29, 3, 7, 8, 9], list(range(30)), [12, 11, 20, 6]):
        data, starts, ends = store.fetch(np.array(docs))
        assert data.size == sum(sets[d].size for d in docs)  # only what was asked for
        for k, d in enumerate(docs):
            assert data[starts[k] : ends[k]].tolist() == sets[d].tolist()


def test_write_segment_appends_and_returns_offsets(tmp_path: Path) -> None:
    first = write_segment(tmp_path, np.array([1, 2, 3], dtype=np.uint32))
    second = write_segment(tmp_path, np.array([4, 5], dtype=np.uint32))
    assert first.segment == second.segment and (first.start, second.start) == (0, 3)
    store = ShingleStore(tmp_path)
    store.add(first, np.array([1, 2]))
    store.add(second, np.array([2]))
    store.append(np.array([9], dtype=np.uint32))
    data, starts, ends = store.fetch(np.array([3, 1, 2, 0]))
    got = [data[s:e].tolist() for s, e in zip(starts, ends, strict=True)]
    assert got == [[9], [2, 3], [4, 5], [1]]


def test_fetch_nothing_and_truncated_segment(tmp_path: Path) -> None:
    store = ShingleStore(tmp_path)
    store.add(write_segment(tmp_path, np.arange(4, dtype=np.uint32)), np.array([4, 2]))
    data, starts, ends = store.fetch(np.empty(0, dtype=np.int64))
    assert data.size == 0 and starts.size == 0 and ends.size == 0
    with pytest.raises(OSError, match="end of segment"):
        store.fetch(np.array([1]))  # recorded past what the file holds


def test_no_batches_after_reading(tmp_path: Path) -> None:
    store = ShingleStore(tmp_path)
    store.append(np.array([1], dtype=np.uint32))
    store.sizes()
    with pytest.raises(RuntimeError):
        store.append(np.array([2], dtype=np.uint32))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 19), max_size=40))
def test_fetch_any_selection(tmp_path_factory: pytest.TempPathFactory, picks: list[int]) -> None:
    tmp = tmp_path_factory.mktemp("store")
    sets = _sets(np.random.default_rng(1), 20)
    store = ShingleStore(tmp)
    for s in sets:
        store.append(s)
    docs = np.unique(np.array(picks, dtype=np.int64))
    data, starts, ends = store.fetch(docs)
    assert [data[s:e].tolist() for s, e in zip(starts, ends, strict=True)] == [
        sets[d].tolist() for d in docs
    ]


def test_append_bytes_larger_than_a_write_reads_back(tmp_path: Path) -> None:
    from dedup.io.writers import WRITE_CHUNK
    from dedup.store import append_bytes, read_bytes

    first = bytes(range(256)) * (WRITE_CHUNK // 100)  # several writes, the last one partial
    second = b"tail"
    a = append_bytes(tmp_path, "spool", first)
    b = append_bytes(tmp_path, "spool", memoryview(second))
    assert (a.segment, a.start, b.start) == (b.segment, 0, len(first))
    assert read_bytes(tmp_path, a, len(first)) == first
    assert read_bytes(tmp_path, b, len(second)) == second
    with pytest.raises(OSError, match="unexpected end"):
        read_bytes(tmp_path, b, len(second) + 1)


@pytest.mark.parametrize("scratch", [4, 64, 1 << 23])
def test_fetch_with_gaps_through_any_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scratch: int
) -> None:
    # Sets a few apart are read with the gaps between them, through a buffer of `scratch`
    # bytes (refilled, or grown for a longer read): what comes out is only the sets asked.
    import dedup.store

    monkeypatch.setattr(dedup.store, "_SCRATCH", scratch)
    rng = np.random.default_rng(4)
    sets = _sets(rng, 60)
    store = ShingleStore(tmp_path)
    for lo in range(0, 60, 20):
        store.add(
            write_segment(tmp_path, np.concatenate(sets[lo : lo + 20])),
            _lengths(sets[lo : lo + 20]),
        )
    for _ in range(20):
        docs = np.unique(rng.integers(0, 60, int(rng.integers(1, 40))))
        data, starts, ends = store.fetch(docs)
        assert data.size == sum(sets[d].size for d in docs)
        assert [data[s:e].tolist() for s, e in zip(starts, ends, strict=True)] == [
            sets[d].tolist() for d in docs
        ]


def _lengths(sets: list[np.ndarray]) -> np.ndarray:
    return np.array([s.size for s in sets])


def test_runs_cover_the_documents_within_budget_and_at_cuts(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    sets = _sets(rng, 40)
    store = ShingleStore(tmp_path)
    for s in sets:
        store.append(s)
    docs = rng.permutation(40)
    sizes = np.array([sets[d].size * 4 for d in docs])
    cuts = np.array([0, 3, 4, 10, 22, 23, 40])
    for budget in (1, 200, 1000, 1 << 20):
        plain = list(store.runs(docs, budget))
        cut = list(store.runs(docs, budget, cuts))
        for runs in (plain, cut):
            assert [lo for lo, _ in runs] == [0] + [hi for _, hi in runs[:-1]]
            assert runs[-1][1] == 40
        # A run is over budget only when it holds a single set (or a single part).
        assert all(hi - lo == 1 or sizes[lo:hi].sum() <= budget for lo, hi in plain)
        assert all(hi in cuts for _, hi in cut)
        assert all(
            sizes[lo:hi].sum() <= budget
            or np.searchsorted(cuts, hi) - np.searchsorted(cuts, lo) == 1
            for lo, hi in cut
        )
    assert len(list(store.runs(docs, 1 << 20))) == 1
    assert len(list(store.runs(docs, 1, cuts))) == len(cuts) - 1
    assert list(store.runs(docs[:0], 100)) == []
