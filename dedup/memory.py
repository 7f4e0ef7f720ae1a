"""Giving memory that a stage freed back to the system before the next stage allocates.

glibc's malloc keeps freed memory in its heap for reuse and returns it to the system only at
the heap's top. numpy arrays below malloc's mmap threshold (128 KiB, raised up to 32 MiB as
larger arrays are freed) come from that heap: at a million documents, the signature batches
the workers send, freed once LSH has them in one array, and the temporary arrays of the
repeated-text pass left about 0.5 GiB resident but unused through verification, where the
run's memory peaks. `release_freed` hands every free page of the heap back (glibc's
`malloc_trim`: a few hundredths of a CPU-second then); elsewhere it does nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where there is none (another C library, another OS)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed() -> bool:
    """Return the free pages of this process's heap to the system; False where it cannot.
    What the process holds is unchanged: only its resident size falls."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
