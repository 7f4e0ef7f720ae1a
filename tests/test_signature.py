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
