"""Tables built from data files (the per-character fold, OpenCC's phrase tables), kept on
disk between runs: building them costs more CPU than the rest of a small run.

The folder is $DEDUP_CACHE_DIR, else $XDG_CACHE_HOME/dedup, else ~/.cache/dedup. A table is
stored under a key that names everything it is built from (the code that builds it, the data
files, the Unicode version, its options), so a change to any of them builds it again. A folder
that cannot be written, or a damaged file, only costs building the table.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

Arrays = dict[str, np.ndarray]


def cache_dir() -> Path:
    """Where tables (and nothing else of dedup's) are cached."""
    given = os.environ.get("DEDUP_CACHE_DIR")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dedup"


def cached(
    name: str, sources: Iterable[bytes], options: str, build: Callable[[], Arrays]
) -> Arrays:
    """The arrays `build` returns, from the cache when an earlier run stored them for the same
    `sources` (the contents they are built from) and `options`."""
    key = hashlib.sha256()
    for part in (name, options, unicodedata.unidata_version, sys.version, np.__version__):
        key.update(part.encode() + b"\0")
    for data in sources:
        key.update(hashlib.sha256(data).digest())
    path = cache_dir() / f"{name}-{key.hexdigest()[:24]}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {k: stored[k] for k in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        pass
    arrays = build()
    _store(path, arrays)
    return arrays


def _store(path: Path, arrays: Arrays) -> None:
    """Write atomically (runs at once may race; each file is whole or absent); a folder that
    cannot be written is left alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, allow_pickle=False, **arrays)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
