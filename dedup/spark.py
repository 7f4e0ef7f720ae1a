"""`dedup run --engine spark`: the same stages as the local engine, driven by Spark, so both
engines write the same OUTDIR byte for byte (timings aside). This module holds only Spark
work: the session, the distributed read, the shuffles, connected components, and streaming
records to the shared output writer (io/outdir.py).

read and sign (executors run the local readers, one file per task, and `sign_texts` on
what they read, holding each run of signed documents as one record of arrays, `SignedRun`; the
texts are not held, but read again when the outputs are written; the same job gathers each
partition's facts and the hashes of ids seen twice) -> one global
document order (partitions already in input order, or a distributed sort on (input, path,
record); numbered from each partition's count) -> LSH (band keys routed by hash, each
partition grouping its buckets by sorting; the bucket rule `lsh.bucket_pairs`) -> the
documents in candidate pairs picked from the signed ones once and hash-partitioned ->
repeated text (`repeats.group_roots` on the pairs' estimated similarities; each group's
sample sets gathered as arrays and counted, `repeats.repeats_of`) -> exact verification
(each pair with both shingle sets; `similarities`, `is_match`) -> connected components ->
the cluster stage (`cluster.settle`) on the components of a partition together, or from the
driver with the similarities measured on the executors when a component is too large for
one task -> outputs streamed to the driver one partition at a time (JSONL: one blob of lines)
and written through `io.outdir` to a local folder or any Hadoop URI (io/hadoop.py).

A graph of up to `DRIVER_EDGES` candidate pairs (and of as many verified pairs) is gathered
on the driver as int64 arrays, where its groups and components are found by union-find, and
a pair's two ends meet with one shuffle (the second end's value sent to the first's
partition); its pairs' estimates are made there from the signatures' LSH columns (up to
10 x `DRIVER_SETS` documents), its repeated text counted there (up to `DRIVER_SETS` sample
sets), and the fates of the documents its matches remove gathered there (up to
`DRIVER_FATES`); a larger one is handled on the executors alone (joins, and large-star/
small-star iterations for connected components), in O(log n) rounds of shuffles.

The driver never holds per-document data: it sees counts, the first error, at most one
partition of output records (`toLocalIterator`), the skipped records (they go into
summary.json, as locally), one Arrow schema per Parquet file and, for local folders, the list
of file names; for a component settled from the driver, its members' numbers and figures;
a graph of at most `DRIVER_EDGES` edges, with the figures above for it when they fit; and
otherwise the repeated-text slot counts (one table of 2**`table_bits` counters from each
counting task).
stdin is spooled to a local file on the driver and shipped to the executors with `addFile`.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from functools import partial
from operator import add
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import numpy as np

from .cluster import (
    Clusters,
    UnionFind,
    Verified,
    grouped,
    make_cluster,
    member_records,
    settle,
)
from .config import ClusterConfig, Config, ReadConfig, RepeatConfig, VerifyConfig
from .errors import AccountingError, ConfigError, DedupError, InputError
from .index import duplicate_id_error, id_key
from .io.detect import detect_format
from .io.hadoop import HadoopDir, is_uri
from .io.outdir import (
    INDEX_MATCHES,
    LAYOUTS,
    TEMPORARY,
    Fate,
    Folder,
    LocalFolder,
    Records,
    check_accounting,
    checked_inputs,
    cluster_line,
    complete,
    open_outdir,
    output_format,
    outputs,
    own,
    part_name,
    parts_manifest,
    planned,
    record_files,
    record_line,
    summary,
    write_lines,
)
from .io.parquet import Row, merge_schema, output_schema, pyarrow
from .io.parts import part_folder
from .io.readers import HIDDEN, STDIN_NAME, folder_files, id_name, read_file, read_inputs
from .lsh import band_keys, bucket_pairs, resolve_params
from .parallel import batched
from .progress import ProgressCallback, Reporter, input_size
from .repeats import (
    Groups,
    RepeatCounter,
    Repeats,
    RepeatStats,
    WeighedChunk,
    estimated_similarities,
    group_roots,
    held,
    joins,
    oriented,
    repeated_shares,
    repeats_of,
    sample_ranks,
)
from .spark_held import (
    Key,
    LightRow,
    NumberedRuns,
    Picked,
    Rebatch,
    SignedRun,
    SignItems,
    Without,
    doc_items,
    flat,
    item_keys,
    signed_rows,
)
from .spark_log import WORKER_WARNINGS, log_settings, start_jvm
from .types import Counts, Doc, Figures, Member, RunResult, Skip
from .verify import Own, is_match, own_text, similarities

if TYPE_CHECKING:  # imported when a run uses an index: most runs do not
    from .against import IndexSet
    from .spark_index import SparkIndexes

# A local master runs every task in the driver's JVM, which mostly moves bytes between the
# Python workers and its block store: its optimising compiler and concurrent collector took
# as much CPU again from the workers' cores (JVM CPU 38.5 s with Java 17's defaults, 18.9 s
# with these, at 100,000 documents in local[2]). Any spark.driver.extraJavaOptions the user
# gives replaces them.
LOCAL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
_DRIVER_JVM = "spark.driver.extraJavaOptions"
PYSPARK_HINT = "the spark engine needs PySpark: pip install 'dedup[spark]'"
JAVA_HINT = (
    "the spark engine needs Java 17 or newer on PATH or in JAVA_HOME "
    "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
)
# Documents per partition of the ordered corpus: bounds what one task, and the driver while
# it streams outputs, holds at a time (about 3 KB of text per document: 60 MB).
PARTITION_DOCS = 20_000
# Components larger than this are settled from the driver, with the similarities measured on
# the executors, rather than in one task that would hold every member's shingle set (about
# 4 KB per 3 KB document: 200 MB at this size).
MAX_COMPONENT = 50_000
# Graphs of matches (and of the versions linked for counting repeated text) of up to this
# many edges have their connected components found on the driver, by union-find over int64
# arrays (16 bytes an edge collected; the driver's peak is about 120 bytes an edge, 241 MB
# measured at this bound, 12 CPU seconds), in one Spark job rather than O(log n) rounds of
# shuffles.
DRIVER_EDGES = 2_000_000
# When the candidate graph is on the driver and the members that stand for its groups of
# versions are at most this many, their shingle sets (about 3.5 KB each: 175 MB at this
# bound, with 112 MB of counter tables) are gathered there, as one record of arrays per
# partition, and the repeated text is counted there, without a shuffle of the sets, two
# jobs and the counter tables (32 MB each) sent back from every counting task.
DRIVER_SETS = 50_000
# When the verified pairs are on the driver and at most this many, so are the fates of the
# documents they remove (fewer than the pairs; about 350 bytes each: 70 MB at this bound),
# and the driver routes each partition's lines by them, without a job per partition.
DRIVER_FATES = 200_000
# Partitions of output records computed at once (up to one per core) while the driver
# writes the one before them: the driver holds at most this many more.
AHEAD = 4
_VERIFY_BATCH = 4096  # candidate pairs handed to one `similarities` call
_VERIFY_PAIRS = 1 << 16  # ... when both their sets are in one record of arrays
_SETTLE_DOCS = 20_000  # members of the components handed to one `settle` call, about
_LOW32 = 0xFFFFFFFF

# What the pipeline carries per document: id, text, record (the fields written out, as the
# local engine spools them), source, line number, whether the record is a Parquet row.
DocRow = tuple[str, str, dict[str, Any], str, int | None, bool]


class SparkUnavailable(DedupError):
    """PySpark is not installed, Java is missing, or Spark could not start."""


def session_settings(
    master: str | None, conf: Mapping[str, str] | None, quiet: bool
) -> dict[str, str]:
    """The Spark settings a session for dedup starts with: `conf`, and unless it sets them,
    no console progress bar (it would print from a library), Python workers forked from a
    daemon that has dedup loaded (spark_daemon.py), for a local master (local, local[N])
    `LOCAL_JVM_OPTIONS`, and dedup's log4j2 configuration (`spark_log.log_settings`)."""
    settings = {
        "spark.ui.showConsoleProgress": "false",
        "spark.python.daemon.module": "dedup.spark_daemon",
        **(conf or {}),
    }
    if master and re.fullmatch(r"local(\[[^\]]*\])?", master):
        settings.setdefault(_DRIVER_JVM, LOCAL_JVM_OPTIONS)
    return settings | log_settings(settings, quiet)


