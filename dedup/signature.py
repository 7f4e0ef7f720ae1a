"""MinHash signatures, identical to datasketch's default scheme ("affine32").

For shingle hash h and permutation k: fmix32(h) * a_k + b_k (mod 2^32), minimum over the
shingles. The permutations come from `numpy.random.RandomState(seed)` exactly as datasketch
draws them, so `datasketch.MinHash(num_perm, seed, hashfunc=<our shingle hash>)` fed the same
shingles holds the same hash values, and our signatures load into datasketch's indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
from numba import njit

from .config import SignatureConfig


@cache
def permutations(cfg: SignatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) parameters datasketch draws for MinHash(num_perm, seed) in affine32."""
    gen = np.random.RandomState(cfg.seed)
    a = gen.randint(0, 1 << 31, cfg.num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, cfg.num_perm, dtype=np.uint64).astype(np.uint32)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


@njit(cache=True)
def _minhash_into(h: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    # Permutations in the inner loop: contiguous 32-bit lanes that LLVM vectorises.
    mins = np.full(a.size, np.uint32(0xFFFFFFFF), dtype=np.uint32)
    for i in range(h.size):
        x = np.uint32(h[i])
        x ^= x >> np.uint32(16)
        x = np.uint32(x * np.uint32(0x85EBCA6B))
        x ^= x >> np.uint32(13)
        x = np.uint32(x * np.uint32(0xC2B2AE35))
        x ^= x >> np.uint32(16)
        for k in range(a.size):
            v = np.uint32(a[k] * x + b[k])
            if v < mins[k]:
                mins[k] = v
    out[:] = mins


def minhash(shingle_hashes: np.ndarray, cfg: SignatureConfig = SignatureConfig()) -> np.ndarray:
    """The MinHash signature (uint32[num_perm]) of one shingle set."""
    a, b = permutations(cfg)
    out = np.empty(cfg.num_perm, dtype=np.uint32)
    _minhash_into(np.ascontiguousarray(shingle_hashes, dtype=np.uint32), a, b, out)
    return out


def minhash_many(
    sets: Sequence[np.ndarray], cfg: SignatureConfig = SignatureConfig()
) -> np.ndarray:
    """Signatures of several shingle sets, one row each."""
    a, b = permutations(cfg)
    out = np.empty((len(sets), cfg.num_perm), dtype=np.uint32)
    for i, s in enumerate(sets):
        _minhash_into(np.ascontiguousarray(s, dtype=np.uint32), a, b, out[i])
    return out
