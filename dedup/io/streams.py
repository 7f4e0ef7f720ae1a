"""Byte streams as the readers need them: the first bytes seen without losing them (a FIFO or
stdin cannot seek back), decompression (gzip, zstd) that notices damage and a size limit,
and reads that never hold more than a limit.

>>> head, stream = peek(io.BytesIO(b"WARC/1.0 ..."), 5)
>>> head, stream.read()
(b'WARC/', b'WARC/1.0 ...')
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from .detect import Compression

CHUNK = 1 << 16


class CorruptStream(Exception):
    """A compressed stream that cannot be decompressed to its end."""


class StreamTooLarge(Exception):
    """A decompressed stream longer than the limit it was opened with."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"decompresses to more than {limit:,} bytes (the limit of --max-stream-bytes); "
            "the rest of the file is not read"
        )


# What reading a decompressed stream may raise besides OSError: damage to the stream.
CORRUPT = (CorruptStream, gzip.BadGzipFile, EOFError, zlib.error)


def peek(
    raw: BinaryIO, n: int, enough: Callable[[bytes], bool] = lambda head: False
) -> tuple[bytes, BinaryIO]:
    """The first `n` bytes of `raw` (fewer at its end), and a stream that reads from the start:
    `raw` itself, rewound, when it can seek; else one that gives those bytes back first. A
    pipe is read only until `enough(head)` says the bytes so far tell what is needed: its
    writer may send the rest later."""
    if _seekable(raw):
        head = raw.read(n)
        raw.seek(-len(head), io.SEEK_CUR)
        return head, raw
    read = getattr(raw, "read1", raw.read)  # what is there now, without waiting for `n`
    head = b""
    while len(head) < n and not (head and enough(head)):
        more = read(n - len(head))
        if not more:
            break
        head += more
    return head, io.BufferedReader(_Prefixed(head, raw), buffer_size=CHUNK)


def _seekable(raw: BinaryIO) -> bool:
    try:
        return raw.seekable()
    except (OSError, ValueError):
        return False


class _Prefixed(io.RawIOBase):
    """`head`, then the rest of `raw`."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = memoryview(head)
        self._raw: Any = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        # What is there now, not len(buffer) bytes: a pipe's writer may be waiting for us.
        readinto = getattr(self._raw, "readinto1", None) or self._raw.readinto
        return int(readinto(buffer) or 0)


def decompressed(raw: BinaryIO, compressed: Compression | None, limit: int = 0) -> BinaryIO:
    """The decompressed content of `raw` through a buffer (`raw` itself when not compressed).
    A damaged stream raises one of CORRUPT once everything before the damage was read; more
    than `limit` bytes (0: no limit) raise StreamTooLarge."""
    if compressed is None:
        return raw
    source: Any = _ZstdReader(raw) if compressed == "zstd" else _GzipReader(raw)
    if limit:
        source = _Limited(source, limit)
    return io.BufferedReader(source, buffer_size=CHUNK)


class _Decompressing(io.RawIOBase):
    """Raw decompression, a small step at a time (`_step`): what one step makes stays small
    whatever the ratio, and damage costs at most one step's output. An error comes after the
    data decompressed before it, so every record before the damage is read; and where it
    comes never depends on how the stream is read."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._input = b""  # read, not decompressed yet
        self._out = memoryview(b"")
        self._error: Exception | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out:
            if self._error is not None:
                raise self._error
            try:
                if not self._input:
                    self._input = self._raw.read(CHUNK)
                    if not self._input:
                        self._end()
                        return 0
                out, self._input = self._step(self._input)
            except CORRUPT as e:
                self._error = e
                continue
            self._out = memoryview(out)
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _step(self, data: bytes) -> tuple[bytes, bytes]:
        """Decompress some of `data`: the output, and the input not used yet."""
        raise NotImplementedError

    def _end(self) -> None:
        """The input has ended: raise if it ended inside a frame or member."""
        raise NotImplementedError


