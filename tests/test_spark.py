"""The Spark engine (local mode) against the local engine: the same OUTDIR, byte for byte."""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from helpers import checksum, framed_site_pages, seed_table
from spark_helpers import SPARK_TEST_CONF, both_engines, synthetic_corpus

import dedup.cluster as cluster_stage
from dedup.cli import cli
from dedup.cluster import UnionFind, groups
from dedup.config import (
    ClusterConfig,
    Config,
    LSHConfig,
    OutputConfig,
    ReadConfig,
    RefineConfig,
    RepeatConfig,
    ShingleConfig,
)
from dedup.errors import InputError, OutputError
from dedup.io.hadoop import HadoopDir
from dedup.io.outdir import Records
from dedup.persist import Index, IndexStoreError
from dedup.pipeline import run
from dedup.progress import ProgressEvent
from dedup.spark import (
    DRIVER_EDGES,
    LOCAL_JVM_OPTIONS,
    SparkUnavailable,
    _components,
    run_spark,
    session_settings,
    spark_session,
)
from dedup.spark_index import SparkIndexes

CONTRACT = ("clusters.jsonl", "kept.jsonl", "removed.jsonl", "errors.jsonl")
MANIFEST = ".dedup-manifest.json"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = spark_session("local[2]", SPARK_TEST_CONF)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _ids(path: Path) -> set[str]:
    with open(path, encoding="utf-8") as f:
        return {json.loads(line)["id"] for line in f}


