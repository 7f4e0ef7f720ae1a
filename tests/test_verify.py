from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.cluster import Known, UnionFind
from dedup.config import Config, LSHConfig, VerifyConfig
from dedup.lsh import Buckets
from dedup.pipeline import deduplicate
from dedup.repeats import repeated_shares
from dedup.store import ShingleStore
from dedup.types import Doc
from dedup.verify import (
    FETCH_BUDGET,
    Held,
    Own,
    _common_reaching,
    _least_shared,
    _matches,
    is_match,
    link_buckets,
    own_store,
    similarities,
    similarities_reaching,
    similarities_to,
    stored_similarities,
)


def _store(*sets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    arrays = [np.array(sorted(s), dtype=np.uint32) for s in sets]
    offsets = np.cumsum([0] + [a.size for a in arrays]).astype(np.int64)
    return np.concatenate(arrays), offsets


def test_exact_jaccard_and_containment() -> None:
    data, offsets = _store([1, 2, 3, 4], [3, 4, 5, 6, 7, 8], [1, 2])
    jac, con = similarities(data, offsets, np.array([[0, 1], [0, 2], [1, 2]]))
    assert jac.tolist() == [2 / 8, 2 / 4, 0.0]
    assert con.tolist() == [2 / 4, 1.0, 0.0]


def test_match_by_either_criterion() -> None:
    cfg = VerifyConfig(threshold=0.7, containment=0.8)
    mask = is_match(np.array([0.75, 0.3, 0.3]), np.array([0.75, 0.9, 0.5]), cfg)
    assert mask.tolist() == [True, True, False]


@pytest.mark.parametrize("budget", [1, 64, 1 << 27])
def test_stored_similarities_match_in_memory(tmp_path: Path, budget: int) -> None:
    rng = np.random.default_rng(3)
    sets = [np.unique(rng.integers(0, 60, rng.integers(1, 40))) for _ in range(25)]
    store = ShingleStore(tmp_path)
    for s in sets:
        store.append(s)
    data, offsets = _store(*[s.tolist() for s in sets])
    pairs = np.array([(i, j) for i in range(25) for j in range(i + 1, 25) if (i * j) % 3 == 0])
    want = similarities(data, offsets, pairs)
    got = stored_similarities(store, pairs, budget=budget)
    assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
    assert stored_similarities(store, np.empty((0, 2), dtype=np.int64))[0].size == 0


@pytest.mark.parametrize("held", [False, True])
def test_similarities_reaching_floors_are_exact_only_where_they_matter(
    tmp_path: Path, held: bool
) -> None:
    rng = np.random.default_rng(5)
    base = np.unique(rng.integers(0, 400, 150))
    # Versions of one set, from near copies to sets sharing little with it.
    sets = [
        np.unique(np.r_[base[rng.random(base.size) < keep], rng.integers(400, 900, 60)])
        for keep in np.linspace(0.05, 1.0, 30)
    ]
    store = ShingleStore(tmp_path)
    for s in sets:
        store.append(s)
    sets_at: ShingleStore | Held = store
    if held:
        sets_at = Held(*store.fetch(np.arange(len(sets))))
    pairs = np.array([(i, j) for i in range(30) for j in range(i + 1, 30)])
    exact = stored_similarities(sets_at, pairs)
    none = (np.empty((0, 2), dtype=np.int64), np.empty(0), np.empty(0))
    jac, con = similarities_reaching(
        pairs[:, 0], pairs[:, 1], 0.3, 0.5, store=sets_at, known=Known.of(*none)
    )
    reach = (exact[0] >= 0.3) | (exact[1] >= 0.5)
    assert 0 < reach.sum() < reach.size
    assert jac[reach].tolist() == exact[0][reach].tolist()
    assert con[reach].tolist() == exact[1][reach].tolist()
    assert ((jac[~reach] < 0.3) & (con[~reach] < 0.5)).all()
    assert (jac <= exact[0]).all() and (con <= exact[1]).all()
    # Some were given up on before the end of their sets.
    assert (jac < exact[0]).any()


def test_similarities_to_reuses_candidates_and_reads_the_rest(tmp_path: Path) -> None:
    sets = [np.array(s, dtype=np.uint32) for s in ([1, 2, 3], [2, 3, 4], [3, 4, 5], [7])]
    store = ShingleStore(tmp_path)
    for s in sets:
        store.append(s)
    # (0, 1) is known with a deliberately wrong value, to show it is reused; (0, 2) and
    # (3, 0) are read from the store.
    known = (np.array([[0, 1], [1, 2]]), np.array([0.25, 0.5]), np.array([0.125, 0.5]))
    jac, con = similarities_to(np.array([0, 0, 3]), np.array([1, 2, 0]), store, known)
    assert jac.tolist() == [0.25, 0.2, 0.0] and con.tolist() == [0.125, 1 / 3, 0.0]


def _ideographs(rng: random.Random, n: int) -> str:
    return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(n))


