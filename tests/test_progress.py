from __future__ import annotations

import io
import json
from pathlib import Path

from click.testing import CliRunner

from dedup import Config, Doc, ProgressEvent, Skip, run
from dedup._cli_progress import ProgressPrinter, describe
from dedup.cli import cli
from dedup.progress import Reporter, input_size


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_input_size_walks_folders_and_skips_hidden(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_bytes(b"x" * 10)
    (tmp_path / "d" / "sub" / "b.txt").write_bytes(b"x" * 5)
    (tmp_path / "d" / ".hidden").write_bytes(b"x" * 1000)
    (tmp_path / "e.jsonl").write_bytes(b"x" * 7)
    assert input_size([str(tmp_path / "d"), str(tmp_path / "e.jsonl")]) == 22
    assert input_size([str(tmp_path / "e.jsonl"), "-"]) is None


def test_reporter_counts_documents_and_file_bytes(tmp_path: Path) -> None:
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"id": "1", "text": "\\u4e00\\u4e8c"}\n{"id": "2", "text": "b"}\n')
    txt = tmp_path / "b.txt"
    txt.write_text("三")
    docs: list[Doc | Skip] = [
        Doc("1", "一二", source=str(jsonl)),
        Skip(str(jsonl), 2, "bad line"),
        Doc("2", "b", source=str(jsonl)),
        Doc("b.txt", "三", source=str(txt)),
    ]
    events: list[ProgressEvent] = []
    clock = Clock()
    reporter = Reporter(events.append, 999, every=1.0, clock=clock)
    seen = []
    for item in reporter.track(docs):
        seen.append(item)
        clock.now += 0.6  # an event every other document
    reporter.stage("write")
    assert seen == docs  # passed through unchanged
    assert [e.stage for e in events] == ["read", "read", "lsh", "write"]
    assert events[0] == ProgressEvent("read", 3, len("一二".encode()) + 1, 999)
    # When reading ends every file counts its full size: bytes_read reaches the total.
    total = jsonl.stat().st_size + txt.stat().st_size
    assert events[1] == ProgressEvent("read", 4, total, 999)
    assert events[3] == ProgressEvent("write", 4, total, 999)


def test_reporter_counts_warc_pages_not_extracted_yet(seeds_dir: Path, tmp_path: Path) -> None:
    # `run` reads WARC HTML pages in blocks the workers extract: each page is a document, and
    # the bytes are how far into the file reading is.
    from helpers import URL, plain_page, seeds, write_warc

    from dedup.config import ReadConfig
    from dedup.io.readers import read_items
    from dedup.types import RawPages

    texts = seeds(seeds_dir) * 20
    pages = [(URL.format(k), plain_page(t).encode(), "text/html") for k, (_, t) in enumerate(texts)]
    path = write_warc(tmp_path / "p.warc.gz", pages)
    events: list[ProgressEvent] = []
    clock = Clock()
    reporter = Reporter(events.append, path.stat().st_size, every=1.0, clock=clock)
    items = []
    for item in reporter.track(read_items([str(path)], ReadConfig())):
        items.append(item)
        clock.now += 2.0  # an event after every block
    assert all(isinstance(i, RawPages) for i in items) and len(items) > 2
    assert sum(i.count for i in items) == len(pages)
    reads = [e for e in events if e.stage == "read"]
    totals = [sum(i.count for i in items[: k + 1]) for k in range(len(items))]
    assert [e.documents for e in reads] == [*totals[1:], len(pages)]
    done = [e.bytes_read for e in reads]
    assert done == sorted(done) and done[-1] == path.stat().st_size and done[0] < done[-1]
    assert reads[-1].documents == len(pages)


def test_reporter_without_callback_is_a_pass_through() -> None:
    docs = [Doc("a", "x"), Doc("b", "y")]
    reporter = Reporter(None, None)
    assert list(reporter.track(docs)) == docs
    reporter.stage("write")  # nothing to call: no error