# Output of one gzip step; input of one zstd step (zstd cannot bound its output, and a 4-byte
# RLE block expands to 128 KiB: 2 KiB make at most 64 MiB; smaller steps read zstd slower,
# 1.5x at 512 bytes).
_GZIP_STEP = 1 << 13
_ZSTD_STEP = 1 << 11


class _ZstdReader(_Decompressing):
    """zstd, frame after frame. Unlike zstandard's stream_reader it notices a stream cut off
    inside a frame (a truncated download) instead of ending quietly."""

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        super().__init__(raw)
        self._zstd = zstandard
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._in_frame = False

    def _step(self, data: bytes) -> tuple[bytes, bytes]:
        self._in_frame = True
        try:
            out = self._obj.decompress(data[:_ZSTD_STEP])
        except self._zstd.ZstdError as e:
            raise CorruptStream(str(e)) from e
        rest = data[_ZSTD_STEP:]
        if self._obj.eof:  # a frame ended; what follows starts the next one
            rest = self._obj.unused_data + rest
            self._obj = self._dctx.decompressobj()
            self._in_frame = False
        return out, rest

    def _end(self) -> None:
        if self._in_frame:
            raise CorruptStream("zstd stream ends in the middle of a frame")


class _GzipReader(_Decompressing):
    """gzip, member after member, each checked against its CRC and length by zlib; zero bytes
    after the last member are padding (as GzipFile allows), anything else is damage."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__(raw)
        self._obj: Any = None  # the decompressor of the member being read
        self._members = 0

    def _step(self, data: bytes) -> tuple[bytes, bytes]:
        if self._obj is None:
            if self._members and not data.strip(b"\x00"):
                return b"", b""  # padding
            if len(data) < 2:
                data += self._raw.read(CHUNK)  # the magic, cut by a chunk's end
            if not data.startswith(b"\x1f\x8b"):
                raise gzip.BadGzipFile(f"Not a gzipped file ({data[:2]!r})")
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._members += 1
        out = self._obj.decompress(data, _GZIP_STEP)
        if self._obj.eof:
            rest = self._obj.unused_data
            self._obj = None
            return out, rest
        return out, self._obj.unconsumed_tail

    def _end(self) -> None:
        if self._obj is not None:
            # Not EOFError: warcio takes that for the end of the file.
            raise CorruptStream("gzip stream ends in the middle of a member")


class _Limited(io.RawIOBase):
    """The first `limit` bytes of `raw`, then StreamTooLarge if there are more."""

    def __init__(self, raw: Any, limit: int) -> None:
        self._raw = raw
        self._left = limit
        self._limit = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left < 0:
            raise StreamTooLarge(self._limit)
        # One byte more than is left tells that the stream goes on past the limit.
        n = self._raw.readinto(memoryview(buffer)[: self._left + 1]) or 0
        if n > self._left:
            n, self._left = self._left, -1  # the bytes up to the limit first, then the error
            if not n:
                raise StreamTooLarge(self._limit)
            return n
        self._left -= n
        return n


def read_at_most(stream: BinaryIO, limit: int) -> bytes | int:
    """All of `stream` if it holds at most `limit` bytes (0: no limit); else how many it holds,
    counted while reading it in chunks, so that no more than `limit` is ever held."""
    if not limit:
        return stream.read()
    data = stream.read(limit + 1)
    if len(data) <= limit:
        return data
    size = len(data)
    while chunk := stream.read(CHUNK):
        size += len(chunk)
    return size


def lines(stream: BinaryIO, limit: int) -> Iterator[bytes | int]:
    """The lines of `stream` (with their newline); instead of a line longer than `limit`
    bytes (0: no limit; the newline not counted), its length, counted while skipping it."""
    while True:
        line = stream.readline(limit + 1 if limit else -1)
        if not line:
            return
        if not limit or line.endswith(b"\n") or len(line) <= limit:
            yield line
            continue
        size = len(line)
        while True:
            more = stream.readline(CHUNK)
            if not more:
                break
            if more.endswith(b"\n"):
                size += len(more) - 1
                break
            size += len(more)
        yield size