def _record(template: list[str], rng: random.Random) -> str:
    """The template's text with a number of this record's own in every slot between parts."""
    return template[0] + "".join(f"{rng.randrange(10, 100_000)}{part}" for part in template[1:])


def _clustered(texts: dict[str, str], cfg: Config) -> list[list[str]]:
    result = deduplicate([Doc(k, v) for k, v in texts.items()], cfg)
    return sorted(sorted(m.id for m in c.members) for c in result.clusters)


def test_records_on_one_template_are_kept_apart_by_their_numbers() -> None:
    # Two tender notices: 12 parts of 40 characters in common, a different number in each of
    # the 11 places between them (Jaccard about 0.75 on the shingles alone).
    rng = random.Random(5)
    template = [_ideographs(rng, 40) for _ in range(12)]
    texts = {"section-3": _record(template, rng), "section-22": _record(template, rng)}
    assert _clustered(texts, Config(jobs=1, verify=VerifyConfig(numbers=0))) == [
        ["section-22", "section-3"]
    ]
    assert _clustered(texts, Config(jobs=1)) == []
    # Fewer differing numbers than VerifyConfig.numbers on either side: still one text.
    few = template[:3] + ["".join(template[3:])]  # 3 places
    texts = {"a": _record(few, random.Random(1)), "b": _record(few, random.Random(2))}
    assert _clustered(texts, Config(jobs=1)) == [["a", "b"]]


def test_versions_that_lose_and_gain_numbers_elsewhere_still_join() -> None:
    # The original has 20 numbers. One copy is cut short (it lacks the last ones) in a site's
    # frame with a date, a time and a view count (numbers the original lacks, in places it
    # does not have); another is hard-wrapped every 17 characters, breaking numbers in two.
    rng = random.Random(8)
    original = _record([_ideographs(rng, 40) for _ in range(21)], rng)
    framed = f"{_ideographs(rng, 12)}\n时间：2021-05-06 10:30 点击：3521\n" + original[:700]
    wrapped = "\n".join(original[i : i + 17] for i in range(0, len(original), 17))
    texts = {"original": original, "framed": framed, "wrapped": wrapped}
    assert _clustered(texts, Config(jobs=1)) == [["framed", "original", "wrapped"]]


def test_a_bare_footer_is_not_a_version_of_the_page_that_holds_it() -> None:
    # A site's footer alone (30 characters) is held whole in a page of 600: containment 1.0,
    # but it is 5% of the page (VerifyConfig.min_share). A copy cut to 40% still joins.
    rng = random.Random(11)
    footer, article = _ideographs(rng, 30), _ideographs(rng, 570)
    texts = {"page": article + "\n" + footer, "footer": footer, "cut": article[:240]}
    lsh = LSHConfig(threshold=0.02)  # every pair a candidate: verification decides
    assert _clustered(texts, Config(jobs=1, lsh=lsh)) == [["cut", "page"]]
    loose = Config(jobs=1, lsh=lsh, verify=VerifyConfig(min_share=0.0))
    assert _clustered(texts, loose) == [["cut", "footer", "page"]]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 60),
    st.integers(0, 60),
    st.booleans(),
    st.sampled_from([0.0, 0.3, 0.6, 0.8, 1.0]),
    st.sampled_from([0.0, 0.5, 0.8, 1.0]),
)
def test_fewer_shared_than_the_least_never_match(
    na: int, nb: int, enough: bool, threshold: float, containment: float
) -> None:
    # Verification gives up on a pair once it cannot share `_least_shared` shingles: no
    # smaller intersection may pass either criterion.
    least = _least_shared(na, nb, enough, threshold, containment)
    assert least >= 0
    for inter in range(min(least, min(na, nb) + 1)):
        union = na + nb - inter
        jac = inter / union if union > 0 else 0.0
        con = inter / min(na, nb) if enough else jac
        assert not _matches(jac, con, threshold, containment)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=120), st.lists(st.integers(0, 300), max_size=120))
def test_the_merge_is_exact_when_it_reaches_the_least(a: list[int], b: list[int]) -> None:
    sa, sb = np.unique(np.array(a, dtype=np.uint32)), np.unique(np.array(b, dtype=np.uint32))
    data = np.concatenate([sa, sb])
    exact = np.intersect1d(sa, sb).size
    for need in (0, 1, exact, exact + 1, 50):
        got = _common_reaching(data, 0, sa.size, sa.size, data.size, need)
        assert got == exact if exact >= need else got < need


