from __future__ import annotations

import numpy as np
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.config import SignatureConfig
from dedup.normalize import normalize
from dedup.shingle import shingles
from dedup.signature import minhash, minhash_many


def test_identical_to_datasketch(seed_texts: dict[str, str]) -> None:
    for seed, num_perm in [(1, 128), (7, 64)]:
        cfg = SignatureConfig(num_perm=num_perm, seed=seed)
        sh = shingles(normalize(seed_texts["001_096293c0fedcb6b3.txt"]))
        m = MinHash(num_perm=num_perm, seed=seed, hashfunc=int)
        m.update_batch(sh.tolist())
        assert np.array_equal(m.hashvalues, minhash(sh, cfg))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=300, unique=True))
def test_datasketch_property(values: list[int]) -> None:
    m = MinHash(num_perm=32, seed=3, hashfunc=int)
    m.update_batch(values)
    ours = minhash(np.array(sorted(values), dtype=np.uint32), SignatureConfig(32, 3))
    assert np.array_equal(m.hashvalues, ours)


def test_estimate_tracks_jaccard(seed_texts: dict[str, str]) -> None:
    a = shingles(normalize(seed_texts["000_fa5b47ae513dff0c.txt"]))
    b = shingles(normalize(seed_texts["001_096293c0fedcb6b3.txt"]))
    exact = np.intersect1d(a, b).size / np.union1d(a, b).size
    sigs = minhash_many([a, b], SignatureConfig(num_perm=512))
    estimate = float(np.mean(sigs[0] == sigs[1]))
    assert abs(estimate - exact) < 0.08


def test_seed_changes_permutations() -> None:
    sh = shingles("一二三四五六七八九十")
    assert not np.array_equal(
        minhash(sh, SignatureConfig(seed=1)), minhash(sh, SignatureConfig(seed=2))
    )


def _reference(values: np.ndarray, cfg: SignatureConfig) -> np.ndarray:
    """min over the set of fmix32(h) * a + b (mod 2^32), in plain numpy."""
    from dedup.signature import permutations

    a, b = permutations(cfg)
    x = values.astype(np.uint64)
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35), (16, None)):
        x ^= x >> np.uint64(shift)
        if mult is not None:
            x = (x * np.uint64(mult)) & np.uint64(0xFFFFFFFF)
    v = (x[:, None] * a.astype(np.uint64)[None, :] + b.astype(np.uint64)) & np.uint64(0xFFFFFFFF)
    return (
        v.min(axis=0).astype(np.uint32) if values.size else np.full(a.size, 0xFFFFFFFF, np.uint32)
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**32 - 1), max_size=11), max_size=6))
def test_batched_signatures_equal_a_plain_computation(sets: list[list[int]]) -> None:
    cfg = SignatureConfig(num_perm=16, seed=5)
    arrays = [np.array(s, dtype=np.uint32) for s in sets]
    got = minhash_many(arrays, cfg)
    assert got.shape == (len(sets), 16)
    for row, arr in zip(got, arrays, strict=True):
        assert np.array_equal(row, _reference(arr, cfg))
