"""The `dedup` command line: thin wrappers over the library. Exit codes: 0 success,
1 input or data error, or an OUTDIR that cannot be used or written (another run holds it, it
holds files dedup did not write, no permission, no space left), 2 usage error, 3 internal
accounting error, 130 interrupted."""

from __future__ import annotations

import errno
import gc
import io
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

import click

from . import __version__
from ._cli_config import config_option, recorded_options
from .config import EXTRACTORS, REPRESENTATIVES, Config
from .errors import DedupError, shown

_DEFAULTS = Config()
# The click context's `obj` when the process is dedup's own (`main`), not a caller's.
_OWN_PROCESS = "dedup"


class _Group(click.Group):
    """Maps library errors and OSErrors (no permission, no space left, ...) to a one-line
    message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except DedupError as e:
            if _interrupted(e):
                _interrupt(ctx)
            click.echo(f"error: {e}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            _interrupt(ctx)
        except OSError as e:
            if _interrupted(e):
                _interrupt(ctx)
            click.echo(f"error: {os_error(e)}", err=True)
            ctx.exit(1)
        except Exception as e:
            # Ctrl-C that lands inside compiled code can surface as another error (numba:
            # "SystemError: CPUDispatcher(...) returned a result with an exception set").
            if _interrupted(e):
                _interrupt(ctx)
            raise


def _interrupted(e: BaseException) -> bool:
    """Whether a KeyboardInterrupt is behind `e` (as its cause or context, at any depth)."""
    seen: set[int] = set()
    at: BaseException | None = e
    while at is not None and id(at) not in seen:
        if isinstance(at, KeyboardInterrupt):
            return True
        seen.add(id(at))
        at = at.__cause__ or at.__context__
    return False


def _interrupt(ctx: click.Context) -> None:
    click.echo("interrupted: no output was marked complete", err=True)
    ctx.exit(130)


def os_error(e: OSError) -> str:
    """An OSError as one line: the file or files, then what went wrong."""
    names = [shown(str(n)) for n in (e.filename, e.filename2) if n is not None]
    what = e.strerror or str(e)
    if e.errno == errno.ENOSPC:
        what += ": free some space, or choose an output folder on another disk"
    return ": ".join([" -> ".join(names), what] if names else [what])


def _report_options(f: Any) -> Any:
    """The page-size limits of the report, shared by `run` and `report`."""
    limits = [
        ("--max-members", 10, "Members per cluster diffed in full against the representative."),
        ("--max-listed", 1000, "Members per cluster listed with their figures."),
        ("--max-chars", 20_000, "Characters of each document compared and shown."),
        ("--max-paragraphs", 400, "Paragraphs of each document compared."),
        ("--max-index-rows", 5000, "Clusters listed on the index page without script."),
        (
            "--report-clusters",
            50,
            "Clusters with a page of their own: in turn the largest, the least similar and the "
            "noisiest. The index's search finds every cluster.",
        ),
    ]
    for name, default, help_text in reversed(limits):
        f = click.option(name, type=int, default=default, show_default=True, help=help_text)(f)
    return f


_REPORT_LIMITS = ("max_members", "max_listed", "max_chars", "max_paragraphs", "max_index_rows")


def _report_config(opts: dict[str, Any]) -> Any:
    # Imported here: the report modules are not loaded for a run without a report.
    from .report import ReportConfig

    limits = {k: opts.pop(k) for k in _REPORT_LIMITS}
    return ReportConfig(**limits, clusters=opts.pop("report_clusters"))


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="dedup")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Find every version of the same article in a Chinese web-text corpus."""
    if ctx.invoked_subcommand != "run":
        _started(ctx)