def _framed_sets(rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    """Sets of articles in three site frames (each article in one to six edited copies),
    and the repeated-shingle table that sets the frames aside."""
    frames = [rng.choice(1 << 20, 300, replace=False).astype(np.uint32) for _ in range(3)]
    sets = []
    for k in range(12):
        article = rng.choice(1 << 20, int(rng.integers(20, 400)), replace=False)
        for _ in range(int(rng.integers(1, 7))):
            edited = article[rng.random(article.size) > rng.uniform(0.0, 0.4)]
            sets.append(np.unique(np.concatenate([frames[k % 3], edited]).astype(np.uint32)))
    table = np.zeros(1 << 16, dtype=np.uint8)
    table[np.concatenate(frames) & 0xFFFF] = 1
    return sets, table


@pytest.mark.parametrize("budget", [256, 4096, FETCH_BUDGET])
def test_link_buckets_matches_verifying_every_pair(tmp_path: Path, budget: int) -> None:
    # Every pair is a candidate (one band all documents share). With the frames set aside,
    # the pairs link_buckets joins have their exact similarities and give the components of
    # verifying every pair, whether the own text is held in memory or read from disk.
    rng = np.random.default_rng(7)
    sets, table = _framed_sets(rng)
    n = len(sets)
    store = ShingleStore(tmp_path)
    for s in sets:
        store.append(s)
    sigs = np.asfortranarray(rng.integers(0, 1 << 32, (n, 4), dtype=np.uint32))
    sigs[:, :2] = 5
    buckets = Buckets.of(sigs, 2, 2, max_bucket=n)
    cfg = VerifyConfig()
    own = Own(table, cfg.min_own, cfg.numbers, cfg.min_share)
    linked = link_buckets(buckets, store, cfg, np.zeros(n, dtype=np.bool_), own, budget, budget)
    data = np.concatenate(sets)
    offsets = np.concatenate(([0], np.cumsum([s.size for s in sets])))
    jac, con = similarities(data, offsets, linked.pairs, own)
    assert linked.jaccard.tolist() == jac.tolist()
    assert linked.containment.tolist() == con.tolist()
    every = np.array([(i, j) for i in range(n) for j in range(i + 1, n)])
    ok = is_match(*similarities(data, offsets, every, own), cfg)
    want, got = UnionFind(n), UnionFind(n)
    want.union_pairs(every[ok])
    got.union_pairs(linked.pairs)
    assert got.roots().tolist() == want.roots().tolist()
    assert 0 < linked.pairs.shape[0] < ok.sum()  # joined components skip pairs
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # the own text is gone


def test_own_store_keeps_the_own_text_of_the_documents_asked(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    sets, table = _framed_sets(rng)
    store = ShingleStore(tmp_path)
    for s in sets:
        store.append(s)
    docs = np.array([1, 2, 5, len(sets) - 2])
    folder = tmp_path / "own"
    folder.mkdir()
    kept, shares = own_store(store, docs, table, folder, budget=512)
    assert len(kept) == len(sets)
    data, starts, ends = kept.fetch(np.arange(len(sets)))
    for k, s in enumerate(sets):
        want = s[table[s & 0xFFFF] == 0] if k in docs else s[:0]
        assert data[starts[k] : ends[k]].tolist() == want.tolist()
    # The repeated share of each set asked, read on the way, to the last bit.
    want_shares = repeated_shares(*store.fetch(docs), table)
    assert shares.min() > 0 and shares.tolist() == want_shares.tolist()


def test_a_page_left_with_too_little_own_text_has_none() -> None:
    """Two identical pages that are only a footer (all but 3 shingles repeated) share
    nothing: fewer than min_own shingles of their own once repeated text is set aside is no
    text. Two identical short texts with nothing set aside still match."""
    table = np.zeros(1 << 8, dtype=np.uint8)
    table[10:40] = 1  # the footer's shingles are repeated
    footer = np.array([*range(10, 40), 200, 201, 202], dtype=np.uint32)
    short = np.array([100, 101, 102], dtype=np.uint32)
    data = np.concatenate([footer, footer, short, short])
    offsets = np.array([0, 33, 66, 69, 72])
    pairs = np.array([[0, 1], [2, 3]])
    jac, con = similarities(data, offsets, pairs, Own(table, min_own=8))
    assert jac.tolist() == [0.0, 1.0] and con.tolist() == [0.0, 1.0]
    jac, _ = similarities(data, offsets, pairs, Own(table, min_own=3))
    assert jac.tolist() == [1.0, 1.0]  # 3 own shingles are enough for min_own 3
