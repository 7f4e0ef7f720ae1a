"""The persistent index: runs against it equal one run over everything (by the stated rule),
read-only use never changes it, options are checked, one writer at a time, crash safety,
compaction and the pipeline API."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from click.testing import CliRunner
from helpers import checksum

from dedup import indexfs, persist, segment
from dedup.cli import cli
from dedup.config import Config
from dedup.persist import Index, IndexStoreError, read_info
from dedup.pipeline import run
from dedup.repeats import RepeatStats
from dedup.stream import PersistentIndex

ROOT = Path(__file__).resolve().parent.parent


def _config(representative: str = "cleanest") -> Config:
    return Config.from_options(representative=representative, jobs=2, batch_size=128)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """OLD and NEW halves of one synthetic corpus whose planted copies cross the halves."""
    out = tmp_path_factory.mktemp("corpus")
    subprocess.run(
        [sys.executable, str(ROOT / "bench/gen_synthetic.py"), "--n", "2400", "--seed", "3"]
        + ["--out", str(out)],
        check=True,
        capture_output=True,
    )
    lines = next(out.glob("*.jsonl")).read_bytes().splitlines(keepends=True)
    old, new = out / "old.jsonl", out / "new.jsonl"
    old.write_bytes(b"".join(lines[:1200]))
    new.write_bytes(b"".join(lines[1200:]))
    return old, new


def _records(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def _state(index: Path) -> str:
    """What a reader sees of an index: the manifest and every segment it lists."""
    manifest = json.loads((index / "manifest.json").read_text())
    h = hashlib.sha256((index / "manifest.json").read_bytes())
    for name in manifest["segments"]:
        h.update(checksum(index / name).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def two_ways(corpus: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """OLD then NEW into an index, and one run over OLD+NEW: for each representative rule
    into an index of whole shingle sets (exact), and with the default sample of them."""
    old, new = corpus
    out: dict[str, dict] = {}
    for name, rep, sample in (
        ("first", "first", 1),
        ("cleanest", "cleanest", 1),
        ("sampled", "first", None),
    ):
        base = tmp_path_factory.mktemp(name)
        cfg = _config(rep)
        run([str(old)], base / "old", cfg, index=base / "idx", index_sample=sample)
        run([str(new)], base / "new", cfg, index=base / "idx")
        run([str(old), str(new)], base / "one", cfg)
        out[name] = {"base": base}
    return out


def test_first_rule_gives_the_one_run_fates(corpus: tuple[Path, Path], two_ways: dict) -> None:
    """With --representative first the one run keeps the earliest version, which is OLD's
    when there is one: NEW loses exactly the same documents, as duplicates of the same ones."""
    old, new = corpus
    base = two_ways["first"]["base"]
    new_ids = set(_ids(new))
    indexed = {k: r["duplicate_of"] for k, r in _records(base / "new/removed.jsonl").items()}
    one = _records(base / "one/removed.jsonl")
    one_new = {k: r["duplicate_of"] for k, r in one.items() if k in new_ids}
    assert indexed == one_new
    # Some of them are duplicates of OLD documents (the index), some of NEW ones.
    assert len(set(indexed.values()) - new_ids) > 50
    assert len(set(indexed.values()) & new_ids) > 20
    matches = _records(base / "new/index_matches.jsonl")
    assert {k for k, v in indexed.items() if v not in new_ids} == set(matches)
    assert all(m["duplicate_of_source"] == str(old) for m in matches.values())
    assert all(m["segment"] == "seg-000001" for m in matches.values())


def test_a_sampled_index_differs_only_near_the_thresholds(
    corpus: tuple[Path, Path], two_ways: dict
) -> None:
    """Against the default index (one shingle in 4 kept), a NEW document's fate differs from
    the one run's only where its exact similarity to the OLD version lies near a threshold."""
    _, new = corpus
    base = two_ways["sampled"]["base"]
    assert json.loads((base / "idx/manifest.json").read_text())["options"]["sample_bits"] == 2
    seg = Index(base / "idx", None).segments[0]
    assert 0.22 < seg.sets.size / seg.sizes.sum() < 0.28  # one shingle in 4
    new_ids = set(_ids(new))
    indexed = {k: r["duplicate_of"] for k, r in _records(base / "new/removed.jsonl").items()}
    one = {k: r["duplicate_of"] for k, r in _records(base / "one/removed.jsonl").items()}
    one_new = {k: v for k, v in one.items() if k in new_ids}
    differ = {k for k in set(indexed) | set(one_new) if indexed.get(k) != one_new.get(k)}
    assert len(differ) <= len(one_new) // 20
    measured = {}
    for line in (base / "one/clusters.jsonl").read_text().splitlines():
        for m in json.loads(line)["members"]:
            measured[m["id"]] = (m["jaccard"], m["containment"])
    cfg = Config()
    for k in differ:
        jac, con = measured[k]
        near = min(abs(jac - cfg.verify.threshold), abs(con - cfg.verify.containment))
        assert near < 0.1, (k, jac, con)


