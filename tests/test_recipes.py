"""The README recipes, offline on local data: HuggingFace `datasets` and a datatrove step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dedup import Config, DedupIndex, DedupStep, Doc, deduplicate

CONFIG = Config(jobs=1)


def _corpus(seed_texts: dict[str, str]) -> dict[str, list[Any]]:
    ids = list(seed_texts)
    texts = list(seed_texts.values())
    # A truncated copy of the last article: a cluster whose longest member comes first.
    ids.append("004-cut")
    texts.append(texts[-1][: len(texts[-1]) * 9 // 10])
    return {"id": ids, "text": texts, "url": [f"https://example.org/{i}" for i in ids]}


def _expected(corpus: dict[str, list[Any]]) -> dict[str, tuple]:
    docs = [Doc(i, t) for i, t in zip(corpus["id"], corpus["text"], strict=True)]
    result = deduplicate(docs, CONFIG)
    cluster_of = {m.id: c.cluster for c in result.clusters for m in c.members}
    return {
        i: (cluster_of.get(i), i not in result.removed, result.removed.get(i, (None,))[0])
        for i in corpus["id"]
    }


def test_huggingface_datasets_two_pass(
    seed_texts: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    corpus = _corpus(seed_texts)
    datasets.Dataset.from_dict(corpus).save_to_disk(str(tmp_path / "ds"))
    ds = datasets.load_from_disk(str(tmp_path / "ds"))

    # The recipe. Pass one only records (add returns None); no cache, so it always runs.
    index = DedupIndex(CONFIG)
    ds.map(index.add, batched=True, batch_size=2, load_from_cache_file=False)
    index.finish()
    annotated = ds.map(index.annotate, batched=True, batch_size=2, load_from_cache_file=False)
    kept = annotated.filter(lambda r: r["dedup_keep"])

    expected = _expected(corpus)
    got = {
        r["id"]: (r["dedup_cluster"], r["dedup_keep"], r["dedup_duplicate_of"]) for r in annotated
    }
    assert got == expected
    assert sum(not v[1] for v in expected.values()) == 2  # the seed pair and the cut copy
    assert kept["id"] == [i for i in corpus["id"] if expected[i][1]]
    assert annotated["url"] == corpus["url"]  # other columns untouched
    assert annotated.features["dedup_cluster"].dtype == "int64"
    assert annotated.features["dedup_keep"].dtype == "bool"


def _documents(corpus: dict[str, list[Any]], cls: Any) -> list[Any]:
    return [
        cls(text=t, id=i, metadata={"url": u})
        for i, t, u in zip(corpus["id"], corpus["text"], corpus["url"], strict=True)
    ]


@pytest.mark.parametrize("two_pass", [False, True])
def test_datatrove_step_with_its_document(
    seed_texts: dict[str, str], tmp_path: Path, two_pass: bool
) -> None:
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor

    corpus = _corpus(seed_texts)
    collected: list[Any] = []

    def collect(data: Any, rank: int = 0, world_size: int = 1) -> Any:
        for doc in data:
            collected.append(doc)
            yield doc

    step = DedupStep(CONFIG, two_pass=two_pass, drop_duplicates=False, batch_size=2)
    LocalPipelineExecutor(
        pipeline=[_documents(corpus, Document), step, collect],
        tasks=1,
        logging_dir=str(tmp_path / "logs"),
    ).run()

    assert [d.id for d in collected] == corpus["id"]
    assert all(isinstance(d, Document) for d in collected)
    got = {
        d.id: (
            d.metadata["dedup_cluster"],
            d.metadata["dedup_keep"],
            d.metadata["dedup_duplicate_of"],
        )
        for d in collected
    }
    assert [d.metadata["url"] for d in collected] == corpus["url"]
    pair = ("000_fa5b47ae513dff0c.txt", "001_096293c0fedcb6b3.txt")
    last = "004_0276c29fa1116ed8.txt"
    if two_pass:
        assert got == _expected(corpus)  # the longest version kept, as the CLI does
    else:
        # One pass keeps the first version seen.
        assert got[pair[0]] == (None, True, None)
        assert got[pair[1]] == (0, False, pair[0])
        assert got["004-cut"] == (1, False, last)
        assert sum(v[1] for v in got.values()) == len(corpus["id"]) - 2


def test_datatrove_step_drops_duplicates(seed_texts: dict[str, str]) -> None:
    from datatrove.data import Document

    corpus = _corpus(seed_texts)
    step = DedupStep(CONFIG, two_pass=True, drop_duplicates=True)
    kept = list(step.run(_documents(corpus, Document), rank=0, world_size=1))
    expected = _expected(corpus)
    assert [d.id for d in kept] == [i for i in corpus["id"] if expected[i][1]]
    assert all(d.metadata["dedup_keep"] for d in kept)
