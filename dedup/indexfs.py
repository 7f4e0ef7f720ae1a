"""Where the files of a persistent index (persist.py) live, behind one interface: a local
folder (`LocalDir`) or a folder on a file system reached through `pyarrow.fs` (`RemoteDir`:
hdfs://, s3a://, and any scheme pyarrow or fsspec knows).

A local folder is used as it always was: segments memory-mapped, the manifest written to a
temporary file and renamed over `manifest.json`, and the one writer's lock an flock on
`.lock`, released by the kernel when its writer dies.

A remote folder cannot be memory-mapped, renamed over, or flocked, so:
- segments are copied through input streams into local temporary files and memory-mapped
  there, the files unlinked at once (page cache, as a local folder's maps, not memory), and
  written in a local temporary folder, then copied into `seg-NNNNNN/`
  (a folder no manifest lists yet: a copy cut short is a leftover the next writer removes);
- each commit writes a new manifest, `manifest-NNNNNN.json` (NNNNNN one more than the
  current one), under a temporary name, then moves it into place. On HDFS a move is an atomic
  rename; on object stores (s3a://) it is a copy, and the object appears whole or not at all.
  Readers take the highest-numbered manifest that is complete JSON, so a manifest torn by a
  file system that does not honour either leaves the previous one in force. The two newest
  are kept, older ones removed;
- the writer's lock is a claim file, `.lock-HOST-PID-TIME`, holding its owner, host, pid and
  time: a writer writes its claim, then lists the claims; any other claim (even one written
  a moment later) and it removes its own and is refused, naming the holder. Two writers
  starting together may both be refused, never both admitted (this needs a listing that
  shows every file written before it, as HDFS and S3 give). A writer killed hard leaves its
  claim: `dedup index unlock IDX` removes it (`RemoteDir.break_lock`).

Both read either manifest: `manifest.json` when present, else the highest complete
`manifest-NNNNNN.json`; so an index copied between a local folder and HDFS opens and
grows on both sides (a writer of one kind that finds the other's manifest switches it
atomically: the local writer renames `manifest.json` into place, the remote one removes
`manifest.json` after writing its numbered manifest).
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import DedupError, shown
from .segment import Segment, one_batch, pyarrow

MANIFEST = "manifest.json"
LOCK = ".lock"
TMP = ".tmp-"
_NUMBERED = re.compile(r"manifest-(\d{6,})\.json")
_CLAIM = ".lock-"
_CHUNK = 1 << 22  # bytes copied at a time to a remote file system
_KEEP = 2  # numbered manifests kept: a reader that listed just before a commit still reads


class IndexStoreError(DedupError):
    """An index that cannot be used: missing, damaged, held by another writer, or made with
    other options; names the index."""


def is_remote(given: str | Path) -> bool:
    """Whether an index given as `given` is reached through pyarrow.fs (a URI other than
    file:), not a local folder."""
    text = str(given)
    return "://" in text and not (
        urlsplit(text).scheme == "file" and urlsplit(text).netloc in ("", "localhost")
    )


def local_path(given: str | Path) -> Path:
    """The folder of a local index given as a path or a file: URI."""
    text = str(given)
    return Path(unquote(urlsplit(text).path)) if "://" in text else Path(given)


def open_dir(given: str | Path) -> LocalDir | RemoteDir:
    """The folder of the index given as `given`: a local path or file: URI, or another URI."""
    return RemoteDir(str(given)) if is_remote(given) else LocalDir(local_path(given))


def _current(names: Iterable[str], read: Callable[[str], str]) -> tuple[str | None, int]:
    """The text of the manifest in force among the files `names` (`read` one by name;
    FileNotFoundError: it was removed since the listing) and the highest manifest number
    there (0: none): manifest.json when there is one, else the highest-numbered complete
    manifest-NNNNNN.json."""
    numbered = sorted(
        ((int(m.group(1)), n) for n in names if (m := _NUMBERED.fullmatch(n))), reverse=True
    )
    top = numbered[0][0] if numbered else 0
    if MANIFEST in names:
        return read(MANIFEST), top
    for _, name in numbered:
        text = read(name)
        try:
            json.loads(text)
        except ValueError:
            continue  # torn by a file system whose moves are not atomic: the one before
        return text, top
    return None, top


# --- a local folder -----------------------------------------------------------------------


def _write_text(path: Path, text: str) -> None:
    """Write `text` to a temporary file, flushed to disk, then renamed over `path`."""
    tmp = path.with_name(f"{TMP}{os.getpid()}-{path.name}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalDir:
    """An index in a local folder: segments memory-mapped, the manifest renamed over, an
    flock for the one writer."""

    remote = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self._fd: int | None = None

    def absolute(self) -> str:
        return str(self.path.absolute())

    def exists(self) -> bool:
        return self.path.exists()

    def manifest(self) -> str | None:
        """The text of the manifest in force (None: there is none); NotADirectoryError
        when the index is a file."""
        try:
            return (self.path / MANIFEST).read_text(encoding="utf-8")
        except FileNotFoundError:
            if not self.path.is_dir():
                return None
        # An index copied from a remote file system: its numbered manifests.
        names = [p.name for p in self.path.iterdir()]
        return _current(names, lambda n: (self.path / n).read_text(encoding="utf-8"))[0]

    def commit(self, text: str) -> None:
        """Make `text` the manifest in force, atomically."""
        _write_text(self.path / MANIFEST, text)
        for p in self.path.glob("manifest-*.json"):  # a copied index's numbered manifests
            if _NUMBERED.fullmatch(p.name):
                p.unlink()

    def lock(self) -> None:
        """Take the one writer's lock (the folder made when missing)."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IndexStoreError(
                f"index {shown(self.where)} is being written by another run; wait for it to finish"
            ) from None
        self._fd = fd

    def unlock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def break_lock(self) -> list[str]:
        """Nothing to break: an flock ends with the process that held it."""
        return []

    def clear_leftovers(self, listed: list[str]) -> None:
        """Remove what a writer killed before its commit left: folders no manifest lists."""
        for p in self.path.iterdir():
            if (p.name.startswith("seg-") and p.name not in listed) or p.name.startswith(TMP):
                shutil.rmtree(p) if p.is_dir() else p.unlink()

    def staging(self, name: str) -> Path:
        """Where a new segment `name` is written (a new folder, made by the writer) before
        `install`."""
        return self.path / f"{TMP}{os.getpid()}-{name}"

    def install(self, staged: Path, name: str) -> None:
        """Put the written segment `staged` in place as `name` (not yet listed)."""
        os.rename(staged, self.path / name)
        _sync_dir(self.path)

    def segment(self, name: str) -> Segment:
        """The segment (or a run's part) at `name` in the index, memory-mapped."""
        return Segment(self.path / name)

    def remove(self, name: str) -> None:
        shutil.rmtree(self.path / name)

    def remove_all(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def size(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def scratch(self, name: str) -> tuple[str, str]:
        """A new folder in the index for what a writer prepares before a commit (removed by
        the next writer when left behind): its location and its name in the index."""
        path = self.staging(name)
        path.mkdir()
        return str(path), path.name


# --- a folder on a remote file system ------------------------------------------------------


def child_uri(uri: str, name: str) -> str:
    """`uri` with `name` added to its path, its query (options such as an S3 endpoint) kept."""
    base, mark, query = uri.partition("?")
    return f"{base.rstrip('/')}/{name}{mark}{query}"


def filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow file system, path) of `uri`: pyarrow's own (hdfs:// needs libhdfs and a
    Hadoop CLASSPATH; s3a:// is read as s3://), else fsspec's for a scheme it knows."""
    pyarrow()
    from pyarrow import fs

    given = "s3://" + uri[len("s3a://") :] if uri.startswith("s3a://") else uri
    try:
        return fs.FileSystem.from_uri(given)
    except Exception as e:  # ArrowInvalid (unknown scheme, bad option), OSError (no libhdfs)
        error: Exception = e
    # pyarrow's own word on a scheme it knows says more than fsspec's on its backend.
    known = "Unrecognized filesystem type" not in str(error)
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        url_to_fs = None
    if url_to_fs is not None:
        try:
            handle, path = url_to_fs(given)
        except ValueError:  # a protocol fsspec does not know either
            pass
        except Exception as e:  # ImportError of its backend, a bad URI
            error = error if known else e
        else:
            return fs.PyFileSystem(fs.FSSpecHandler(handle)), str(path)
    why = (str(error).strip().splitlines() or [type(error).__name__])[0]  # libhdfs: one line a path
    raise IndexStoreError(f"index {shown(uri)}: cannot reach its file system ({why})")


def _read_batch(fs: Any, path: str) -> Any:
    """The one record batch of the Arrow IPC file `path`, copied into a local temporary file
    and memory-mapped. The copy is unlinked at once: the map keeps its pages until the batch
    is dropped, so an open index holds page cache the kernel can drop, not memory, however
    large it is (as a local folder's maps do), and leaves no file behind."""
    pa = pyarrow()
    fd, local = tempfile.mkstemp(prefix=".dedup-index-", suffix=".arrow")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with fs.open_input_stream(path) as src:
                    shutil.copyfileobj(src, out, _CHUNK)
            except FileNotFoundError as e:
                raise FileNotFoundError(2, "No such file", path) from e
        return one_batch(pa.memory_map(local, "r"), PurePosixPath(path).name)
    finally:
        os.unlink(local)


class RemoteDir:
    """An index in a folder reached through pyarrow.fs: segments read whole through input
    streams, numbered manifests, a claim file for the one writer (see the module's
    docstring)."""

    remote = True

    def __init__(self, uri: str) -> None:
        self.where = uri
        self.path = uri
        self.uri = uri.rstrip("/")
        self.fs, root = filesystem(uri)
        self.root = root.rstrip("/") or "/"
        self.number = 0  # the highest manifest number seen (`manifest`)
        self._claim: str | None = None
        self._staged: list[str] = []  # local temporary folders of segments being written

    def _at(self, name: str) -> str:
        return f"{self.root}/{name}"

    def absolute(self) -> str:
        return self.uri

    def _names(self) -> list[str]:
        from pyarrow import fs

        infos = self.fs.get_file_info(fs.FileSelector(self.root, allow_not_found=True))
        return [PurePosixPath(i.path).name for i in infos]

    def _kind(self, path: str) -> Any:
        return self.fs.get_file_info(path).type

    def exists(self) -> bool:
        from pyarrow import fs

        return bool(self._kind(self.root) != fs.FileType.NotFound)

    def _read(self, name: str) -> str:
        with self.fs.open_input_stream(self._at(name)) as f:
            return bytes(f.read()).decode("utf-8")

    def manifest(self) -> str | None:
        from pyarrow import fs

        if self._kind(self.root) == fs.FileType.File:
            raise NotADirectoryError(20, "Not a directory", self.where)
        for attempt in range(3):
            try:
                text, self.number = _current(self._names(), self._read)
                return text
            except FileNotFoundError:  # removed by a commit since the listing: list again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def commit(self, text: str) -> None:
        """Write manifest number `number + 1`, under a temporary name moved into place, then
        remove manifest.json (if the index had one) and the older numbered ones."""
        self.number += 1
        name = f"manifest-{self.number:06d}.json"
        tmp = self._at(f"{TMP}{os.getpid()}-{name}")
        with self.fs.open_output_stream(tmp) as f:
            f.write(text.encode("utf-8"))
        self.fs.move(tmp, self._at(name))
        names = self._names()
        if MANIFEST in names:
            self.fs.delete_file(self._at(MANIFEST))
        for n in names:
            m = _NUMBERED.fullmatch(n)
            if m and int(m.group(1)) <= self.number - _KEEP:
                self.fs.delete_file(self._at(n))

    def _holders(self) -> list[str]:
        return sorted(n for n in self._names() if n.startswith(_CLAIM))

    def lock(self) -> None:
        """Write this writer's claim, then look for another's (see the module's docstring)."""
        self.fs.create_dir(self.root, recursive=True)
        host, pid = socket.gethostname(), os.getpid()
        name = f"{_CLAIM}{host}-{pid}-{time.time_ns()}"
        holder = {"owner": _owner(), "host": host, "pid": pid, "since": _now()}
        with self.fs.open_output_stream(self._at(name)) as f:
            f.write(json.dumps(holder).encode("utf-8"))
        others = [n for n in self._holders() if n != name]
        if others:
            self.fs.delete_file(self._at(name))
            raise IndexStoreError(
                f"index {shown(self.where)} is being written by another run "
                f"({self._describe(others[0])}); wait for it to finish, or if that run is "
                f"gone, remove its lock with `dedup index unlock {self.where}`"
            )
        self._claim = name

    def _describe(self, claim: str) -> str:
        try:
            h = json.loads(self._read(claim))
            return f"{h['owner']}, pid {h['pid']} on {h['host']}, since {h['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return f"lock file {claim}"

    def unlock(self) -> None:
        if self._claim is not None:
            from pyarrow import fs

            if self._kind(self._at(self._claim)) != fs.FileType.NotFound:
                self.fs.delete_file(self._at(self._claim))
            self._claim = None
        for folder in self._staged:
            shutil.rmtree(folder, ignore_errors=True)
        self._staged = []

    def break_lock(self) -> list[str]:
        """Remove every writer's claim (that of a writer killed hard); who held them."""
        held = self._holders()
        out = [self._describe(n) for n in held]
        for n in held:
            self.fs.delete_file(self._at(n))
        return out

    def clear_leftovers(self, listed: list[str]) -> None:
        from pyarrow import fs

        for name in self._names():
            if (name.startswith("seg-") and name not in listed) or name.startswith(TMP):
                path = self._at(name)
                if self._kind(path) == fs.FileType.Directory:
                    self.fs.delete_dir(path)
                else:
                    self.fs.delete_file(path)

    def staging(self, name: str) -> Path:
        folder = tempfile.mkdtemp(prefix=".dedup-index-")
        self._staged.append(folder)
        return Path(folder) / name

    def install(self, staged: Path, name: str) -> None:
        """Copy the segment written locally at `staged` into `name` (listed by no manifest
        until the commit; a copy cut short is a leftover), then remove it."""
        self.put(staged, name)
        shutil.rmtree(staged.parent, ignore_errors=True)
        if str(staged.parent) in self._staged:
            self._staged.remove(str(staged.parent))

    def segment(self, name: str) -> Segment:
        """The segment (or a run's part) at `name` in the index, its files copied to local
        disk and memory-mapped (`_read_batch`)."""
        path = self._at(name)
        return Segment(PurePosixPath(path), lambda f: _read_batch(self.fs, f"{path}/{f}"))

    def remove(self, name: str) -> None:
        self.fs.delete_dir(self._at(name))

    def remove_all(self) -> None:
        self.fs.delete_dir(self.root)

    def size(self) -> int:
        from pyarrow import fs

        infos = self.fs.get_file_info(fs.FileSelector(self.root, recursive=True))
        return sum(i.size or 0 for i in infos if i.type == fs.FileType.File)

    def scratch(self, name: str) -> tuple[str, str]:
        folder = f"{TMP}{os.getpid()}-{name}"
        self.fs.create_dir(self._at(folder))
        return child_uri(self.uri, folder), folder

    def put(self, staged: Path, name: str) -> None:
        """Copy the folder written locally at `staged` (a segment: files only) into this
        folder as `name`."""
        folder = self._at(name)
        self.fs.create_dir(folder, recursive=True)
        for p in sorted(staged.iterdir()):
            with open(p, "rb") as f, self.fs.open_output_stream(f"{folder}/{p.name}") as out:
                shutil.copyfileobj(f, out, _CHUNK)


def _owner() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
