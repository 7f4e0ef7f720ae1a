from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dedup._cli_config import option_key
from dedup.cli import cli, run

CONTRACT = ("clusters.jsonl", "kept.jsonl", "removed.jsonl", "errors.jsonl")
VARYING = {"timings", "throughput"}  # the only summary keys that differ between equal runs


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _toml_from_summary(summary: Path) -> str:
    """The documented mapping: every key of summary.json's "options" is a top-level TOML key
    with the same value; null (an unset option) is left out."""
    options = json.loads(summary.read_text(encoding="utf-8"))["options"]
    return "".join(
        f"{key} = {json.dumps(value, ensure_ascii=False)}\n"
        for key, value in options.items()
        if value is not None
    )


def _files(outdir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(outdir).as_posix(): p.read_bytes()
        for p in sorted(outdir.rglob("*"))
        if p.is_file() and p.name != "summary.json"
    }


def _summary(outdir: Path) -> dict[str, Any]:
    doc = json.loads((outdir / "summary.json").read_text(encoding="utf-8"))
    return {k: v for k, v in doc.items() if k not in VARYING}


def _config_file(tmp_path: Path, seeds_dir: Path) -> Path:
    path = tmp_path / "dedup.toml"
    path.write_text(
        f"inputs = [{json.dumps(str(seeds_dir))}]\n"
        "threshold = 0.55\n"
        "num-perm = 64\n"
        "seed = 7\n"
        'representative = "first"\n'
        "max-chars = 300\n",  # a report limit: shows in the report files
        encoding="utf-8",
    )
    return path


def test_rerun_from_summary_is_byte_identical(seeds_dir: Path, tmp_path: Path) -> None:
    config = _config_file(tmp_path, seeds_dir)
    code, output = _run("run", "--config", str(config), "-o", str(tmp_path / "a"))
    assert code == 0, output
    first = _summary(tmp_path / "a")
    assert first["config"]["verify"]["threshold"] == 0.55
    assert first["config"]["signature"] == {"num_perm": 64, "seed": 7}
    assert first["config"]["cluster"]["representative"] == "first"
    assert first["inputs"] == [str(seeds_dir)]
    assert first["options"]["max-chars"] == 300
    assert first["options"]["inputs"] == [str(seeds_dir)]
    # "first" keeps the older, shorter seed: not what the defaults give.
    removed = (tmp_path / "a" / "removed.jsonl").read_text(encoding="utf-8")
    assert json.loads(removed)["id"] == "001_096293c0fedcb6b3.txt"

    recovered = tmp_path / "recovered.toml"
    recovered.write_text(_toml_from_summary(tmp_path / "a" / "summary.json"), encoding="utf-8")
    code, output = _run("run", "--config", str(recovered), "-o", str(tmp_path / "b"))
    assert code == 0, output
    # A summary.json is also accepted as it is.
    summary = str(tmp_path / "a" / "summary.json")
    code, output = _run("run", "--config", summary, "-o", str(tmp_path / "c"))
    assert code == 0, output

    files = _files(tmp_path / "a")
    assert set(CONTRACT) <= set(files)
    assert any(name.startswith("report/") for name in files)
    for other in ("b", "c"):
        assert _files(tmp_path / other) == files
        assert _summary(tmp_path / other) == first


def test_command_line_wins_over_the_file(seeds_dir: Path, tmp_path: Path) -> None:
    config = _config_file(tmp_path, seeds_dir)
    out = tmp_path / "out"
    code, output = _run(
        "run", "--config", str(config), "-o", str(out), "--threshold", "0.9", "--no-report"
    )
    assert code == 0, output
    summary = _summary(out)
    assert summary["config"]["verify"]["threshold"] == 0.9
    assert summary["options"]["threshold"] == 0.9
    assert summary["options"]["num-perm"] == 64  # from the file
    assert not (out / "report").exists()


def test_keys_may_use_underscores_and_give_the_output(seeds_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "dedup.toml"
    out = tmp_path / "out"
    config.write_text(
        f"inputs = [{json.dumps(str(seeds_dir))}]\noutput = {json.dumps(str(out))}\n"
        "num_perm = 32\nno_report = true\n",
        encoding="utf-8",
    )
    code, output = _run("run", "--config", str(config))
    assert code == 0, output
    assert _summary(out)["config"]["signature"]["num_perm"] == 32
    assert "output" not in _summary(out)["options"]  # where it went is not how it ran


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("thresold = 0.7\n", "unknown key 'thresold'"),
        ('threshold = "high"\n', "key 'threshold': 'high' is not a valid float"),
        ('representative = "middle"\n', "key 'representative': 'middle' is not one of"),
        ('inputs = "data"\n', "key 'inputs': expected a list"),
        ("num-perm = [64]\n", "key 'num-perm': expected a single value"),
        ("threshold = [\n", "cannot read config"),
        ("threshold = 1.5\n", "threshold must be in (0, 1], got 1.5 (options read from"),
    ],
)
def test_bad_config_is_a_usage_error(
    seeds_dir: Path, tmp_path: Path, content: str, message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content, encoding="utf-8")
    code, output = _run("run", "--config", str(config), "-o", str(tmp_path / "o"), str(seeds_dir))
    assert code == 2, output
    assert message in output
    assert str(config) in output
    assert not (tmp_path / "o" / "summary.json").exists()


def test_summary_json_without_options_is_refused(seeds_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "summary.json"
    other.write_text('{"documents": {}}', encoding="utf-8")
    code, output = _run("run", "--config", str(other), "-o", str(tmp_path / "o"), str(seeds_dir))
    assert code == 2
    assert 'no "options" object' in output


def test_every_output_shaping_option_is_recorded(seeds_dir: Path, tmp_path: Path) -> None:
    """Options added to `run` later are recorded (and accepted from a file) without changes
    to the config code."""
    out = tmp_path / "out"
    code, output = _run("run", str(seeds_dir), "-o", str(out), "--no-report", "-q")
    assert code == 0, output
    assert output == ""  # --quiet
    keys = {option_key(p) for p in run.params} - {"help", "config"}
    not_recorded = {"output", "quiet", "progress-interval", "jobs"}
    assert set(_summary(out)["options"]) == keys - not_recorded