def test_cleanest_rule_differs_only_where_one_run_removes_an_old_document(
    corpus: tuple[Path, Path], two_ways: dict
) -> None:
    """The rule with any representative: every NEW document the one run removes, the indexed
    run removes too; the indexed run removes besides exactly the NEW documents the one run
    kept as the representative of a cluster holding an OLD document (an indexed document is
    never removed, so its NEW version goes instead)."""
    old, new = corpus
    base = two_ways["cleanest"]["base"]
    old_ids, new_ids = set(_ids(old)), set(_ids(new))
    indexed = set(_records(base / "new/removed.jsonl"))
    one = _records(base / "one/removed.jsonl")
    one_new = {k for k in one if k in new_ids}
    clusters = [json.loads(line) for line in (base / "one/clusters.jsonl").read_text().splitlines()]
    kept_over_old = {
        c["representative"]
        for c in clusters
        if c["representative"] in new_ids and any(m["id"] in old_ids for m in c["members"])
    }
    assert kept_over_old  # the corpus has such clusters: the rule is exercised
    assert one_new <= indexed
    assert indexed - one_new == kept_over_old
    # And an indexed document stays: every OLD document kept by the OLD run is in the index.
    info = read_info(base / "idx")
    assert info["documents"] == len(_records(base / "old/kept.jsonl")) + len(
        _records(base / "new/kept.jsonl")
    )


def test_kept_documents_are_added_as_a_segment(two_ways: dict) -> None:
    base = two_ways["first"]["base"]
    index = Index(base / "idx", None)
    assert [s.name for s in index.segments] == ["seg-000001", "seg-000002"]
    for seg, run_dir in zip(index.segments, ("old", "new"), strict=True):
        assert [seg.doc_id(k) for k in range(seg.documents)] == _ids(base / run_dir / "kept.jsonl")
    summary = json.loads((base / "new/summary.json").read_text())
    (entry,) = summary["indexes"]
    assert entry["mode"] == "add" and entry["segment"] == "seg-000002"
    assert entry["added"] == summary["documents"]["kept"]
    assert entry["removed"] == len(_records(base / "new/index_matches.jsonl"))
    assert "index_matches.jsonl" in summary["outputs"]


