"""Where the executors of a distributed run write their part files (the "parts" layout,
`io.outdir.part_name`): a folder given as a local path (on a cluster, one every machine
mounts), a file: URI, or another URI reached through pyarrow's file systems (hdfs://, which
needs libhdfs, and s3a://, read as s3://). Each file is written under a temporary name and
renamed when complete, as the driver's writers do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from ..errors import OutputError
from .outdir import LocalFolder
from .parquet import ParquetSink, pyarrow


def part_folder(target: str) -> LocalFolder | ArrowDir:
    """The folder `target` (a local path or a URI) as executors write into it."""
    parts = urlsplit(target)
    if "://" not in target:
        return LocalFolder(Path(target))
    if parts.scheme == "file":
        return LocalFolder(Path(unquote(parts.path)))
    return ArrowDir(target)


@dataclass(frozen=True)
class ArrowDir:
    """A folder on a file system pyarrow reaches (`pyarrow.fs.FileSystem.from_uri`)."""

    uri: str

    def _fs(self) -> tuple[Any, str]:
        pyarrow()
        from pyarrow import fs

        uri = "s3://" + self.uri[len("s3a://") :] if self.uri.startswith("s3a://") else self.uri
        try:
            return fs.FileSystem.from_uri(uri)
        except Exception as e:  # ArrowInvalid, OSError: no libhdfs, unknown scheme
            raise OutputError(f"{self.uri}: executors cannot write here ({e})") from e

    @contextmanager
    def binary(self, name: str) -> Iterator[BinaryIO]:
        fs, root = self._fs()
        head, _, tail = name.rpartition("/")
        final = f"{root.rstrip('/')}/{name}"
        tmp = f"{root.rstrip('/')}/{head + '/' if head else ''}.{tail}.partial"
        try:
            with fs.open_output_stream(tmp) as f:
                yield f
            fs.move(tmp, final)
        finally:
            if fs.get_file_info(tmp).type != 0:  # FileType.NotFound
                fs.delete_file(tmp)

    def parquet(self, name: str, schema: Any, text_field: str) -> ParquetSink:
        return ParquetSink(Path(name), schema, text_field, opener=self._opener)

    def _opener(self, path: Path) -> AbstractContextManager[BinaryIO]:
        return self.binary(path.as_posix())

    def rename(self, name: str, to: str) -> None:
        fs, root = self._fs()
        fs.move(f"{root.rstrip('/')}/{name}", f"{root.rstrip('/')}/{to}")
