from __future__ import annotations

import errno
import fcntl
import gzip
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dedup.cli import cli

PAIR = {"000_fa5b47ae513dff0c.txt", "001_096293c0fedcb6b3.txt"}


def _run(*args: str, input: bytes | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.output


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _check_seed_run(out: Path, ids: set[str]) -> None:
    clusters = _jsonl(out / "clusters.jsonl")
    assert len(clusters) == 1
    (cluster,) = clusters
    assert cluster["cluster"] == 0
    assert cluster["representative"] == "001_096293c0fedcb6b3.txt"
    assert {m["id"] for m in cluster["members"]} == PAIR
    assert cluster["members"][0] == {
        "id": cluster["representative"],
        "jaccard": 1.0,
        "containment": 1.0,
        "via": None,
        "via_jaccard": None,
        "via_containment": None,
        "repeated_share": 0.0,
    }
    member = cluster["members"][1]
    assert set(member) == set(cluster["members"][0])
    # Verified against the representative itself: the pair is the one measured against it.
    assert member["via"] == cluster["representative"]
    assert (member["via_jaccard"], member["via_containment"]) == (
        member["jaccard"],
        member["containment"],
    )
    kept = {r["id"] for r in _jsonl(out / "kept.jsonl")}
    removed = _jsonl(out / "removed.jsonl")
    assert kept == ids - {"000_fa5b47ae513dff0c.txt"}
    assert [(r["id"], r["duplicate_of"], r["cluster"]) for r in removed] == [
        ("000_fa5b47ae513dff0c.txt", "001_096293c0fedcb6b3.txt", 0)
    ]
    summary = json.loads((out / "summary.json").read_text())
    docs = summary["documents"]
    assert docs["read"] == docs["kept"] + docs["removed"] + docs["skipped"] == len(ids)
    assert summary["clusters"] == 1
    assert summary["config"]["verify"]["containment"] == 0.8
    assert summary["version"]
    assert {"read", "sign", "lsh", "verify", "cluster", "write"} <= set(summary["timings"])


def test_seeds_folder(seeds_dir: Path, tmp_path: Path) -> None:
    code, output = _run("run", str(seeds_dir), "-o", str(tmp_path / "out"), "--no-report")
    assert code == 0, output
    _check_seed_run(tmp_path / "out", {p.name for p in seeds_dir.iterdir()})
    kept = _jsonl(tmp_path / "out" / "kept.jsonl")
    assert all(set(r) == {"id", "text"} for r in kept)
    assert kept[0]["text"] == (seeds_dir / kept[0]["id"]).read_text(encoding="utf-8")


@pytest.mark.parametrize("encoding", ["gb18030", "mixed-big5"])
def test_encoded_copies_give_the_same_clusters(
    seeds_dir: Path, tmp_path: Path, encoding: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for p in seeds_dir.iterdir():
        text = p.read_text(encoding="utf-8")
        if encoding == "gb18030":
            data = text.encode("gb18030")
        elif p.name.startswith("000"):
            data = text.encode("big5", errors="replace")
        else:
            data = text.encode("utf-8")
        (folder / p.name).write_bytes(data)
    code, output = _run("run", str(folder), "-o", str(tmp_path / "out"), "--no-report")
    assert code == 0, output
    _check_seed_run(tmp_path / "out", {p.name for p in seeds_dir.iterdir()})


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_seeds_as_jsonl_keep_extra_fields(seeds_dir: Path, tmp_path: Path, suffix: str) -> None:
    lines = [
        json.dumps(
            {"id": p.name, "text": p.read_text(encoding="utf-8"), "url": f"http://x/{i}", "n": i}
        )
        for i, p in enumerate(sorted(seeds_dir.iterdir()))
    ]
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / f"seeds{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    code, output = _run("run", str(path), "-o", str(tmp_path / "out"), "--no-report")
    assert code == 0, output
    _check_seed_run(tmp_path / "out", {p.name for p in seeds_dir.iterdir()})
    for r in _jsonl(tmp_path / "out" / "kept.jsonl") + _jsonl(tmp_path / "out" / "removed.jsonl"):
        assert r["url"].startswith("http://x/") and isinstance(r["n"], int)


def test_stdin_and_custom_fields(seeds_dir: Path, tmp_path: Path) -> None:
    data = "".join(
        json.dumps({"doc": p.name, "content": p.read_text(encoding="utf-8")}) + "\n"
        for p in sorted(seeds_dir.iterdir())
    ).encode()
    code, output = _run(
        "run",
        "-",
        "-o",
        str(tmp_path / "out"),
        "--id-field",
        "doc",
        "--text-field",
        "content",
        "--no-report",
        input=data,
    )
    assert code == 0, output
    clusters = _jsonl(tmp_path / "out" / "clusters.jsonl")
    assert [{m["id"] for m in c["members"]} for c in clusters] == [PAIR]


def _generated(path: Path, seeds_dir: Path, n: int = 300) -> Path:
    """`n` JSONL documents cut from the seeds: many clusters, members of several sizes."""
    rng = random.Random(3)
    texts = [p.read_text(encoding="utf-8") for p in sorted(seeds_dir.iterdir())]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text = rng.choice(texts)
            start = rng.randrange(len(text) // 3)
            cut = text[start : start + rng.randrange(200, len(text))]
            f.write(json.dumps({"id": f"g{i}", "text": cut}, ensure_ascii=False) + "\n")
    return path


def test_output_is_deterministic_across_jobs(seeds_dir: Path, tmp_path: Path) -> None:
    corpus = _generated(tmp_path / "gen.jsonl", seeds_dir)
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        args = ("run", str(seeds_dir), str(corpus), "-o", str(out), "--jobs", jobs, "-q")
        code, output = _run(*args, "--max-chars", "2000")
        assert code == 0, output
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert Path("report/index.html") in files and Path("report/index.md") in files
    for rel in files:  # the report included: it shows no timings
        if rel.name != "summary.json":
            assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
    s0, s1 = (json.loads((o / "summary.json").read_text()) for o in outs)
    for s in (s0, s1):
        s.pop("timings"), s.pop("throughput")
    assert s0 == s1


def test_folder_order_does_not_matter(seeds_dir: Path, tmp_path: Path) -> None:
    results = []
    for name, order in (("a", sorted), ("b", lambda x: sorted(x, reverse=True))):
        folder = tmp_path / name
        folder.mkdir()
        for p in order(list(seeds_dir.iterdir())):
            shutil.copy(p, folder / p.name)
        out = tmp_path / f"out-{name}"
        assert _run("run", str(folder), "-o", str(out), "--no-report")[0] == 0
        results.append((out / "clusters.jsonl").read_bytes() + (out / "kept.jsonl").read_bytes())
    assert results[0] == results[1]


def test_bad_jsonl_is_exit_1_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "一二三"}\n{"id": "b", "text": "四五六"}\n{oops\n')
    code, output = _run("run", str(bad), "-o", str(tmp_path / "out"), "--no-report")
    assert code == 1
    assert "bad.jsonl, line 3" in output and "Traceback" not in output
    assert not (tmp_path / "out" / "summary.json").exists()


def test_skip_mode_records_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "一二三"}\n{oops\n{"id": "c", "text": 5}\n')
    out = tmp_path / "out"
    code, output = _run("run", str(bad), "-o", str(out), "--on-error", "skip", "--no-report")
    assert code == 0, output
    errors = _jsonl(out / "errors.jsonl")
    assert [e["line"] for e in errors] == [2, 3]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"] == {"read": 3, "kept": 1, "removed": 0, "skipped": 2}


def test_duplicate_id_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a", "text": "一"}\n{"id": "a", "text": "二"}\n')
    code, output = _run("run", str(path), "-o", str(tmp_path / "out"), "--no-report")
    assert code == 1 and "d.jsonl, line 2" in output and "duplicate id" in output


def test_usage_error_is_exit_2(tmp_path: Path) -> None:
    assert _run("run", "x", "-o", str(tmp_path), "--threshold", "abc")[0] == 2
    code, output = _run("run", "x", "-o", str(tmp_path), "--threshold", "1.5", "--no-report")
    assert code == 2 and "threshold" in output


def test_normalize_command(seeds_dir: Path) -> None:
    code, output = _run("normalize", str(seeds_dir / "000_fa5b47ae513dff0c.txt"))
    assert code == 0
    assert output.startswith("来源云南发布2023 03 28 10 04尊重是靠努力赢来的")
    assert "(fā)" not in output and "發" not in output


def test_normalize_names_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    code, output = _run("normalize", str(path))
    assert code == 1 and "image.png" in output and "binary" in output


def test_eval_command(seeds_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run("run", str(seeds_dir), "-o", str(out), "--no-report")[0] == 0
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        '{"id": "000_fa5b47ae513dff0c.txt", "cluster": 1}\n'
        '{"id": "002_330fed40d821b570.txt", "cluster": 1}\n'
    )
    code, output = _run("eval", "--gold", str(gold), "--json", str(out))
    assert code == 0, output
    scores = json.loads(output)
    assert scores["precision"] == 0.0 and scores["recall"] == 0.0


def test_run_writes_report_and_report_rebuilds_it(seeds_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _run("run", str(seeds_dir), "-o", str(out), "--max-chars", "300")
    assert code == 0, output
    page = out / "report" / "clusters" / "000000.md"
    first = page.read_bytes()
    assert "000_fa5b47ae513dff0c.txt" in first.decode()
    code, output = _run("report", str(out), "--max-chars", "300")
    assert code == 0, output
    assert page.read_bytes() == first
    code, output = _run("report", str(out), "--max-chars", "5000")
    assert code == 0 and page.read_bytes() != first


def test_two_runs_are_byte_identical(seeds_dir: Path, tmp_path: Path) -> None:
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert _run("run", str(seeds_dir), "-o", str(out))[0] == 0
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert Path("report/index.html") in files
    for rel in files:
        if rel.name != "summary.json":
            assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel


# --- messages and exit codes ----------------------------------------------------------------


def _invoke(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def _one_line_error(result: Result, code: int = 1) -> str:
    """The run failed with `code` and said why on one line, without a traceback."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_outdir_that_is_a_file(seeds_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file")
    line = _one_line_error(_invoke("run", str(seeds_dir), "-o", str(out), "--jobs", "1"))
    assert line.startswith(f"error: {out}: ") and "not a folder" in line
    assert out.read_text() == "a file"


def test_outdir_whose_parent_is_a_file(seeds_dir: Path, tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    parent.write_text("a file")
    out = parent / "out"
    line = _one_line_error(_invoke("run", str(seeds_dir), "-o", str(out), "--jobs", "1"))
    assert line.startswith(f"error: {out}: ")


def _refuse_writes(monkeypatch: pytest.MonkeyPatch, match: Any, code: int) -> None:
    """Opening a file for writing, or making a folder, fails with `code` where `match(path)`:
    a read-only folder or a full disk, for whoever runs the tests (root included)."""
    import builtins
    import io

    def check(path: Any) -> None:
        if isinstance(path, (str, os.PathLike)) and match(Path(os.fsdecode(path))):
            raise OSError(code, os.strerror(code), os.fsdecode(path))

    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

    def fake_open(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        if any(c in mode for c in "wax+"):
            check(file)
        return real_open(file, mode, *args, **kw)

    def fake_os_open(path: Any, flags: int, *args: Any, **kw: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            check(path)
        return real_os_open(path, flags, *args, **kw)

    def fake_mkdir(path: Any, *args: Any, **kw: Any) -> None:
        check(path)
        real_mkdir(path, *args, **kw)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)


def test_read_only_outdir(seeds_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _refuse_writes(monkeypatch, lambda p: out in p.parents, errno.EACCES)
    line = _one_line_error(_invoke("run", str(seeds_dir), "-o", str(out), "--jobs", "1"))
    assert str(out) in line and "Permission denied" in line
    assert list(out.iterdir()) == []


# Where a disk fills: taking OUTDIR, pass one's shingle store and spool, an output file,
# summary.json, the report.
FULL_AT = {
    "start": lambda p: True,
    "pass one": lambda p: p.name.startswith(("segment-", "spool-")),
    "outputs": lambda p: p.name == ".removed.jsonl.partial",
    "summary": lambda p: p.name == ".summary.json.partial",
    "report": lambda p: "report" in p.parts,
}


@pytest.mark.parametrize("stage", list(FULL_AT))
def test_no_space_left_at_any_stage(
    seeds_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    out = tmp_path / "out"
    at = FULL_AT[stage]
    _refuse_writes(monkeypatch, lambda p: out in [p, *p.parents] and at(p), errno.ENOSPC)
    line = _one_line_error(_invoke("run", str(seeds_dir), "-o", str(out), "--jobs", "1"))
    assert line.startswith("error: ") and "No space left on device" in line, line
    assert not (out / "summary.json").exists()


def test_ctrl_c_inside_compiled_code_exits_130(
    seeds_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kw: Any) -> Any:
        # What a Ctrl-C inside numba's dispatcher can surface as: the interrupt is its cause.
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            msg = "<CPUDispatcher(<function x>)> returned a result with an exception set"
            raise SystemError(msg) from e

    monkeypatch.setattr("dedup.index.link_buckets", interrupted)
    out = tmp_path / "out"
    result = _invoke("run", str(seeds_dir), "-o", str(out), "--jobs", "1")
    assert _one_line_error(result, 130) == "interrupted: no output was marked complete"
    assert not (out / "summary.json").exists()


def test_control_characters_in_file_names_are_escaped(tmp_path: Path) -> None:
    name = tmp_path / "bad\x1b[31m\u202e.jsonl"
    name.write_text('{"id": "a", "text": "一"}\n{oops\n', encoding="utf-8")
    line = _one_line_error(_invoke("run", str(name), "-o", str(tmp_path / "out")))
    assert "\x1b" not in line and "\u202e" not in line
    assert repr(str(name)) in line and "line 2" in line


def test_a_second_run_into_one_outdir(seeds_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run("run", str(seeds_dir), "-o", str(out), "--no-report")[0] == 0
    fd = os.open(out / ".dedup-lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a run in progress holds it
        for args in (("run", str(seeds_dir), "-o", str(out)), ("report", str(out))):
            line = _one_line_error(_invoke(*args))
            assert "another dedup run is writing to this folder" in line
    finally:
        os.close(fd)


def test_the_last_line_names_the_report(seeds_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _run("run", str(seeds_dir), "-o", str(out), "--jobs", "1")
    assert code == 0, output
    assert output.splitlines()[-1] == f"report: {out / 'report' / 'index.html'}"


# --- dedup normalize ------------------------------------------------------------------------


def test_normalize_reads_stdin(seeds_dir: Path) -> None:
    path = seeds_dir / "000_fa5b47ae513dff0c.txt"
    expected = _run("normalize", str(path))[1]
    code, output = _run("normalize", input=path.read_bytes())
    assert code == 0 and output == expected
    assert _run("normalize", "-", input=path.read_bytes())[1] == expected


def test_normalize_reads_jsonl_records_by_text_field(seeds_dir: Path, tmp_path: Path) -> None:
    texts = [p.read_text(encoding="utf-8") for p in sorted(seeds_dir.iterdir())[:2]]
    lines = "".join(json.dumps({"body": t}, ensure_ascii=False) + "\n" for t in texts)
    path = tmp_path / "docs.jsonl"
    path.write_text(lines, encoding="utf-8")
    singles = []
    for k, t in enumerate(texts):
        (tmp_path / f"{k}.txt").write_text(t, encoding="utf-8")
        singles.append(_run("normalize", str(tmp_path / f"{k}.txt"))[1])
    code, output = _run("normalize", str(path), "--text-field", "body")
    assert code == 0, output
    assert output == "".join(singles)  # one line per record
    assert _run("normalize", "--text-field", "body", input=lines.encode())[1] == output
    line = _one_line_error(_invoke("normalize", str(path)))  # no "text" field
    assert "docs.jsonl, line 1" in line and "'text'" in line


# --- duplicate ids ---------------------------------------------------------------------------


def test_skip_mode_skips_a_repeated_id_and_records_it(tmp_path: Path) -> None:
    data = tmp_path / "a.jsonl"
    data.write_text(
        '{"id": 1, "text": "第一篇"}\n{"id": "2", "text": "第二篇"}\n'
        '{"id": "1", "text": "重复的编号"}\n{oops\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    code, output = _run("run", str(data), "-o", str(out), "--on-error", "skip", "--no-report")
    assert code == 0, output
    errors = _jsonl(out / "errors.jsonl")
    assert [(e["source"], e["line"]) for e in errors] == [(str(data), 3), (str(data), 4)]
    assert errors[0]["reason"] == f"duplicate id '1' (first seen in {data}, line 1)"
    assert [r["text"] for r in _jsonl(out / "kept.jsonl")] == ["第一篇", "第二篇"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"] == {"read": 4, "kept": 2, "removed": 0, "skipped": 2}
    # Without skip, the same record stops the run.
    code, output = _run("run", str(data), "-o", str(tmp_path / "o2"), "--no-report")
    assert code == 1 and "a.jsonl, line 3: duplicate id '1'" in output


def test_two_folders_with_the_same_file_name(
    seeds_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given several inputs, generated ids lead with the input as given: two folders that
    both hold part-0.txt (and part-1.jsonl records without ids) give distinct documents."""
    monkeypatch.chdir(tmp_path)
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        shutil.copy(seeds_dir / "000_fa5b47ae513dff0c.txt", tmp_path / name / "part-0.txt")
        (tmp_path / name / "part-1.jsonl").write_text('{"text": "同一条没有编号的记录"}\n')
    code, output = _run("run", "x", "y/", "-o", "out", "--no-report")
    assert code == 0, output
    kept = [r["id"] for r in _jsonl(tmp_path / "out" / "kept.jsonl")]
    removed = {r["id"]: r["duplicate_of"] for r in _jsonl(tmp_path / "out" / "removed.jsonl")}
    assert kept == ["x/part-0.txt", "x/part-1.jsonl:1"]
    assert removed == {"y/part-0.txt": "x/part-0.txt", "y/part-1.jsonl:1": "x/part-1.jsonl:1"}
    # One input keeps the short ids; the same folder given twice is a repeated id.
    code, output = _run("run", "x", "-o", "one", "--no-report")
    assert code == 0 and [r["id"] for r in _jsonl(tmp_path / "one" / "kept.jsonl")] == [
        "part-0.txt",
        "part-1.jsonl:1",
    ]
    code, output = _run("run", "x", "x", "-o", "twice", "--no-report", "--on-error", "skip")
    assert code == 0, output
    reasons = [e["reason"] for e in _jsonl(tmp_path / "twice" / "errors.jsonl")]
    assert len(reasons) == 2
    assert reasons[0].startswith("duplicate id 'x/part-0.txt'")
    assert reasons[1].startswith("duplicate id 'x/part-1.jsonl:1'")


# What a plain run of the seeds never needs: numba's BLAS probe would import scipy.linalg;
# the index, report, Parquet, Spark, serve (sqlite), WARC and Chinese word-segmentation
# modules are for runs that ask for them.
_HEAVY = (
    "scipy.linalg",
    "pandas",
    "pyarrow",
    "jieba",
    "sqlite3",
    "warcio",
    "fsspec",
    "trafilatura",
    "resiliparse",
    "pyspark",
    "dedup.persist",
    "dedup.indexfs",
    "dedup.report",
    "dedup.spark",
    "dedup.serve",
    "dedup.io.warc",
)


def _run_in_a_process(script: str) -> str:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("kind", "loads"),
    [
        ("no-report", []),
        ("report", ["dedup.report"]),
        # WARC in one process: warcio without fsspec (dedup hands it open streams), and only
        # the default extractor.
        ("warc", ["dedup.io.warc", "resiliparse", "warcio"]),
    ],
)
def test_a_run_loads_no_module_it_does_not_use(
    seeds_dir: Path, tmp_path: Path, kind: str, loads: list[str]
) -> None:
    inputs = str(seeds_dir)
    if kind == "warc":
        from helpers import URL, plain_page, seeds, write_warc

        pages = [(URL.format(i), plain_page(t).encode(), "text/html") for i, t in seeds(seeds_dir)]
        inputs = str(write_warc(tmp_path / "seeds.warc.gz", pages))
    script = (
        "import sys\n"
        "from dedup.cli import cli\n"
        f"args = ['run', {inputs!r}, '-o', {str(tmp_path / 'out')!r}, '-q', '--jobs', '1']\n"
        f"args += [] if {kind == 'report'} else ['--no-report']\n"
        "try:\n"
        "    cli(args)\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        f"heavy = {_HEAVY!r}\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert _run_in_a_process(script) == str(loads)
    assert len(_jsonl(tmp_path / "out" / "kept.jsonl")) == 4


def test_the_dedup_process_collects_garbage_once_started_and_a_callers_is_left_alone(
    seeds_dir: Path, tmp_path: Path
) -> None:
    # main() (the console script, python -m dedup) starts with the collector off, sets what
    # start-up loaded aside (gc.freeze) and turns it back on; called in a caller's process,
    # the CLI leaves its collector as it was.
    script = (
        "import gc, sys\n"
        "import dedup.cli as c\n"
        "seen = []\n"
        "started = c._started\n"
        "def spy(ctx):\n"
        "    before = gc.isenabled()\n"
        "    started(ctx)\n"
        "    seen.append((before, gc.isenabled(), gc.get_freeze_count() > 0))\n"
        "c._started = spy\n"
        f"args = ['run', {str(seeds_dir)!r}, '-o', OUT, '-q', '--no-report']\n"
        "sys.argv = ['dedup', *args]\n"
        "try:\n"
        "    MAIN\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print(seen, gc.isenabled(), os.environ.get('OPENBLAS_NUM_THREADS'))\n"
    )
    script = "import os\nos.environ.pop('OPENBLAS_NUM_THREADS', None)\n" + script
    own = script.replace("OUT", repr(str(tmp_path / "own"))).replace("MAIN", "c.main()")
    assert _run_in_a_process(own) == "[(False, True, True)] True 1"  # and a BLAS of one thread
    callers = script.replace("OUT", repr(str(tmp_path / "caller")))
    callers = callers.replace("MAIN", "c.cli(args)")
    assert _run_in_a_process(callers) == "[(True, True, False)] True None"
    assert (tmp_path / "own" / "kept.jsonl").read_bytes() == (
        tmp_path / "caller" / "kept.jsonl"
    ).read_bytes()
