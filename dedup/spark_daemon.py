"""PySpark's Python worker daemon with dedup's stages loaded first (`spark.python.daemon.module`):
Spark forks every Python worker of an executor from this daemon, and a task that leaves its
iterator unfinished (take, isEmpty, toLocalIterator) costs a fresh fork; each fork then starts
with dedup imported and its compiled (numba) functions loaded, instead of spending seconds on
that itself.

    python -m dedup.spark_daemon
"""

from __future__ import annotations

from contextlib import suppress


def warm() -> None:
    """Import the stages the executors run and load their compiled code with a tiny batch."""
    from . import cluster, lsh, repeats, verify  # noqa: F401
    from .config import Config
    from .sign import sign_texts

    c = Config()
    sign_texts(["预热一下，这是一段很短的文字。"], c.normalize, c.shingle, c.signature).sets()


def main() -> None:
    from pyspark import daemon

    # Should dedup fail to load here, each worker meets (and reports) the error itself.
    with suppress(Exception):
        warm()
    daemon.manager()


if __name__ == "__main__":
    main()