@cli.command()
@config_option
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "outdir",
    required=True,
    type=click.Path(),
    help="Folder for clusters.jsonl, kept.jsonl, removed.jsonl, summary.json, report/. "
    "With --engine spark also a Hadoop URI (hdfs://, s3a://, file://...).",
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["auto", "text", "jsonl", "parquet", "warc"]),
    default="auto",
    show_default=True,
    help="Input format. auto: by each file's name (.jsonl[.gz/.zst], .parquet, .warc[.gz], "
    ".wet[.gz], .txt...), else by its first bytes; stdin is WARC if it starts so, else JSONL.",
)
@click.option(
    "--extractor",
    type=click.Choice(EXTRACTORS),
    default=_DEFAULTS.read.extractor,
    show_default=True,
    help="Main-text extractor for WARC HTML pages: resiliparse, or trafilatura (4-5 times "
    "slower, same quality here).",
)
@click.option(
    "--output-format",
    type=click.Choice(["auto", "jsonl", "parquet"]),
    default="auto",
    show_default=True,
    help="Format of kept/removed (or annotated). auto: parquet when every input is Parquet.",
)
@click.option(
    "--output-layout",
    type=click.Choice(["single", "parts"]),
    default="single",
    show_default=True,
    help="single: one file each for kept/removed (or annotated). parts: a folder of part "
    "files each, written by the Spark executors and listed in summary.json (--engine spark).",
)
@click.option(
    "--annotate",
    is_flag=True,
    help="Write every record to annotated.jsonl/.parquet with dedup_cluster, dedup_keep, "
    "dedup_duplicate_of and why it is in its cluster (dedup_via, dedup_via_jaccard, "
    "dedup_via_containment, dedup_repeated_share), instead of splitting it into kept and "
    "removed.",
)
@click.option(
    "--threshold",
    type=float,
    default=_DEFAULTS.verify.threshold,
    show_default=True,
    help="Jaccard similarity at which two documents are versions of one article.",
)
@click.option(
    "--containment",
    type=float,
    default=_DEFAULTS.verify.containment,
    show_default=True,
    help="Share of the shorter document found in the longer one (truncated copies).",
)
@click.option(
    "--min-own",
    type=click.IntRange(min=1),
    default=_DEFAULTS.verify.min_own,
    show_default=True,
    help="Shingles of its own (repeated text set aside) a document needs to be merged by "
    "containment; with fewer left once some were set aside it is merged with nothing.",
)
@click.option(
    "--min-share",
    type=click.FloatRange(0.0, 1.0),
    default=_DEFAULTS.verify.min_share,
    show_default=True,
    help="Share of the larger document's own text the smaller needs to be merged by "
    "containment (a bare disclaimer or footer is not a version of a page).",
)
@click.option(
    "--differing-numbers",
    type=click.IntRange(min=0),
    default=_DEFAULTS.verify.numbers,
    show_default=True,
    help="Numbers of its own (repeated text set aside) each of two documents must have that "
    "the other lacks for them to be different records, never merged; 0: off.",
)
@click.option(
    "--repeat-min-groups",
    type=click.IntRange(min=0),
    default=_DEFAULTS.repeat.min_groups,
    show_default=True,
    help="Text found in this many groups of versions is site text (frames, disclaimers, "
    "templates), set aside when comparing; 0: off.",
)
@click.option(
    "--ngram",
    type=int,
    default=_DEFAULTS.shingle.ngram,
    show_default=True,
    help="Tokens per shingle (a CJK character or a Latin word is one token).",
)
@click.option(
    "--num-perm",
    type=int,
    default=_DEFAULTS.signature.num_perm,
    show_default=True,
    help="MinHash permutations.",
)
@click.option(
    "--seed",
    type=int,
    default=_DEFAULTS.signature.seed,
    show_default=True,
    help="Seed of the MinHash permutations.",
)
@click.option(
    "--lsh-threshold",
    type=float,
    default=_DEFAULTS.lsh.threshold,
    show_default=True,
    help="Estimated Jaccard from which pairs become candidates (bands/rows follow).",
)
@click.option("--bands", type=int, default=None, help="LSH bands (with --rows; overrides).")
@click.option("--rows", type=int, default=None, help="LSH rows per band (with --bands).")
@click.option(
    "--representative",
    type=click.Choice(REPRESENTATIVES),
    default=_DEFAULTS.cluster.representative,
    show_default=True,
    help="Which member of a cluster is kept: the most complete and cleanest (least noise "
    "removed), or the longest, first or shortest normalized text (ties: earliest in input "
    "order).",
)
@click.option(
    "--id-field",
    default=_DEFAULTS.read.id_field,
    show_default=True,
    help="JSONL field or Parquet column holding the document id.",
)
@click.option(
    "--text-field",
    default=_DEFAULTS.read.text_field,
    show_default=True,
    help="JSONL field or Parquet column holding the text.",
)
@click.option(
    "--on-error",
    type=click.Choice(["raise", "skip"]),
    default="raise",
    show_default=True,
    help="Stop at a malformed record, or record it and go on.",
)
@click.option(
    "--max-record-bytes",
    type=click.IntRange(min=0),
    default=_DEFAULTS.read.max_record_bytes,
    show_default=True,
    help="Largest record read (a JSONL line, a WARC record's content, a text file); a larger "
    "one is a malformed record. 0: no limit.",
)
@click.option(
    "--max-document-chars",
    type=click.IntRange(min=0),
    default=_DEFAULTS.read.max_document_chars,
    show_default=True,
    help="Longest document text, in characters; a longer one is a malformed record. 0: no limit.",
)
@click.option(
    "--max-stream-bytes",
    type=click.IntRange(min=0),
    default=_DEFAULTS.read.max_stream_bytes,
    show_default=True,
    help="Bytes a compressed file may decompress to; the rest of a larger one is skipped. "
    "0: no limit.",
)
@click.option(
    "--jobs",
    type=int,
    default=0,
    show_default=True,
    help="Worker processes (0: all cores). Output does not depend on it.",
)
@click.option(
    "--batch-size",
    type=int,
    default=_DEFAULTS.batch_size,
    show_default=True,
    help="Documents per signing batch.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="Run on this machine, or on Spark (pip install 'dedup[spark]'; same output).",
)
@click.option(
    "--spark-master",
    default=None,
    help="Spark master URL (local[*], yarn, k8s://...). Default: what spark-submit or "
    "spark-defaults.conf sets, else local[*].",
)
@click.option(
    "--spark-conf",
    multiple=True,
    metavar="KEY=VALUE",
    help="A Spark setting, e.g. spark.executor.memory=4g (repeatable).",
)
@click.option(
    "--index",
    "index",
    type=click.Path(file_okay=False),
    default=None,
    help="A persistent index (made when missing): also deduplicate against every document "
    "in it, and add this run's kept documents to it once the run is complete.",
)
@click.option(
    "--against",
    multiple=True,
    type=click.Path(file_okay=False),
    help="An existing index, read-only (decontamination): documents that duplicate one of "
    "its documents are removed (flagged with --annotate). Repeatable.",
)
@click.option(
    "--index-sample",
    type=int,
    default=None,
    help="When --index makes a new index: keep one shingle in N (a power of two) for "
    "verification against it; 1 keeps all (exact, about 4 times the disk). Default 4.",
)
@click.option("--no-report", is_flag=True, help="Do not write the HTML/Markdown report.")
@_report_options
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (no progress).")
@click.option(
    "--progress-interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds between progress lines when stderr is not a terminal (CI, pipes).",
)
def run(inputs: tuple[str, ...], outdir: str, no_report: bool, **opts: Any) -> None:
    """Deduplicate INPUT... (folders, text files, JSONL[.gz/.zst], Parquet, WARC/WET, or - for
    JSONL on stdin)."""
    from ._cli_progress import ProgressPrinter

    quiet, progress_interval = opts.pop("quiet"), opts.pop("progress_interval")
    indexes: dict[str, Any] = {k: opts.pop(k) for k in ("index", "against", "index_sample")}

    names = ["id_field", "text_field", "on_error", "ngram", "num_perm", "seed", "lsh_threshold"]
    names += ["bands", "rows", "threshold", "containment", "min_own", "repeat_min_groups"]
    names += ["differing_numbers", "min_share"]
    names += ["representative", "output_format", "extractor"]
    names += ["annotate", "jobs", "batch_size"]
    names += ["max_record_bytes", "max_document_chars", "max_stream_bytes"]
    config = Config.from_options(format=opts["input_format"], **{k: opts[k] for k in names})
    report = prepare = None
    written: list[Path] = []  # the report's index page, once written
    placed: list[Any] = []  # where the run wrote the representatives (io.outdir.KeptLines)
    printer = None
    if not quiet:
        printer = ProgressPrinter(sys.stderr, tty=sys.stderr.isatty(), interval=progress_interval)
    if not no_report:
        from .report import build_report, plan_report

        report_cfg = _report_config(opts)

        def prepare(unwritten: Any) -> object:
            # The report's reading and choosing, done while the run writes its files.
            u = unwritten
            return plan_report(u.clusters, u.records, u.summary, report_cfg)

        def report(out: Path, summary: Any, prepared: Any = None) -> object:
            pages = printer.pages if printer is not None else None
            at = placed[-1] if placed else None
            index = build_report(
                out,
                report_cfg,
                summary,
                jobs=config.jobs,
                progress=pages,
                kept_lines=at,
                plan=prepared,
            )
            written.append(index)
            return index

    from .io.hadoop import is_uri

    if is_uri(outdir) and opts["engine"] != "spark":
        raise click.BadParameter(
            "a URI is an OUTDIR for --engine spark only; give a local folder", param_hint="-o"
        )
    if indexes["index_sample"] is not None and not indexes["index"]:
        raise click.UsageError("--index-sample applies to the index --index makes")
    if opts["output_layout"] == "parts" and opts["engine"] != "spark":
        raise click.BadParameter(
            "parts are written by Spark's executors: use --engine spark, or the single layout",
            param_hint="--output-layout",
        )
    if not quiet:
        _say_if_compiling()
    _skip_blas_probe()
    if _named_warc(inputs, opts["input_format"]):
        from .io.warc import import_warcio_without_fsspec

        import_warcio_without_fsspec()
    if opts["engine"] == "spark":
        from .spark import run_spark

        conf = _spark_conf(opts["spark_conf"])
        runner: Any = partial(run_spark, master=opts["spark_master"], spark_conf=conf, quiet=quiet)
    else:
        from .pipeline import run as local_run

        runner = partial(
            local_run,
            kept_lines=None if no_report else placed.append,
            prepare_report=prepare,
        )
    _started(click.get_current_context())
    try:
        done = runner(
            list(inputs),
            outdir,
            config,
            stdin=sys.stdin.buffer,
            report=report,
            progress=printer,
            options=recorded_options(click.get_current_context()),
            **{k: v for k, v in indexes.items() if v},
        )
    finally:
        if printer is not None:
            printer.close()
    if quiet:
        return
    c = done.counts
    click.echo(
        f"{c.read} documents read: {c.kept} kept, {c.removed} removed in {c.clusters} "
        f"clusters, {c.skipped} skipped -> {shown(outdir)}",
        err=True,
    )
    if written:
        click.echo(f"report: {shown(str(written[-1]))}", err=True)
    elif "report" in done.summary:
        click.echo(f"report: {done.summary['report']}", err=True)


