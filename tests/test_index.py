from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dedup.cluster import Clusters, Verified, cluster
from dedup.config import Config, LSHConfig
from dedup.errors import InputError
from dedup.index import Found, Ids, TwoPassIndex
from dedup.lsh import Buckets, candidate_pairs, resolve_params
from dedup.pipeline import deduplicate
from dedup.repeats import RepeatCounter, estimated_similarities, group_roots
from dedup.sign import sign_texts
from dedup.types import Doc, Skip
from dedup.verify import Own, is_match, similarities

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

    made: list[Buckets] = []
    real = dedup.index.Buckets.of

    def spied(*args):  # type: ignore[no-untyped-def]
        made.append(real(*args))
        return made[-1]

    monkeypatch.setattr(dedup.index.Buckets, "of", spied)
    seeds = [seed_texts[n] for n in sorted(seed_texts)]
    texts = ["", "。。", *seeds[:2], "", "**", *seeds[2:]]
    with TwoPassIndex(CONFIG, tmp_path) as index:
        for k in range(len(texts)):
            index.ids.add(str(k), "<test>", -1)
        index.add(_sign(texts))
        found = index.finish()
    (buckets,) = made
    assert not {0, 1, 4, 5} & set(buckets.members.tolist())  # the empty ones are in no bucket
    assert found.stats["empty"] == 4
    # Seed 000 duplicates seed 001 (kept), past the empty ones.
    assert [d for d in range(len(texts)) if found.duplicate_of[d] >= 0] == [2]
    assert found.duplicate_of[2] == 3


def _cjk(rng: np.random.Generator, n: int) -> str:
    return "".join(map(chr, rng.integers(0x4E00, 0x9FA5, n)))


def _edited(rng: np.random.Generator, text: str, edits: int) -> str:
    chars = list(text)
    for p in rng.integers(0, len(chars), edits):
        chars[p] = chr(int(rng.integers(0x4E00, 0x9FA5)))
    return "".join(chars)


def _found(texts: list[str], config: Config = CONFIG) -> Found:
    with TwoPassIndex(config) as index:
        for k in range(len(texts)):
            index.ids.add(f"d{k}", "<doc>", -1)
        index.add(sign_texts(texts, config.normalize, config.shingle, config.signature))
        return index.finish()


def _every_pair(texts: list[str], config: Config = CONFIG) -> Clusters:
    """The clusters of verifying every candidate pair (`candidate_pairs`), with the repeated
    text counted over every candidate pair: what the index must give."""
    signed = sign_texts(texts, config.normalize, config.shingle, config.signature)
    bands, rows = resolve_params(config.lsh, config.signature.num_perm)
    sigs = np.asfortranarray(signed.sigs[:, : bands * rows])
    pairs = candidate_pairs(sigs, bands, rows, config.lsh.max_bucket)
    empty = signed.lengths == 0
    pairs = pairs[~(empty[pairs[:, 0]] | empty[pairs[:, 1]])]
    jac, con = estimated_similarities(sigs, pairs, signed.sizes)
    groups = group_roots(len(texts), pairs, jac, con, signed.sizes, config.repeat)
    sets = signed.sets()
    counter = RepeatCounter(config.repeat)
    counter.weigh(groups.weighed(sets[d] for d in groups.sample))
    own = Own(counter.repeats().table, config.verify.min_own)
    offsets = np.concatenate(([0], np.cumsum(signed.sizes)))

    def similarity(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return similarities(signed.shingles, offsets, np.stack([a, b], axis=1), own)

    jac, con = similarity(pairs[:, 0], pairs[:, 1])
    ok = is_match(jac, con, config.verify)
    matched = Verified(pairs[ok], jac[ok], con[ok])
    return cluster(len(texts), matched, signed.figures, similarity, config.cluster)


def _same(a: Clusters, b: Clusters) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f))
        for f in ("members", "bounds", "reps", "jaccard", "containment")
    )


@pytest.mark.parametrize("edits", [0, 3])
def test_work_grows_linearly_with_a_cluster(edits: int) -> None:
    # One article in n copies (identical, or each with a few characters changed): the pairs
    # verified grow with n, not with n * (n - 1) / 2, and the copies form one cluster.
    rng = np.random.default_rng(edits)
    base = _cjk(rng, 400)
    verified = {}
    for n in (32, 200, 400):
        found = _found([_edited(rng, base, edits) for _ in range(n)])
        assert np.diff(found.clusters.bounds).tolist() == [n]
        verified[n] = found.stats["candidates"]
        assert n - 1 <= found.stats["verified_pairs"] <= verified[n] <= 3 * n
    assert verified[400] <= 2.2 * verified[200]
    assert verified[32] < 32 * 31 // 2  # every pair of the bucket a copy has in each band


def _chains(seed: int) -> list[str]:
    """Four chains of overlapping windows of a long text (neighbours match, windows far
    apart do not), each window in up to 11 edited copies, with unrelated texts, shuffled."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(4):
        long = _cjk(rng, 2000)
        for w in range(10):
            window = long[w * 60 : w * 60 + 300]
            copies = int(rng.integers(1, 12))
            texts += [_edited(rng, window, int(rng.integers(0, 15))) for _ in range(copies)]
    texts += [_cjk(rng, 300) for _ in range(40)] + [""] * 3
    return [texts[k] for k in rng.permutation(len(texts))]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("max_bucket", [64, 4])
def test_clusters_equal_verifying_every_candidate(seed: int, max_bucket: int) -> None:
    texts = _chains(seed)
    config = Config(jobs=1, lsh=LSHConfig(max_bucket=max_bucket))
    found = _found(texts, config)
    every = _every_pair(texts, config)
    assert _same(found.clusters, every)
    assert len(every) > 4 and max(np.diff(every.bounds)) > 10  # chains were split, or not


def test_stored_shares_take_what_is_known(tmp_path: Path) -> None:
    """Repeated shares read on the way (own text) are taken as they are; the rest are read
    from the store: the same figures as reading them all."""
    from dedup.index import _stored_shares
    from dedup.store import ShingleStore

    rng = np.random.default_rng(3)
    store = ShingleStore(tmp_path)
    for _ in range(40):
        store.append(np.unique(rng.integers(0, 1 << 16, int(rng.integers(0, 300)))))
    table = (rng.random(1 << 12) < 0.3).astype(np.uint8)
    docs = np.array([3, 1, 7, 30, 22, 5, 39])
    want = _stored_shares(store, table, docs, budget=256)
    known = np.full(40, np.nan)
    known[[1, 22, 39]] = want[[1, 4, 6]]
    known[0] = 5.0  # not asked for: never read
    assert _stored_shares(store, table, docs, 256, known).tolist() == want.tolist()
    everything = np.full(40, 0.5)
    assert _stored_shares(store, table, docs, 256, everything).tolist() == [0.5] * 7
    assert _stored_shares(store, table[:1], docs, 256, everything).tolist() == [0.0] * 7
