"""Normalize, shingle and MinHash a batch of texts: the per-batch work every engine runs (in a
worker process, a Spark task, or a batch of a stream)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .config import NormalizeConfig, ShingleConfig, SignatureConfig
from .normalize import normalize_measured, tables
from .shingle import shingle_batch
from .signature import minhash_concatenated
from .store import Extent
from .types import Figures


@dataclass(frozen=True)
class Signed:
    """A signed batch: one signature row, shingle count and `Figures` (normalized length, the
    noise normalization removed, ...) per text, the batch's shingle sets back to back (or,
    once a worker stored them, where they went), the UTF-8 size of the texts, and the CPU
    seconds spent normalizing and shingling + signing."""

    sigs: np.ndarray
    shingles: np.ndarray
    sizes: np.ndarray
    figures: Figures
    input_bytes: int
    normalize_s: float
    sign_s: float
    extent: Extent | None = None

    @property
    def lengths(self) -> np.ndarray:
        """The normalized length of each text."""
        return self.figures.length

    def sets(self) -> list[np.ndarray]:
        """The shingle set of each text (while they are held here)."""
        return np.split(self.shingles, np.cumsum(self.sizes)[:-1]) if self.sizes.size else []


def sign_texts(
    texts: list[str],
    normalize: NormalizeConfig,
    shingle: ShingleConfig,
    signature: SignatureConfig,
) -> Signed:
    """Normalize, shingle and sign a batch of texts."""
    t0 = time.perf_counter()
    normalized, bounds, figures = normalize_measured(texts, normalize)
    t1 = time.perf_counter()
    cls = tables(normalize).cls
    shingles, sizes = shingle_batch(normalized, bounds, cls, shingle.ngram)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    sigs = minhash_concatenated(shingles, offsets, signature)
    nbytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    return Signed(sigs, shingles, sizes, figures, nbytes, t1 - t0, time.perf_counter() - t1)