def _say_if_compiling() -> None:
    """The first run after installing compiles dedup's compiled code (numba): say so, or the
    wait looks like a hang. Later runs read it from numba's cache."""
    from .compiled import cold

    if cold():
        click.echo(
            "dedup: compiling for this machine (first run only; about 10-20 s; cached after)",
            err=True,
        )


def _named_warc(inputs: tuple[str, ...], input_format: str) -> bool:
    """Whether the run reads WARC files, as far as their names or --format say."""
    from .io.detect import format_by_name

    return input_format == "warc" or any(format_by_name(i) == "warc" for i in inputs)


def _skip_blas_probe() -> None:
    from .compiled import skip_blas_probe

    skip_blas_probe()


def _spark_conf(pairs: tuple[str, ...]) -> dict[str, str]:
    """--spark-conf KEY=VALUE options as a dict."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--spark-conf")
        conf[key.strip()] = value
    return conf


@cli.command()
@click.argument("file", default="-", required=False)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["auto", "text", "jsonl", "parquet", "warc"]),
    default="auto",
    show_default=True,
    help="As `dedup run --format`. auto on stdin: JSONL when it starts with '{', else text.",
)
@click.option(
    "--text-field",
    default=_DEFAULTS.read.text_field,
    show_default=True,
    help="JSONL field or Parquet column holding the text.",
)
@click.option("--counts", is_flag=True, help="Also print how much of each noise was removed.")
def normalize(file: str, input_format: str, text_field: str, counts: bool) -> None:
    """Print the normalized text of FILE (- or none: stdin), exactly what is compared: a
    text file's, or each JSONL record's --text-field, one line per document."""
    from .config import ReadConfig
    from .io.readers import read_inputs
    from .normalize import normalize_counted
    from .types import Doc

    stream: Any = sys.stdin.buffer
    if file == "-" and input_format == "auto":
        if not hasattr(stream, "peek"):
            stream = io.BufferedReader(stream)
        input_format = "jsonl" if stream.peek(4096).lstrip().startswith(b"{") else "text"
    cfg = ReadConfig(text_field=text_field, format=input_format)  # type: ignore[arg-type]
    total: dict[str, int] = {}
    for doc in read_inputs([file], cfg, stdin=stream):
        assert isinstance(doc, Doc)  # on_error="raise": a malformed record is an InputError
        text, noise = normalize_counted(doc.text)
        click.echo(text)
        for kind, n in noise.as_dict().items():
            total[kind] = total.get(kind, 0) + n
    if counts:
        for kind, n in total.items():
            click.echo(f"{kind}\t{n}", err=True)


@cli.command()
@click.argument("outdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_report_options
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Worker processes for the pages (0: all cores). Output does not depend on it.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (no progress).")
def report(outdir: Path, jobs: int, quiet: bool, **opts: Any) -> None:
    """(Re)build OUTDIR/report from an existing run."""
    from ._cli_progress import ProgressPrinter
    from .io.outdir import LocalFolder
    from .report import build_report

    printer = None if quiet else ProgressPrinter(sys.stderr, tty=sys.stderr.isatty())
    try:
        with LocalFolder(outdir).lock():  # not while a run writes OUTDIR
            index = build_report(
                outdir,
                _report_config(opts),
                jobs=jobs,
                progress=printer.pages if printer is not None else None,
            )
    finally:
        if printer is not None:
            printer.close()
    click.echo(f"report: {shown(str(index))}", err=True)


@cli.group(name="index")
def index_group() -> None:
    """Inspect, compact, unlock or upgrade a persistent index (dedup run --index)."""


@index_group.command(name="info")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def index_info(path: str, as_json: bool) -> None:
    """Documents, segments, options and size on disk of the index at PATH."""
    import json

    from .persist import read_info

    info = read_info(path)
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    segments = info["segments"]
    plural = "" if len(segments) == 1 else "s"
    click.echo(
        f"index {shown(path)}: {info['documents']} documents in {len(segments)} segment{plural}, "
        f"{info['bytes'] / 1e6:.1f} MB on disk"
    )
    for s in segments:
        click.echo(f"  {s['name']}: {s['documents']} documents")
    options = info["options"]
    for group, values in options.items():
        click.echo(f"  {group}: {json.dumps(values, ensure_ascii=False)}")


@index_group.command(name="compact")
@click.argument("path", type=click.Path(file_okay=False))
def index_compact(path: str) -> None:
    """Merge the segments of the index at PATH into one (one writer at a time)."""
    from .persist import compact

    before, after = compact(path)
    click.echo(f"index {shown(path)}: {before} segments -> {after}", err=True)


@index_group.command(name="unlock")
@click.argument("path", type=click.Path(file_okay=False))
def index_unlock(path: str) -> None:
    """Remove the writer's lock of the index at PATH (a URI such as hdfs://...) left by a
    run that was killed; first make sure that run is gone. (A local index's lock ends with
    the run that held it: there is nothing to remove.)"""
    from .persist import unlock

    held = unlock(path)
    for holder in held:
        click.echo(f"index {shown(path)}: removed the lock of {holder}", err=True)
    if not held:
        click.echo(f"index {shown(path)}: no lock to remove", err=True)


@index_group.command(name="upgrade")
@click.argument("path", type=click.Path(file_okay=False, exists=True))
def index_upgrade(path: str) -> None:
    """Rewrite the index at PATH, made by an earlier dedup (format 1, .npy segments), in
    this dedup's format (Arrow segments); one writer at a time."""
    from .persist import upgrade

    count = upgrade(path)
    done = f"{count} segment{'' if count == 1 else 's'} rewritten" if count else "already current"
    click.echo(f"index {shown(path)}: {done}", err=True)


