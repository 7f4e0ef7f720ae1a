"""The output folder's contract (io/outdir.py): a run removes only what dedup wrote, refuses an
OUTDIR that overlaps its inputs, touches nothing before the inputs are checked, holds OUTDIR
alone, and writes summary.json once, last; --annotate, byte-identical reruns, and eval and
report reading every kind of output."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from helpers import ONE_JOB, dedup, jsonl_records, seed_table, seeds, write_jsonl

import dedup as dedup_package
from dedup import Config
from dedup.cli import cli
from dedup.config import OutputConfig
from dedup.errors import InputError, OutputError
from dedup.pipeline import run
from dedup.report import build_report

USER = {"kept.jsonl": b"my own records\n", "summary.json": b"{}\n", "report/quarterly.txt": b"Q3"}
MANIFEST = ".dedup-manifest.json"
LOCK = ".dedup-lock"


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def _seed_run(seeds_dir: Path, out: Path, report: bool = False) -> None:
    """A finished run of the seeds into `out`, with the report or without."""
    args = ["run", str(seeds_dir), "-o", str(out), "--jobs", "1", "-q"]
    result = CliRunner().invoke(cli, args if report else [*args, "--no-report"])
    assert result.exit_code == 0, result.output
    assert (out / "summary.json").exists()


def _manifest(out: Path) -> list[str]:
    files = json.loads((out / MANIFEST).read_text("utf-8"))["files"]
    assert isinstance(files, list)
    return files


# --- never delete what dedup did not write -------------------------------------------------


def test_outdir_equal_to_the_input_folder_is_refused(tmp_path: Path, seeds_dir: Path) -> None:
    folder = tmp_path / "D"
    _write(folder, USER)
    for p in seeds_dir.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    before = _tree(folder)
    with pytest.raises(OutputError, match="is the input"):
        run([str(folder)], folder, ONE_JOB)
    assert _tree(folder) == before


def test_outdir_holding_an_input_file_is_refused(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "OUT"
    _seed_run(seeds_dir, out)
    before = _tree(out)
    with pytest.raises(OutputError, match="holds the input"):
        run([str(out / "kept.jsonl")], out, ONE_JOB)
    assert _tree(out) == before  # its own input is still there, and the run it came from


def test_outdir_inside_an_input_folder_is_refused(tmp_path: Path, seeds_dir: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("一篇文章", "utf-8")
    with pytest.raises(OutputError, match="inside the input folder"):
        run([str(folder)], folder / "out", ONE_JOB)
    assert not (folder / "out").exists()


def test_outdir_reached_through_a_symlink_is_still_the_input(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("一篇文章", "utf-8")
    (tmp_path / "link").symlink_to(folder)
    with pytest.raises(OutputError, match="is the input"):
        run([str(folder)], tmp_path / "link", ONE_JOB)


def test_a_missing_input_leaves_the_previous_run_alone(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    _seed_run(seeds_dir, out, report=True)
    before = _tree(out)
    with pytest.raises(InputError, match="no such file"):
        run([str(seeds_dir), str(tmp_path / "seedz")], out, ONE_JOB)  # a typo
    assert _tree(out) == before


def test_an_unreadable_input_leaves_the_previous_run_alone(
    tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _seed_run(seeds_dir, out)
    before = _tree(out)
    locked = tmp_path / "locked.jsonl"
    locked.write_text('{"id": "x", "text": "一"}\n', "utf-8")
    real = os.access
    # Tests may run as root, who can read anything: the check is told it cannot.
    monkeypatch.setattr(os, "access", lambda p, mode: p != str(locked) and real(p, mode))
    with pytest.raises(InputError, match="cannot read"):
        run([str(locked)], out, ONE_JOB)
    assert _tree(out) == before


def test_user_files_named_like_outputs_are_not_replaced(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    _write(out, USER)
    with pytest.raises(OutputError, match="not written by dedup") as e:
        run([str(seeds_dir)], out, ONE_JOB)
    assert "kept.jsonl" in str(e.value)  # the first one, in name order
    assert _tree(out) == USER
    assert not (out / MANIFEST).exists()


def test_a_users_report_folder_is_not_replaced(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    _write(out, {"report/quarterly.txt": b"Q3"})
    with pytest.raises(OutputError, match="report"):
        run([str(seeds_dir)], out, ONE_JOB)
    assert _tree(out) == {"report/quarterly.txt": b"Q3"}


def test_other_files_stay_beside_the_outputs(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    _write(out, {"notes.txt": b"mine", "data/part-0.txt": b"mine too"})
    _seed_run(seeds_dir, out)
    _seed_run(seeds_dir, out)
    tree = _tree(out)
    assert tree["notes.txt"] == b"mine" and tree["data/part-0.txt"] == b"mine too"
    assert "notes.txt" not in _manifest(out)


def test_a_file_added_to_the_report_folder_survives_the_next_run(
    tmp_path: Path, seeds_dir: Path
) -> None:
    out = tmp_path / "out"
    _seed_run(seeds_dir, out, report=True)
    (out / "report" / "quarterly.txt").write_bytes(b"Q3")
    _seed_run(seeds_dir, out, report=True)
    assert (out / "report" / "quarterly.txt").read_bytes() == b"Q3"
    _seed_run(seeds_dir, out)  # no report: the old one is removed, the user's file is not
    assert _tree(out / "report") == {"quarterly.txt": b"Q3"}


def test_the_manifest_lists_exactly_the_files_written(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    _seed_run(seeds_dir, out, report=True)
    listed = _manifest(out)
    written = [n for n in _tree(out) if n != MANIFEST]
    assert sorted(listed) == sorted(written)
    assert listed[:5] == ["clusters.jsonl", "kept.jsonl", "removed.jsonl", "errors.jsonl"] + [
        "summary.json"
    ]
    # The same run gives the same manifest, byte for byte.
    first = (out / MANIFEST).read_bytes()
    _seed_run(seeds_dir, out, report=True)
    assert (out / MANIFEST).read_bytes() == first


def test_a_run_of_another_kind_replaces_every_file_of_the_last(
    tmp_path: Path, seeds_dir: Path
) -> None:
    out = tmp_path / "out"
    _seed_run(seeds_dir, out)
    run([str(seeds_dir)], out, Config(jobs=1, output=OutputConfig(annotate=True)))
    names = {p.name for p in out.iterdir()}
    assert names == {MANIFEST, "annotated.jsonl", "clusters.jsonl", "errors.jsonl", "summary.json"}


def test_leftovers_of_a_killed_run_are_removed(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    _seed_run(seeds_dir, out)
    (out / ".dedup-k1ll3d00").mkdir()
    (out / ".dedup-k1ll3d00" / "spool-1.bin").write_bytes(b"x")
    (out / ".kept.jsonl.partial").write_bytes(b"half")
    (out / ".notes.txt.partial").write_bytes(b"a name dedup never uses")
    _seed_run(seeds_dir, out)
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert hidden == [MANIFEST, ".notes.txt.partial"]


def test_a_manifest_dedup_did_not_write_is_refused(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    _write(out, {MANIFEST: b'{"files": ["../../etc/passwd"]}', "kept.jsonl": b"mine"})
    with pytest.raises(OutputError, match="not a manifest dedup wrote"):
        run([str(seeds_dir)], out, ONE_JOB)
    assert (out / "kept.jsonl").read_bytes() == b"mine"


def test_dedup_report_refuses_a_report_folder_it_did_not_write(
    tmp_path: Path, seeds_dir: Path
) -> None:
    out = tmp_path / "out"
    _seed_run(seeds_dir, out)
    _write(out, {"report/index.html": b"<p>mine</p>"})
    with pytest.raises(OutputError, match="not written by dedup"):
        build_report(out)
    assert (out / "report/index.html").read_bytes() == b"<p>mine</p>"


# --- the Folder interface: one implementation of the rules for every kind of folder ----------


class MemoryFolder:
    """A Folder held in a dict, as a Hadoop URI would be reached: only through the
    interface, so the rules above are seen to live in io/outdir.py and nowhere else."""

    local = None
    uri = "mem://out"

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.locked = False

    def mkdir(self) -> None:
        pass

    def names(self) -> list[str]:
        return sorted({n.split("/", 1)[0] for n in self.files})

    def exists(self, name: str) -> bool:
        return any(n == name or n.startswith(name + "/") for n in self.files)

    def read(self, name: str) -> bytes | None:
        return self.files.get(name)

    def remove(self, name: str) -> None:
        self.files.pop(name, None)

    def remove_tree(self, name: str) -> None:
        for n in [n for n in self.files if n == name or n.startswith(name + "/")]:
            del self.files[n]

    @contextmanager
    def lock(self) -> Iterator[None]:
        if self.locked:
            raise OutputError("busy")
        self.locked = True
        try:
            yield
        finally:
            self.locked = False

    @contextmanager
    def binary(self, name: str) -> Iterator[Any]:
        import io

        buf = io.BytesIO()
        yield buf
        self.files[name] = buf.getvalue()

    def parquet(self, name: str, schema: Any, text_field: str) -> Any:
        raise NotImplementedError


def test_clear_through_the_interface_removes_only_listed_files() -> None:
    from dedup.io.outdir import clear

    manifest = json.dumps({"files": ["kept.jsonl", "summary.json", "report/index.html"]})
    folder = MemoryFolder(
        {
            MANIFEST: manifest.encode(),
            "kept.jsonl": b"old",
            "summary.json": b"old",
            "report/index.html": b"old",
            "report/quarterly.txt": b"mine",
            "notes.txt": b"mine",
            ".dedup-abcd1234/spool": b"old",
            ".removed.jsonl.partial": b"old",
        }
    )
    clear(folder)
    assert sorted(folder.files) == [MANIFEST, "notes.txt", "report/quarterly.txt"]


def test_open_outdir_through_the_interface_refuses_unlisted_outputs() -> None:
    from dedup.io.outdir import open_outdir, planned

    folder = MemoryFolder({"removed.jsonl": b"mine"})
    refused = pytest.raises(OutputError, match="mem://out/removed.jsonl: not written by dedup")
    with refused, open_outdir(folder, planned("jsonl", False)):
        pass
    assert folder.files == {"removed.jsonl": b"mine"}
    assert not folder.locked


def test_planned_files_cover_both_formats_when_not_known() -> None:
    from dedup.io.outdir import planned

    assert planned("parquet", False) == [
        "clusters.jsonl",
        "kept.parquet",
        "removed.parquet",
        "errors.jsonl",
        "summary.json",
    ]
    assert set(planned(None, True)) >= {"annotated.jsonl", "annotated.parquet"}


# --- one run at a time ----------------------------------------------------------------------


@contextmanager
def _held(out: Path) -> Iterator[None]:
    """OUTDIR's lock as a run in progress holds it."""
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def test_a_second_run_is_refused_and_touches_nothing(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    _seed_run(seeds_dir, out)
    before = _tree(out)
    with _held(out):
        with pytest.raises(OutputError, match="another dedup run is writing"):
            run([str(seeds_dir)], out, ONE_JOB)
        assert _tree(out) == {**before, LOCK: b""}


def test_two_runs_started_together_one_is_refused(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ)
    root = str(Path(dedup_package.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "dedup", "run", "--jobs", "1", "--no-report", "-q"]
    # The first waits for its stdin, holding OUTDIR; the second comes while it waits.
    first = subprocess.Popen([*cmd, "-", "-o", str(out)], stdin=subprocess.PIPE, env=env)
    assert first.stdin is not None
    first.stdin.write(b'{"id": "a", "text": "\xe4\xb8\x80"}\n')
    first.stdin.flush()
    try:
        for _ in range(600):  # the first run holds OUTDIR once its lock file is there
            if (out / LOCK).exists() or first.poll() is not None:
                break
            time.sleep(0.05)
        second = subprocess.run(
            [*cmd, str(seeds_dir), "-o", str(out)], capture_output=True, env=env, timeout=300
        )
        assert second.returncode == 1
        err = second.stderr.decode()
        assert err.count("\n") == 1 and "another dedup run is writing" in err, err
    finally:
        first.stdin.close()
        assert first.wait(timeout=300) == 0
    kept = [json.loads(line) for line in (out / "kept.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in kept] == ["a"]  # the first run's, untouched by the second


def test_a_lock_file_left_by_a_killed_run_does_not_block(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK).write_bytes(b"")  # the file stays when a run is killed; its flock does not
    _seed_run(seeds_dir, out)
    assert not (out / LOCK).exists()


# --- summary.json once, last ---------------------------------------------------------------


def test_summary_json_is_written_once_after_the_report(
    tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _seed_run(seeds_dir, out)  # an earlier run: its summary.json must be gone first
    renamed: list[str] = []  # every file that got its final name, in order
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        name = Path(dst).name
        renamed.append(name)
        if name in ("index.md", "index.html"):  # the report is done: no summary.json yet
            assert not (out / "summary.json").exists()

    monkeypatch.setattr(os, "replace", replace)
    _seed_run(seeds_dir, out, report=True)
    assert renamed.count("summary.json") == 1 and renamed[-1] == "summary.json"
    assert "index.html" in renamed
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert "report" in summary["timings"]


def test_dedup_report_rebuilds_an_existing_run_the_same(tmp_path: Path, seeds_dir: Path) -> None:
    out = tmp_path / "out"
    _seed_run(seeds_dir, out, report=True)
    first = _tree(out / "report")
    manifest = (out / MANIFEST).read_bytes()
    build_report(out)  # from summary.json, as `dedup report OUTDIR`
    assert _tree(out / "report") == first
    assert (out / MANIFEST).read_bytes() == manifest


# --- --annotate -----------------------------------------------------------------------------------


def test_annotate_writes_every_record_with_its_fate(seeds_dir: Path, tmp_path: Path) -> None:
    records = [{"id": i, "text": t, "src": "x"} for i, t in seeds(seeds_dir)]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    run([str(path)], out, ONE_JOB)  # an earlier split run in the same folder
    assert (out / "kept.jsonl").exists()
    result = run([str(path)], out, Config(jobs=1, output=OutputConfig(annotate=True)))
    assert not (out / "kept.jsonl").exists() and not (out / "removed.jsonl").exists()
    rows = jsonl_records(out / "annotated.jsonl")
    assert [r["id"] for r in rows] == ["000", "001", "002", "003", "004"]
    assert [(r["dedup_cluster"], r["dedup_keep"], r["dedup_duplicate_of"]) for r in rows] == [
        (0, False, "001"),
        (0, True, None),
        (None, True, None),
        (None, True, None),
        (None, True, None),
    ]
    assert all(
        r["src"] == "x" and r["text"] == rec["text"] for r, rec in zip(rows, records, strict=False)
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"] == {"read": 5, "kept": 4, "removed": 1, "skipped": 0}
    assert summary["outputs"] == [
        "clusters.jsonl",
        "annotated.jsonl",
        "errors.jsonl",
        "summary.json",
    ]
    assert summary["config"]["output"] == {"format": "auto", "annotate": True}
    assert sum(r["dedup_keep"] for r in rows) == result.counts.kept


def test_annotate_parquet_adds_typed_columns(seeds_dir: Path, tmp_path: Path) -> None:
    table = seed_table(seeds_dir)
    pq.write_table(table, tmp_path / "in.parquet")
    run(
        [str(tmp_path / "in.parquet")],
        tmp_path / "out",
        Config(jobs=1, output=OutputConfig(annotate=True)),
    )
    out = pq.read_table(tmp_path / "out" / "annotated.parquet")
    assert out.schema.names == [
        *table.schema.names,
        "dedup_cluster",
        "dedup_keep",
        "dedup_duplicate_of",
        "dedup_via",
        "dedup_via_jaccard",
        "dedup_via_containment",
        "dedup_repeated_share",
    ]
    assert out.schema.field("dedup_cluster").type == pa.int64()
    assert out.schema.field("dedup_keep").type == pa.bool_()
    assert out.schema.field("dedup_via_jaccard").type == pa.float64()
    assert out.column("dedup_keep").to_pylist() == [False, True, True, True, True]
    assert out.column("dedup_duplicate_of").to_pylist() == ["001", None, None, None, None]
    assert out.column("dedup_via").to_pylist() == ["001", None, None, None, None]
    assert out.column("dedup_repeated_share").to_pylist() == [0.0, 0.0, None, None, None]
    [line] = (tmp_path / "out" / "clusters.jsonl").read_text("utf-8").splitlines()
    member = json.loads(line)["members"][1]
    assert out.column("dedup_via_jaccard")[0].as_py() == member["via_jaccard"]
    assert out.select(table.schema.names).to_pylist() == table.to_pylist()


# --- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("annotate", [False, True])
@pytest.mark.parametrize("source", ["parquet", "jsonl"])
def test_two_runs_write_identical_bytes(
    source: str, annotate: bool, seeds_dir: Path, tmp_path: Path
) -> None:
    table = seed_table(seeds_dir)
    if source == "parquet":
        path = tmp_path / "in.parquet"
        pq.write_table(table, path, row_group_size=3)
    else:
        path = write_jsonl(
            tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in seeds(seeds_dir)]
        )
    cfg = Config(jobs=1, output=OutputConfig(annotate=annotate))
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        run([str(path)], out, cfg)
    names = json.loads((outs[0] / "summary.json").read_text())["outputs"]
    assert any(n.startswith("annotated" if annotate else "kept") for n in names)
    for name in names:
        if name != "summary.json":
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


# --- eval and report read Parquet and annotated runs ----------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--annotate"], ["--output-format", "parquet"]])
def test_eval_and_report_read_every_output_kind(
    extra: list[str], seeds_dir: Path, tmp_path: Path
) -> None:
    pq.write_table(seed_table(seeds_dir), tmp_path / "in.parquet")
    out = tmp_path / "out"
    code, output = dedup("run", str(tmp_path / "in.parquet"), "-o", str(out), *extra)
    assert code == 0, output
    gold = write_jsonl(
        tmp_path / "gold.jsonl", [{"id": "000", "cluster": 1}, {"id": "001", "cluster": 1}]
    )
    code, output = dedup("eval", "--gold", str(gold), "--json", str(out))
    assert code == 0, output
    scores = json.loads(output)
    assert scores["documents"] == 5 and scores["precision"] == scores["recall"] == 1.0
    code, output = dedup("report", str(out))
    assert code == 0, output
    page = (out / "report" / "clusters" / "000000.md").read_text(encoding="utf-8")
    first_line = dict(seeds(seeds_dir))["001"].strip().splitlines()[0].strip()
    assert first_line[:8] in page
