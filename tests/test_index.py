from __future__ import annotations

from pathlib import Path

import pytest

from dedup.config import Config
from dedup.errors import InputError
from dedup.index import Ids, TwoPassIndex
from dedup.pipeline import deduplicate
from dedup.sign import sign_texts
from dedup.types import Doc, Skip

CONFIG = Config(jobs=1)


def _sign(texts: list[str]):
    return sign_texts(texts, CONFIG.normalize, CONFIG.shingle, CONFIG.signature)


def test_a_repeated_id_names_both_places() -> None:
    ids = Ids()
    ids.add("a", "x.jsonl", 3)
    ids.add("b", "y.txt", -1)
    with pytest.raises(InputError) as e:
        ids.add("a", "z.jsonl", 7)
    assert str(e.value) == "z.jsonl, line 7: duplicate id 'a' (first seen in x.jsonl, line 3)"
    with pytest.raises(InputError, match=r"first seen in y.txt\)"):
        ids.add("b", "z.jsonl", -1)
    assert ids.ids == ["a", "b"]


def test_truncate_forgets_a_failed_batch() -> None:
    ids = Ids()
    for k, doc_id in enumerate("abc"):
        ids.add(doc_id, "s", k)
    ids.truncate(1)
    assert ids.ids == ["a"] and list(ids.line_of) == [0] and set(ids.position) == {"a"}
    ids.add("b", "s", 5)  # no longer a duplicate
    assert ids.position["b"] == 1


def test_batches_give_what_deduplicate_gives(seed_texts: dict[str, str], tmp_path: Path) -> None:
    names = sorted(seed_texts)
    expected = deduplicate([Doc(n, seed_texts[n]) for n in names], CONFIG)
    with TwoPassIndex(CONFIG, tmp_path) as index:
        for lo in range(0, len(names), 2):  # batches of two, signed here
            batch = names[lo : lo + 2]
            for n in batch:
                index.ids.add(n, "<test>", -1)
            index.add(_sign([seed_texts[n] for n in batch]))
        found = index.finish()
    assert list(tmp_path.iterdir()) == []  # the shingle sets are gone
    removed = {
        names[d]: (names[found.duplicate_of[d]], int(found.cluster_of[d]))
        for d in range(len(names))
        if found.duplicate_of[d] >= 0
    }
    assert removed == expected.removed
    assert found.stats["candidates"] == expected.stats["candidates"]
    assert len(found.clusters) == len(expected.clusters)


def test_ids_and_signatures_must_agree(tmp_path: Path) -> None:
    index = TwoPassIndex(CONFIG, tmp_path)
    index.ids.add("a", "<test>", -1)
    with pytest.raises(RuntimeError, match="1 ids for 0 signatures"):
        index.finish()
    with pytest.raises(RuntimeError, match="called twice"):
        index.finish()


def test_a_repeated_id_is_skipped_on_request_and_ids_compare_as_text() -> None:
    ids = Ids()
    assert ids.add(1, "a.jsonl", 1, "skip") is None
    assert ids.add("2", "a.jsonl", 2, "skip") is None
    skip = ids.add("1", "b\x1b.jsonl", 4, "skip")  # the integer 1 and "1" are one id
    assert skip == Skip("b\x1b.jsonl", 4, "duplicate id '1' (first seen in a.jsonl, line 1)")
    assert ids.ids == [1, "2"] and ids.find("1") == ids.find(1) == 0
    ids.add("x", "'a\x1b.txt'", -1)
    with pytest.raises(InputError) as e:
        ids.add("x", "c.txt", -1)
    assert "\x1b" not in str(e.value)  # names with control characters are shown escaped


def test_empty_documents_never_reach_lsh(
    seed_texts: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Empty documents are left out before LSH: a million of them would share every band's
    bucket. The others are still found, numbered as added."""
    import dedup.index

    given: list[int] = []
    real = dedup.index.candidate_pairs

    def counted(sigs, *args):  # type: ignore[no-untyped-def]
        given.append(sigs.shape[0])
        return real(sigs, *args)

    monkeypatch.setattr(dedup.index, "candidate_pairs", counted)
    seeds = [seed_texts[n] for n in sorted(seed_texts)]
    texts = ["", "。。", *seeds[:2], "", "**", *seeds[2:]]
    with TwoPassIndex(CONFIG, tmp_path) as index:
        for k in range(len(texts)):
            index.ids.add(str(k), "<test>", -1)
        index.add(_sign(texts))
        found = index.finish()
    assert given == [len(seeds)]
    assert found.stats["empty"] == 4
    # Seed 000 duplicates seed 001 (kept), past the empty ones.
    assert [d for d in range(len(texts)) if found.duplicate_of[d] >= 0] == [2]
    assert found.duplicate_of[2] == 3
