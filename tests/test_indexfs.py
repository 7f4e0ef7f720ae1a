"""An index on a file system reached through pyarrow.fs (as on hdfs://), with no HDFS: the
local file system as pyarrow reaches a remote one (local://: streams, no memory map, no
flock), fsspec's in-memory file system (memory://, and a faulty one to break writes), and an
object store over HTTP (s3a://, served on loopback by moto's S3 server). Each gives the
outputs and segments of a plain folder, byte for byte; a failed run leaves the manifest as
it was; a second writer is refused, naming the first."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pyarrow
import pytest
from click.testing import CliRunner
from fsspec.implementations.memory import MemoryFileSystem
from spark_helpers import synthetic_corpus

from dedup import indexfs
from dedup.against import apart
from dedup.cli import cli
from dedup.config import Config, ReadConfig
from dedup.errors import OutputError
from dedup.persist import Index, IndexStoreError, compact, read_info
from dedup.pipeline import run

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Config(read=ReadConfig(on_error="skip"), jobs=1)


class FaultyMemory(MemoryFileSystem):
    """fsspec's memory file system (its files shared with memory://) whose `fail`-th write
    of a file whose path holds `where`, or move to such a path, raises."""

    protocol = "faultymem"
    where = ""
    fail = 0
    seen = 0

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        if path.startswith("faultymem://"):
            path = "memory://" + path[len("faultymem://") :]
        return str(super()._strip_protocol(path))

    @classmethod
    def _tick(cls, path: str) -> None:
        if cls.where and cls.where in path:
            cls.seen += 1
            if cls.seen == cls.fail:
                raise OSError(28, "No space left on device", path)

    def _open(self, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode:
            self._tick(path)
        return super()._open(path, mode, *args, **kwargs)

    def mv(self, path1: str, path2: str, *args: Any, **kwargs: Any) -> None:
        self._tick(path2)
        super().mv(path1, path2, *args, **kwargs)


fsspec.register_implementation("faultymem", FaultyMemory, clobber=True)


@pytest.fixture(scope="module")
def halves(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str]]:
    """OLD and NEW files of a corpus whose planted copies cross them."""
    folder = tmp_path_factory.mktemp("corpus") / "in"
    synthetic_corpus(folder, 900)
    files = sorted(str(p) for p in folder.iterdir())
    return files[:3], files[3:]


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """An S3 service on loopback (moto's server) with a bucket `crawl`: the s3a:// URI of a
    folder there is this plus the folder's name and `S3_OPTIONS`."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with pytest.MonkeyPatch.context() as env:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setenv(key, "test")
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"endpoint_override={host}:{port}&scheme=http&region=us-east-1"
            fs, _ = indexfs.filesystem(f"s3://crawl?{endpoint}&allow_bucket_creation=true")
            fs.create_dir("crawl")
            yield endpoint
        finally:
            server.stop()


def _remote_files(uri: str) -> dict[str, bytes]:
    """Every file under `uri` (pyarrow.fs or fsspec), by path relative to it."""
    from pyarrow import fs as pafs

    fs, root = indexfs.filesystem(uri)
    root = root.rstrip("/")
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    out = {}
    for info in sorted(infos, key=lambda i: i.path):
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(info.path) as f:
                out[info.path[len(root) + 1 :]] = f.read()
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _outputs(folder: Path, index: str | Path) -> dict[str, Any]:
    """An OUTDIR's files, the index's name (as given) replaced, and summary.json without
    the timings."""
    name = json.dumps(str(index))[1:-1].encode()
    files: dict[str, Any] = {k: v.replace(name, b"IDX") for k, v in _files(folder).items()}
    summary = json.loads(files.pop("summary.json"))
    summary.pop("timings", None)
    summary.pop("throughput", None)
    files["summary.json"] = summary
    return files


def _memory_state(root: str) -> dict[str, bytes]:
    """What a reader of the memory:// index at `root` sees: the manifest in force and every
    file of the segments it lists."""
    mem = fsspec.filesystem("memory")
    names = sorted(p.rsplit("/", 1)[-1] for p in mem.ls(root, detail=False))
    manifest = max(n for n in names if n.startswith("manifest-"))
    text = mem.cat(f"{root}/{manifest}")
    out = {manifest: text}
    for seg in json.loads(text)["segments"]:
        for f in sorted(mem.ls(f"{root}/{seg}", detail=False)):
            out[f] = mem.cat(f)
    return out


@pytest.mark.parametrize("scheme", ["local", "memory", "s3"])
def test_a_remote_index_gives_the_plain_folder_s_outputs_and_segments(
    scheme: str, halves: tuple[list[str], list[str]], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two runs adding to an index, then a compaction: the same OUTDIRs, segment files and
    manifests as with a plain folder; the remote index has numbered manifests and no lock
    left."""
    old, new = halves
    plain = tmp_path / "plain.idx"
    remote = {
        "local": lambda: f"local://{tmp_path}/remote.idx",
        "memory": lambda: f"memory://{tmp_path.name}",
        "s3": lambda: f"s3a://crawl/{tmp_path.name}?{request.getfixturevalue('s3')}",
    }[scheme]()
    for k, docs in enumerate((old, new)):
        run(docs, tmp_path / f"plain{k}", CONFIG, index=plain)
        run(docs, tmp_path / f"remote{k}", CONFIG, index=remote)
        have = _outputs(tmp_path / f"remote{k}", remote)
        assert have == _outputs(tmp_path / f"plain{k}", plain)
    summary = json.loads((tmp_path / "remote1/summary.json").read_text())
    assert summary["indexes"][0]["removed"] > 20  # NEW documents matched indexed ones
    assert read_info(remote)["segments"] == read_info(plain)["segments"]
    assert compact(remote) == compact(plain) == (2, 1)
    want = _files(plain)
    have = _remote_files(remote)
    # Numbered manifests, the last the plain folder's manifest.json; no lock claim left.
    assert sorted(n for n in have if not n.startswith("seg-")) == [
        "manifest-000002.json",
        "manifest-000003.json",
    ]
    assert have.pop("manifest-000003.json") == want.pop("manifest.json")
    have.pop("manifest-000002.json")
    want.pop(".lock")
    assert have == want  # seg-000003, compacted, byte for byte


@pytest.mark.parametrize(
    ("where", "nth"),
    [("/seg-", 1), ("/seg-", 3), ("-manifest-", 1), ("/manifest-", 1)],
    ids=["segment-docs", "segment-repeats", "manifest-write", "manifest-move"],
)
def test_a_failure_while_adding_leaves_the_manifest_as_it_was(
    where: str, nth: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that fails while its segment is copied in, or its manifest written or moved
    into place, leaves the index as it was; the next writer clears what it left and adds."""
    uri, root = f"faultymem://{tmp_path.name}", f"/{tmp_path.name}"
    run([str(ROOT / "seeds")], tmp_path / "o1", CONFIG, index=uri)
    before, docs = _memory_state(root), read_info(uri)["documents"]
    monkeypatch.setattr(FaultyMemory, "where", where)
    monkeypatch.setattr(FaultyMemory, "fail", nth)
    monkeypatch.setattr(FaultyMemory, "seen", 0)
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "new", "text": "一段新的文字，沒有人見過。" * 20}) + "\n")
    with pytest.raises(OSError, match="No space left"):
        run([str(more)], tmp_path / "o2", CONFIG, index=uri)
    assert FaultyMemory.seen == nth
    monkeypatch.setattr(FaultyMemory, "where", "")
    assert _memory_state(root) == before
    assert read_info(uri)["documents"] == docs
    run([str(more)], tmp_path / "o3", CONFIG, index=uri)
    assert read_info(uri)["documents"] == docs + 1
    names = sorted(p.rsplit("/", 1)[-1] for p in fsspec.filesystem("memory").ls(root, False))
    assert names == ["manifest-000001.json", "manifest-000002.json", "seg-000001", "seg-000002"]


