"""dedup: find every version of the same article in a Chinese web-text corpus.

>>> from dedup import Config, Doc, deduplicate
>>> result = deduplicate([Doc("a", "..."), Doc("b", "...")], Config())

Names are imported on first use so that `import dedup` (and `dedup --help`) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "deduplicate": "pipeline",
    "run": "pipeline",
    "run_spark": "spark",
    "Config": "config",
    "ReadConfig": "config",
    "NormalizeConfig": "config",
    "ShingleConfig": "config",
    "SignatureConfig": "config",
    "LSHConfig": "config",
    "VerifyConfig": "config",
    "ClusterConfig": "config",
    "Doc": "types",
    "Skip": "types",
    "Cluster": "types",
    "Member": "types",
    "Result": "types",
    "DedupError": "errors",
    "InputError": "errors",
    "ConfigError": "errors",
    "AccountingError": "errors",
    "normalize": "normalize",
    "read_inputs": "io",
    "DedupIndex": "stream",
    "Deduplicator": "stream",
    "DedupStep": "stream",
    "PersistentIndex": "stream",
    "IndexStoreError": "persist",
    "ProgressEvent": "progress",
    "ProgressCallback": "progress",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .config import (
        ClusterConfig,
        Config,
        LSHConfig,
        NormalizeConfig,
        ReadConfig,
        ShingleConfig,
        SignatureConfig,
        VerifyConfig,
    )
    from .errors import AccountingError, ConfigError, DedupError, InputError
    from .io import read_inputs
    from .normalize import normalize
    from .persist import IndexStoreError
    from .pipeline import deduplicate, run
    from .progress import ProgressCallback, ProgressEvent
    from .spark import run_spark
    from .stream import DedupIndex, Deduplicator, DedupStep, PersistentIndex
    from .types import Cluster, Doc, Member, Result, Skip


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dedup' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
