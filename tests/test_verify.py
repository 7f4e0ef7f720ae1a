from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dedup.config import VerifyConfig
from dedup.store import ShingleStore
from dedup.verify import _chunks, is_match, similarities, similarities_to, stored_similarities


def _store(*sets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    arrays = [np.array(sorted(s), dtype=np.uint32) for s in sets]
    offsets = np.cumsum([0] + [a.size for a in arrays]).astype(np.int64)
    return np.concatenate(arrays), offsets


def test_exact_jaccard_and_containment() -> None:
    data, offsets = _store([1, 2, 3, 4], [3, 4, 5, 6, 7, 8], [1, 2])
    jac, con = similarities(data, offsets, np.array([[0, 1], [0, 2], [1, 2]]))
    assert jac.tolist() == [2 / 8, 2 / 4, 0.0]
    assert con.tolist() == [2 / 4, 1.0, 0.0]


def test_match_by_either_criterion() -> None:
    cfg = VerifyConfig(threshold=0.7, containment=0.8)
    mask = is_match(np.array([0.75, 0.3, 0.3]), np.array([0.75, 0.9, 0.5]), cfg)
    assert mask.tolist() == [True, True, False]


@pytest.mark.parametrize("budget", [1, 64, 1 << 27])
def test_stored_similarities_match_in_memory(tmp_path: Path, budget: int) -> None:
    rng = np.random.default_rng(3)
    sets = [np.unique(rng.integers(0, 60, rng.integers(1, 40))) for _ in range(25)]
    store = ShingleStore(tmp_path)
    for s in sets:
        store.append(s)
    data, offsets = _store(*[s.tolist() for s in sets])
    pairs = np.array([(i, j) for i in range(25) for j in range(i + 1, 25) if (i * j) % 3 == 0])
    want = similarities(data, offsets, pairs)
    got = stored_similarities(store, pairs, budget=budget)
    assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
    assert stored_similarities(store, np.empty((0, 2), dtype=np.int64))[0].size == 0


def test_chunks_cover_pairs_within_budget() -> None:
    cost = np.array([5, 5, 20, 1, 1, 1, 9])
    chunks = _chunks(cost, 10)
    assert chunks == [(0, 2), (2, 3), (3, 6), (6, 7)]
    assert _chunks(np.empty(0, dtype=np.int64), 10) == []


def test_similarities_to_reuses_candidates_and_reads_the_rest(tmp_path: Path) -> None:
    sets = [np.array(s, dtype=np.uint32) for s in ([1, 2, 3], [2, 3, 4], [3, 4, 5], [7])]
    store = ShingleStore(tmp_path)
    for s in sets:
        store.append(s)
    # (0, 1) is known with a deliberately wrong value, to show it is reused; (0, 2) and
    # (3, 0) are read from the store.
    known = (np.array([[0, 1], [1, 2]]), np.array([0.25, 0.5]), np.array([0.125, 0.5]))
    jac, con = similarities_to(np.array([0, 0, 3]), np.array([1, 2, 0]), store, known)
    assert jac.tolist() == [0.25, 0.2, 0.0] and con.tolist() == [0.125, 1 / 3, 0.0]