def test_a_second_writer_is_refused_naming_the_first_and_a_stale_lock_is_removed(
    tmp_path: Path,
) -> None:
    uri = f"local://{tmp_path}/idx"
    run([str(ROOT / "seeds")], tmp_path / "o1", CONFIG, index=uri)
    before = _files(tmp_path / "idx")
    holder = Index(uri, Config(), write=True)  # as a writer killed hard leaves it: never closed
    claims = [p.name for p in (tmp_path / "idx").iterdir() if p.name.startswith(".lock-")]
    assert len(claims) == 1
    args = ["run", str(ROOT / "seeds"), "-o", str(tmp_path / "o2"), "--index", uri]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "being written by another run" in result.output
    assert f"pid {os.getpid()}" in result.output
    assert f"dedup index unlock {uri}" in result.output
    # The refused writer removed its own claim; readers go on.
    assert [p.name for p in (tmp_path / "idx").iterdir() if p.name.startswith(".lock-")] == claims
    reader = CliRunner().invoke(
        cli, ["run", str(ROOT / "seeds"), "-o", str(tmp_path / "o3"), "--against", uri]
    )
    assert reader.exit_code == 0, reader.output
    assert CliRunner().invoke(cli, ["index", "compact", uri]).exit_code == 1
    assert {k: v for k, v in _files(tmp_path / "idx").items() if ".lock-" not in k} == before
    unlocked = CliRunner().invoke(cli, ["index", "unlock", uri])
    assert unlocked.exit_code == 0 and "removed the lock of" in unlocked.output
    assert CliRunner().invoke(cli, args).exit_code == 0
    del holder
    # A plain folder's flock ends with its writer: nothing to remove.
    plain = CliRunner().invoke(cli, ["index", "unlock", str(tmp_path / "o1")])
    assert "no lock to remove" in plain.output


