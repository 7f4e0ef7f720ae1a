"""OUTDIR on any Hadoop file system (hdfs://, s3a://, file://, ...), through the Hadoop
FileSystem API of a running Spark JVM: the `io.outdir.Folder` interface, written as a local
OUTDIR is: each file under a hidden temporary name, streamed in chunks, then renamed to its
name when complete.

On object stores (s3a://) a rename is a copy: a file still appears under its name only once
complete, but not in one step.

The lock that keeps a second run out is a file, OUTDIR/.dedup-lock, created only if it is not
there (atomic on HDFS; on S3 a check then a write) and removed when the run ends. A run that
was killed leaves it behind: the next run's message names it, to be removed by hand once no
run is writing.
"""

from __future__ import annotations

import io
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import OutputError
from .outdir import LOCK, busy
from .parquet import ParquetSink

_CHUNK = 1 << 20  # bytes handed to the JVM per call


def is_uri(path: str | Path) -> bool:
    """Whether an INPUT or OUTDIR is a Hadoop URI (scheme://...) rather than a local path."""
    return "://" in str(path)


@contextmanager
def _java(where: str, what: str) -> Iterator[None]:
    """A Java exception (permission, quota, unreachable name node) as an OutputError."""
    from py4j.protocol import Py4JJavaError

    try:
        yield
    except Py4JJavaError as e:
        raise OutputError(f"{where}: {what}: {e.java_exception.toString()}") from e


class _JavaStream(io.RawIOBase):
    """A writable binary stream over a Java OutputStream; `tell` counts the bytes written
    (the Parquet writer records offsets with it)."""

    def __init__(self, out: Any, where: str) -> None:
        super().__init__()
        self._out = out
        self._where = where
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        with _java(self._where, "cannot write"):
            self._out.write(data)  # py4j passes bytes as a Java byte[]
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            try:
                with _java(self._where, "cannot write"):
                    self._out.close()
            finally:
                super().close()


class HadoopDir:
    """An OUTDIR given as a Hadoop URI, reached through `spark`'s JVM and its Hadoop
    configuration (credentials, `fs.*` settings: whatever Spark itself uses)."""

    def __init__(self, spark: Any, uri: str) -> None:
        sc = spark.sparkContext
        self.uri = uri
        self._path_cls: Callable[..., Any] = sc._jvm.org.apache.hadoop.fs.Path
        self._io = sc._jvm.org.apache.commons.io.IOUtils
        self._root = self._path_cls(uri)
        with _java(uri, "cannot open"):
            self._fs = self._root.getFileSystem(sc._jsc.hadoopConfiguration())
        self.local: Path | None = None  # not a local folder: no report is written here

    def _path(self, name: str) -> Any:
        return self._path_cls(self._root, name)

    def _where(self, name: str) -> str:
        return self.uri.rstrip("/") + "/" + name

    def mkdir(self) -> None:
        with _java(self.uri, "cannot prepare the output folder"):
            self._fs.mkdirs(self._root)

    def names(self) -> list[str]:
        with _java(self.uri, "cannot list the output folder"):
            return sorted(str(st.getPath().getName()) for st in self._fs.listStatus(self._root))

    def exists(self, name: str) -> bool:
        with _java(self._where(name), "cannot look up"):
            return bool(self._fs.exists(self._path(name)))

    def read(self, name: str) -> bytes | None:
        path = self._path(name)
        with _java(self._where(name), "cannot read"):
            if not self._fs.isFile(path):
                return None
            stream = self._fs.open(path)
            try:  # small files only (the manifest): one byte[] through py4j
                return bytes(self._io.toByteArray(stream))
            finally:
                stream.close()

    def remove(self, name: str) -> None:
        """Remove a file, or a folder that is empty, if it is there."""
        path = self._path(name)
        with _java(self._where(name), "cannot remove"):
            if self._fs.exists(path) and (
                not self._fs.getFileStatus(path).isDirectory() or not self._fs.listStatus(path)
            ):
                self._fs.delete(path, False)

    def remove_tree(self, name: str) -> None:
        """Remove one of dedup's temporary folders with what it holds."""
        with _java(self._where(name), "cannot remove"):
            self._fs.delete(self._path(name), True)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """OUTDIR/.dedup-lock, created only if it is not there, for as long as the block
        runs; it says who holds it."""
        from py4j.protocol import Py4JJavaError

        path, where = self._path(LOCK), self._where(LOCK)
        holder = f"pid {os.getpid()} on {socket.gethostname()} since {time.ctime()}\n"
        try:
            out = self._fs.create(path, False)
        except Py4JJavaError as e:
            if not self._fs.exists(path):
                raise OutputError(f"{where}: cannot write: {e.java_exception.toString()}") from e
            raise OutputError(
                f"{busy(self.uri)} (or one was killed: then remove {where})"
            ) from None
        try:
            with _java(where, "cannot write"):
                out.write(holder.encode())
                out.close()
            yield
        finally:
            with _java(where, "cannot remove"):
                self._fs.delete(path, False)

    @contextmanager
    def binary(self, name: str) -> Iterator[BinaryIO]:
        """A binary stream to write `name` through: a temporary sibling, renamed over `name`
        when the block ends without error, removed otherwise."""
        head, _, tail = name.rpartition("/")
        partial = f"{head}/.{tail}.partial" if head else f".{tail}.partial"
        fs, final, tmp = self._fs, self._path(name), self._path(partial)
        where = self._where(name)
        try:
            with _java(where, "cannot write"):
                raw = _JavaStream(fs.create(tmp, True), where)
            with io.BufferedWriter(raw, _CHUNK) as f:
                yield f
            with _java(where, "cannot rename the finished file"):
                fs.delete(final, False)  # rename never replaces a file on HDFS
                if not fs.rename(tmp, final):
                    raise OutputError(f"{where}: the finished file was not renamed")
        finally:
            with _java(where, "cannot remove the partial file"):
                if fs.exists(tmp):
                    fs.delete(tmp, False)

    def parquet(self, name: str, schema: Any, text_field: str) -> ParquetSink:
        """A ParquetSink writing `name` here."""
        return ParquetSink(Path(name), schema, text_field, opener=self._opener)

    def _opener(self, path: Path) -> AbstractContextManager[BinaryIO]:
        return self.binary(path.as_posix())

    def rename(self, name: str, to: str) -> None:
        """Move a finished file (rename never replaces a file on HDFS: the old one goes)."""
        fs, final, where = self._fs, self._path(to), self._where(to)
        with _java(where, "cannot rename the finished file"):
            fs.mkdirs(final.getParent())
            fs.delete(final, False)
            if not fs.rename(self._path(name), final):
                raise OutputError(f"{where}: the finished file was not renamed")
