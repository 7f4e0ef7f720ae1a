from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

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
    }
    assert set(cluster["members"][1]) == {"id", "jaccard", "containment"}
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


def test_output_is_deterministic_across_jobs(seeds_dir: Path, tmp_path: Path) -> None:
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        code, output = _run("run", str(seeds_dir), "-o", str(out), "--jobs", jobs, "--no-report")
        assert code == 0, output
        outs.append(out)
    for name in ("clusters.jsonl", "kept.jsonl", "removed.jsonl", "errors.jsonl"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
    s0, s1 = (json.loads((o / "summary.json").read_text()) for o in outs)
    for s in (s0, s1):
        s.pop("timings"), s.pop("throughput")
        s["config"].pop("jobs")
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
