"""Append-only, disk-backed store of every document's shingle hashes.

Verification needs the exact shingle sets of candidate pairs, but holding every set in memory
grows with the text (4 bytes per character). The sets go to one file as they are produced and
are read back through a memory map for the few documents that are candidates.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np


class ShingleStore:
    """Write sets with `append`, then `freeze` to get (data, offsets) for verification."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = open(path, "wb")  # noqa: SIM115 (closed in freeze)
        self._offsets: list[int] = [0]
        self._data: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def append(self, shingles: np.ndarray) -> None:
        if self._file is None:
            raise RuntimeError("store is frozen")
        arr = np.ascontiguousarray(shingles, dtype=np.uint32)
        self._file.write(arr.tobytes())
        self._offsets.append(self._offsets[-1] + arr.size)

    def freeze(self) -> tuple[np.ndarray, np.ndarray]:
        """Close for writing; return the concatenated hashes (memory-mapped) and offsets."""
        if self._file is not None:
            self._file.close()
            self._file = None
            total = self._offsets[-1]
            self._data = (
                np.memmap(self.path, dtype=np.uint32, mode="r", shape=(total,))
                if total
                else np.empty(0, dtype=np.uint32)
            )
        assert self._data is not None
        return self._data, np.asarray(self._offsets, dtype=np.int64)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._data = None