def spark_session(
    master: str | None = None, conf: Mapping[str, str] | None = None, *, quiet: bool = False
) -> Any:
    """A SparkSession for dedup, started (or joined) with `conf`.

    Without `master` the one spark-submit or spark-defaults.conf sets is used (local[*] when
    none is). In local modes (local[N], local-cluster[...]) the Python workers run this
    interpreter, so they import the same dedup and numba as the driver. Spark logs warnings
    and errors (errors only with `quiet`) unless the user configures log4j2 itself
    (`spark_log.py`). The settings are `session_settings`'.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise SparkUnavailable(PYSPARK_HINT) from e
    with warnings.catch_warnings(), suppress(ImportError):
        # PySpark warns about pandas versions it has not been tested with when a JVM call
        # first imports pyspark.testing; dedup uses no pandas API.
        warnings.simplefilter("ignore", FutureWarning)
        import pyspark.testing.utils  # noqa: F401
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise SparkUnavailable(JAVA_HINT)
    settings = session_settings(master, conf, quiet)
    builder = SparkSession.builder.appName("dedup")
    if master:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        start_jvm(master, settings, quiet)
        spark = builder.getOrCreate()
    except Exception as e:  # the JVM did not start: usually a missing or too old Java
        raise SparkUnavailable(f"Spark did not start ({e}); {JAVA_HINT}") from e
    sc = spark.sparkContext
    if str(sc.master).startswith("local"):
        if "PYSPARK_PYTHON" not in os.environ:
            sc.pythonExec = sys.executable
        root = str(Path(__file__).resolve().parent.parent)
        paths = [root, *filter(None, [sc.environment.get("PYTHONPATH")])]
        sc.environment["PYTHONPATH"] = os.pathsep.join(paths)
    sc.environment.setdefault("PYTHONWARNINGS", WORKER_WARNINGS)
    return spark


def run_spark(
    inputs: Sequence[str],
    outdir: str | Path,
    config: Config = Config(),
    *,
    master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    spark: Any = None,
    quiet: bool = False,
    layout: str = "single",
    stdin: BinaryIO | None = None,
    report: Callable[[Path, Mapping[str, Any]], object] | None = None,
    progress: ProgressCallback | None = None,
    options: Mapping[str, Any] | None = None,
    partition_docs: int = PARTITION_DOCS,
    max_component: int = MAX_COMPONENT,
    driver_edges: int = DRIVER_EDGES,
    driver_sets: int = DRIVER_SETS,
    index: str | Path | None = None,
    against: Sequence[str | Path] = (),
    index_sample: int | None = None,
) -> RunResult:
    """`pipeline.run` on Spark: read `inputs` (local paths, any Hadoop URI, or `-` for
    `stdin`), deduplicate, write the OUTDIR contract files, and return what the run did (its
    `detail` is None: the fates of documents stay on the executors). `outdir` is a local
    folder or a Hadoop URI (hdfs://, s3a://, file://...); `report` (given the folder) runs
    only for a local one, else summary.json says why not.

    `spark` is an existing SparkSession to use; otherwise the process's active session is
    joined, or one is started from `master` and `spark_conf` (printing only errors when
    `quiet`) and stopped at the end.
    `progress` receives the stage announcements `pipeline.run` sends; `options` (the CLI's
    option values) is recorded in summary.json, as locally. Connected components of more
    than `max_component` documents are settled from the driver; match graphs of up to
    `driver_edges` edges have their components found there (0: always on the executors),
    and when they are, the repeated text of up to `driver_sets` sample sets is counted there
    (0: always on the executors).
    OUTDIR is checked, held and cleared as locally (io/outdir.py `open_outdir`), once the
    inputs are found.

    `layout` "parts" writes kept/, removed/ (or annotated/) as folders of part files, one
    per partition in input order, straight from the executors (io/parts.py), and lists
    them in summary.json's "parts"; a local OUTDIR must then be one the executors see.

    `index`, `against` and `index_sample` are `pipeline.run`'s, with the same rule and the
    same segment added (spark_index.py); each index is a local folder or a file: URI that
    the driver and every executor see at the same path, or a URI of a file system pyarrow
    reaches from each of them (hdfs://, s3a://; indexfs.py).
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"output layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    inputs = checked_inputs(inputs, outdir)
    local = [i for i in inputs if not is_uri(i)]
    # With a Hadoop URI among the inputs, "auto" is decided once the files are seen.
    fmt = output_format(local, config) if len(local) == len(inputs) else None
    if fmt == "parquet":
        pyarrow()  # a missing extra fails now, not after the whole run
    indexes = _open_indexes(outdir, config, index, against, index_sample)
    own = spark is None and not _active()
    try:
        session = spark_session(master, spark_conf, quiet=quiet) if spark is None else spark
    except BaseException:
        if indexes is not None:
            indexes.close()
        raise
    try:
        out: Folder = (
            HadoopDir(session, str(outdir)) if is_uri(outdir) else LocalFolder(Path(outdir))
        )
        extra = {"inputs": list(inputs)} | ({"options": dict(options)} if options else {})
        reporter = Reporter(progress, input_size(inputs) if progress else None)
        with tempfile.TemporaryDirectory(prefix="dedup-spark-") as tmp:
            job = _Run(session, config, partition_docs, reporter, Path(tmp), stdin)
            job.max_component, job.outdir, job.layout = max_component, str(outdir), layout
            job.driver_edges, job.driver_sets = driver_edges, driver_sets
            if indexes is not None:
                from .spark_index import SparkIndexes

                job.indexes = SparkIndexes(indexes, session.sparkContext, config)
            try:
                return job.run(inputs, out, fmt, report, extra)
            finally:
                if job.indexes is not None:
                    job.indexes.close()  # the parts it staged, committed or not
                for rdd in job.cached:  # a joined session keeps running: free what this run held
                    rdd.unpersist()
                session.sparkContext.setJobDescription(None)
    finally:
        if indexes is not None:
            indexes.close()
        if own:
            session.stop()


def _open_indexes(
    outdir: str | Path,
    config: Config,
    index: str | Path | None,
    against: Sequence[str | Path],
    index_sample: int | None,
) -> IndexSet | None:
    """The run's persistent indexes, opened (options checked, the writer's lock taken)
    before anything is read or written, as locally."""
    if index is None and not against:
        return None
    from .against import IndexSet, apart
    from .persist import sample_bits

    apart(outdir, [*([index] if index is not None else []), *against])
    bits = None if index_sample is None else sample_bits(index_sample)
    return IndexSet(config, index, against, bits)


def _active() -> bool:
    """Whether this process already runs a SparkSession (then it is joined, not stopped)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return False
    return SparkSession.getActiveSession() is not None


class _Read(NamedTuple):
    """What reading leaves on the driver, besides the documents themselves."""

    signed: Any  # (index, (signature, shingle set, figures, id, source)), from `held`
    batches: Any  # (index of the first, `SignedRun`) of the same documents, as held
    held: Any  # what `signed` is made from, persisted until the outputs are written
    records: Any  # (index, DocRow) in input order, read again from the inputs (not held)
    sizes: list[int]  # documents in each partition of `signed` and `records`
    empty: int  # documents with no text
    skipped: list[Skip]
    input_bytes: int  # UTF-8 size of all texts
    schema: Any  # the Parquet rows' merged Arrow schema, or None
    formats: set[str]  # formats of the files read from Hadoop URIs
    # The band keys the read routed (`_facts_and_repeats`): (the shuffled RDD, the
    # partitions before those that hold them, the first number of each partition read), or
    # None when LSH computes them from `batches`.
    keyed: tuple[Any, int, list[int]] | None


class _Run:
    """One run's stages, each materialised (persisted and counted) so it can be timed."""

    def __init__(
        self,
        spark: Any,
        config: Config,
        partition_docs: int,
        reporter: Reporter,
        tmp: Path,
        stdin: BinaryIO | None,
    ) -> None:
        self.spark = spark
        self.sc = spark.sparkContext
        self.config = config
        self.partition_docs = partition_docs
        self.reporter = reporter
        self.tmp = tmp  # driver-side scratch (the stdin spool)
        self.stdin = stdin
        self.parts = max(1, self.sc.defaultParallelism)
        # Partitions of the outputs computed at once while the driver writes them in order.
        self.ahead = min(self.parts, AHEAD)
        self.timings: dict[str, float] = {}
        self.extra: dict[str, Any] = {}
        self.cached: list[Any] = []  # every RDD persisted, unpersisted when the run ends
        self.max_component = MAX_COMPONENT
        # As each stage finds them: documents, candidate pairs, verified pairs, clusters.
        self.n_docs = self.n_candidates = self.n_matched = self.n_clusters = 0
        self.driver_edges = DRIVER_EDGES
        self.driver_sets = DRIVER_SETS
        # The candidate pairs (i, j), int64, when they are few enough to gather on the driver
        # (`driver_edges`); then the documents in them are held where their pairs are (`_homes`).
        self.pair_array: np.ndarray | None = None
        self.pair_table: Any = None  # Broadcast of (pair_array, the home of each pair)
        # (number, clusters.jsonl line, fates, ids) of every cluster in order, when the
        # clusters were numbered on the driver (`_numbered_here`).
        self.rendered_here: list[Any] | None = None
        self.own: Any = None  # Broadcast of verify.Own, once repeated text is known
        self.outdir = ""  # as given, for the RunResult
        self.layout = "single"
        self.indexes: SparkIndexes | None = None  # the persistent indexes, if any
        self._t = time.perf_counter()

    def _keep(self, rdd: Any) -> Any:
        self.cached.append(rdd.persist(_storage()))
        return rdd

    def _tag(self, stage: str) -> None:
        """Name the Spark jobs that follow after a stage, so the Spark UI and its REST API
        (bench/spark_throughput.py) can total each stage's shuffle bytes."""
        self.sc.setJobDescription(f"dedup {stage}")

    def _lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(self.timings.get(stage, 0.0) + now - self._t, 4)
        self._t = now

    def run(
        self,
        inputs: Sequence[str],
        out: Folder,
        fmt: str | None,
        report: Callable[[Path, Mapping[str, Any]], object] | None,
        extra: dict[str, Any],
    ) -> RunResult:
        # Every input is found before OUTDIR is touched, as locally.
        cfg = self.config.read
        sources = [_resolve(self.spark, i, given, cfg) for i, given in enumerate(inputs)]
        plan = planned(fmt, self.config.output.annotate, self.indexes is not None)
        with open_outdir(out, plan):
            return self._run(inputs, sources, out, fmt, report, extra)

    def _run(
        self,
        inputs: Sequence[str],
        sources: list[_Source],
        out: Folder,
        fmt: str | None,
        report: Callable[[Path, Mapping[str, Any]], object] | None,
        extra: dict[str, Any],
    ) -> RunResult:
        config, reporter = self.config, self.reporter
        # The driver waits while the executors read: it loads its own compiled stages then.
        threading.Thread(target=_warm_driver, args=(config,), daemon=True).start()
        self._t = time.perf_counter()
        reporter.stage("read")
        self._tag("read")
        cpu = (self.sc.accumulator(0.0), self.sc.accumulator(0.0))
        read = self._read(sources, cpu)
        n_docs = self.n_docs = sum(read.sizes)
        self._lap("read")
        self._tag("sign")
        if fmt is None:
            local = [i for i in inputs if not is_uri(i)]
            fmt = output_format(local, config, read.formats)
            if fmt == "parquet":
                pyarrow()

        # In input order, as read (`read.held`): only the documents in candidate pairs are
        # hash-partitioned (`_picked`).
        signed, empty = read.signed, read.empty
        self._lap("sign")
        self._tag("lsh")
        self.timings["normalize_cpu"] = round(cpu[0].value, 4)
        self.timings["shingle_sign_cpu"] = round(cpu[1].value, 4)
        # As the local engine reports: the documents and skips read, then the next stage.
        reporter.documents = n_docs + len(read.skipped)
        reporter.bytes_read = reporter.total_bytes or read.input_bytes
        reporter.stage("read")
        reporter.stage("lsh")

        bands, rows = resolve_params(config.lsh, config.signature.num_perm)
        parts = self.parts
        if read.keyed is not None:  # routed by the read: numbered here
            keyed, skip, starts = read.keyed
            buckets = _BucketPairs(config.lsh.max_bucket, parts, starts, skip)
        else:
            keyed = read.batches.mapPartitions(_BandKeys(bands, rows, parts))
            keyed = keyed.partitionBy(parts, _identity)
            buckets = _BucketPairs(config.lsh.max_bucket, parts)
        # One array of packed pairs (i << 32 | j) per partition, each gathered here when the
        # pairs may be few enough to keep here (`driver_edges`): one job, not a count and a
        # gathering.
        arrays = self._keep(
            keyed.mapPartitionsWithIndex(buckets)
            .partitionBy(parts, _identity)
            .mapPartitions(_distinct_pairs)
        )
        most = 2 * self.driver_edges // parts + 1024  # pairs are spread by hash
        gathered = arrays.map(lambda a: a if a.size <= most else a.size).collect()
        n_candidates = self.n_candidates = sum(
            f if isinstance(f, int) else f.size for f in gathered
        )
        candidates = arrays.flatMap(lambda a: a.tolist())
        self._lap("lsh")

        reporter.stage("verify")
        self._tag("verify")
        t = time.perf_counter()
        prior = self.indexes.prior() if self.indexes is not None else None
        columns = bands * rows
        verified = None  # the verified pairs (`_MATCHED`), when gathered on the driver
        groups = None  # the clusters (`Group`s), when gathered on the driver
        if self.n_candidates <= self.driver_edges:
            # The candidate pairs gathered here: the documents in them are picked from the
            # held runs once, each sent to its home partition (and to those that verify a
            # pair of it), where verification and the cluster stage find them (`_homes`).
            if any(isinstance(f, int) for f in gathered):
                gathered = arrays.collect()
            packed = np.concatenate([np.empty(0, np.int64), *gathered])
            self.pair_array = np.c_[packed >> 32, packed & _LOW32]
            homes = _homes(self.pair_array, parts, self.max_component)
            picked = self.sc.emptyRDD()
            if self.n_candidates:
                dest = self.sc.broadcast(homes.dest)
                picked = self._keep(_picked_home(read.batches, dest, parts))
            whole = homes.packed[np.searchsorted(homes.nodes, self.pair_array[:, 0])]
            self.pair_table = self.sc.broadcast((self.pair_array, homes.pair_home, whole))
            repeats = self._repeats(None, picked, columns, prior)
            self.timings["repeats"] = round(time.perf_counter() - t, 4)
            own = self.own = self.sc.broadcast(own_text(repeats.table, config.verify))
            # The same tasks settle the clusters of the components held whole (`_homes`).
            checked = picked.mapPartitionsWithIndex(
                _VerifySettle(self.pair_table, config.verify, config.cluster, own)
            )
            if homes.nodes.size <= DRIVER_FATES:  # at most as many documents in clusters
                results = checked.collect()
                verified = _sorted_matches([r[0] for r in results])
                groups = [g for r in results for g in r[1]]
            else:
                checked = self._keep(checked)
                verified = _sorted_matches(checked.map(lambda r: r[0]).collect())
                settled_whole = checked.flatMap(lambda r: r[1])
            n_matched = self.n_matched = verified.size
        else:
            # What is held of the documents in a candidate pair, hash-partitioned: the joins
            # of verification, repeated text and clusters read these, not every document's,
            # and move only the other side.
            picked = self._keep(_picked(candidates, read.signed, parts))
            pairs = self._keep(candidates.map(lambda p: (p >> 32, (p & _LOW32, None))))
            repeats = self._repeats(pairs, picked, columns, prior)
            self.timings["repeats"] = round(time.perf_counter() - t, 4)
            own = self.own = self.sc.broadcast(own_text(repeats.table, config.verify))
            sets = picked.mapValues(lambda v: v[1])
            matched = self._keep(
                _with_sets(pairs, sets, parts).mapPartitions(_Verify(config.verify, own))
            )
            n_matched = self.n_matched = matched.count()
        arrays.unpersist()
        self._lap("verify")

        reporter.stage("cluster")
        self._tag("cluster")
        found: list[Any] = []  # RDDs of `Group`s
        if self.pair_array is not None:
            assert verified is not None
            if groups is None:
                found.append(settled_whole)
            # The clusters of the components split over several partitions.
            split = ~homes.packed[np.searchsorted(homes.nodes, verified["i"])]
            if split.any():
                found += self._driver_clusters(verified[split], picked.flatMap(_home_rows))
        elif n_matched <= self.driver_edges:
            verified = _sorted_matches(matched.mapPartitions(_matched_array).collect())
            found = self._driver_clusters(verified, picked)
        else:
            edges = matched.map(lambda e: (e[0], e[1]))
            components = self._keep(_components(edges, self.parts, self._keep, 0))
            found = self._clusters(components, picked, matched)
        if groups is None and verified is not None and _members_of(verified) <= DRIVER_FATES:
            groups = []
        if groups is not None:
            # Few enough to number and render here, with no sort and no job per step.
            if found:
                groups += (self.sc.union(found) if len(found) > 1 else found[0]).collect()
            self.rendered_here = _numbered_here(groups)
            chunks = max(1, min(parts, len(self.rendered_here)))
            rendered = self.sc.parallelize(self.rendered_here, chunks)
        else:
            rendered = self._keep(self._numbered(found))
        if self.rendered_here is not None:
            n_clusters = self.n_clusters = len(self.rendered_here)
        else:
            n_clusters = self.n_clusters = rendered.count()
        # Writing needs only these three: free the edges and components.
        for rdd in self.cached:
            if rdd not in (read.held, rendered):
                rdd.unpersist()
        self._lap("cluster")

        settled = None  # (node, (index_matches.jsonl row, fate)) of what the indexes remove
        if self.indexes is not None:
            self._tag("index")
            direct = self._keep(self.indexes.match(signed, repeats))
            if direct.count():
                settled = self._keep(self.indexes.settle(direct, rendered, parts))
                settled.count()
            direct.unpersist()
            self._lap("index_match")

        reporter.stage("write")
        staged = None
        if self.indexes is not None:
            self._tag("index_stage")
            # The kept documents as parts of the new segment (committed once the run is
            # complete), while the sets are cached.
            removed = self._fates(rendered, settled).filter(lambda kv: kv[1][0] is not None)
            sources = signed.mapValues(lambda v: v[4])
            staged = self.indexes.stage(signed, sources, removed, n_docs, parts)
            self._lap("index_stage")
        self._tag("write")
        files, written = self._write(out, fmt, read, rendered, settled, n_docs)
        read.held.unpersist()
        rendered.unpersist()
        self._lap("write")
        skipped = len(read.skipped)
        counts = Counts(n_docs + skipped, written[0], written[1], skipped, n_clusters)
        check_accounting(n_docs, skipped, counts, written)
        stats = {
            "lsh": {"bands": bands, "rows": rows},
            "candidates": n_candidates,
            "verified_pairs": n_matched,
            "repeated_slots": repeats.count,
            "empty": empty,
            "input_bytes": read.input_bytes,
        }
        timings = dict(self.timings)
        doc = summary(counts, read.skipped, stats, config, timings)
        doc |= {"outputs": outputs(files)} | extra
        if self.layout == "parts":
            doc["parts"] = parts_manifest(files)
        if self.indexes is not None:
            doc |= self.indexes.indexes.summary(self.indexes.removed, counts.kept)
        engine = {"name": "spark", "master": self.sc.master, "spark": self.sc.version}
        doc = complete(out, doc, timings, report, reporter, engine)
        if self.indexes is not None:
            # Last: the index changes only once the run is complete.
            self.indexes.commit(staged, repeats.stats)
        return RunResult(counts, tuple(read.skipped), doc, self.outdir)

    def _read(self, sources: list[_Source], cpu: tuple[Any, Any]) -> _Read:
        """The documents of `sources` in the local engine's order, signed as they are read
        (`cpu`: accumulators of the normalize and shingle + sign seconds), and what the
        driver needs to know of them. Raises the error the local engine would raise first.

        What is held between the stages is each document's signature, shingle set, figures,
        id and source, not its text or record: the texts cross from the JVM to Python once
        to be signed, and once more, read again from the inputs in the same order, when the
        outputs are written (`_Read.records`)."""
        sc = self.sc
        # Readers always skip; with on_error="raise" the first skip is raised below, so the
        # error is the one the local engine stops at, whichever task met it.
        cfg = replace(self.config.read, on_error="skip")
        tasks: list[_Task] = []  # local files and stdin, in the local engine's order
        remote = []
        shipped: str | None = None
        several = len(sources) > 1
        for src in sources:
            if src.remote:
                remote.append(src)
            elif src.given == "-":
                # stdin is read once: a later '-' finds it at its end, as locally.
                stdin = "" if shipped is not None else self._ship_stdin()
                shipped = stdin
                tasks.append(_Task(src.ordinal, "", "", STDIN_NAME, stdin=stdin))
            elif src.is_dir:
                hidden: list[str] = []
                files, unreadable = folder_files(src.given, hidden)
                for n, e in enumerate(unreadable):
                    reason = f"cannot read: {e.strerror or e}"
                    skip = Skip(e.filename or src.given, None, reason)
                    tasks.append(_Task(src.ordinal, "", src.given, "", skip, n))
                for n, path in enumerate(hidden, len(unreadable)):  # recorded in either mode
                    skip = Skip(path, None, HIDDEN)
                    tasks.append(_Task(src.ordinal, "", src.given, "", skip, n))
                for rel in files:
                    name = id_name(src.given, rel, several)
                    tasks.append(_Task(src.ordinal, rel, os.path.join(src.given, rel), name))
            else:
                tasks.append(_Task(src.ordinal, "", src.given, id_name(src.given, "", several)))
        parts: list[Any] = []
        if tasks:
            # Contiguous slices of the ordered tasks: partitions come out in input order.
            slices = max(4 * self.parts, math.ceil(len(tasks) / self.partition_docs))
            read = _ReadFile(cfg, os.getcwd())
            parts.append(sc.parallelize(tasks, min(len(tasks), slices)).flatMap(read))
        if remote:
            hconf = sc._jsc.hadoopConfiguration()
            hconf.set("mapreduce.input.fileinputformat.input.dir.recursive", "true")
            for src in remote:
                files = sc.binaryFiles(src.given, self.parts)
                parts.append(files.flatMap(_ReadBytes(src, cfg, several)))
        # Not held: read again to write. One input RDD is not wrapped in a union, which
        # would end the Python pipeline: every record would cross to the JVM and back before
        # it is signed.
        items = (sc.union(parts) if len(parts) > 1 else parts[0]) if parts else sc.emptyRDD()
        light = self._keep(items.mapPartitions(SignItems(self.config, cpu)))
        # The pass that reads and signs also gathers each partition's facts (below), finds
        # the hashes of ids that more than one document has and, unless the documents will
        # be sorted (files from Hadoop URIs come in any order), routes their band keys, so
        # that LSH does not read the held runs again.
        keys = None
        if not remote:
            bands, rows = resolve_params(self.config.lsh, self.config.signature.num_perm)
            keys = _BandKeys(bands, rows, max(self.parts, light.getNumPartitions()))
        facts, repeats, keyed = _facts_and_repeats(light, keys)
        sizes = [f.docs for f in facts if isinstance(f, _Counted)]
        total = sum(sizes)
        # Every later shuffle gets as many partitions: each holds about partition_docs
        # documents' worth, and so does the driver while it streams one out.
        self.parts = parts_n = max(self.parts, math.ceil(total / self.partition_docs))
        ordered, texts = light, items
        if remote or max(sizes, default=0) > 2 * self.partition_docs:
            keyed = None  # placed in the partitions as read, not as sorted
            # Out of order (binaryFiles) or too unbalanced (a big file in one partition): a
            # distributed sort on the item keys, by the same ranges for the signed items and
            # for the texts read again.
            ranges = _KeyRanges(_range_bounds(light.mapPartitions(item_keys), total, parts_n))
            rebatch = Rebatch(self.config.batch_size, self.config.signature.num_perm)
            one_by_one = light.mapPartitions(flat)
            ordered = self._keep(_sorted(one_by_one, ranges, parts_n).mapPartitions(rebatch))
            texts = _sorted(items, ranges, parts_n)
            facts = ordered.mapPartitionsWithIndex(_facts).collect()
            light.unpersist()

        # One pass over the items gathers all the driver needs of them but for repeated ids:
        # the skips, Parquet schemas and formats (in input order), and each partition's
        # documents and their text's UTF-8 bytes (repeated ids included, as locally).
        markers: list[tuple[Key, Any]] = []
        counts = [0] * ordered.getNumPartitions()
        input_bytes = empty = 0
        for fact in facts:
            if isinstance(fact, _Counted):
                counts[fact.part], input_bytes = fact.docs, input_bytes + fact.bytes
                empty += fact.empty
            else:
                markers.append(fact)
        skips = [(key, m) for key, m in markers if isinstance(m, Skip)]
        # One schema per Parquet file, in input order, folded as the local engine merges them.
        schema, clash = None, None
        for key, marker in markers:
            if not isinstance(marker, _Schema):
                continue
            try:
                schema = merge_schema(schema, marker.schema, marker.source)
            except InputError as e:
                clash = (key, 1, e)
                break
        # The error the local engine stops at: the first by input position (at one record, a
        # schema clash comes before a duplicate id, as the local spool sees it first).
        errors = [] if clash is None else [clash]
        if self.config.read.on_error == "raise":  # hidden names are skipped in either mode
            for key, s in [ks for ks in skips if ks[1].reason != HIDDEN][:1]:
                errors.append((key, 0, InputError(s.source, s.reason, s.line)))
        # Records whose id an earlier record has (the local rule, `Ids.add`): the first is an
        # error, or with on_error="skip" each is skipped.
        dropped: list[tuple[Key, Skip]] = []
        if repeats.size:  # the documents whose id's hash is repeated: a few, or none
            repeated = _repeated(ordered, parts_n, self.sc.broadcast(repeats))
            if self.config.read.on_error == "raise":
                for key, first in repeated.takeOrdered(1, key=lambda kv: kv[0]):
                    errors.append((key, 2, first))
            else:
                dropped = [(k, Skip(d.source, d.line, d.reason)) for k, d in repeated.collect()]
        if errors:
            raise min(errors, key=lambda e: e[:2])[2]
        skipped = [s for _, s in sorted(skips + dropped, key=lambda ks: ks[0])]
        formats = {m.fmt for _, m in markers if isinstance(m, _Format)}
        docs = ordered.filter(lambda record: isinstance(record, SignedRun))
        records = texts.filter(_is_doc)
        if dropped:
            keyed = None  # placed before the documents dropped were taken out
            gone = self.sc.broadcast({key for key, _ in dropped})
            docs = docs.mapPartitions(Without(gone), True)
            records = records.filter(lambda kv: kv[0] not in gone.value)
            kept = docs.mapPartitions(_kept_counts).collect()
            counts, empty = [n for n, _ in kept], sum(e for _, e in kept)
        # Both numbered from the counts: the texts read again are the same documents in the
        # same partitions.
        starts = np.r_[0, np.cumsum(counts)].tolist()
        batches = docs.mapPartitionsWithIndex(NumberedRuns(starts), True)
        signed = batches.mapPartitions(signed_rows, True)
        records = records.values().mapPartitionsWithIndex(_Numbered(starts), True)
        lsh = None if keyed is None else (keyed, ordered.getNumPartitions(), starts)
        return _Read(
            signed,
            batches,
            ordered,
            records,
            counts,
            empty,
            skipped,
            input_bytes,
            schema,
            formats,
            lsh,
        )

    def _ship_stdin(self) -> str:
        """Spool stdin to a local file and ship it to the executors (`addFile`); its name
        there, for `SparkFiles.get`."""
        stream = self.stdin if self.stdin is not None else sys.stdin.buffer
        path = self.tmp / f"{self.tmp.name}.stdin"  # a name no other run's file has
        with open(path, "wb") as f:
            shutil.copyfileobj(stream, f, 1 << 20)
        self.sc.addFile(str(path))
        return path.name

    # -- repeated text ------------------------------------------------------------------

    def _repeats(self, pairs: Any, picked: Any, columns: int, prior: RepeatStats | None) -> Repeats:
        """The repeated text of the documents in candidate pairs (repeats.py), as locally:
        the pairs' estimated similarities join versions into groups (`joins`), each document
        another holds (`held`) joins the group of the one that holds most of it
        (`repeats.containers`), which gives each group's first document, documents and the
        members that stand for it, and the slot counts of their sets are added up over the
        partitions (`repeats_of`, on top of `prior`: the statistics of the persistent indexes
        the run is checked against). A candidate graph of up to `driver_edges` pairs (on the
        driver: `pair_array`, `picked` their documents as `Picked` records) is grouped on the
        driver (`repeats.group_roots`, one job), a larger one (`pairs`: (i, (j, None)) rows,
        `picked` the documents' (number, value) rows) on the executors."""
        cfg, parts = self.config.repeat, self.parts
        if cfg.min_groups == 0:
            return Repeats.none()
        if not self.n_candidates:
            if prior is None or not len(prior):
                return Repeats.none()
            return repeats_of(lambda first: RepeatCounter(cfg), cfg, prior)
        if self.pair_array is not None:
            groups, sets = self._driver_groups(picked, columns)
            if prior is None and groups.first.size < cfg.min_groups:
                # No shingle can be in `min_groups` groups, and no index keeps the counts.
                return Repeats.none()
            if sets is not None:  # every set is here: the samples are picked here
                members = _members(groups)
                found = [(0, _sample_chunk(members, *sets))] if members[0].size else []
                chunks = list(_weighed_chunk(found))
                return repeats_of(partial(_count_slots, cfg, chunks), cfg, prior)
            samples = picked.mapPartitions(_Samples(self.sc.broadcast(_members(groups))))
            if groups.sample.size <= self.driver_sets:
                # One record of arrays per partition, gathered and counted here.
                found = samples.mapPartitions(_SampleChunks(1)).collect()
                chunks = list(_weighed_chunk(found))
                return repeats_of(partial(_count_slots, cfg, chunks), cfg, prior)
            links = None
            # Groups are weighed in memory, fast: tasks of about `partition_docs` sets.
            tasks = max(1, min(parts, math.ceil(groups.sample.size / self.partition_docs)))
        else:
            sets = picked.mapValues(lambda v: v[1])
            sigs = picked.mapValues(lambda v: (v[0], len(v[1]) // 4))  # signature, set size
            ends = _with_sets(pairs, sigs, parts)  # (tag, i, j, (sig_i, size_i), (sig_j, size_j))
            samples, links = self._executor_samples(ends, pairs, sets, columns)
            tasks = parts
        # The samples gathered by group, as `RepeatCounter.weigh_fetched` takes them: a few
        # large records of arrays, not one per set.
        held = self._keep(
            samples.mapPartitions(_SampleChunks(tasks))
            .partitionBy(tasks, _identity)
            .mapPartitions(_weighed_chunk)
        )

        def count(first: Repeats | None) -> RepeatCounter:
            table = None if first is None else self.sc.broadcast(first)
            return held.mapPartitions(_CountSlots(cfg, table)).treeReduce(RepeatCounter.merge)

        try:
            return repeats_of(count, cfg, prior)  # counted twice
        finally:
            held.unpersist()
            if links is not None:
                links.unpersist()

    def _driver_groups(self, picked: Any, columns: int) -> tuple[Groups, Any]:
        """The groups of versions (`repeats.group_roots`) of the candidate pairs (on the
        driver: `pair_array`), from their estimated similarities, over document numbers.
        The estimates are made here from the documents' signatures (their LSH columns) and
        set sizes, gathered from `picked` as arrays, when there are at most 10 times
        `driver_sets` documents (about 0.3 KB each); else where the pairs are verified, and
        gathered. With the groups, the documents' numbers (ascending) and their shingle
        sets (data, offsets), when there are at most `driver_sets` documents: gathered with
        their signatures, so that no job picks the samples of repeated text."""
        assert self.pair_array is not None
        nodes = np.unique(self.pair_array)
        sets = None
        if nodes.size <= 10 * self.driver_sets:
            whole = nodes.size <= self.driver_sets
            found = picked.mapPartitions(_HomeColumns(columns, whole)).collect()
            got = np.concatenate([f[0] for f in found]) if found else np.empty(0, np.int64)
            order = np.argsort(got)
            assert np.array_equal(got[order], nodes)
            sigs = np.concatenate([f[1] for f in found])[order]
            sizes = np.concatenate([f[2] for f in found])[order]
            local = np.searchsorted(nodes, self.pair_array)
            jac, con = estimated_similarities(np.asfortranarray(sigs), local, sizes)
            if whole:  # each document's set after the one before it in `found`
                lengths = np.concatenate([f[2] for f in found])
                data = np.concatenate([np.empty(0, np.uint32), *(f[3] for f in found)])
                sets = (nodes, data, (np.cumsum(lengths) - lengths)[order], sizes)
        else:
            found = picked.mapPartitionsWithIndex(
                _HomeEstimates(self.pair_table, columns)
            ).collect()
            rows = np.frombuffer(b"".join(found), dtype=_ESTIMATE)
            local = np.searchsorted(nodes, np.stack([rows["i"], rows["j"]], axis=1))
            sizes = np.zeros(nodes.size, dtype=np.int64)
            sizes[local[:, 0]], sizes[local[:, 1]] = rows["size_i"], rows["size_j"]
            jac, con = rows["jac"], rows["con"]
        cfg = self.config.repeat
        found_groups = group_roots(nodes.size, local, jac, con, sizes, cfg)
        # Positions among `nodes` are ascending with the numbers: the same first members,
        # the same order.
        groups = Groups(
            nodes[found_groups.first],
            found_groups.size,
            nodes[found_groups.sample],
            found_groups.bounds,
        )
        return groups, sets

    def _executor_samples(self, ends: Any, pairs: Any, sets: Any, columns: int) -> tuple[Any, Any]:
        """(first document, (rank, documents, set)) of the members that stand for each group
        (`repeats.sample_ranks`), the groups found by connected components on the
        executors: `repeats.group_roots`' rule as joins and reductions; and the links they
        are found from, held until the groups are counted."""
        cfg, parts = self.config.repeat, self.parts
        # (i, j, -1) joins; (smaller, larger, containment) is held
        links = self._keep(ends.mapPartitions(_Linked(cfg, columns)))
        joined = links.filter(lambda e: e[2] < 0).map(lambda e: (e[0], e[1]))
        first = _components(joined, parts, self._keep, self.driver_edges)  # (node, root)
        picked = (
            links.filter(lambda e: e[2] >= 0)
            .map(lambda e: (e[0], (e[1], e[2])))
            .leftOuterJoin(first, parts)  # (small, ((large, containment), root))
            .map(lambda kv: (kv[1][0][0], (kv[0], kv[1][0][1], _or(kv[1][1], kv[0]))))
            .leftOuterJoin(first, parts)  # (large, ((small, containment, root), root))
            .filter(lambda kv: kv[1][0][2] != _or(kv[1][1], kv[0]))
            .map(lambda kv: (kv[1][0][0], (-kv[1][0][1], kv[0])))
            .reduceByKey(min, parts)  # the most containment, then the smallest number
            .map(lambda kv: (kv[0], kv[1][1]))
        )
        roots = _components(joined.union(picked), parts, self._keep, self.driver_edges)
        involved = pairs.flatMap(lambda kv: (kv[0], kv[1][0])).distinct(parts)
        samples = (
            involved.map(lambda node: (node, None))
            .leftOuterJoin(roots, parts)
            .map(lambda kv: (_or(kv[1][1], kv[0]), kv[0]))  # (first document, node)
            .groupByKey(parts)
            .flatMap(_sample)  # (node, (first document, documents, rank))
            .partitionBy(parts)  # as the sets are: they stay where they are
            .join(sets, parts)
            .map(lambda kv: (kv[1][0][0], (kv[1][0][2], kv[1][0][1], kv[1][1])))
        )
        return samples, links

    # -- cluster ------------------------------------------------------------------------

    def _clusters(self, components: Any, signed: Any, matched: Any) -> list[Any]:
        """RDDs of the `Group`s of every cluster: each connected component (node, root) with
        its verified pairs (`matched`: (i, j, jaccard, containment)) through the cluster
        stage (`cluster.settle`), in one task or, when it has more than `max_component`
        members, from the driver."""
        parts, limit = self.parts, self.max_component
        sizes = components.map(lambda kv: (kv[1], 1)).reduceByKey(add, parts)
        large = sorted(sizes.filter(lambda kv: kv[1] > limit).keys().collect())
        small = components
        # (root, (i, j, jaccard, containment)): both ends of a pair are in i's component.
        verified = (
            matched.map(lambda e: (e[0], e[1:]))
            .join(components, parts)
            .map(lambda kv: (kv[1][1], (kv[0], *kv[1][0])))
        )
        small_pairs = verified
        if large:
            big = set(large)
            small = components.filter(lambda kv: kv[1] not in big)
            small_pairs = verified.filter(lambda kv: kv[0] not in big)
        per_doc = signed.mapValues(lambda v: (v[2], v[1], v[3]))  # figures, set, id
        settled = (
            small.partitionBy(parts)  # as the sets are: they stay where they are
            .join(per_doc, parts)
            .map(lambda kv: (kv[1][0], (kv[0], *kv[1][1])))
            .cogroup(small_pairs, parts)
            .mapPartitions(_SettleTask(self.config.cluster, self.config.verify, self.own))
        )
        return [settled] + [self._settle(root, components, signed, verified) for root in large]

    def _driver_clusters(self, rows: np.ndarray, signed: Any) -> list[Any]:
        """`_clusters` of the verified pairs `rows` (`_MATCHED`), gathered on the driver:
        their connected components are found here (union-find), and each component's members
        (from `signed`) and pairs meet in one task, with one shuffle."""
        parts, limit = self.parts, self.max_component
        pairs = np.stack([rows["i"], rows["j"]], axis=1)
        nodes = np.unique(pairs)
        uf = UnionFind(nodes.size)  # roots are the smallest member: over sorted nodes, the least
        uf.union_pairs(np.searchsorted(nodes, pairs))
        roots = nodes[uf.roots()]
        tops, sizes = np.unique(roots, return_counts=True)
        large = tops[sizes > limit]
        small = ~np.isin(roots, large)
        members = signed.mapPartitions(_Members(self.sc.broadcast((nodes[small], roots[small]))))
        of_pair = roots[np.searchsorted(nodes, rows["i"])]
        settled = members.cogroup(self._by_root(of_pair, rows, ~np.isin(of_pair, large)), parts)
        settle_task = _SettleTask(self.config.cluster, self.config.verify, self.own)
        settled = settled.mapPartitions(settle_task)
        found = [settled]
        if large.size:
            components = self._keep(
                self.sc.parallelize(
                    [(n.tobytes(), r.tobytes()) for n, r in _slices(nodes, roots, parts)],
                    parts,
                ).flatMap(_node_roots)
            )
            verified = self._by_root(of_pair, rows, np.isin(of_pair, large))
            found += [self._settle(int(root), components, signed, verified) for root in large]
        return found

    def _by_root(self, roots: np.ndarray, rows: np.ndarray, keep: np.ndarray) -> Any:
        """(root, (i, j, jaccard, containment)) of the verified pairs `rows` (`_MATCHED`)
        where `keep`, each with its component's `roots` entry, in `parts` slices."""
        chunks = [
            (r.tobytes(), m.tobytes()) for r, m in _slices(roots[keep], rows[keep], self.parts)
        ]
        return self.sc.parallelize(chunks, max(1, len(chunks))).flatMap(_rooted_pairs)

    def _numbered(self, found: list[Any]) -> Any:
        """(number, clusters.jsonl line, fates) of every cluster of the `found` RDDs of
        `Group`s: numbered by first member, as locally."""
        parts = self.parts
        groups = self.sc.union(found) if len(found) > 1 else found[0]
        # Sorted by first member into even ranges of the numbers: no sampling job (which
        # would settle every component once more).
        ordered = _sorted(groups, _even(self.n_docs, parts), parts)
        return ordered.zipWithIndex().map(_render)

    def _settle(self, root: int, components: Any, signed: Any, verified: Any) -> Any:
        """The cluster stage over one component too large for a task: the driver holds its
        members' numbers, figures and ids and its verified pairs, and each round of
        similarities is a Spark job, as are the members' shares of repeated text."""
        parts = self.parts
        rows = sorted(
            components.filter(lambda kv: kv[1] == root)
            .partitionBy(parts)
            .join(signed.mapValues(lambda v: (v[2], v[3])), parts)
            .map(lambda kv: (kv[0], kv[1][1]))
            .collect()
        )
        nodes = np.array([node for node, _ in rows], dtype=np.int64)
        figures = Figures.from_rows([row for _, (row, _) in rows])
        ids = [doc_id for _, (_, doc_id) in rows]
        sets = signed.mapValues(lambda v: v[1])

        def similarity(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pairs = [
                (int(nodes[o]), (int(nodes[r]), k))
                for k, (r, o) in enumerate(zip(reps.tolist(), others.tolist(), strict=True))
            ]
            jac, con = np.empty(len(pairs)), np.empty(len(pairs))
            asked = self.sc.parallelize(pairs, parts)
            sims = _with_sets(asked, sets, parts).mapPartitions(_MemberSims(self.own))
            for k, (_, j, c) in sims.collect():
                jac[k], con[k] = j, c
            return jac, con

        def repeated(docs: np.ndarray) -> np.ndarray:
            asked = self.sc.parallelize([(int(nodes[d]), k) for k, d in enumerate(docs.tolist())])
            shares = np.empty(docs.size)
            for k, share in (
                asked.partitionBy(parts)
                .join(sets, parts)
                .values()
                .mapPartitions(_Shares(self.own))
                .collect()
            ):
                shares[k] = share
            return shares

        own_pairs = verified.filter(lambda kv: kv[0] == root).values().collect()
        everyone = np.arange(nodes.size)
        found = settle(
            everyone,
            np.array([0, nodes.size]),
            figures,
            similarity,
            self.config.cluster,
            verified=_local_pairs(nodes, own_pairs),
            repeated=repeated,
            direct=partial(is_match, cfg=self.config.verify),
        )
        return self.sc.parallelize(list(_groups(found, nodes, ids)), parts)

    # -- write --------------------------------------------------------------------------

    def _fates(self, rendered: Any, settled: Any) -> Any:
        """(number, `Fate`) of every document in a cluster or removed by an index: the
        run's (`rendered`), but where the indexes decided (`settled`)."""
        fates = rendered.flatMap(lambda r: r[2])
        if settled is None:
            return fates
        decided = settled.mapValues(lambda v: v[1])
        return fates.subtractByKey(decided, self.parts).union(decided)

    def _write(
        self, out: Folder, fmt: str, read: _Read, rendered: Any, settled: Any, n: int
    ) -> tuple[list[str], list[int]]:
        """The contract files, streamed in order (the driver holds one partition at a time)
        through the shared writer; the names written, and the kept and removed counts.
        `settled`: what persistent indexes decided (spark_index.py; None: nothing) for the
        `n` documents."""
        parts, annotate = self.parts, self.config.output.annotate
        schema = None
        if fmt == "parquet":
            others = read.records.filter(lambda kv: not kv[1][5]).values()
            plain = None
            if read.schema is None or not others.isEmpty():
                plain = (row[2] for row in others.toLocalIterator())
            schema = output_schema(read.schema, plain, self.config.read.id_field)
        # (index, fate) of every clustered document; without --annotate only the removed ones
        # change a record.
        fates = self._fates(rendered, settled)
        if not annotate:
            fates = fates.filter(lambda kv: kv[1][0] is not None)
        # The same, as a list for each partition of the documents, when the driver has them.
        placed = None
        if settled is None and self.rendered_here is not None:
            found = (f for r in self.rendered_here for f in r[2] if annotate or f[1][0] is not None)
            placed = list(_split_fates(sorted(found, key=lambda kv: kv[0]), read.sizes))
        elif settled is None and self.n_matched <= min(self.driver_edges, DRIVER_FATES):
            # The matches were gathered here: so are the fates of their documents.
            placed = list(_split_fates(sorted(fates.collect()), read.sizes))
        if fmt == "jsonl":  # records are rendered on the executors
            records = read.records.mapValues(lambda d: record_line(d[2], d[5]))
        else:
            records = read.records.mapValues(lambda d: d[2])
        text_field = self.config.read.text_field
        if self.layout == "parts":
            names, counts = self._write_parts(out, fmt, records, read.sizes, fates, schema, placed)
        elif fmt == "jsonl" and self._shared(out):
            names, counts = self._write_joined(out, fmt, records, read.sizes, fates, placed)
        elif fmt == "jsonl" and not annotate:
            # Each partition's lines as one blob, and its removed documents' fates as one
            # list: the driver writes the kept lines between two removed ones as one slice.
            # The next partitions' are computed while it does.
            blobs = records.values().mapPartitions(_line_blob)
            if placed is not None:
                removed: Iterable[Any] = placed
            else:
                removed = _in_order(_placed(fates, read.sizes), self.ahead)
            with Records(out, fmt, annotate, schema, text_field) as sink:
                both = zip(_in_order(blobs, self.ahead), removed, strict=True)
                for (blob, sizes, flags), fated in both:
                    sink.split_lines(blob, sizes, flags, fated)
            names, counts = sink.names, sink.counts
        else:
            fates = _sorted(fates, _even(n, parts), parts)
            routed = _with_fates(_in_order(records, self.ahead), _in_order(fates, self.ahead))
            with Records(out, fmt, annotate, schema, text_field) as sink:
                sink.routed(routed)
            names, counts = sink.names, sink.counts
        # `rendered` is in cluster order already (`_numbered`): a blob of lines per partition,
        # gathered at once when there are no more clusters than a partition has documents.
        lines = rendered.map(lambda r: r[1]).mapPartitions(_joined)
        if self.rendered_here is not None:
            blobs = [b"".join(r[1] for r in self.rendered_here)]
        elif self.n_clusters <= self.partition_docs:
            blobs = lines.collect()
        else:
            blobs = _in_order(lines, self.ahead)
        write_lines(out, "clusters.jsonl", blobs)
        write_lines(out, "errors.jsonl", (asdict(s) for s in read.skipped))
        names = [*names, "clusters.jsonl", "errors.jsonl"]
        if self.indexes is not None:
            write_lines(out, INDEX_MATCHES, self.indexes.matches(settled, n, parts))
            names.append(INDEX_MATCHES)
        return names, counts

    def _write_parts(
        self,
        out: Folder,
        fmt: str,
        records: Any,
        sizes: list[int],
        fates: Any,
        schema: Any,
        placed: list[Any] | None,
    ) -> tuple[list[str], list[int]]:
        """The record files as folders of part files, one per partition of the documents,
        written by the executors into a temporary folder of OUTDIR, then (once all are
        written, and listed in the manifest) moved into place by the driver. `sizes`: the
        documents in each partition of `records`; `placed`: the `fates` of each, when the
        driver has them."""
        tmp, counts = self._parts(out, fmt, records, sizes, (fates, placed), schema, False)
        annotate = self.config.output.annotate
        n = records.getNumPartitions()
        names = [part_name(f, p) for f in record_files(fmt, annotate) for p in range(n)]
        own(out, names)
        for name in names:
            out.rename(f"{tmp}/{name}", name)
        out.remove_tree(tmp)
        return names, counts

    def _write_joined(
        self, out: Folder, fmt: str, records: Any, sizes: list[int], fates: Any, placed: Any
    ) -> tuple[list[str], list[int]]:
        """The JSONL record files (the single layout) when the executors write into the
        driver's OUTDIR (`_shared`): each partition's part of each file written by the
        executors at once, into a temporary folder, then joined in order by the driver (as
        `--output-layout parts` would write them: the same bytes, concatenated)."""
        assert out.local is not None
        tmp, counts = self._parts(out, fmt, records, sizes, (fates, placed), None, True)
        names = record_files(fmt, self.config.output.annotate)
        for name in names:
            with out.binary(name) as f:
                for p in range(records.getNumPartitions()):
                    with open(out.local / tmp / part_name(name, p), "rb") as part:
                        shutil.copyfileobj(part, f, 1 << 22)
        out.remove_tree(tmp)
        return names, counts

    def _shared(self, out: Folder) -> bool:
        """Whether the executors write into OUTDIR where the driver reads it: a local folder
        and a local master (every executor runs on this machine)."""
        return out.local is not None and str(self.sc.master).startswith("local")

    def _parts(
        self,
        out: Folder,
        fmt: str,
        records: Any,
        sizes: list[int],
        fates: tuple[Any, list[Any] | None],
        schema: Any,
        scratch: bool,
    ) -> tuple[str, list[int]]:
        """The record files' parts, one per partition of `records` (`sizes` documents
        each), written by the executors into a temporary folder of OUTDIR (`scratch`: not
        synced to disk, for the driver to read): its name, and the kept and removed counts.
        `fates`: the (number, fate) RDD and, when the driver has them, the same as a list
        for each partition (then sent with the task, not zipped with the records)."""
        tmp = f"{TEMPORARY}parts-{os.getpid()}-{time.time_ns()}"
        target = _executor_target(out, tmp)
        annotate, text_field = self.config.output.annotate, self.config.read.text_field
        if fates[1] is not None:
            placed = self.sc.broadcast(fates[1])
            write = _WriteParts(target, fmt, annotate, schema, text_field, scratch, placed)
            written = records.values().mapPartitionsWithIndex(write).collect()
        else:
            write = _WriteParts(target, fmt, annotate, schema, text_field, scratch)
            every = _fated(fates[0], sizes)
            written = records.values().zip(every).mapPartitionsWithIndex(write).collect()
        return tmp, [sum(c[0] for _, c in written), sum(c[1] for _, c in written)]


def _in_order(rdd: Any, ahead: int) -> Iterator[Any]:
    """The records of `rdd` in order, as `toLocalIterator` gives them, with up to `ahead`
    partitions computed at once (a job each, from threads of their own) while the caller
    reads the one before them: it holds at most `ahead` partitions besides that one."""
    from concurrent.futures import ThreadPoolExecutor

    sc, n = rdd.context, rdd.getNumPartitions()
    description = sc.getLocalProperty("spark.job.description")

    def fetch(part: int) -> list[Any]:
        sc.setJobDescription(description)  # a property of the thread that runs the job
        return list(sc.runJob(rdd, _as_is, [part]))

    pool = ThreadPoolExecutor(max(1, ahead), thread_name_prefix="dedup-fetch")
    pending = deque(pool.submit(fetch, part) for part in range(min(ahead, n)))
    try:
        for part in range(n):
            records = pending.popleft().result()
            if part + len(pending) + 1 < n:
                pending.append(pool.submit(fetch, part + len(pending) + 1))
            yield from records
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def _as_is(records: Iterable[Any]) -> Iterable[Any]:
    return records


def _fated(fates: Any, sizes: list[int]) -> Any:
    """Every document's fate (None when it has none), in order, partitioned as the
    documents are (`sizes` in each partition): zip pairs them up without moving any text."""
    starts = np.r_[0, np.cumsum(sizes)].tolist()
    return fates.partitionBy(len(sizes), _Bisect(starts[1:-1])).mapPartitionsWithIndex(
        _Fill(starts)
    )


def _joined(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Executor side: a partition's lines as one blob."""
    blob = b"".join(lines)
    if blob:
        yield blob


def _split_fates(fates: list[tuple[int, Fate]], sizes: list[int]) -> Iterator[list[Any]]:
    """`_PlacedFates` of (number, fate) `fates` (ascending), split on the driver."""
    at = 0
    first = 0
    for size in sizes:
        end = bisect.bisect_left(fates, first + size, at, key=lambda kv: kv[0])
        yield [(idx - first, fate) for idx, fate in fates[at:end]]
        at, first = end, first + size


def _line_blob(rows: Iterable[tuple[bytes, int]]) -> Iterator[tuple[bytes, list[int], list[int]]]:
    """Executor side: a partition's (line, flags) as one record: the lines back to back,
    their sizes and their flags (one record even for no lines)."""
    lines, flags = [], []
    for line, flag in rows:
        lines.append(line)
        flags.append(flag)
    yield b"".join(lines), [len(line) for line in lines], flags


@dataclass(frozen=True)
class _PlacedFates:
    """Executor side: the fates routed to a partition of documents as one list of
    (position in the partition, fate), ascending (one list even for none)."""

    starts: list[int]  # first number of each partition

    def __call__(self, part: int, fates: Iterable[tuple[int, Fate]]) -> Iterator[Any]:
        first = self.starts[part]
        yield sorted((idx - first, fate) for idx, fate in fates)


def _placed(fates: Any, sizes: list[int]) -> Any:
    """`_PlacedFates` of the (number, fate) `fates`, for partitions of `sizes` documents."""
    starts = np.r_[0, np.cumsum(sizes)].tolist()
    routed = fates.partitionBy(len(sizes), _Bisect(starts[1:-1]))
    return routed.mapPartitionsWithIndex(_PlacedFates(starts))


def _executor_target(out: Folder, name: str) -> str:
    """Folder `name` of OUTDIR as the executors address it: an absolute local path (their
    working folders are elsewhere) or a URI."""
    if out.local is not None:
        return str((out.local / name).absolute())
    return str(getattr(out, "uri", "")).rstrip("/") + "/" + name


@dataclass(frozen=True)
class _Bisect:
    """Partition function: the partition whose documents start at or before an index."""

    bounds: list[int]  # first index of partitions 1, 2, ...

    def __call__(self, idx: int) -> int:
        return bisect.bisect_right(self.bounds, idx)


@dataclass(frozen=True)
class _Fill:
    """Executor side: the fates of a partition's documents, one per document in order."""

    starts: list[int]

    def __call__(self, part: int, fates: Iterable[tuple[int, Fate]]) -> Iterator[Fate | None]:
        known = dict(fates)
        for idx in range(self.starts[part], self.starts[part + 1]):
            yield known.get(idx)


@dataclass(frozen=True)
class _WriteParts:
    """Executor side: one partition's (record, fate) pairs as its part of each record file,
    written under a folder of this attempt's own, then moved to its name: an attempt that
    is retried or runs twice never mixes its bytes with another's."""

    target: str
    fmt: str
    annotate: bool
    schema: Any
    text_field: str
    scratch: bool = False  # a local folder only the driver reads: nothing synced to disk
    # A Broadcast of the fates of each partition's documents (`_split_fates`): then the rows
    # are the records alone.
    placed: Any = None

    def __call__(self, part: int, rows: Iterable[Any]) -> Iterator[Any]:
        from pyspark import TaskContext

        if self.placed is not None:
            rows = _with_placed(rows, self.placed.value[part])

        context = TaskContext.get()
        attempt = f"attempt-{context.taskAttemptId() if context else 0}"
        folder = part_folder(self.target)
        sink = Records(
            _Scratch(Path(self.target, attempt))
            if self.scratch
            else part_folder(f"{self.target}/{attempt}"),
            self.fmt,
            self.annotate,
            self.schema,
            self.text_field,
            part,
        )
        with sink:
            sink.routed(rows)
        for name in sink.names:
            folder.rename(f"{attempt}/{name}", name)
        yield part, sink.counts


def _with_placed(
    records: Iterable[Any], fates: list[tuple[int, Fate]]
) -> Iterator[tuple[Any, Fate | None]]:
    """(record, fate or None) of a partition's records, its fates given by position."""
    known = dict(fates)
    return ((record, known.get(k)) for k, record in enumerate(records))


class _Scratch(LocalFolder):
    """A local folder of files the driver joins into the outputs (`_Run._write_joined`):
    written as they come, not synced to disk (the joined files are)."""

    @contextmanager
    def binary(self, name: str) -> Iterator[BinaryIO]:
        path = self.local / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            yield f


def _with_fates(records: Iterator[tuple[int, Any]], fates: Iterator[tuple[int, Any]]) -> Any:
    """(record, fate or None) of every document in order: the documents' stream merged with
    the index-sorted stream of fates."""
    fate = next(fates, None)
    for idx, record in records:
        if fate is not None and fate[0] == idx:
            yield record, fate[1]
            fate = next(fates, None)
        else:
            yield record, None
    if fate is not None:
        raise AccountingError(f"a clustered document ({fate[0]}) was not among the read")


# -- inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    ordinal: int
    given: str
    remote: bool  # a Hadoop URI (hdfs://, s3a://, file://...): read with binaryFiles
    is_dir: bool
    qualified: str  # for remote inputs, the prefix binaryFiles' paths start with


def _resolve(spark: Any, ordinal: int, given: str, cfg: ReadConfig) -> _Source:
    """Check an input exists (before anything is read, as locally) and how to read it."""
    if given == "-":
        if cfg.format == "parquet":  # as `read_inputs` refuses it
            raise InputError(STDIN_NAME, "Parquet cannot be read from stdin: give a file name")
        return _Source(ordinal, given, False, False, given)
    if not is_uri(given):
        if not os.path.exists(given):
            raise InputError(given, "no such file or directory")
        return _Source(ordinal, given, False, os.path.isdir(given), given)
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(given)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        raise InputError(given, "no such file or directory")
    is_dir = bool(fs.getFileStatus(path).isDirectory())
    return _Source(ordinal, given, True, is_dir, str(fs.makeQualified(path).toString()))


@dataclass(frozen=True)
class _Schema:
    """Marks where the rows of a Parquet file start, with the file's Arrow schema (the local
    engine merges each new schema as its first row passes)."""

    source: str
    schema: Any


@dataclass(frozen=True)
class _Format:
    """The format a file of a Hadoop URI input was read as (for --output-format auto)."""

    fmt: str


def _is_doc(kv: tuple[Key, Any]) -> bool:
    return isinstance(kv[1], tuple)


def _items(
    items: Iterable[Doc | Skip], ordinal: int, rel: str, source: str | None = None
) -> Iterator[tuple[Key, Any]]:
    """A reader's output as keyed items: a DocRow or Skip per record (its source replaced
    by `source` when given), and a _Schema where the rows of a Parquet schema start."""
    last = None
    for n, item in enumerate(items):
        if source is not None:
            item = replace(item, source=source)
        key = (ordinal, rel, n)
        if isinstance(item, Skip):
            yield key, item
            continue
        record = item.record
        is_row = isinstance(record, Row)
        if isinstance(record, Row) and record.schema is not last:
            last = record.schema
            yield key, _Schema(item.source, last)
        # What the local engine spools and writes out for this document.
        plain = dict(record) if record else {"id": item.id, "text": item.text}
        yield key, (item.id, item.text, plain, item.source, item.line, is_row)


class _Task(NamedTuple):
    """A local file to read, stdin (`stdin`: its shipped file's name, or "" once read), or
    a folder that could not be listed (its Skip)."""

    ordinal: int
    rel: str
    path: str
    name: str
    skip: Skip | None = None
    n: int = 0
    stdin: str | None = None


@dataclass(frozen=True)
class _ReadFile:
    """Executor side: one local file (or stdin) through the local engine's reader."""

    cfg: ReadConfig
    cwd: str  # the driver's: executors may run elsewhere (local-cluster, a shared file system)

    def __call__(self, task: _Task) -> Iterator[tuple[Key, Any]]:
        if task.skip is not None:
            yield (task.ordinal, task.rel, task.n), task.skip
            return
        if task.stdin is not None:
            from pyspark import SparkFiles

            with open(SparkFiles.get(task.stdin), "rb") if task.stdin else io.BytesIO() as f:
                yield from _items(read_inputs(["-"], self.cfg, stdin=f), task.ordinal, "")
            return
        # WARC ids of re-crawled pages are made distinct within a file, not across files.
        path = os.path.join(self.cwd, task.path)
        items = read_file(path, task.name, self.cfg, set())
        # Sources named as given (a relative path stays relative), as locally.
        yield from _items(items, task.ordinal, task.rel, None if path == task.path else task.path)


@dataclass(frozen=True)
class _ReadBytes:
    """Executor side: one file of a Hadoop URI input, given whole by binaryFiles, through
    the local engine's reader (from a temporary copy, so every format reads the same)."""

    src: _Source
    cfg: ReadConfig
    several: bool  # the run has more inputs than this one: ids lead with it (`id_name`)

    def __call__(self, kv: tuple[str, bytes]) -> Iterator[tuple[Key, Any]]:
        uri, data = kv
        src = self.src
        if src.is_dir:
            prefix = src.qualified.rstrip("/") + "/"
            rel = uri[len(prefix) :] if uri.startswith(prefix) else uri.rsplit("/", 1)[-1]
            name, source = id_name(src.given, rel, self.several), src.given.rstrip("/") + "/" + rel
        else:
            rel, name, source = "", id_name(src.given, "", self.several), src.given
        with tempfile.TemporaryDirectory(prefix="dedup-") as tmp:
            path = os.path.join(tmp, name.replace("/", "_").replace(":", "_"))  # keeps the suffix
            with open(path, "wb") as f:
                f.write(data)
            yield (src.ordinal, rel, -1), _Format(detect_format(path, name, self.cfg.format))
            items = read_file(path, name, self.cfg, set())
            yield from _items(items, src.ordinal, rel, source)


class _Counted(NamedTuple):
    """A partition's documents, the UTF-8 bytes of their texts and those with no text (no
    characters)."""

    part: int
    docs: int
    bytes: int
    empty: int


def _facts(part: int, records: Iterable[Any]) -> Iterator[Any]:
    """Executor side: a partition's items (`SignItems`'s records) but its documents, (key,
    Skip, _Schema or _Format), then its `_Counted`."""
    docs = size = empty = 0
    for record in records:
        if isinstance(record, SignedRun):
            docs += len(record)
            size += int(record.nbytes.sum())
            empty += record.empty()
        else:
            yield record
    yield _Counted(part, docs, size, empty)


def _kept_counts(records: Iterable[SignedRun]) -> Iterator[tuple[int, int]]:
    """Executor side: a partition's documents, and those with no text."""
    docs = empty = 0
    for record in records:
        docs += len(record)
        empty += record.empty()
    yield docs, empty


@dataclass(frozen=True)
class _KeyRanges:
    """Partition function: the range of item keys a key falls in (as `sortByKey`)."""

    bounds: list[Key]  # the last key of each range but the last

    def __call__(self, key: Key) -> int:
        return bisect.bisect_left(self.bounds, key)


def _range_bounds(items: Any, total: int, parts: int) -> list[Key]:
    """Bounds of `parts` ranges of the keys of `items` (`total` of them, about), from a
    sample, as `sortByKey` draws them."""
    fraction = min(parts * 20.0 / max(total, 1), 1.0)
    sample = sorted(items.sample(False, fraction, 1).keys().collect())
    if not sample:
        return []
    return [sample[int(len(sample) * (k + 1) / parts)] for k in range(parts - 1)]


def _sorted(items: Any, ranges: Callable[[Any], int], parts: int) -> Any:
    """`items` sorted by key into the `parts` ranges of `ranges` (a partition function):
    the same partitions for any RDD of the same keys. Sorting is stable: the items of one
    key (a Parquet file's schema marker and its first row) keep their order."""
    return items.repartitionAndSortWithinPartitions(parts, ranges)


def _even(n: int, parts: int) -> _Bisect:
    """Partition function: `parts` even ranges of the numbers 0..n-1."""
    return _Bisect([n * k // parts for k in range(1, parts)])


@dataclass(frozen=True)
class _Numbered:
    """Executor side: a partition's documents numbered on from the count before it."""

    starts: list[int]  # first number of each partition

    def __call__(self, part: int, docs: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        return enumerate(docs, self.starts[part])


def _id_hash(doc_id: Any) -> int:
    """A 64-bit hash of an id as ids are compared (`id_key`), the same in every process."""
    key = str(id_key(doc_id)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


class _PartFacts(NamedTuple):
    """A partition's facts (`_facts`), gathered whole."""

    part: int
    facts: list[Any]


@dataclass(frozen=True)
class _FactsAndHashes:
    """Executor side: a partition's facts as one record for reduce partition 0, and the
    hashes of its documents' ids (`_id_hash`), routed by hash to `parts` partitions; with
    `keys`, each document's band keys too, numbered by place (`_BandKeys.local`) and routed
    to the partitions after those."""

    parts: int
    keys: _BandKeys | None = None

    def __call__(self, part: int, records: Iterable[Any]) -> Iterator[Any]:
        hashes: list[int] = []
        runs: list[tuple[int, SignedRun]] = []  # (place of the first document, run)
        placed = 0

        def docs() -> Iterator[Any]:
            nonlocal placed
            for record in records:
                if isinstance(record, SignedRun):
                    hashes.extend(_id_hash(doc_id) for doc_id in record.ids)
                    if self.keys is not None:
                        runs.append((_BandKeys.local(part, placed), record))
                        placed += len(record)
                yield record

        yield 0, _PartFacts(part, list(_facts(part, docs())))
        if hashes:
            values = np.array(hashes, dtype=np.uint64)
            yield from _routed(values, self.parts, values)
        if self.keys is not None:
            yield from ((self.parts + k, cols) for k, cols in self.keys(runs))


def _gathered(part: Iterable[tuple[int, Any]]) -> Iterator[Any]:
    """Executor side: the `_PartFacts` routed here, and the id hashes routed here that more
    than one document has (an array, if any)."""
    found = []
    for _, value in part:
        if isinstance(value, _PartFacts):
            yield value
        else:
            found.append(value[0])
    if found:
        values, counts = np.unique(np.concatenate(found), return_counts=True)
        if (counts > 1).any():
            yield values[counts > 1]


def _facts_and_repeats(light: Any, keys: _BandKeys | None) -> tuple[list[Any], np.ndarray, Any]:
    """The facts (`_facts`) of every partition of `light` in order, and the id hashes
    (`_id_hash`, ascending) that more than one document has, in one job: the ids are not
    read again. With `keys`, the same job routes every document's band keys (numbered by
    place, `_BandKeys.local`) to the `keys.parts` partitions after the first
    `light.getNumPartitions()`, and the shuffled RDD is returned for LSH to read them from
    (this job reads only the first partitions; the band keys are not computed again)."""
    n = max(1, light.getNumPartitions())
    shuffled = light.mapPartitionsWithIndex(_FactsAndHashes(n, keys)).partitionBy(
        n + (keys.parts if keys is not None else 0), _identity
    )
    found = light.context.runJob(shuffled, _gathered, list(range(n)))
    parts = sorted((f for f in found if isinstance(f, _PartFacts)), key=lambda f: f.part)
    repeats = [f for f in found if not isinstance(f, _PartFacts)]
    hashes = np.sort(np.concatenate(repeats)) if repeats else np.empty(0, dtype=np.uint64)
    return [fact for p in parts for fact in p.facts], hashes, shuffled if keys else None


def _repeated(ordered: Any, parts: int, repeats: Any) -> Any:
    """(key, error) of every document whose id (by `id_key`) an earlier one in input order
    has, with the error the local engine raises (`duplicate_id_error`), among those whose
    id's hash is in `repeats` (a Broadcast of `_id_hash`es, ascending). Each id's
    occurrences meet in one reduce, which keeps the first and lists the others."""

    def one(kv: tuple[Key, LightRow]) -> tuple[Any, Any]:
        key, row = kv
        return id_key(row[0]), ((key, row[0], row[3], row[4]), [])

    def two(a: Any, b: Any) -> Any:
        first, later = (a, b) if a[0] < b[0] else (b, a)
        return first[0], first[1] + later[1] + [later[0]]

    def errors(kv: tuple[Any, Any]) -> list[tuple[Key, InputError]]:
        (_, _, src, line), later = kv[1]
        return [(k, duplicate_id_error(i, src, line, s, n)) for k, i, s, n in later]

    def suspect(kv: tuple[Key, Any]) -> bool:
        hashes, h = repeats.value, _id_hash(kv[1][0])
        at = int(np.searchsorted(hashes, np.uint64(h)))
        return at < hashes.size and int(hashes[at]) == h

    docs = ordered.mapPartitions(doc_items).filter(suspect).map(one)
    return docs.reduceByKey(two, parts).filter(lambda kv: kv[1][1]).flatMap(errors)


def _storage() -> Any:
    from pyspark import StorageLevel

    return StorageLevel.MEMORY_AND_DISK


# -- sign, LSH, verify -----------------------------------------------------------------


def _routed(values: np.ndarray, parts: int, *columns: np.ndarray) -> Iterator[tuple[int, Any]]:
    """(partition, column slices) for every partition some value hashes to (value % parts):
    records of numpy arrays, so a shuffle moves a few large records, not one per value."""
    target = (values % np.uint64(parts)).astype(np.int64)
    order = np.argsort(target, kind="stable")
    target = target[order]
    bounds = np.flatnonzero(np.diff(target)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, target.size], strict=True):
        if hi > lo:
            rows = order[lo:hi]
            yield int(target[lo]), tuple(c[rows] for c in columns)


def _identity(partition: int) -> int:
    return partition


@dataclass(frozen=True)
class _BandKeys:
    """Executor side: (band, key, index) of every band of every signature of (index of the
    first, `SignedRun`) runs, routed by key to the one of `parts` partitions that groups
    that key's bucket. The index is the document's number, or its place in the partition
    that read it (`local`), when the numbers are not known yet."""

    bands: int
    rows: int
    parts: int

    @staticmethod
    def local(part: int, place: int) -> int:
        """The index of the document at `place` in partition `part` of the read."""
        return part << 32 | place

    def __call__(self, part: Iterable[tuple[int, SignedRun]]) -> Iterator[tuple[int, Any]]:
        # A document with no text is never a version of anything: it is left out of LSH (a
        # million empty records would share every band's bucket).
        for batch in batched(part, 32):  # runs of up to batch_size documents
            idx = np.concatenate([first + np.arange(len(d)) for first, d in batch])
            sigs = np.concatenate([d.sigs for _, d in batch])
            some = np.concatenate([d.figures.length != 0 for _, d in batch])
            idx, sigs = idx[some], sigs[some]
            keys = np.concatenate([band_keys(sigs, b, self.rows) for b in range(self.bands)])
            band = np.repeat(np.arange(self.bands, dtype=np.int32), idx.size)
            yield from _routed(keys, self.parts, band, keys, np.tile(idx, self.bands))


@dataclass(frozen=True)
class _BucketPairs:
    """Executor side: the candidate pairs (packed i << 32 | j) of the buckets routed to this
    partition, by the local rule (`bucket_pairs`: all pairs, or a star plus a chain above
    max_bucket, members ascending), routed on for a global distinct. With `starts` (the
    first number of each partition of the read), the indexes are places
    (`_BandKeys.local`) and the first `skip` partitions hold no band keys."""

    max_bucket: int
    parts: int
    starts: list[int] | None = None
    skip: int = 0

    def __call__(self, index: int, part: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        if index < self.skip:  # the read's facts and id hashes
            for _ in part:
                pass
            return
        chunks = [cols for _, cols in part]
        if not chunks:
            return
        band, key, idx = (np.concatenate([c[k] for c in chunks]) for k in range(3))
        if self.starts is not None:
            first = np.asarray(self.starts, dtype=np.int64)[idx >> 32]
            idx = first + (idx & _LOW32)
        order = np.lexsort((idx, key, band))  # by band, then key, then document
        band, key, idx = band[order], key[order], idx[order]
        change = np.ones(idx.size, dtype=bool)
        change[1:] = (band[1:] != band[:-1]) | (key[1:] != key[:-1])
        bucket = np.cumsum(change).astype(np.uint64)  # one id per (band, key)
        packed = np.unique(bucket_pairs(idx, bucket, self.max_bucket))
        yield from _routed(packed.astype(np.uint64), self.parts, packed)


def _distinct_pairs(part: Iterable[tuple[int, Any]]) -> Iterator[np.ndarray]:
    """Executor side: the distinct packed pairs routed to a partition, as one int64 array
    (ascending)."""
    found = [cols[0] for _, cols in part]
    yield np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)


def _picked(candidates: Any, signed: Any, parts: int) -> Any:
    """(number, what `signed` holds) of every document in a candidate pair (packed i << 32
    | j), hash-partitioned into `parts` as `signed` is: the join reads `signed` once and
    moves only the numbers."""
    nodes = candidates.flatMap(lambda p: (p >> 32, p & _LOW32)).map(lambda n: (n, None))
    return nodes.reduceByKey(_first, parts).join(signed, parts).mapValues(lambda v: v[1])


def _warm_driver(config: Config) -> None:
    """Run what the driver computes after reading (`_homes`, the estimates and groups of
    repeated text, its counts) on a few documents, so that their compiled code is loaded
    (about 1.5 seconds) while the executors read, not after."""
    with suppress(Exception):  # then the stage itself meets the error
        pairs = np.array([[0, 1], [1, 2]], dtype=np.int64)
        _homes(pairs, 2, 2)
        sigs = np.asfortranarray(np.arange(12, dtype=np.uint32).reshape(3, 4))
        sizes = np.array([4, 4, 4], dtype=np.int64)
        jac, con = estimated_similarities(sigs, pairs, sizes)
        group_roots(3, pairs, jac, con, sizes, config.repeat)
        data = np.arange(8, dtype=np.uint32)
        ends = np.array([4, 8], dtype=np.int64)
        one = np.array([0, 2], dtype=np.int64)
        chunks = [(data, ends - 4, ends, one, np.array([2], dtype=np.int64))]
        repeats_of(partial(_count_slots, config.repeat, chunks), config.repeat)


class _Homes(NamedTuple):
    """Where the documents in candidate pairs are held while their pairs are verified and
    their clusters settled (`_homes`)."""

    nodes: np.ndarray  # the documents in candidate pairs, ascending
    home: np.ndarray  # the partition each is at home in
    packed: np.ndarray  # bool: its component of the candidate graph is wholly there
    pair_home: np.ndarray  # the partition that verifies each candidate pair: its first end's
    # (numbers, partitions, at home) of every place a document is held, by number: its home,
    # and each other partition that verifies a pair of it
    dest: tuple[np.ndarray, np.ndarray, np.ndarray]


def _homes(pairs: np.ndarray, parts: int, max_component: int) -> _Homes:
    """Homes in `parts` partitions for the documents of the candidate `pairs` (rows (i, j)):
    the components of the candidate graph, in the order of their smallest members, laid end
    to end over the partitions by their sizes; a component of up to a partition's share of
    the documents (and `max_component`) wholly in the partition where it starts, so that the
    clusters it gives are settled there with no document moved again, a larger one cut where
    the partitions' shares end. A pair is verified in its first end's home; its second end
    is sent there too when its own home is elsewhere."""
    nodes = np.unique(pairs)
    n = nodes.size
    local = np.searchsorted(nodes, pairs)
    uf = UnionFind(n)  # roots are the smallest member
    uf.union_pairs(local)
    roots = uf.roots()
    order = np.argsort(roots, kind="stable")  # components in turn, each ascending
    start = np.ones(n, dtype=bool)
    start[1:] = roots[order][1:] != roots[order][:-1]
    component = np.cumsum(start) - 1
    starts = np.flatnonzero(start)
    sizes = np.diff(np.r_[starts, n])
    cap = min(max_component, max(2, math.ceil(n / parts)))
    whole = sizes[component] <= cap
    place = np.where(whole, starts[component], np.arange(n))
    home = np.empty(n, dtype=np.int64)
    home[order] = place * parts // max(n, 1)
    packed = np.empty(n, dtype=bool)
    packed[order] = whole
    pair_home = home[local[:, 0]]
    cross = pair_home != home[local[:, 1]]
    sent = np.unique(local[cross, 1] * parts + pair_home[cross])  # each (node, partition) once
    held = np.r_[np.arange(n), sent // parts]
    where = np.r_[home, sent % parts]
    at_home = np.r_[np.ones(n, dtype=bool), np.zeros(sent.size, dtype=bool)]
    by = np.lexsort((where, held))
    return _Homes(nodes, home, packed, pair_home, (nodes[held[by]], where[by], at_home[by]))


@dataclass(frozen=True)
class _PickHome:
    """Executor side: the documents of a partition (numbered `SignedRun`) that are in
    candidate pairs, as (partition, (numbers, at home, `SignedRun`)) for each partition that
    holds some of them (`dest`: a Broadcast of `_Homes.dest`)."""

    dest: Any

    def __call__(self, part: Iterable[tuple[int, SignedRun]]) -> Iterator[tuple[int, Any]]:
        held, where, at_home = self.dest.value
        found: dict[int, list[tuple[np.ndarray, np.ndarray, SignedRun]]] = {}
        for first, docs in part:
            idx = first + np.arange(len(docs))
            lo = np.searchsorted(held, idx, "left")
            counts = np.searchsorted(held, idx, "right") - lo
            if not counts.any():
                continue
            doc = np.repeat(np.arange(len(docs)), counts)  # the document of each place
            row = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(doc.size)
            target = where[row]
            by = np.argsort(target, kind="stable")  # documents ascending in each
            bounds = np.flatnonzero(np.diff(target[by])) + 1
            for chunk in np.split(by, bounds):
                sent = doc[chunk]
                found.setdefault(int(target[chunk[0]]), []).append(
                    (idx[sent], at_home[row[chunk]], docs.take(sent))
                )
        for target, chunks in sorted(found.items()):
            numbers = np.concatenate([c[0] for c in chunks])
            homes = np.concatenate([c[1] for c in chunks])
            yield target, (numbers, homes, SignedRun.concat([c[2] for c in chunks]))


def _picked_record(part: Iterable[tuple[int, Any]]) -> Iterator[Picked]:
    """Executor side: the documents routed to a partition by `_PickHome`, as one `Picked`."""
    chunks = [chunk for _, chunk in part]
    if chunks:
        yield Picked.of(chunks)


def _picked_home(batches: Any, dest: Any, parts: int) -> Any:
    """One `Picked` record per partition: the documents in candidate pairs picked from the
    held runs (`batches`) and sent to the partitions `dest` (a Broadcast of `_Homes.dest`)
    names, with one shuffle."""
    return (
        batches.mapPartitions(_PickHome(dest))
        .partitionBy(parts, _identity)
        .mapPartitions(_picked_record)
    )


def _home_rows(picked: Picked) -> Iterator[tuple[int, Any]]:
    """(number, (signature, shingle set, figures, id, source)) of the documents at home in
    a `Picked` record, as `SignedRun.signed` gives them."""
    return picked.rows()


def _among(nodes: np.ndarray, part: Iterable[tuple[int, Any]]) -> Iterator[tuple[Any, int]]:
    """Each (number, value) row of `part` whose number is in `nodes` (ascending), with its
    place there."""
    if not nodes.size:
        return
    for batch in batched(part, _VERIFY_BATCH):
        keys = np.array([node for node, _ in batch], dtype=np.int64)
        at = np.minimum(np.searchsorted(nodes, keys), nodes.size - 1)
        for k in np.flatnonzero(nodes[at] == keys).tolist():
            yield batch[k], int(at[k])


def _first(a: Any, b: Any) -> Any:
    return a


def _with_sets(pairs: Any, sets: Any, parts: int) -> Any:
    """(i, (j, tag)) -> (tag, i, j, set_i, set_j): each pair joined with both shingle sets.
    `sets` is hash-partitioned into `parts`: only the pairs move."""
    by_i = (
        pairs.partitionBy(parts)
        .join(sets, parts)
        .map(lambda kv: (kv[1][0][0], (kv[0], kv[1][0][1], kv[1][1])))
    )
    return (
        by_i.partitionBy(parts)
        .join(sets, parts)
        .map(lambda kv: (kv[1][0][1], kv[1][0][0], kv[0], kv[1][0][2], kv[1][1]))
    )


def _pair_similarities(batch: list[Any], own: Own) -> tuple[np.ndarray, np.ndarray]:
    """The local `similarities` on (tag, i, j, set_i, set_j) rows."""
    data, offsets = _concatenated([b for row in batch for b in (row[3], row[4])])
    pairs = np.arange(offsets.size - 1, dtype=np.int64).reshape(-1, 2)
    return similarities(data, offsets, pairs, own)


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


# One candidate pair's estimated whole-set similarities (`repeats.estimated_similarities`)
# and its documents' set sizes, as `_HomeEstimates` sends them to the driver.
_ESTIMATE = np.dtype(
    [
        ("i", "<i8"),
        ("j", "<i8"),
        ("jac", "<f8"),
        ("con", "<f8"),
        ("size_i", "<i8"),
        ("size_j", "<i8"),
    ]
)


@dataclass(frozen=True)
class _HomeEstimates:
    """Executor side: the candidate pairs a partition verifies (`table`: as `_VerifySettle`
    takes it), with their documents' estimated similarities and set sizes,
    as one `_ESTIMATE` array (bytes): a single record to send the driver."""

    table: Any
    columns: int  # signature values LSH uses, the ones the local engine keeps

    def __call__(self, index: int, part: Iterable[Picked]) -> Iterator[bytes]:
        pairs, home, _ = self.table.value
        mine = pairs[home == index]
        for picked in part:
            local = picked.at(mine)
            docs = picked.docs
            sizes = docs.offsets[1:] - docs.offsets[:-1]
            sigs = np.asfortranarray(docs.sigs[:, : self.columns])
            jac, con = estimated_similarities(sigs, local, sizes)
            rows = np.empty(mine.shape[0], dtype=_ESTIMATE)
            rows["i"], rows["j"] = mine[:, 0], mine[:, 1]
            rows["jac"], rows["con"] = jac, con
            rows["size_i"], rows["size_j"] = sizes[local[:, 0]], sizes[local[:, 1]]
            yield rows.tobytes()


@dataclass(frozen=True)
class _HomeColumns:
    """Executor side: the documents at home in a partition (`Picked`) as one record of
    arrays: their numbers, their signatures' first `columns` values, their set sizes (and,
    with `sets`, the sets)."""

    columns: int  # signature values LSH uses, the ones the local engine keeps
    sets: bool = False  # and their shingle sets, back to back

    def __call__(self, part: Iterable[Picked]) -> Iterator[Any]:
        for picked in part:
            found = picked.columns(self.columns)
            if found[0].size:
                yield (*found, picked.home_sets()) if self.sets else found


def _estimated(batch: list[Any], columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(jaccard, containment) that MinHash estimates for (tag, i, j, (signature, set size),
    (signature, set size)) rows, and the set sizes, both ends of each row in turn."""
    ends = [e for row in batch for e in (row[3], row[4])]
    sigs = np.stack([np.frombuffer(s, dtype=np.uint32)[:columns] for s, _ in ends])
    sizes = np.array([size for _, size in ends], dtype=np.int64)
    local = np.arange(sizes.size, dtype=np.int64).reshape(-1, 2)
    jac, con = estimated_similarities(sigs, local, sizes)
    return jac, con, sizes


def _members(groups: Groups) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The members that stand for `groups` (over document numbers), ascending, with each
    one's group's first document, the group's documents and the member's rank in it."""
    counts = np.diff(groups.bounds)
    rank = np.arange(groups.sample.size) - np.repeat(groups.bounds[:-1], counts)
    order = np.argsort(groups.sample, kind="stable")
    first, size = np.repeat(groups.first, counts), np.repeat(groups.size, counts)
    return groups.sample[order], first[order], size[order], rank[order]


def _sample_chunk(
    members: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    nodes: np.ndarray,
    data: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The members that stand for groups (`_members`) as one `_SampleChunks` record, from
    the shingle sets of the documents `nodes` (ascending): set k is data[starts[k]:starts[k]
    + sizes[k]]."""
    member, first, size, rank = members
    at = np.searchsorted(nodes, member)
    lengths = sizes[at]
    bounds = np.zeros(at.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    spans = np.repeat(starts[at] - bounds[:-1], lengths) + np.arange(int(bounds[-1]))
    heads = np.stack([first, rank, size], axis=1).astype(np.int64).reshape(-1, 3)
    return heads, lengths.astype(np.int64), data[spans]


@dataclass(frozen=True)
class _Samples:
    """Executor side: (first document, (rank, documents, set)) of the members that stand
    for a group (`members`: a Broadcast of `_members`) at home in a partition (`Picked`)."""

    members: Any

    def __call__(self, part: Iterable[Picked]) -> Iterator[tuple[int, Any]]:
        nodes, first, size, rank = self.members.value
        for picked in part:
            if not nodes.size:
                return
            at = np.flatnonzero(picked.home)
            mine = picked.nodes[at]
            m = np.minimum(np.searchsorted(nodes, mine), nodes.size - 1)
            hit = np.flatnonzero(nodes[m] == mine)
            bounds = picked.docs.offsets
            for k, doc in zip(m[hit].tolist(), at[hit].tolist(), strict=True):
                data = picked.docs.shingles[bounds[doc] : bounds[doc + 1]].tobytes()
                yield int(first[k]), (int(rank[k]), int(size[k]), data)


@dataclass(frozen=True)
class _Linked:
    """Executor side: the candidate pairs that are versions of one text for counting
    repeated text (`repeats.joins` and `repeats.held` on whole sets): (i, j, -1.0) for a
    pair that joins, (smaller, larger, containment) for one held (smaller by set size, then
    by number, as `repeats.oriented`)."""

    cfg: RepeatConfig
    columns: int  # signature values LSH uses, the ones the local engine keeps

    def __call__(self, part: Iterable[Any]) -> Iterator[tuple[int, int, float]]:
        for batch in batched(part, _VERIFY_BATCH):
            jac, con, sizes = _estimated(batch, self.columns)
            local = np.arange(sizes.size, dtype=np.int64).reshape(-1, 2)
            join = joins(local, jac, sizes, self.cfg).tolist()
            grip = held(local, con, sizes, self.cfg)
            ends_ij = np.array([(row[1], row[2]) for row in batch], dtype=np.int64)
            holds = oriented(ends_ij, sizes[0::2], sizes[1::2]).tolist()
            for k, row in enumerate(batch):
                if join[k]:
                    yield row[1], row[2], -1.0
                if grip[k]:
                    yield holds[k][0], holds[k][1], float(con[k])


def _sample(group: tuple[int, Iterable[int]]) -> Iterator[tuple[int, tuple[int, int, int]]]:
    """(node, (first document, documents, rank)) of the members that stand for a group
    (`repeats.sample_ranks`, as repeats.Groups)."""
    first, nodes = group
    members = sorted(nodes)
    _, ranks = sample_ranks(np.array([len(members)]))
    for rank, at in enumerate(ranks.tolist()):
        yield members[at], (first, len(members), rank)


@dataclass(frozen=True)
class _SampleChunks:
    """Executor side: a partition's (first document, (rank, documents, set)) rows of the
    members that stand for groups, as one record of arrays for each of `parts` partitions
    that a group's first document is routed to: (firsts, ranks, documents, set lengths,
    the sets back to back)."""

    parts: int

    def __call__(self, rows: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        found: dict[int, list[Any]] = {}
        for first, (rank, size, data) in rows:
            found.setdefault(first % self.parts, []).append((first, rank, size, data))
        for target, chunk in sorted(found.items()):
            heads = np.array([row[:3] for row in chunk], dtype=np.int64).reshape(-1, 3)
            lengths = np.array([len(row[3]) // 4 for row in chunk], dtype=np.int64)
            data = np.frombuffer(b"".join(row[3] for row in chunk), dtype=np.uint32)
            yield target, (heads, lengths, data)


def _weighed_chunk(part: Iterable[tuple[int, Any]]) -> Iterator[WeighedChunk]:
    """Executor side: the `_SampleChunks` records routed to a partition as one chunk (data,
    starts, ends, bounds, sizes) of its groups, ascending by first document, each group's
    sample in rank order, as `RepeatCounter.weigh_fetched` takes it."""
    chunks = [c for _, c in part]
    if not chunks:
        return
    heads = np.concatenate([c[0] for c in chunks])
    lengths = np.concatenate([c[1] for c in chunks])
    data = np.concatenate([c[2] for c in chunks])
    ends = np.cumsum(lengths)
    order = np.lexsort((heads[:, 1], heads[:, 0]))  # by group, then rank
    heads, starts, ends = heads[order], (ends - lengths)[order], ends[order]
    new = np.flatnonzero(np.r_[True, heads[1:, 0] != heads[:-1, 0]])
    bounds = np.r_[new, heads.shape[0]].astype(np.int64)
    yield data, starts, ends, bounds, heads[new, 2]


@dataclass(frozen=True)
class _CountSlots:
    """Executor side: the slot counts (repeats.RepeatCounter) of a partition's groups, given
    as `_weighed_chunk` makes them: the first count counts the groups' first sets and weighs
    the groups, the second counts the first sets alone."""

    cfg: RepeatConfig
    first: Any = None  # Broadcast of the first count's Repeats, for the second count

    def __call__(self, part: Iterable[WeighedChunk]) -> Iterator[RepeatCounter]:
        first = None if self.first is None else self.first.value
        yield _count_slots(self.cfg, list(part), first)


def _count_slots(
    cfg: RepeatConfig, chunks: list[WeighedChunk], first: Repeats | None
) -> RepeatCounter:
    """The slot counts of the groups of `chunks` (as `_weighed_chunk` makes them): without
    `first`, the groups' first sets counted and the groups weighed; with the first count's
    `Repeats`, the first sets alone (`repeats.repeats_of`'s two counts)."""
    counter = RepeatCounter(cfg)
    if first is None:
        counter.weigh_fetched(chunks)
    else:
        firsts = ((d, s[b[:-1]], e[b[:-1]]) for d, s, e, b, _ in chunks)
        counter.add_fetched(firsts, first)
    return counter


@dataclass(frozen=True)
class _Verify:
    """Executor side: the candidate pairs that are versions of one article, as (i, j,
    jaccard, containment)."""

    cfg: VerifyConfig
    own: Any  # Broadcast of verify.Own

    def __call__(self, part: Iterable[Any]) -> Iterator[tuple[int, int, float, float]]:
        from .verify import is_match

        for batch in batched(part, _VERIFY_BATCH):
            jac, con = _pair_similarities(batch, self.own.value)
            ok = is_match(jac, con, self.cfg).tolist()
            for row, m, j, c in zip(batch, ok, jac.tolist(), con.tolist(), strict=True):
                if m:
                    yield row[1], row[2], j, c


@dataclass(frozen=True)
class _Shares:
    """Executor side: (tag, share of the set set aside as repeated text) of (tag, set) rows."""

    own: Any  # Broadcast of verify.Own

    def __call__(self, part: Iterable[tuple[Any, bytes]]) -> Iterator[tuple[Any, float]]:
        for batch in batched(part, _VERIFY_BATCH):
            data, offsets = _concatenated([row[1] for row in batch])
            shares = repeated_shares(data, offsets[:-1], offsets[1:], self.own.value.table)
            yield from zip((row[0] for row in batch), shares.tolist(), strict=True)


def _concatenated(sets: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Shingle sets as bytes -> (data, offsets): set k is data[offsets[k]:offsets[k + 1]]."""
    arrays = [np.frombuffer(b, dtype=np.uint32) for b in sets]
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum([a.size for a in arrays], out=offsets[1:])
    data = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.uint32)
    return data, offsets


@dataclass(frozen=True)
class _MemberSims:
    """Executor side: (cluster number, (member, jaccard, containment)) to its representative."""

    own: Any  # Broadcast of verify.Own

    def __call__(self, part: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        for batch in batched(part, _VERIFY_BATCH):
            jac, con = _pair_similarities(batch, self.own.value)
            for row, j, c in zip(batch, jac.tolist(), con.tolist(), strict=True):
                yield row[0], (row[1], j, c)


# -- clusters --------------------------------------------------------------------------


def _large_star(kv: tuple[int, Iterable[int]]) -> list[tuple[int, int]]:
    u, neighbours = kv
    ns = set(neighbours)
    m = min(min(ns), u)
    return [(v, m) for v in ns if v > u]


def _small_star(kv: tuple[int, Iterable[int]]) -> list[tuple[int, int]]:
    u, smaller = kv
    ns = set(smaller)
    ns.add(u)
    m = min(ns)
    return [(v, m) for v in ns if v != m]


def _components(
    edges: Any,
    parts: int,
    keep: Callable[[Any], Any] = lambda r: r.cache(),
    driver_edges: int = DRIVER_EDGES,
) -> Any:
    """(node, smallest node of its component) for every node of an edge. A graph of at most
    `driver_edges` edges is gathered to the driver and joined by union-find there (one job);
    a larger one by alternating large-star and small-star (Kiveris et al., "Connected
    Components in MapReduce and Beyond", 2014) until the edge set stops changing: O(log n)
    rounds of shuffles, and no step gathers the graph anywhere. Edges are kept as (larger,
    smaller)."""
    if driver_edges > 0:
        edges = keep(edges)
        if edges.count() <= driver_edges:
            found = edges.mapPartitions(_edge_array).collect()
            return _driver_components(edges.context, found, parts)
    current = keep(edges.map(lambda e: (max(e), min(e))).distinct(parts))
    count = current.count()
    while True:
        both = current.flatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
        large = both.groupByKey(parts).flatMap(_large_star)
        small = large.groupByKey(parts).flatMap(_small_star)
        new = keep(small.distinct(parts))
        new_count = new.count()
        settled = new_count == count and new.subtract(current, parts).isEmpty()
        current.unpersist()
        current, count = new, new_count
        if settled:
            break
    # At the fixed point every edge joins a node to its component's minimum.
    return current.flatMap(lambda e: [e, (e[1], e[1])]).distinct(parts)


def _edge_array(part: Iterable[tuple[int, int]]) -> Iterator[bytes]:
    """A partition's edges as one int64 array (bytes): a single record to send the driver."""
    flat = np.fromiter((n for edge in part for n in edge[:2]), dtype=np.int64)
    if flat.size:
        yield flat.tobytes()


def _driver_components(sc: Any, arrays: list[bytes], parts: int) -> Any:
    """`_components` of the edges in `arrays` by union-find on the driver, handed back to the
    executors as (node, smallest node of its component), `parts` slices of nodes."""
    edges = np.frombuffer(b"".join(arrays), dtype=np.int64).reshape(-1, 2)
    nodes = np.unique(edges)
    uf = UnionFind(nodes.size)  # roots are the smallest member: over sorted nodes, the least
    uf.union_pairs(np.searchsorted(nodes, edges))
    roots = nodes[uf.roots()]
    slices = [
        (n.tobytes(), r.tobytes())
        for n, r in zip(np.array_split(nodes, parts), np.array_split(roots, parts), strict=True)
        if n.size
    ]
    return sc.parallelize(slices, max(1, len(slices))).flatMap(_node_roots)


def _slices(a: np.ndarray, b: np.ndarray, parts: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`a` and `b` (of one length) in up to `parts` slices, none empty."""
    for x, y in zip(np.array_split(a, parts), np.array_split(b, parts), strict=True):
        if x.size:
            yield x, y


# A verified pair as `_matched_array` sends it to the driver.
_MATCHED = np.dtype([("i", "<i8"), ("j", "<i8"), ("jac", "<f8"), ("con", "<f8")])


def _matched_array(part: Iterable[tuple[int, int, float, float]]) -> Iterator[bytes]:
    """A partition's verified pairs (i, j, jaccard, containment) as one `_MATCHED` array
    (bytes): a single record to send the driver."""
    rows = np.array(list(part), dtype=_MATCHED)
    if rows.size:
        yield rows.tobytes()


def _rooted_pairs(chunk: tuple[bytes, bytes]) -> Iterator[tuple[int, Any]]:
    roots = np.frombuffer(chunk[0], dtype=np.int64).tolist()
    rows = np.frombuffer(chunk[1], dtype=_MATCHED).tolist()
    return zip(roots, rows, strict=True)


@dataclass(frozen=True)
class _Members:
    """Executor side: (root, (node, figures, shingle set, id)) of a partition's documents
    that are in a component (`components`: a Broadcast of (nodes ascending, their roots)),
    as `_SettleTask` takes them."""

    components: Any

    def __call__(self, part: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        nodes, roots = self.components.value
        for (node, v), m in _among(nodes, part):
            yield int(roots[m]), (node, v[2], v[1], v[3])


def _node_roots(chunk: tuple[bytes, bytes]) -> Iterator[tuple[int, int]]:
    nodes, roots = (np.frombuffer(b, dtype=np.int64).tolist() for b in chunk)
    return zip(nodes, roots, strict=True)


# A settled cluster before it is numbered: (first member, (representative, [(member, its
# record (`cluster.member_records`)) of every member, ascending])).
Group = tuple[int, tuple[int, list[tuple[int, Member]]]]


def _groups(found: Clusters, nodes: np.ndarray, ids: Sequence[Any]) -> Iterator[Group]:
    """The clusters of `found` (over positions into `nodes` and `ids`) as `Group`s."""
    records = member_records(found, ids)
    bounds, members = found.bounds.tolist(), found.members.tolist()
    for g, rep in enumerate(found.reps.tolist()):
        lo, hi = bounds[g], bounds[g + 1]
        entries = [(int(nodes[members[k]]), records[k]) for k in range(lo, hi)]
        yield int(nodes[members[lo]]), (int(nodes[rep]), entries)


def _local_pairs(nodes: np.ndarray, rows: Iterable[tuple[int, int, float, float]]) -> Verified:
    """Verified pairs (i, j, jaccard, containment) of document numbers, over positions into
    `nodes` (ascending, holding both ends of every pair)."""
    table = list(rows)
    pairs = np.array([r[:2] for r in table], dtype=np.int64).reshape(-1, 2)
    jac = np.array([r[2] for r in table], dtype=np.float64)
    con = np.array([r[3] for r in table], dtype=np.float64)
    return Verified(np.searchsorted(nodes, pairs), jac, con)


@dataclass(frozen=True)
class _SettleTask:
    """Executor side: (root, ([(node, figures, shingle set, id)], [(i, j, jaccard,
    containment)])) of connected components, their members and verified pairs -> their final
    clusters as `Group`s, by the cluster stage on the sets in memory. The components of a
    partition are settled together, about `_SETTLE_DOCS` members in one call: the rule is
    the same for each component, and one call per component of two or three documents
    would cost more than its work."""

    cfg: ClusterConfig
    verify: VerifyConfig
    own: Any  # Broadcast of verify.Own

    def __call__(self, part: Iterable[tuple[int, tuple[Iterable[Any], Iterable[Any]]]]) -> Any:
        batch: list[tuple[int, Any]] = []  # (root, member row)
        pairs: list[Any] = []
        for root, (members, verified) in part:
            batch.extend((root, row) for row in members)
            pairs.extend(verified)
            if len(batch) >= _SETTLE_DOCS:
                yield from self._settled(batch, pairs)
                batch, pairs = [], []
        if batch:
            yield from self._settled(batch, pairs)

    def _settled(self, batch: list[tuple[int, Any]], pairs: list[Any]) -> Iterator[Group]:
        batch.sort(key=lambda kv: kv[1][0])
        rows = [row for _, row in batch]
        nodes = np.array([r[0] for r in rows], dtype=np.int64)
        data, offsets = _concatenated([r[2] for r in rows])
        yield from _settled_groups(
            nodes,
            np.array([root for root, _ in batch], dtype=np.int64),
            Figures.from_rows([r[1] for r in rows]),
            (data, offsets),
            [r[3] for r in rows],
            _local_pairs(nodes, pairs),
            (self.cfg, self.verify, self.own.value),
        )


def _settled_groups(
    nodes: np.ndarray,
    roots: np.ndarray,
    figures: Figures,
    sets: tuple[np.ndarray, np.ndarray],
    ids: Sequence[Any],
    verified: Verified,
    rules: tuple[ClusterConfig, VerifyConfig, Own],
) -> Iterator[Group]:
    """The cluster stage (`cluster.settle`) on connected components in memory: members
    `nodes` (ascending) with their component's root (its smallest member), their `figures`,
    shingle sets (data, offsets) and `ids`, and the `verified` pairs among them (over
    positions into `nodes`), as `Group`s."""
    cfg, verify, own = rules
    data, offsets = sets
    # Members ascending in each component, components by their root: `cluster.grouped`'s
    # form.
    members, bounds = grouped(roots)

    def similarity(reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return similarities(data, offsets, np.stack([reps, others], axis=1), own)

    def repeated(docs: np.ndarray) -> np.ndarray:
        return repeated_shares(data, offsets[docs], offsets[docs + 1], own.table)

    found = settle(
        members,
        bounds,
        figures,
        similarity,
        cfg,
        verified=verified,
        repeated=repeated,
        direct=partial(is_match, cfg=verify),
    )
    yield from _groups(found, nodes, ids)


@dataclass(frozen=True)
class _VerifySettle:
    """Executor side: the candidate pairs a partition verifies, both ends held there
    (`Picked`), and the clusters of the components held whole there (`_homes`), as one
    record: (the pairs that are versions of one article, as a `_MATCHED` array (bytes), the
    `Group`s of those components). `table`: a Broadcast of (pairs, the home of each,
    whether its component is held whole). Its components are found here (union-find) and
    settled in one `cluster.settle` call."""

    table: Any
    verify: VerifyConfig
    cfg: ClusterConfig
    own: Any  # Broadcast of verify.Own

    def __call__(self, index: int, part: Iterable[Picked]) -> Iterator[tuple[bytes, list[Any]]]:
        pairs, home, whole = self.table.value
        mine = home == index
        pairs, whole = pairs[mine], whole[mine]
        own = self.own.value
        for picked in part:
            data, offsets = picked.docs.shingles, picked.docs.offsets
            found = []
            for lo in range(0, pairs.shape[0], _VERIFY_PAIRS):
                chunk = pairs[lo : lo + _VERIFY_PAIRS]
                jac, con = similarities(data, offsets, picked.at(chunk), own)
                ok = is_match(jac, con, self.verify)
                rows = np.empty(int(ok.sum()), dtype=_MATCHED)
                rows["i"], rows["j"] = chunk[ok, 0], chunk[ok, 1]
                rows["jac"], rows["con"] = jac[ok], con[ok]
                found.append((rows, whole[lo : lo + _VERIFY_PAIRS][ok]))
            rows = np.concatenate([f[0] for f in found]) if found else np.empty(0, _MATCHED)
            here = rows[np.concatenate([f[1] for f in found])] if found else rows
            yield rows.tobytes(), list(self._settled(picked, here, own))

    def _settled(self, picked: Picked, rows: np.ndarray, own: Own) -> Iterator[Group]:
        if not rows.size:
            return
        ends = np.stack([rows["i"], rows["j"]], axis=1)
        nodes = np.unique(ends)
        local = np.searchsorted(nodes, ends)
        uf = UnionFind(nodes.size)  # roots: the smallest member
        uf.union_pairs(local)
        docs = picked.docs.take(picked.at(nodes))
        yield from _settled_groups(
            nodes,
            nodes[uf.roots()],
            docs.figures,
            (docs.shingles, docs.offsets),
            docs.ids,
            Verified(local, rows["jac"], rows["con"]),
            (self.cfg, self.verify, own),
        )


def _sorted_matches(found: list[bytes]) -> np.ndarray:
    """The verified pairs (`_MATCHED` arrays) gathered from the partitions, by (i, j)."""
    rows = np.frombuffer(b"".join(found), dtype=_MATCHED)
    return rows[np.lexsort((rows["j"], rows["i"]))]


def _members_of(rows: np.ndarray) -> int:
    """The documents in the verified pairs `rows` (`_MATCHED`): those in a cluster."""
    return int(np.unique(np.concatenate([rows["i"], rows["j"]])).size)


def _numbered_here(groups: list[Group]) -> list[Any]:
    """`_render`ed clusters of `groups`, numbered on the driver by first member, as
    `_numbered` does on the executors."""
    groups.sort(key=lambda g: g[0])
    return [_render((group, number)) for number, group in enumerate(groups)]


def _render(kv: tuple[Group, int]) -> tuple[int, bytes, list[tuple[int, Fate]], list[Any]]:
    """A numbered cluster's clusters.jsonl line, the fates of its members and their ids (the
    representative first)."""
    (_, (rep, entries)), number = kv
    first = next(m for node, m in entries if node == rep)
    others = [(node, m) for node, m in entries if node != rep]
    line = cluster_line(make_cluster(number, first, (m for _, m in others)))
    fates = [(rep, Fate.of(first, number, None))]
    fates += [(node, Fate.of(m, number, first.id)) for node, m in others]
    return number, line, fates, [first.id, *(m.id for _, m in others)]