def test_seeds_match_the_local_engine(seeds_dir: Path, tmp_path: Path, spark: Any) -> None:
    # Spark reads them through a Hadoop URI (binaryFiles): the same clusters and records.
    uri = [seeds_dir.as_uri()]
    both_engines([str(seeds_dir)], tmp_path, Config(jobs=1), spark, spark_inputs=uri)
    clusters = (tmp_path / "spark" / "clusters.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(clusters) == 1
    assert json.loads(clusters[0])["representative"] == "001_096293c0fedcb6b3.txt"
    assert _ids(tmp_path / "spark" / "removed.jsonl") == {"000_fa5b47ae513dff0c.txt"}


def test_generated_corpus_matches_the_local_engine(tmp_path: Path, spark: Any) -> None:
    planted = synthetic_corpus(tmp_path / "corpus", 6_000)
    # A max_bucket under the boilerplate bucket (n/200 pages), so big buckets are exercised.
    config = Config(read=ReadConfig(on_error="skip"), lsh=LSHConfig(max_bucket=16), jobs=1)
    # Several partitions per stage, so order across partitions is exercised (the 20k corpus
    # runs on a local cluster, in test_spark_cluster.py).
    both_engines([str(tmp_path / "corpus")], tmp_path, config, spark, partition_docs=1500)
    out = tmp_path / "spark"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["documents"]["read"] == 6_002
    assert summary["documents"]["skipped"] == 2
    # Every planted copy and all boilerplate pages but one are removed, nothing else.
    assert summary["documents"]["removed"] == planted["planted"] + planted["boilerplate"] - 1
    sizes = [len(json.loads(c)["members"]) for c in (out / "clusters.jsonl").open()]
    assert max(sizes) >= planted["boilerplate"] > config.lsh.max_bucket
    kept, removed = _ids(out / "kept.jsonl"), _ids(out / "removed.jsonl")
    assert len(kept) + len(removed) == 6_000 and not kept & removed


def test_runs_against_indexes_are_the_local_engine_s(tmp_path: Path, spark: Any) -> None:
    """Two runs: OLD makes an index; NEW runs against it and, read-only, against an
    evaluation set's index, and adds its kept documents. Each run's outputs and the index
    it leaves are the local engine's, byte for byte; the evaluation index never changes."""
    synthetic_corpus(tmp_path / "in", 1200)
    files = sorted(str(p) for p in (tmp_path / "in").iterdir())
    old, new = files[:3], files[3:]
    # The evaluation set: the first NEW documents, verbatim (part-4 is plain JSONL).
    (tmp_path / "eval.jsonl").write_bytes(
        b"".join(Path(files[4]).read_bytes().splitlines(keepends=True)[:40])
    )
    config = Config(read=ReadConfig(on_error="skip"), jobs=1)
    evalset = tmp_path / "eval.idx"
    run([str(tmp_path / "eval.jsonl")], tmp_path / "eval-out", config, index=evalset)
    index = tmp_path / "corpus.idx"
    first = both_engines(old, tmp_path / "1", config, spark, index=index)
    assert first["indexes"][0]["added"] == first["documents"]["kept"] > 600
    second = both_engines(new, tmp_path / "2", config, spark, index=index, against=[evalset])
    removed = {i["path"]: i["removed"] for i in second["indexes"]}
    assert removed[str(index)] > 20 and removed[str(evalset)] > 20
    assert [i["mode"] for i in second["indexes"]] == ["add", "read"]
    # Matched documents in no cluster of the run and in one (the boilerplate pages).
    out = tmp_path / "2/spark"
    matched = {json.loads(line)["id"] for line in (out / "index_matches.jsonl").open()}
    clustered = {
        m["id"] for c in map(json.loads, (out / "clusters.jsonl").open()) for m in c["members"]
    }
    assert matched - clustered and matched & clustered
    assert json.loads((index / "manifest.json").read_text())["segments"] == [
        "seg-000001",
        "seg-000002",
    ]
    # Other signing options are refused before anything is read or written.
    before = checksum(index)
    other = replace(config, shingle=ShingleConfig(ngram=5))
    with pytest.raises(IndexStoreError, match=r"other options: ngram=4 \(this run: 5\)"):
        run_spark(new, tmp_path / "3", other, spark=spark, index=index)
    assert checksum(index) == before and not (tmp_path / "3").exists()


def _index_files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_an_index_on_a_remote_file_system_is_the_plain_folder_s(
    tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index on a URI reached through pyarrow.fs (local://: read through streams, no
    memory map, no flock, as on hdfs://), added to by Spark runs: the local engine's OUTDIRs
    and segments with a plain folder, byte for byte. A run that fails after matching leaves
    the index as it was; a second writer is refused."""
    synthetic_corpus(tmp_path / "in", 900)
    files = sorted(str(p) for p in (tmp_path / "in").iterdir())
    config = Config(read=ReadConfig(on_error="skip"), jobs=1)
    plain, folder = tmp_path / "plain.idx", tmp_path / "remote.idx"
    remote = f"local://{folder}"
    for k, docs in enumerate((files[:3], files[3:])):
        run(docs, tmp_path / f"local{k}", config, index=plain)
        if k == 1:
            before = _index_files(folder)
            commit = SparkIndexes.commit

            def killed(self: SparkIndexes, staged: Any, stats: Any) -> None:
                assert staged and all((folder / p / "docs.arrow").exists() for p in staged)
                raise RuntimeError("killed")

            monkeypatch.setattr(SparkIndexes, "commit", killed)
            with pytest.raises(RuntimeError, match="killed"):
                run_spark(docs, tmp_path / "killed", config, spark=spark, index=remote)
            monkeypatch.setattr(SparkIndexes, "commit", commit)
            assert _index_files(folder) == before  # no part, segment, manifest or lock left
            refused = pytest.raises(IndexStoreError, match="being written by another run")
            with Index(remote, config, write=True), refused:
                run_spark(docs, tmp_path / "second", config, spark=spark, index=remote)
        run_spark(docs, tmp_path / f"spark{k}", config, spark=spark, index=remote)
        local, ours = tmp_path / f"local{k}", tmp_path / f"spark{k}"
        summaries = [json.loads((d / "summary.json").read_text("utf-8")) for d in (local, ours)]
        for summary in summaries:
            for entry in summary["indexes"]:
                entry.pop("path")
        assert summaries[0]["indexes"] == summaries[1]["indexes"]
        assert summaries[0]["documents"] == summaries[1]["documents"]
        for name in summaries[0]["outputs"]:
            if name != "summary.json":
                want = (local / name).read_bytes().replace(str(plain).encode(), b"IDX")
                assert (ours / name).read_bytes().replace(remote.encode(), b"IDX") == want, name
    assert summaries[1]["indexes"][0]["removed"] > 20
    want, have = _index_files(plain), _index_files(folder)
    assert have.pop("manifest-000002.json") == want.pop("manifest.json")
    have.pop("manifest-000001.json"), want.pop(".lock")
    assert have == want


def test_representative_rules_and_text_files_match(
    seeds_dir: Path, tmp_path: Path, spark: Any
) -> None:
    folder = tmp_path / "in"
    shutil.copytree(seeds_dir, folder / "a")
    shutil.copytree(seeds_dir, folder / "b" / "c")  # every seed twice, nested
    (folder / ".hidden.txt").write_text("不读", encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    config = Config(read=ReadConfig(on_error="skip"), cluster=ClusterConfig("shortest"), jobs=1)
    both_engines(
        [str(folder), str(seeds_dir / "002_330fed40d821b570.txt")], tmp_path, config, spark
    )
    errors = (tmp_path / "spark" / "errors.jsonl").read_text(encoding="utf-8")
    assert "image.png" in errors


def _error(fn: Any) -> str:
    with pytest.raises(InputError) as e:
        fn()
    return str(e.value)


def test_errors_are_the_local_engine_s(tmp_path: Path, spark: Any) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text(
        '{"id": "1", "text": "一"}\n{"id": "2", "text": "二"}\n', encoding="utf-8"
    )
    (folder / "b.jsonl").write_text(
        '{"id": "3", "text": "三"}\n{"id": "2", "text": "再"}\n[1]\n', encoding="utf-8"
    )
    inputs = [str(folder)]

    def spark_run() -> None:
        # One record per partition: the records are put in order by the distributed sort.
        run_spark(inputs, tmp_path / "s", spark=spark, partition_docs=1)

    local = _error(lambda: run(inputs, tmp_path / "l", Config(jobs=1)))
    assert "duplicate id '2'" in local and "a.jsonl, line 2" in local
    assert _error(spark_run) == local

    (folder / "a.jsonl").write_text('{"id": "1", "text": "一"}\n{"text": 2}\n', encoding="utf-8")
    local = _error(lambda: run(inputs, tmp_path / "l", Config(jobs=1)))
    assert "a.jsonl, line 2" in local
    assert _error(spark_run) == local

    missing = [str(folder), str(tmp_path / "nope")]
    assert "no such file" in _error(lambda: run_spark(missing, tmp_path / "s", spark=spark))


@pytest.mark.parametrize("driver_edges", [DRIVER_EDGES, 0])  # on the driver, the executors
def test_components_are_union_find_s(spark: Any, driver_edges: int) -> None:
    rng = np.random.default_rng(3)
    n = 400
    edges = rng.integers(0, n, (300, 2))
    edges = edges[edges[:, 0] != edges[:, 1]]
    # A long path, the worst case for label propagation.
    path = np.stack([np.arange(1000, 1099), np.arange(1001, 1100)], axis=1)
    edges = np.concatenate([edges, path[rng.permutation(len(path))]])
    rdd = spark.sparkContext.parallelize([tuple(e) for e in edges.tolist()], 3)
    found = _components(rdd, 3, driver_edges=driver_edges).collect()
    assert len(found) == len(dict(found))
    uf = UnionFind(1100)
    uf.union_pairs(edges)
    expected = {int(m): int(g.min()) for g in groups(uf.roots()) for m in g}
    assert dict(found) == expected


def test_a_local_master_s_jvm_compiles_less_unless_told_otherwise() -> None:
    driver = "spark.driver.extraJavaOptions"
    for master in ("local", "local[2]", "local[*]"):
        options = session_settings(master, {}, quiet=True)[driver]
        assert options.startswith(LOCAL_JVM_OPTIONS) and "log4j2.configurationFile" in options
    # Executors in JVMs of their own, or a master set elsewhere: Java's defaults.
    for master in ("local-cluster[2,1,1024]", "spark://host:7077", None):
        assert "-XX" not in session_settings(master, {}, quiet=True)[driver]
    given = session_settings("local[2]", {driver: "-Xss4m"}, quiet=False)[driver]
    assert given.startswith("-Xss4m") and "-XX" not in given


def test_missing_java_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(SparkUnavailable, match="openjdk-17-jre-headless"):
        spark_session("local[1]")


def test_missing_pyspark_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(SparkUnavailable, match=r"pip install 'dedup\[spark\]'"):
        spark_session("local[1]")


def test_chains_are_split_as_the_local_engine_splits_them(
    tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Teasers in one site frame chain articles (see tests/test_refine.py). Articles about as
    # long as the frame, so LSH links every teaser to its article and the chain is whole.
    # Site s1: x keeps its teasers; {y, y-copy, z} is refined again and z leaves it;
    # {y, y-copy} stays a cluster, numbered between round-1 clusters.
    rng = random.Random(11)

    def article(k: int) -> str:
        return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(k))

    folder = tmp_path / "in"
    folder.mkdir()
    for site in ("s1", "s2"):
        header, footer = article(200), article(200)
        x, y, z = article(1100), article(900), article(1000)
        pages = {"x": x, "x-teaser": x[:40], "y-teaser": y[:40], "y": y}
        if site == "s1":
            pages |= {"y-copy": y[:-30] + "。", "z": z, "z-teaser": z[:40]}
        for name, body in pages.items():
            (folder / f"{site}-{name}.txt").write_text(f"{header}\n{body}\n{footer}", "utf-8")
    text = article(1500)
    (folder / "p-a.txt").write_text(text, "utf-8")
    (folder / "p-b.txt").write_text(text[:-20] + "。", "utf-8")
    both_engines([str(folder)], tmp_path, Config(jobs=1), spark)
    # Components of more than `max_component` members (here the two sites') are settled from
    # the driver, the pair p-a/p-b in a task: the same rule, the same bytes. The components
    # found on the driver, and by the executors' rounds (driver_edges=0).
    for k, limits in enumerate([{"max_component": 2}, {"max_component": 2, "driver_edges": 0}]):
        out = tmp_path / f"driver-{k}"
        run_spark([str(folder)], out, Config(jobs=1), spark=spark, **limits)
        for name in CONTRACT:
            assert (out / name).read_bytes() == (tmp_path / "local" / name).read_bytes()

    def clusters(out: Path) -> list[tuple[str, list[str]]]:
        lines = (out / "clusters.jsonl").read_text("utf-8").splitlines()
        found = [json.loads(line) for line in lines]
        return [(c["representative"], [m["id"] for m in c["members"]]) for c in found]

    # The copies that end their text with punctuation (p-b, y-copy) are complete enough and
    # cleaner ("cleanest": the others' text is all in unended lines).
    assert clusters(tmp_path / "spark") == [
        ("p-b.txt", ["p-b.txt", "p-a.txt"]),
        ("s1-x.txt", ["s1-x.txt", "s1-x-teaser.txt", "s1-y-teaser.txt", "s1-z-teaser.txt"]),
        ("s1-y-copy.txt", ["s1-y-copy.txt", "s1-y.txt"]),
        ("s2-x.txt", ["s2-x.txt", "s2-x-teaser.txt", "s2-y-teaser.txt"]),
    ]
    assert {"s1-z.txt", "s2-y.txt"} <= _ids(tmp_path / "spark" / "kept.jsonl")
    # Without the refinement (floors at 0: every member stays) each site is one connected
    # component: the chains are real.
    split = cluster_stage._split
    unrefined = RefineConfig(jaccard=0.0, containment=0.0)
    monkeypatch.setattr(cluster_stage, "_split", lambda *a: split(*a[:5], unrefined))
    run([str(folder)], tmp_path / "unrefined", Config(jobs=1))
    assert [len(ids) for _, ids in clusters(tmp_path / "unrefined")] == [2, 7, 4]


# -- OUTDIR as a Hadoop URI, stdin, Parquet and --annotate ---------------------------------


def _seed_jsonl(seeds_dir: Path) -> list[str]:
    """The seeds as JSONL lines without ids (the readers generate `<name>:<line>` ones)."""
    files = sorted(seeds_dir.iterdir())
    return [
        json.dumps({"text": p.read_text("utf-8"), "n": i}, ensure_ascii=False)
        for i, p in enumerate(files)
    ]


def test_hadoop_outdir_is_cleared_written_atomically_and_gets_the_local_bytes(
    seeds_dir: Path, tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "spark"
    (out / "report").mkdir(parents=True)
    (out / "report" / "index.html").write_text("old", "utf-8")
    (out / ".dedup-old").mkdir()
    old = ["summary.json", "kept.jsonl", "annotated.parquet", "report/index.html"]
    for name in ("summary.json", "kept.jsonl", "annotated.parquet", ".removed.jsonl.partial"):
        (out / name).write_text("old", "utf-8")
    (out / MANIFEST).write_text(json.dumps({"files": old}), "utf-8")  # an earlier run's
    (out / "notes.txt").write_text("the user's", "utf-8")
    written: list[str] = []
    binary = HadoopDir.binary

    def spy(self: HadoopDir, name: str) -> Any:
        if name != MANIFEST:
            written.append(name)
        return binary(self, name)

    def no_local_writer(*args: Any) -> None:
        raise AssertionError("a file:// OUTDIR went to the local writer")

    monkeypatch.setattr(HadoopDir, "binary", spy)
    monkeypatch.setattr("dedup.spark.LocalFolder", no_local_writer)

    # A run killed while it streams kept and removed (after the first partition's lines)
    # leaves nothing that looks finished.
    real = Records.split_lines

    def killed(self: Records, *args: Any) -> None:
        real(self, *args)
        raise RuntimeError("killed")

    def names() -> list[str]:
        return sorted(p.name for p in out.iterdir() if not p.name.endswith(".crc"))

    # The killed run adds to an index: it is killed once it has matched the documents
    # against the index and staged the new segment's parts, and leaves the index as it was.
    index = tmp_path / "idx"
    run([str(seeds_dir / "001_096293c0fedcb6b3.txt")], tmp_path / "o", Config(), index=index)
    before = checksum(index)
    staged: list[bool] = []
    stage = SparkIndexes.stage

    def spy_stage(self: SparkIndexes, *args: Any) -> Any:
        parts = stage(self, *args)
        staged.extend((index / p).is_dir() for p in parts)
        return parts

    monkeypatch.setattr(SparkIndexes, "stage", spy_stage)
    monkeypatch.setattr(Records, "split_lines", killed)
    with pytest.raises(RuntimeError, match="killed"):
        run_spark([str(seeds_dir)], out.as_uri(), Config(), spark=spark, index=index)
    assert written == ["kept.jsonl", "removed.jsonl"]
    # Old outputs, report, leftovers gone; the user's file and the manifest stay.
    assert names() == [MANIFEST, "notes.txt"]
    assert staged and all(staged)  # parts were written, then removed
    assert checksum(index) == before and Index(index, None).segment_names == ["seg-000001"]

    monkeypatch.setattr(Records, "split_lines", real)
    written.clear()
    both_engines([str(seeds_dir)], tmp_path, Config(jobs=1), spark, uri=True)
    contract = ["kept.jsonl", "removed.jsonl", "clusters.jsonl", "errors.jsonl", "summary.json"]
    assert written == contract
    assert names() == sorted([*contract, MANIFEST, "notes.txt"])
    manifest = json.loads((out / MANIFEST).read_text("utf-8"))["files"]
    assert manifest == json.loads((tmp_path / "local" / MANIFEST).read_text("utf-8"))["files"]


def test_hadoop_outdir_refuses_files_it_did_not_write_and_a_second_run(
    seeds_dir: Path, tmp_path: Path, spark: Any
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.jsonl").write_text("the user's", "utf-8")
    with pytest.raises(OutputError, match="kept.jsonl: not written by dedup"):
        run_spark([str(seeds_dir)], out.as_uri(), Config(), spark=spark)
    assert sorted(p.name for p in out.iterdir()) == ["kept.jsonl"]
    (out / "kept.jsonl").unlink()
    (out / ".dedup-lock").write_text("pid 1 on elsewhere", "utf-8")  # a run in progress
    with pytest.raises(OutputError, match="another dedup run is writing"):
        run_spark([str(seeds_dir)], out.as_uri(), Config(), spark=spark)
    assert sorted(p.name for p in out.iterdir()) == [".dedup-lock"]
    with pytest.raises(OutputError, match="is the input"):
        run_spark([str(seeds_dir)], seeds_dir.as_uri(), Config(), spark=spark)


def test_repeated_ids_are_skipped_as_the_local_engine_skips_them(
    tmp_path: Path, spark: Any
) -> None:
    folder = tmp_path / "in"
    for sub in ("x", "y"):
        (folder / sub).mkdir(parents=True)
        (folder / sub / "part-0.txt").write_text("同一个文件名的两篇文章" + sub, "utf-8")
    (folder / "a.jsonl").write_text(
        '{"id": 1, "text": "一"}\n{"id": "2", "text": "二"}\n{oops\n{"id": "1", "text": "再"}\n',
        encoding="utf-8",
    )
    # Given twice, folder x repeats its ids (several inputs: ids lead with the input).
    inputs = [str(folder / "x"), str(folder / "a.jsonl"), str(folder / "y"), str(folder / "x")]
    config = Config(jobs=1, read=ReadConfig(on_error="skip"))
    summary = both_engines(inputs, tmp_path, config, spark, partition_docs=1)
    assert [(s["line"], s["reason"][:16]) for s in summary["skipped"]] == [
        (3, "not valid JSON: "),
        (4, "duplicate id '1'"),
        (None, f"duplicate id '{folder}"[:16]),
    ]
    assert summary["skipped"][2]["reason"].startswith(f"duplicate id '{folder}/x/part-0.txt'")
    assert summary["documents"] == {"read": 7, "kept": 3, "removed": 1, "skipped": 3}


def test_stdin_matches_the_local_engine_and_progress_names_the_stages(
    seeds_dir: Path, tmp_path: Path, spark: Any
) -> None:
    lines = _seed_jsonl(seeds_dir)
    lines.insert(2, "{broken")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    events: list[ProgressEvent] = []
    config = Config(read=ReadConfig(on_error="skip"), jobs=1)
    summary = both_engines(
        ["-", str(seeds_dir)], tmp_path, config, spark, stdin=data, progress=events.append
    )
    assert summary["documents"] == {"read": 11, "kept": 4, "removed": 6, "skipped": 1}
    assert summary["skipped"][0]["source"] == "<stdin>" and summary["skipped"][0]["line"] == 3
    assert "<stdin>:4" in (tmp_path / "spark" / "clusters.jsonl").read_text("utf-8")
    stages = ["read", "read", "lsh", "verify", "cluster", "write", "done"]
    assert [e.stage for e in events] == stages
    assert events[1].documents == 11 and events[1].total_bytes is None


def _two_parquet_files(seeds_dir: Path, folder: Path) -> None:
    """The seeds with typed columns in two Parquet files whose schemas differ but unify."""
    table = seed_table(seeds_dir)
    folder.mkdir()
    pq.write_table(table.slice(0, 2), folder / "a.parquet")
    rest = table.slice(2).drop_columns(["tags"]).append_column("extra", pa.array([1, 2, 3]))
    pq.write_table(rest, folder / "b.parquet", row_group_size=2)


def test_parquet_from_and_to_hadoop_uris_matches_the_local_engine(
    seeds_dir: Path, tmp_path: Path, spark: Any
) -> None:
    # A Hadoop URI input too: --output-format auto goes by what the executors read.
    _two_parquet_files(seeds_dir, tmp_path / "in")
    inputs, uris = [str(tmp_path / "in")], [(tmp_path / "in").as_uri()]
    summary = both_engines(inputs, tmp_path, Config(jobs=1), spark, uri=True, spark_inputs=uris)
    assert summary["outputs"] == [
        "clusters.jsonl",
        "kept.parquet",
        "removed.parquet",
        "errors.jsonl",
        "summary.json",
    ]
    removed = pq.read_table(tmp_path / "spark" / "removed.parquet")
    assert removed.schema.field("price").type == pa.decimal128(9, 2)
    assert removed.column("duplicate_of").to_pylist() == ["001"]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_annotate_matches_the_local_engine(
    fmt: str, seeds_dir: Path, tmp_path: Path, spark: Any
) -> None:
    # JSONL and Parquet input together: the Parquet schema is merged with the one inferred
    # from the JSONL records (Parquet output), or typed values go out as JSON (JSONL output).
    synthetic_corpus(tmp_path / "in", 1500)
    pq.write_table(seed_table(seeds_dir), tmp_path / "in" / "seeds.parquet")
    config = Config(
        read=ReadConfig(on_error="skip"), output=OutputConfig(fmt, annotate=True), jobs=1
    )
    summary = both_engines([str(tmp_path / "in")], tmp_path, config, spark, partition_docs=400)
    assert summary["outputs"] == [
        "clusters.jsonl",
        f"annotated.{fmt}",
        "errors.jsonl",
        "summary.json",
    ]
    assert summary["documents"]["removed"] > 100


def test_parquet_errors_are_the_local_engine_s(seeds_dir: Path, tmp_path: Path, spark: Any) -> None:
    table = seed_table(seeds_dir)
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(table.slice(0, 2), folder / "a.parquet")
    clash = table.slice(2).set_column(2, "rank", pa.array(["x", "y", "z"]))
    pq.write_table(clash, folder / "b.parquet")
    local = _error(lambda: run([str(folder)], tmp_path / "l", Config(jobs=1)))
    assert "b.parquet" in local and "rank" in local
    assert _error(lambda: run_spark([str(folder)], tmp_path / "s", spark=spark)) == local

    parquet = Config(read=ReadConfig(format="parquet"), jobs=1)
    local = _error(lambda: run(["-"], tmp_path / "l", parquet, stdin=io.BytesIO(b"")))
    assert "stdin" in local
    spark_run = lambda: run_spark(["-"], tmp_path / "s", parquet, spark=spark)  # noqa: E731
    assert _error(spark_run) == local


def test_cli_spark_reads_stdin_into_a_hadoop_uri_without_a_report(
    seeds_dir: Path, tmp_path: Path, spark: Any
) -> None:
    data = ("\n".join(_seed_jsonl(seeds_dir)) + "\n").encode("utf-8")
    out = tmp_path / "out"
    args = ["run", "--engine", "spark", "--spark-conf", "spark.ui.enabled=false", "-"]
    # Against an index of one seed (read-only): it and its copy are removed.
    index = tmp_path / "idx"
    run([str(seeds_dir / "001_096293c0fedcb6b3.txt")], tmp_path / "o", Config(), index=index)
    before = checksum(index)
    result = CliRunner().invoke(
        cli, [*args, "-o", out.as_uri(), "--against", str(index)], input=data
    )
    assert result.exit_code == 0, result.output
    assert "5 documents read: 3 kept, 2 removed in 1 clusters" in result.output
    assert checksum(index) == before
    assert len((out / "index_matches.jsonl").read_text("utf-8").splitlines()) == 2
    hdfs = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "h"), "--index", "hdfs://nn/i"])
    # An index on a file system this machine cannot reach: one line naming it, and nothing
    # written.
    unreachable = "cannot reach its file system"
    assert hdfs.exit_code == 1 and "hdfs://nn/i" in hdfs.output and unreachable in hdfs.output
    assert not (tmp_path / "h").exists()
    assert "report: not written: OUTDIR is not a local folder" in result.output
    assert spark.sparkContext._jsc is not None  # the shared session was joined, not stopped
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert "dedup report" in summary["report"] and not (out / "report").exists()
    local = CliRunner().invoke(cli, ["run", "-", "-o", out.as_uri()], input=data)
    assert local.exit_code == 2 and "--engine spark only" in local.output
    bad = CliRunner().invoke(cli, [*args[:3], "--spark-conf", "nokey", "-", "-o", "x"])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output


def test_an_unwritable_hadoop_outdir_is_an_error_naming_it(
    seeds_dir: Path, tmp_path: Path, spark: Any
) -> None:
    with pytest.raises(OutputError, match="nosuch://host/out: cannot open"):
        run_spark([str(seeds_dir)], "nosuch://host/out", spark=spark)
    (tmp_path / "file").write_text("not a folder", "utf-8")
    with pytest.raises(OutputError, match="cannot prepare the output folder"):
        run_spark([str(seeds_dir)], (tmp_path / "file").as_uri(), spark=spark)


def test_repeated_text_and_empty_pages_as_locally(tmp_path: Path, spark: Any) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in framed_site_pages(frame=70, article=700).items():
        (folder / f"{name}.txt").write_text(text, "utf-8")
    config = Config(jobs=1, repeat=RepeatConfig(min_groups=4))
    summary = both_engines([str(folder)], tmp_path, config, spark)
    assert summary["repeated_shingle_slots"] > 0 and summary["empty_documents"] == 1
    assert summary["clusters"] == 1  # the repost; no page joins another through its frame


@pytest.fixture(scope="module")
def several(
    seeds_dir: Path, tmp_path_factory: pytest.TempPathFactory, spark: Any
) -> tuple[Path, dict[str, Any]]:
    """One run of both engines (on_error="raise") that two tests check, to spare a Spark run:
    two folders that both hold part-0.txt, a lone file, and a folder of the seeds with hidden
    names in it. Returns the folder holding it all (the OUTDIRs `local` and `spark`) and the
    summary."""
    tmp_path = tmp_path_factory.mktemp("several")
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        shutil.copy(seeds_dir / "000_fa5b47ae513dff0c.txt", tmp_path / name / "part-0.txt")
    folder = tmp_path / "in"
    shutil.copytree(seeds_dir, folder)
    (folder / ".hidden.txt").write_text("不读", encoding="utf-8")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref", encoding="utf-8")
    lone = seeds_dir / "001_096293c0fedcb6b3.txt"
    inputs = [str(tmp_path / "x"), str(tmp_path / "y"), str(lone), str(folder)]
    return tmp_path, both_engines(inputs, tmp_path, Config(jobs=1), spark)


def test_hidden_names_are_recorded_and_not_errors(several: tuple[Path, dict[str, Any]]) -> None:
    _, summary = several
    assert [Path(s["source"]).name for s in summary["skipped"]] == [".git", ".hidden.txt"]


def test_several_inputs_give_ids_that_lead_with_the_input(
    seeds_dir: Path, several: tuple[Path, dict[str, Any]]
) -> None:
    """Two folders that both hold part-0.txt, and a lone file: ids as the local engine
    gives them (`id_name`), and both part-0.txt documents are read."""
    tmp_path, summary = several
    seeds = len(list(seeds_dir.iterdir()))
    # Every document is read; the two hidden names are counted as read and skipped.
    assert summary["documents"]["read"] == 3 + seeds + 2
    assert summary["documents"]["skipped"] == 2
    ids = _ids(tmp_path / "spark" / "removed.jsonl") | _ids(tmp_path / "spark" / "kept.jsonl")
    assert {
        f"{tmp_path}/x/part-0.txt",
        f"{tmp_path}/y/part-0.txt",
        str(seeds_dir / "001_096293c0fedcb6b3.txt"),
    } <= ids
    assert len(ids) == 3 + seeds


def test_why_members_are_in_their_clusters_as_locally(tmp_path: Path, spark: Any) -> None:
    # C matches B (B holds most of C), not A, the member kept: joined via B. Framed reposts
    # have their frames set aside as repeated text.
    folder = tmp_path / "in"
    folder.mkdir()
    pages = framed_site_pages(frame=70, article=700)
    rng = random.Random(5)
    x, own = (
        "".join(chr(rng.randrange(0x4E00, 0x4E00 + 3000)) for _ in range(k)) for k in (3000, 600)
    )
    pages |= {"A": x, "B": x[:1800], "C": x[:1500] + own}
    for name, text in pages.items():
        (folder / f"{name}.txt").write_text(text, "utf-8")
    config = Config(
        cluster=ClusterConfig("longest"),
        lsh=LSHConfig(threshold=0.15),  # every framed page a candidate (as in test_repeats)
        repeat=RepeatConfig(min_groups=4),
        output=OutputConfig(annotate=True),
        jobs=1,
    )
    both_engines([str(folder)], tmp_path, config, spark)
    # The same from the driver, with every component larger than `max_component`, and the
    # components (and repeated-text groups) found on the driver, and by the executors'
    # rounds (driver_edges=0).
    # The repeated text counted by the executors when the groups are found on the driver
    # (driver_sets=0).
    limits: list[dict[str, int]] = [
        {"max_component": 2},
        {"max_component": 2, "driver_edges": 0},
        {"driver_sets": 0},
    ]
    for k, limit in enumerate(limits):
        out = tmp_path / f"driver-{k}"
        run_spark([str(folder)], out, config, spark=spark, **limit)
        for name in ("clusters.jsonl", "annotated.jsonl"):
            assert (out / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    lines = (tmp_path / "spark" / "clusters.jsonl").read_text("utf-8").splitlines()
    members = {m["id"]: m for line in lines for m in json.loads(line)["members"]}
    assert members["C.txt"]["via"] == "B.txt" and members["B.txt"]["via"] == "A.txt"
    assert members["s1-repost.txt"]["repeated_share"] > 0.1
    assert members["repost-bare.txt"]["repeated_share"] == 0.0


def test_quiet_prints_nothing_but_errors(seeds_dir: Path, tmp_path: Path) -> None:
    # A new process, so that the JVM starts with dedup's logging: no log4j banner, no
    # Hadoop native-library warning, no PySpark pandas warning, no JVM notices.
    args = [sys.executable, "-m", "dedup", "run", "--engine", "spark", "--spark-master"]
    args += ["local[1]", "--spark-conf", "spark.ui.enabled=false", "-q", "--no-report"]
    done = subprocess.run([*args, str(seeds_dir), "-o", "out"], cwd=tmp_path, capture_output=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))["clusters"] == 1
    failed = subprocess.run([*args, "nosuch", "-o", "out"], cwd=tmp_path, capture_output=True)
    assert failed.returncode != 0 and b"nosuch" in failed.stderr
