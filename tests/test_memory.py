from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dedup.memory import release_freed


def _resident_anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_memory_goes_back() -> None:
    # Arrays below malloc's mmap threshold come from the heap; freed behind one that is
    # still held, they stay resident until given back.
    small = [np.ones(8192, dtype=np.float64) for _ in range(3000)]  # 64 KiB each, 190 MiB
    pin = np.ones(8192, dtype=np.float64)
    del small
    before = _resident_anon()
    if not release_freed():
        pytest.skip("no malloc_trim in this C library")
    assert before - _resident_anon() > 100 << 20
    assert pin.sum() == 8192  # what is held is untouched