def test_a_torn_manifest_leaves_the_one_before_in_force(tmp_path: Path) -> None:
    """On a file system whose moves are not atomic a manifest could be cut short: readers
    take the highest complete one, and the next writer numbers past it."""
    uri = f"local://{tmp_path}/idx"
    run([str(ROOT / "seeds")], tmp_path / "o1", CONFIG, index=uri)
    segments = Index(uri, None).segment_names
    (tmp_path / "idx/manifest-000007.json").write_text('{"format": "dedup-ind')
    assert Index(uri, None).segment_names == segments
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "new", "text": "一段新的文字，沒有人見過。" * 20}) + "\n")
    run([str(more)], tmp_path / "o2", CONFIG, index=uri)
    assert Index(uri, None).segment_names == [*segments, "seg-000002"]
    assert (tmp_path / "idx/manifest-000008.json").exists()
    assert not (tmp_path / "idx/manifest-000001.json").exists()  # the two newest kept


def test_an_index_copied_between_a_folder_and_a_remote_file_system_opens_and_grows(
    tmp_path: Path,
) -> None:
    """The same format both ways: a remote index copied to a folder is read and added to
    there (manifest.json then in force), and copied back it is added to remotely."""
    seeds = sorted(str(p) for p in (ROOT / "seeds").iterdir())
    uri = f"local://{tmp_path}/remote"
    run(seeds[:2], tmp_path / "o1", CONFIG, index=uri)
    shutil.copytree(tmp_path / "remote", tmp_path / "copy")
    assert Index(tmp_path / "copy", None).segment_names == ["seg-000001"]
    run(seeds[2:4], tmp_path / "o2", CONFIG, index=tmp_path / "copy")
    names = sorted(p.name for p in (tmp_path / "copy").iterdir())
    assert names == [".lock", "manifest.json", "seg-000001", "seg-000002"]
    back = f"local://{tmp_path}/copy"
    run(seeds[4:], tmp_path / "o3", CONFIG, index=back)
    names = sorted(p.name for p in (tmp_path / "copy").iterdir())
    assert names == [".lock", "manifest-000001.json", "seg-000001", "seg-000002", "seg-000003"]
    added = [json.loads((tmp_path / f"o{k}/summary.json").read_text()) for k in (1, 2, 3)]
    assert read_info(back)["documents"] == sum(a["indexes"][0]["added"] for a in added) > 3


def test_a_failed_first_run_leaves_no_index_and_info_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\nnot json\n')
    uri = f"local://{tmp_path}/idx"
    result = CliRunner().invoke(cli, ["run", str(bad), "-o", str(tmp_path / "o"), "--index", uri])
    assert result.exit_code == 1
    assert not (tmp_path / "idx").exists()
    run([str(ROOT / "seeds")], tmp_path / "o2", CONFIG, index=uri)
    info = CliRunner().invoke(cli, ["index", "info", uri])
    assert info.exit_code == 0 and info.output.startswith(f"index {uri}: ")
    assert "in 1 segment," in info.output


@pytest.mark.parametrize(
    ("uri", "want"),
    [
        (
            "s3a://crawl/idx?endpoint_override=h:9&scheme=http",
            "s3a://crawl/idx/p?endpoint_override=h:9&scheme=http",
        ),
        ("local:///tmp/idx/", "local:///tmp/idx/p"),
        ("hdfs://nn:8020/a/idx", "hdfs://nn:8020/a/idx/p"),
        ("memory://idx", "memory://idx/p"),
    ],
)
def test_a_folder_in_an_index_keeps_the_uri_s_options(uri: str, want: str) -> None:
    """Where a Spark run's parts go (`RemoteDir.scratch`): the options of an s3a:// URI stay
    its query, not part of the folder's name."""
    assert indexfs.child_uri(uri, "p") == want


