"""Whether the compiled code is cached yet. Every compiled function (numba, `cache=True`) is
compiled on the first run after installing or upgrading and read from numba's cache after:
`__pycache__` next to each module or, where that cannot be written, a folder in the user's
cache (`NUMBA_CACHE_DIR` overrides both). The CLI asks `cold` to say, once, why the first
run takes longer.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

# The modules whose compiled functions a local run calls.
MODULES = ("normalize", "phrases", "shingle", "signature", "lsh", "repeats", "verify", "cluster")


def cold(modules: tuple[str, ...] = MODULES) -> bool:
    """True when one of `modules` (names inside this package) has none of its compiled
    functions in numba's cache: the run will compile them. (Per module, not per function:
    a function inlined into others, or only called from compiled code, is cached inside
    its callers, never alone; and numba keys a module's cache on its source file.)"""
    from numba.core.dispatcher import Dispatcher

    for name in modules:
        module = importlib.import_module(f"{__package__}.{name}")
        compiled = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, Dispatcher) and obj.py_func.__module__ == module.__name__
        ]
        if compiled and not any(_cached(f) for f in compiled):
            return True
    return False


def skip_blas_probe() -> None:
    """Load numba's array support without its probe for a BLAS: to learn whether compiled
    code may call np.dot, numba imports scipy.linalg, about 0.3 s of CPU, a third of a small
    run, and dedup's compiled code does no linear algebra. For processes dedup owns (the
    CLI): later compiled code in the process is told there is no BLAS."""
    blas = "scipy.linalg.cython_blas"
    if "numba.np.arraymath" in sys.modules or blas in sys.modules:
        return
    sys.modules[blas] = None  # type: ignore[assignment]  # importing it fails at once
    try:
        importlib.import_module("numba.np.arraymath")
    finally:
        del sys.modules[blas]


def _cached(dispatcher: Any) -> bool:
    """Whether numba's cache holds a compiled version of `dispatcher` for its current source
    (numba's own index; if numba changes how it keeps it, assume it does)."""
    try:
        return bool(dispatcher._cache._cache_file._load_index())
    except Exception:
        return True