def test_same_input_gives_byte_identical_index(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    old, _ = corpus
    for k, jobs in enumerate((1, 2)):
        cfg = Config.from_options(jobs=jobs)
        run([str(old)], tmp_path / f"o{k}", cfg, index=tmp_path / f"idx{k}")
    assert checksum(tmp_path / "idx0") == checksum(tmp_path / "idx1")


def test_parts_merged_are_the_segment_add_writes(two_ways: dict, tmp_path: Path) -> None:
    """A segment committed from parts (as a Spark run's executors write them) is the one
    `add` writes of them all, byte for byte; another process reopens it from a snapshot."""
    seg = Index(two_ways["first"]["base"] / "idx", None).segments[-1]
    n = seg.documents
    with Index(tmp_path / "whole", Config(), write=True) as index:
        index.add(seg.entries(0, n), seg.stats)
    with Index(tmp_path / "parts", Config(), write=True) as index:
        folder, name = index.scratch("parts")
        bounds = [0, 1, n // 3, n]  # one part of a single document
        parts = [f"{name}/part-{k}" for k in range(3)]
        for k in range(3):
            segment.write_segment(
                Path(folder) / f"part-{k}",
                seg.entries(bounds[k], bounds[k + 1]),
                RepeatStats.none(),
            )
        assert index.add_parts(parts, seg.stats) == "seg-000001"
        segment.write_segment(Path(folder) / "empty", seg.entries(0, 0), RepeatStats.none())
        assert index.add_parts([f"{name}/empty"]) is None  # nothing to add: it has segments
        again = Index.reopen(index.snapshot(), Config())
    assert _state(tmp_path / "parts") == _state(tmp_path / "whole")
    assert len(again) == n
    assert again.describe(0, n - 1) == (seg.doc_id(n - 1), seg.source(n - 1), "seg-000001")
    with pytest.raises(IndexStoreError, match="open read-only"):
        again.add_parts(parts)


def test_against_is_read_only_and_annotates(
    corpus: tuple[Path, Path], two_ways: dict, tmp_path: Path
) -> None:
    old, new = corpus
    idx = two_ways["first"]["base"] / "idx"
    before = checksum(idx)
    result = CliRunner().invoke(
        cli,
        ["run", str(new), "-o", str(tmp_path / "out"), "--against", str(idx)]
        + ["--annotate", "--no-report", "-q", "--representative", "first"],
    )
    assert result.exit_code == 0, result.output
    assert checksum(idx) == before
    annotated = _records(tmp_path / "out/annotated.jsonl")
    assert len(annotated) == len(_ids(new))
    matches = _records(tmp_path / "out/index_matches.jsonl")
    # Every NEW document is in the index (the second run added its kept ones): a kept one
    # matches itself, a removed one its representative or an OLD document.
    assert set(matches) == set(annotated)
    assert all(not r["dedup_keep"] for r in annotated.values())
    for k, r in annotated.items():
        assert r["dedup_duplicate_of"] == matches[k]["duplicate_of"]


def test_decontamination_removes_copies_of_an_evaluation_set(tmp_path: Path) -> None:
    evalset = [{"id": f"e{k}", "text": _text(k)} for k in range(5)]
    with PersistentIndex(tmp_path / "eval", write=True) as idx:
        idx.add(evalset)
    train = tmp_path / "train.jsonl"
    rows = [{"id": "t0", "text": _text(2) + "（转载）"}, {"id": "t1", "text": _text(9)}]
    train.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    before = checksum(tmp_path / "eval")
    run([str(train)], tmp_path / "out", Config(jobs=1), against=[tmp_path / "eval"])
    assert checksum(tmp_path / "eval") == before
    assert _records(tmp_path / "out/removed.jsonl")["t0"]["duplicate_of"] == "e2"
    assert list(_records(tmp_path / "out/kept.jsonl")) == ["t1"]
    assert _records(tmp_path / "out/removed.jsonl")["t0"]["cluster"] is None


def _text(k: int) -> str:
    rng = np.random.default_rng(k)
    chars = rng.integers(0x4E00, 0x4E00 + 3000, size=400)
    return "".join(map(chr, chars.tolist()))


def test_other_options_are_refused_and_change_nothing(two_ways: dict, tmp_path: Path) -> None:
    idx = two_ways["first"]["base"] / "idx"
    before = checksum(idx)
    out = tmp_path / "out"
    for flags in (
        ["--ngram", "5"],
        ["--num-perm", "64"],
        ["--seed", "2"],
        ["--rows", "3", "--bands", "20"],
    ):
        for mode in ("--index", "--against"):
            result = CliRunner().invoke(
                cli, ["run", str(ROOT / "seeds"), "-o", str(out), mode, str(idx), *flags]
            )
            assert result.exit_code == 1
            assert "was made with other options" in result.output
            assert result.output.count("\n") == 1
    assert checksum(idx) == before
    assert not out.exists()


def test_missing_index_for_against_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["run", str(ROOT / "seeds"), "-o", str(tmp_path / "o"), "--against", str(tmp_path / "i")],
    )
    assert result.exit_code == 1 and "no index there" in result.output


def test_a_failed_first_run_leaves_no_index(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\nnot json\n')
    result = CliRunner().invoke(
        cli, ["run", str(bad), "-o", str(tmp_path / "o"), "--index", str(tmp_path / "idx")]
    )
    assert result.exit_code == 1
    assert not (tmp_path / "idx").exists()


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    run([str(ROOT / "seeds")], tmp_path / "o1", Config(jobs=1), index=idx)
    before = checksum(idx)
    with Index(idx, Config(), write=True):
        args = ["run", str(ROOT / "seeds"), "-o", str(tmp_path / "o2"), "--index", str(idx)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1
        assert "being written by another run" in result.output
        # Readers go on.
        reader = CliRunner().invoke(
            cli, ["run", str(ROOT / "seeds"), "-o", str(tmp_path / "o3"), "--against", str(idx)]
        )
        assert reader.exit_code == 0, reader.output
        compacting = CliRunner().invoke(cli, ["index", "compact", str(idx)])
        assert compacting.exit_code == 1
    assert checksum(idx) == before


@pytest.mark.parametrize(
    ("where", "nth"),
    [
        ("_write_table", 1),
        ("_write_table", 3),
        ("rename", 1),
        ("_sync_dir", 1),
        ("_write_text", 1),
    ],
    ids=["segment-docs", "segment-repeats", "segment-rename", "after-rename", "manifest"],
)
def test_a_failure_while_adding_leaves_the_index_as_it_was(
    where: str, nth: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = tmp_path / "idx"
    run([str(ROOT / "seeds")], tmp_path / "o1", Config(jobs=1), index=idx)
    before, docs = _state(idx), read_info(idx)["documents"]
    calls = {"n": 0}
    target = {"rename": indexfs.os, "_write_table": segment}.get(where, indexfs)
    real = getattr(target, where)

    def failing(*args: object, **kwargs: object) -> object:
        if str(idx) in str(args[0]):  # only the index's own writes fail
            calls["n"] += 1
            if calls["n"] == nth:
                raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, where, failing)
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "new", "text": _text(1)}) + "\n")
    with pytest.raises(OSError):
        run([str(more)], tmp_path / "o2", Config(jobs=1), index=idx)
    monkeypatch.undo()
    assert calls["n"] == nth
    assert _state(idx) == before
    assert read_info(idx)["documents"] == docs
    # The next writer clears what the failed one left, and adds.
    run([str(more)], tmp_path / "o3", Config(jobs=1), index=idx)
    assert read_info(idx)["documents"] == docs + 1
    assert sorted(p.name for p in idx.iterdir()) == [
        ".lock",
        "manifest.json",
        "seg-000001",
        "seg-000002",
    ]