@cli.command(name="eval")
@click.option(
    "--gold",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Gold labels: one {"id": ..., "cluster": ...} per line; unlisted ids are singletons.',
)
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Verdicts on pairs: one {"a": ID, "b": ID, "dup": true|false} per line, as '
    "`dedup serve` writes to OUTDIR/labels.jsonl; the latest verdict on a pair counts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.argument("outdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def eval_(gold: Path | None, labels: Path | None, outdir: Path, as_json: bool) -> None:
    """Score the run in OUTDIR against gold clusters (pairwise P/R/F1, ARI, per-noise recall)
    or against labelled pairs (precision, recall and the pairs the run got wrong)."""
    import json

    from .evaluate import evaluate, evaluate_labels, format_labels, format_table

    if (gold is None) == (labels is None):
        raise click.UsageError("give one of --gold FILE or --labels FILE")
    if labels is not None:
        scored = evaluate_labels(outdir, labels)
        click.echo(json.dumps(scored.to_dict(), indent=2) if as_json else format_labels(scored))
        return
    assert gold is not None
    result = evaluate(outdir, gold)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else format_table(result))


@cli.command()
@click.argument("outdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback lets others on the network read and label.",
)
@click.option(
    "--port", type=int, default=8765, show_default=True, help="Port to listen on (0: a free one)."
)
def serve(outdir: Path, host: str, port: int) -> None:
    """Review the clusters of the run in OUTDIR in the browser, and label pairs.

    Builds OUTDIR/serve.sqlite first (once; again when the run changed); verdicts go to
    OUTDIR/labels.jsonl.
    """
    from .serve import ensure_index
    from .serve.app import make_server

    if ensure_index(outdir, lambda line: click.echo(f"serve: {line}", err=True)):
        click.echo(f"serve: index written to {shown(str(outdir / 'serve.sqlite'))}", err=True)
    server = make_server(outdir, host, port)
    where = f"[{host}]" if ":" in host else host
    click.echo(f"serving {shown(str(outdir))} at http://{where}:{server.server_port}/", err=True)
    click.echo("press Ctrl-C to stop", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main() -> None:
    """`dedup` and `python -m dedup`: a process of dedup's own.

    Starting allocates a few hundred thousand objects that live until the process ends
    (modules, numba's typing tables and loaded code). The garbage collector would go over
    them again and again while they are made, and once more at exit: about a fifth of the
    CPU of a small run. So this process collects nothing while it starts; `_started` then
    sets what is loaded aside for good (gc.freeze) and collects as usual from there on (the
    worker processes, forked later, too); and at exit nothing is collected. dedup does no
    linear algebra, so numpy's BLAS starts no thread per core (about 0.1 CPU-s), unless the
    environment says how many it should.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    gc.disable()
    try:
        cli(prog_name="dedup", obj=_OWN_PROCESS)
    finally:
        gc.freeze()


def _started(ctx: click.Context) -> None:
    """Start-up is over (see `main`); a caller's process is left alone."""
    if ctx.find_root().obj is _OWN_PROCESS and not gc.isenabled():
        gc.freeze()
        gc.enable()