def test_run_reports_every_stage_and_writes_the_same(seeds_dir: Path, tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    config = Config(jobs=1)
    run([str(seeds_dir)], tmp_path / "a", config, progress=events.append, report=lambda p, s: None)
    run([str(seeds_dir)], tmp_path / "b", config)
    stages = [e.stage for e in events]
    assert stages[-7:] == ["read", "lsh", "verify", "cluster", "write", "report", "done"]
    assert set(stages[:-7]) <= {"read"}
    total = input_size([str(seeds_dir)])
    assert events[-1] == ProgressEvent("done", 5, total, total)
    for name in ("clusters.jsonl", "kept.jsonl", "removed.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_stdin_has_no_total_and_no_eta(tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    line = '{"id": "a", "text": "一篇文章"}'.encode()
    run(
        ["-"],
        tmp_path / "o",
        Config(jobs=1),
        stdin=io.BytesIO(line + b"\n"),
        progress=events.append,
    )
    # JSONL lines are counted as read, before they are parsed (the workers parse them).
    assert events[-1] == ProgressEvent("done", 1, len(line) + 1, None)  # with its newline
    assert "ETA" not in describe(ProgressEvent("read", 1, 12, None), 2.0)


def test_describe_rates_and_eta() -> None:
    line = describe(ProgressEvent("read", 2000, 25_000_000, 100_000_000), 10.0)
    assert line.startswith("dedup [read] 2,000 documents, 25.0/100.0 MB (25%)")
    assert "200 docs/s, 2.50 MB/s" in line
    assert "ETA 0:00:30" in line
    after = describe(ProgressEvent("verify", 2000, 100_000_000, 100_000_000), 50.0)
    assert "ETA" not in after and after.startswith("dedup [verify]")


def test_terminal_line_is_rewritten_in_place() -> None:
    out = io.StringIO()
    clock = Clock()
    printer = ProgressPrinter(out, tty=True, clock=clock)
    printer(ProgressEvent("read", 1, 10, 100))  # too soon after the start
    assert out.getvalue() == ""
    clock.now += 1
    printer(ProgressEvent("read", 5, 50, 100))
    printer(ProgressEvent("lsh", 10, 100, 100))  # a new stage shows at once
    printer.close()
    text = out.getvalue()
    assert "\n" not in text
    assert text.count("\r\x1b[K") == 3  # two drawings and the final clearing
    assert "dedup [read] 5 documents" in text and "dedup [lsh] 10 documents" in text
    assert text.endswith("\r\x1b[K")


def test_log_lines_every_interval_when_not_a_terminal() -> None:
    out = io.StringIO()
    clock = Clock()
    printer = ProgressPrinter(out, tty=False, interval=10, clock=clock)
    for _ in range(25):
        clock.now += 1
        printer(ProgressEvent("read", 1, 1, None))
    printer.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # at 10 s and 20 s
    assert all(line.startswith("dedup [read] ") for line in lines)
    assert "\r" not in out.getvalue()


def test_short_runs_log_no_stage_lines_long_runs_do() -> None:
    out = io.StringIO()
    clock = Clock()
    printer = ProgressPrinter(out, tty=False, interval=10, clock=clock)
    clock.now += 2
    printer(ProgressEvent("lsh", 1, 1, None))
    assert out.getvalue() == ""
    clock.now += 9
    printer(ProgressEvent("verify", 1, 1, None))
    assert out.getvalue().startswith("dedup [verify]")


def test_cli_progress_goes_to_stderr_only(seeds_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    args = ["run", str(seeds_dir), "-o", str(out), "--no-report", "--jobs", "1"]
    result = runner.invoke(cli, [*args, "--progress-interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "5 documents read" in result.stderr
    quiet = runner.invoke(cli, [*args, "--quiet"])
    assert quiet.exit_code == 0 and quiet.output == ""
    summary = json.loads((out / "summary.json").read_text())
    assert "quiet" not in summary["options"]


def test_documents_are_counted_across_blocks_of_lines(tmp_path: Path) -> None:
    # More than one block of JSONL lines (the main process reads them unparsed).
    lines = [f'{{"id": "{i}", "text": "第{i}篇文章的内容{"长" * 200}"}}' for i in range(3000)]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    events: list[ProgressEvent] = []
    run([str(tmp_path / "a.jsonl")], tmp_path / "o", Config(jobs=1), progress=events.append)
    assert sum(len(x) + 1 for x in lines) > 2 * (1 << 18)
    assert [e.documents for e in events if e.stage == "lsh"] == [3000]