def test_an_unreachable_file_system_is_named(tmp_path: Path) -> None:
    """One line naming the index and why: pyarrow's reason for a scheme it knows (an option
    it does not take, libhdfs missing), not fsspec's word on a backend it lacks."""
    bad_option = "s3a://crawl/idx?region=us-east-1&no_such_option=1"
    for uri, why in (
        ("nosuchscheme://host/idx", "nosuchscheme"),
        ("hdfs://localhost:1/idx", ""),
        (bad_option, "no_such_option"),
    ):
        with pytest.raises(IndexStoreError, match="cannot reach its file system") as caught:
            Index(uri, Config(), write=True)
        message = str(caught.value)
        assert message.startswith(f"index {uri}: ") and why in message and "\n" not in message
        assert "s3fs" not in message


def test_claims_decide_the_one_writer(tmp_path: Path) -> None:
    """A claim written by another writer a moment later still refuses this one."""
    folder = indexfs.RemoteDir(f"local://{tmp_path}/idx")
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx/.lock-elsewhere-1-99999999999999999999").write_text("not json")
    with pytest.raises(IndexStoreError, match="lock file .lock-elsewhere-1-"):
        folder.lock()
    assert folder.break_lock() == ["lock file .lock-elsewhere-1-99999999999999999999"]
    folder.lock()
    other = indexfs.RemoteDir(f"local://{tmp_path}/idx")
    with pytest.raises(IndexStoreError, match="being written by another run"):
        other.lock()
    folder.unlock()
    other.lock()
    other.unlock()
    assert not [p for p in (tmp_path / "idx").iterdir()]


def test_a_remote_index_maps_nothing_and_takes_no_flock(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With memory maps and flock unavailable (as on HDFS) a remote index is made, read and
    added to (its segments are mapped from local copies, which none outlive); a plain
    folder's cannot be."""
    seeds = sorted(str(p) for p in (ROOT / "seeds").iterdir())
    uri = f"local://{tmp_path}/idx"
    run(seeds[:3], tmp_path / "o0", CONFIG, index=tmp_path / "plain")

    real_map, real_flock = pyarrow.memory_map, fcntl.flock

    copies = tmp_path_factory.mktemp("copies")
    mapped: list[str] = []

    def memory_map(path: str, *args: Any) -> Any:
        if path.endswith(".arrow") and path.startswith(str(tmp_path)):  # the index's own files
            raise OSError(95, "Operation not supported")
        mapped.append(path)
        return real_map(path, *args)

    def flock(fd: int, op: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/.lock"):  # an index's lock
            raise OSError(95, "Operation not supported")
        real_flock(fd, op)

    monkeypatch.setattr(pyarrow, "memory_map", memory_map)
    monkeypatch.setattr(fcntl, "flock", flock)
    monkeypatch.setattr(tempfile, "tempdir", str(copies))
    run(seeds[:3], tmp_path / "o1", CONFIG, index=uri)
    run(seeds[3:], tmp_path / "o2", CONFIG, index=uri)
    assert read_info(uri)["segments"] and list(copies.iterdir()) == []
    assert any(p.startswith(str(copies)) for p in mapped)  # the second run read the first's
    added = [json.loads((tmp_path / f"o{k}/summary.json").read_text()) for k in (1, 2)]
    assert read_info(uri)["documents"] == sum(a["indexes"][0]["added"] for a in added) > 3
    with pytest.raises(IndexStoreError, match="damaged: .*Operation not supported"):
        Index(tmp_path / "plain", None)
    with pytest.raises(OSError, match="Operation not supported"):
        Index(tmp_path / "other", Config(), write=True)


def test_an_index_on_a_uri_apart_from_an_output_folder_on_one() -> None:
    apart("hdfs://nn:8020/runs/out", ["hdfs://nn:8020/runs/idx", "hdfs://other/runs/out/idx"])
    apart("/runs/out", ["local:///runs/out/idx"])  # a URI and a local folder: apart
    for index in ("hdfs://NN:8020/runs/out/idx/", "hdfs://nn:8020/runs", "hdfs://nn:8020/runs/out"):
        with pytest.raises(OutputError, match="overlap"):
            apart("hdfs://nn:8020/runs/out", [index])