def test_a_killed_run_leaves_the_index_whole(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    """Kill `dedup run --index` at several moments: the index is always the one before, or
    the one before plus the run's whole segment."""
    old, new = corpus
    idx = tmp_path / "idx"
    run([str(old)], tmp_path / "o", Config(jobs=1), index=idx)
    before = _state(idx)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outcomes = set()
    for k, delay in enumerate((0.5, 1.5, 3.0, 4.5, 6.0, None)):  # None: let it finish
        cmd = [sys.executable, "-m", "dedup", "run", str(new), "-o", str(tmp_path / f"n{k}")]
        cmd += ["--index", str(idx), "--no-report", "-q", "--jobs", "1"]
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        manifest = json.loads((idx / "manifest.json").read_text())
        if len(manifest["segments"]) == 1:
            assert _state(idx) == before
            outcomes.add("before")
        else:
            assert manifest["segments"] == ["seg-000001", "seg-000002"]
            info = read_info(idx)
            kept = _records(tmp_path / f"n{k}/kept.jsonl")
            assert info["segments"][1]["documents"] == len(kept)
            outcomes.add("after")
            break
    assert "after" in outcomes  # the last run finished


def test_compact_keeps_documents_order_and_matches(two_ways: dict, tmp_path: Path) -> None:
    base = two_ways["first"]["base"]
    idx = tmp_path / "idx"
    import shutil

    shutil.copytree(base / "idx", idx)
    ids_before = _all_ids(idx)
    segments = Index(idx, None).segments
    parts = [s.entries(0, s.documents) for s in segments]
    stats = RepeatStats.combine([s.stats for s in segments])
    probe = [{"id": f"q{k}", "text": t} for k, t in enumerate(_texts(base / "new/removed.jsonl"))]
    with PersistentIndex(idx) as reader:
        answer = reader.query(probe)
    result = CliRunner().invoke(cli, ["index", "compact", str(idx)])
    assert result.exit_code == 0, result.output
    info = read_info(idx)
    assert [s["name"] for s in info["segments"]] == ["seg-000003"]
    assert _all_ids(idx) == ids_before
    assert not (idx / "seg-000001").exists()
    (merged,) = Index(idx, None).segments
    whole = merged.entries(0, merged.documents)
    assert np.array_equal(whole.keys, np.concatenate([p.keys for p in parts]))
    assert np.array_equal(whole.sets, np.concatenate([p.sets for p in parts]))
    assert np.array_equal(whole.sizes, np.concatenate([p.sizes for p in parts]))
    assert whole.sources == [x for p in parts for x in p.sources]
    assert np.array_equal(merged.stats.slots, stats.slots)
    assert np.array_equal(merged.stats.groups, stats.groups)
    with PersistentIndex(idx) as reader:
        assert reader.query(probe) == answer
    assert sum(not r["dedup_keep"] for r in answer) == len(probe)
    on_disk = sum(p.stat().st_size for p in idx.rglob("*") if p.is_file())
    assert info["bytes"] == on_disk


def _all_ids(idx: Path) -> list[str]:
    index = Index(idx, None)
    return [s.doc_id(k) for s in index.segments for k in range(s.documents)]


def _texts(path: Path) -> list[str]:
    return [r["text"] for r in _records(path).values()][:40]


def test_index_info_command(two_ways: dict) -> None:
    idx = two_ways["first"]["base"] / "idx"
    result = CliRunner().invoke(cli, ["index", "info", str(idx), "--json"])
    assert result.exit_code == 0
    info = json.loads(result.output)
    assert info["documents"] == sum(s["documents"] for s in info["segments"])
    assert info["options"]["shingle"] == {"ngram": 4}
    assert info["options"]["lsh"] == {"bands": 35, "rows": 2}
    text = CliRunner().invoke(cli, ["index", "info", str(idx)]).output
    assert f"{info['documents']} documents in 2 segments" in text


def test_segment_files_are_arrow_read_in_place(two_ways: dict) -> None:
    """Any Arrow reader opens a segment; the index maps it and reads its columns as numpy
    views of the file (no copy)."""
    seg = two_ways["first"]["base"] / "idx/seg-000001"
    assert sorted(p.name for p in seg.iterdir()) == ["bands.arrow", "docs.arrow", "repeats.arrow"]
    docs = feather.read_table(seg / "docs.arrow")
    assert docs.column_names == ["id", "source", "size", "set"]
    assert docs.column("id").to_pylist() == _ids(two_ways["first"]["base"] / "old/kept.jsonl")
    bands = feather.read_table(seg / "bands.arrow")
    assert bands.num_columns == 2 * 35 and bands.num_rows == docs.num_rows
    for b in range(35):
        keys = bands.column(f"key_{b}").to_numpy().astype(np.int64)
        assert (np.diff(keys) >= 0).all()  # sorted per band
        assert sorted(bands.column(f"doc_{b}").to_pylist()) == list(range(docs.num_rows))
    mapped = Index(seg.parent, None).segments[0]
    for view in (mapped.sets, mapped.offsets, mapped.keys[0], mapped.order[3], mapped.sizes):
        assert not view.flags.owndata and not view.flags.writeable
    sets = docs.column("set").combine_chunks()
    assert np.array_equal(mapped.sets, sets.values.to_numpy())
    assert mapped.offsets[-1] == mapped.sets.size


@pytest.mark.parametrize("made", ["first", "sampled"])
def test_an_index_of_the_old_format_is_named_and_upgraded(
    made: str, two_ways: dict, tmp_path: Path
) -> None:
    """An index in format 1 (.npy segments) is refused with a message naming it and the
    command that rewrites it; `dedup index upgrade` rewrites it with the same documents
    (whole sets, or sampled: the sample of the sample keeps what this version samples)."""
    source = Index(two_ways[made]["base"] / "idx", None)
    old = tmp_path / "old"
    old.mkdir()
    names = []
    for k, seg in enumerate(source.segments):
        names.append(_write_v1_segment(old / f"seg-{k + 1:06d}", seg))
    manifest = json.loads((source.path / "manifest.json").read_text())
    manifest |= {"version": 1, "segments": names, "next": len(names) + 1}
    (old / "manifest.json").write_text(json.dumps(manifest))
    args = ["run", str(ROOT / "seeds"), "-o", str(tmp_path / "o"), "--against", str(old)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output == (
        f"error: index {old} is in format version 1 (segments in .npy files), which this dedup "
        f"no longer reads: `dedup index upgrade {old}` rewrites it in version 2 (Arrow)\n"
    )
    result = CliRunner().invoke(cli, ["index", "upgrade", str(old)])
    assert result.exit_code == 0, result.output
    assert "2 segments rewritten" in result.output
    upgraded = Index(old, None)
    assert [s.name for s in upgraded.segments] == ["seg-000003", "seg-000004"]
    assert _all_ids(old) == _all_ids(source.path)
    for a, b in zip(upgraded.segments, source.segments, strict=True):
        x, y = a.entries(0, a.documents), b.entries(0, b.documents)
        assert np.array_equal(x.keys, y.keys) and np.array_equal(x.sets, y.sets)
        assert x.sources == y.sources and np.array_equal(x.sizes, y.sizes)
    assert not (old / "seg-000001").exists()
    assert "already current" in CliRunner().invoke(cli, ["index", "upgrade", str(old)]).output
    assert CliRunner().invoke(cli, args).exit_code == 0


def _write_v1_segment(path: Path, seg: segment.Segment) -> str:
    """`seg` as format 1 wrote it: .npy files and meta.json."""
    path.mkdir()
    ids = [seg.doc_id(k).encode() for k in range(seg.documents)]
    arrays = {
        "keys": np.stack(seg.keys),
        "order": np.stack(seg.order),
        "sets": np.asarray(seg.sets),
        "offsets": np.asarray(seg.offsets),
        "sizes": np.asarray(seg.sizes, dtype=np.int64),
        "ids": np.frombuffer(b"".join(ids), dtype=np.uint8),
        "id_offsets": np.cumsum([0] + [len(i) for i in ids]),
        "source_of": np.asarray(seg.source_of),
        "repeats": np.asarray(seg.stats.slots),
    }
    for name, array in arrays.items():
        np.save(path / f"{name}.npy", array)
    meta = {"documents": seg.documents, "sources": seg.source_names}
    (path / "meta.json").write_text(json.dumps(meta))
    return path.name


def test_pipeline_api_adds_and_queries_batches(tmp_path: Path) -> None:
    texts = [_text(k) for k in range(6)]
    with PersistentIndex(tmp_path / "idx", write=True) as idx:
        assert idx.add([{"id": f"a{k}", "text": t} for k, t in enumerate(texts[:3])]) == (
            "seg-000001"
        )
        table = pa.table({"id": ["b0", "b1"], "text": [texts[1] + "。", texts[4]]})
        out = idx.query(table)
        assert out.column("dedup_keep").to_pylist() == [False, True]
        assert out.column("dedup_duplicate_of").to_pylist() == ["a1", None]
        assert idx.add(table) == "seg-000002"
        assert len(idx) == 5
    with pytest.raises(IndexStoreError, match="other options"):
        PersistentIndex(tmp_path / "idx", Config.from_options(ngram=3))
    with PersistentIndex(tmp_path / "idx") as reader:
        out = reader.query([{"id": "c", "text": texts[4]}])
        assert out[0]["dedup_duplicate_of"] == "b1"
        with pytest.raises(IndexStoreError, match="read-only"):
            reader.add([{"id": "d", "text": texts[5]}])


def test_indexes_sampled_differently_work_together(tmp_path: Path) -> None:
    evalset = tmp_path / "eval.jsonl"
    evalset.write_text(
        "".join(json.dumps({"id": f"e{k}", "text": _text(k)}) + "\n" for k in range(4))
    )
    run([str(evalset)], tmp_path / "o1", Config(jobs=1), index=tmp_path / "exact", index_sample=1)
    before = checksum(tmp_path / "exact")
    train = tmp_path / "train.jsonl"
    rows = [{"id": "t0", "text": _text(3)[:300]}, {"id": "t1", "text": _text(8)}]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run(
        [str(train)],
        tmp_path / "o2",
        Config(jobs=1),
        index=tmp_path / "corpus",
        against=[tmp_path / "exact"],
    )
    assert checksum(tmp_path / "exact") == before
    assert _records(tmp_path / "o2/removed.jsonl")["t0"]["duplicate_of"] == "e3"
    sets = Index(tmp_path / "corpus", None).segments[0].sets
    assert sets.size and (sets >> 29 == 0).all()  # sampled one in 4, as the new index says
    assert _ids(tmp_path / "o2/kept.jsonl") == ["t1"]
    assert Index(tmp_path / "corpus", None).segments[0].doc_id(0) == "t1"
    exact = Index(tmp_path / "exact", None).segments[0].sets
    assert (exact >> 30 != 0).any()


def test_a_damaged_index_is_named(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    run([str(ROOT / "seeds")], tmp_path / "o1", Config(jobs=1), index=idx)
    (idx / "seg-000001/bands.arrow").write_bytes(b"not arrow")
    args = ["run", str(ROOT / "seeds"), "-o", str(tmp_path / "o2"), "--against", str(idx)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: index {idx} is damaged")
    assert result.output.count("\n") == 1
    (idx / "seg-000001/bands.arrow").unlink()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "bands.arrow is missing" in result.output


@pytest.mark.parametrize("place", ["out", "out/idx", "."])
def test_an_index_apart_from_the_output_folder(place: str, tmp_path: Path) -> None:
    args = ["run", str(ROOT / "seeds"), "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, [*args, "--index", str(tmp_path / place)])
    assert result.exit_code == 1 and "overlap" in result.output
    assert not (tmp_path / "out").exists()


def test_a_cluster_whose_kept_document_matches_goes_with_it(tmp_path: Path) -> None:
    """c resembles b but not the indexed a; b, the run's kept version of {b, c}, matches a:
    both are removed as duplicates of a, c through b. Unrelated d stays."""
    p, q = _text(20)[:300], _text(21)[:300]
    with PersistentIndex(tmp_path / "idx", write=True) as idx:
        idx.add([{"id": "a", "text": p}])
    rows = [("b", p + q), ("c", p[:100] + q), ("d", _text(22))]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    run([str(data)], tmp_path / "alone", Config(jobs=1))
    assert _records(tmp_path / "alone/removed.jsonl")["c"]["duplicate_of"] == "b"
    run([str(data)], tmp_path / "out", Config(jobs=1), against=[tmp_path / "idx"])
    removed = _records(tmp_path / "out/removed.jsonl")
    assert {k: r["duplicate_of"] for k, r in removed.items()} == {"b": "a", "c": "a"}
    matches = _records(tmp_path / "out/index_matches.jsonl")
    assert matches["b"]["through"] is None and matches["c"]["through"] == "b"
    assert matches["c"]["containment"] == matches["b"]["containment"]  # b's measure
    assert removed["b"]["cluster"] == removed["c"]["cluster"] == 0
    assert list(_records(tmp_path / "out/kept.jsonl")) == ["d"]


def test_parquet_records_against_an_index(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    with PersistentIndex(tmp_path / "idx", write=True) as idx:
        idx.add([{"id": "e1", "text": _text(1)}])
    table = pa.table({"id": ["t0", "t1"], "text": [_text(1) + "。", _text(5)], "n": [1, 2]})
    pq.write_table(table, tmp_path / "in.parquet")
    cfg = Config.from_options(jobs=1, annotate=True)
    run([str(tmp_path / "in.parquet")], tmp_path / "out", cfg, against=[tmp_path / "idx"])
    rows = pq.read_table(tmp_path / "out/annotated.parquet").to_pylist()
    fates = [(r["id"], r["n"], r["dedup_keep"], r["dedup_duplicate_of"]) for r in rows]
    assert fates == [("t0", 1, False, "e1"), ("t1", 2, True, None)]
    assert [r["dedup_cluster"] for r in rows] == [None, None]


def test_a_frame_repeated_in_earlier_runs_is_set_aside_in_a_later_one(tmp_path: Path) -> None:
    """Run 1 has one site's frame around 40 articles (more than min_groups=32 groups): it is
    repeated text there, and the index keeps the counts. Run 2 has the frame around only two
    articles: alone, the two pages match through the frame; against the index they are
    different pages (the frame is set aside), and neither duplicates an indexed page."""
    frame = _text(100) + _text(101)[:100]
    site = tmp_path / "site.jsonl"
    site.write_text(
        "".join(
            json.dumps({"id": f"p{k}", "text": frame + _text(200 + k)[:300]}) + "\n"
            for k in range(40)
        )
    )
    cfg = Config(jobs=1)
    run([str(site)], tmp_path / "o1", cfg, index=tmp_path / "idx")
    assert json.loads((tmp_path / "o1/summary.json").read_text())["repeated_shingle_slots"] > 0
    assert len(_records(tmp_path / "o1/kept.jsonl")) == 40
    stats = Index(tmp_path / "idx", None).repeat_stats()
    assert len(stats) and int(stats.groups.max()) >= 32
    later = tmp_path / "later.jsonl"
    rows = [("a", frame + _text(300)[:80]), ("b", frame + _text(301)[:80])]
    later.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    run([str(later)], tmp_path / "alone", cfg)
    assert _records(tmp_path / "alone/removed.jsonl")["b"]["duplicate_of"] == "a"
    run([str(later)], tmp_path / "o2", cfg, index=tmp_path / "idx")
    assert list(_records(tmp_path / "o2/kept.jsonl")) == ["a", "b"]
    assert not _records(tmp_path / "o2/index_matches.jsonl")
    # The second run counted the frame in 2 groups, under a quarter of min_groups: its
    # segment keeps no counts of it (repeats.keep_from), the first segment's stay.
    first, second = Index(tmp_path / "idx", None).segments
    assert int(first.stats.groups.max()) >= 32 and not len(second.stats)


def test_ids_that_are_not_utf8_survive_compaction(tmp_path: Path) -> None:
    """An id with a lone surrogate makes its segment's id column binary (UTF-8 with
    surrogatepass); merged with a segment of string ids, every id comes back as it went in."""
    with PersistentIndex(tmp_path / "idx", write=True) as idx:
        idx.add([{"id": "a", "text": _text(1)}])
        idx.add([{"id": "b\ud800", "text": _text(2)}, {"id": "名", "text": _text(3)}])
    types = [feather.read_table(tmp_path / f"idx/seg-00000{k}/docs.arrow") for k in (1, 2)]
    assert [t.schema.field("id").type for t in types] == [pa.large_string(), pa.large_binary()]
    assert persist.compact(tmp_path / "idx") == (2, 1)
    assert _all_ids(tmp_path / "idx") == ["a", "b\ud800", "名"]
    with PersistentIndex(tmp_path / "idx") as reader:
        out = reader.query([{"id": "q", "text": _text(2)}])
    assert out[0]["dedup_duplicate_of"] == "b\ud800"
