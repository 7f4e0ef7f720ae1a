from __future__ import annotations

import numpy as np
import pytest

from dedup.lsh import Buckets, band_keys, candidate_pairs, lsh_params, slices_within


def test_params_follow_threshold() -> None:
    b_low, r_low = lsh_params(0.3, 128)
    b_high, r_high = lsh_params(0.8, 128)
    assert b_low * r_low <= 128 and b_high * r_high <= 128
    assert r_low < r_high  # a higher threshold needs more rows per band


def test_identical_signatures_are_candidates() -> None:
    rng = np.random.default_rng(0)
    sigs = rng.integers(0, 2**32, size=(5, 16), dtype=np.uint32)
    sigs[3] = sigs[1]
    pairs = candidate_pairs(sigs, 4, 4)
    assert pairs.tolist() == [[1, 3]]


def test_one_shared_band_is_enough() -> None:
    rng = np.random.default_rng(1)
    sigs = rng.integers(0, 2**32, size=(3, 16), dtype=np.uint32)
    sigs[2, 4:8] = sigs[0, 4:8]
    assert candidate_pairs(sigs, 4, 4).tolist() == [[0, 2]]


@pytest.mark.parametrize("k", [10, 500])
def test_big_buckets_stay_linear_and_connected(k: int) -> None:
    sigs = np.zeros((k, 8), dtype=np.uint32)
    pairs = candidate_pairs(sigs, 2, 4, max_bucket=64)
    if k <= 64:
        assert len(pairs) == k * (k - 1) // 2
    else:
        assert len(pairs) <= 2 * (k - 1)
    # Every member is connected to member 0 through the pairs.
    reached = {0}
    for a, b in sorted(pairs.tolist()):
        if a in reached:
            reached.add(b)
    assert reached == set(range(k))


def test_no_pairs_for_tiny_input() -> None:
    assert candidate_pairs(np.zeros((1, 8), dtype=np.uint32), 2, 4).shape == (0, 2)


def _reference_pairs(sigs: np.ndarray, bands: int, rows: int, max_bucket: int) -> list[list[int]]:
    """Buckets in input order: all pairs, or a star around the first member plus a chain."""
    found: set[tuple[int, int]] = set()
    for band in range(bands):
        buckets: dict[bytes, list[int]] = {}
        for i in range(sigs.shape[0]):
            buckets.setdefault(sigs[i, band * rows : (band + 1) * rows].tobytes(), []).append(i)
        for m in buckets.values():
            if len(m) <= max_bucket:
                found.update((a, b) for x, a in enumerate(m) for b in m[x + 1 :])
            else:
                found.update((m[0], b) for b in m[1:])
                found.update(zip(m[:-1], m[1:], strict=True))
    return [list(p) for p in sorted(found)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairs_equal_the_input_order_reference(seed: int) -> None:
    # Few distinct values per band: many buckets, some larger than max_bucket.
    rng = np.random.default_rng(seed)
    sigs = rng.integers(0, 6, size=(300, 8), dtype=np.uint32)
    sigs[rng.random(300) < 0.3] = 7  # one big bucket in every band
    got = candidate_pairs(sigs, 4, 2, max_bucket=16)
    assert got.tolist() == _reference_pairs(sigs, 4, 2, 16)


@pytest.mark.parametrize(("seed", "max_bucket"), [(0, 16), (1, 300), (2, 3)])
def test_open_pairs_give_every_candidate(seed: int, max_bucket: int) -> None:
    # With nothing joined, the bands' open pairs are the candidate pairs, none with a
    # document without text; each only once, by the first band that pairs it, unless a
    # bucket of more than max_bucket (a star and a chain) paired it.
    rng = np.random.default_rng(seed)
    sigs = np.asfortranarray(rng.integers(0, 5, size=(300, 8), dtype=np.uint32))
    sigs[rng.random(300) < 0.2] = 7
    empty = rng.random(300) < 0.05
    buckets = Buckets.of(sigs, 4, 2, max_bucket)
    parent = np.arange(300, dtype=np.int64)
    got = [p for band in range(4) for p in buckets.open_pairs(band, parent, empty).tolist()]
    want = candidate_pairs(sigs, 4, 2, max_bucket)
    want = want[~(empty[want[:, 0]] | empty[want[:, 1]])]
    assert sorted(set(map(tuple, got))) == list(map(tuple, want.tolist()))
    assert (len(got) == len(want)) == (max_bucket == 300)
    assert buckets.involved(empty).tolist() == np.isin(np.arange(300), want).tolist()


def test_open_pairs_skip_what_is_joined() -> None:
    sigs = np.zeros((6, 4), dtype=np.uint32, order="F")  # one bucket in both bands
    buckets = Buckets.of(sigs, 2, 2, 64)
    parent = np.array([0, 0, 0, 3, 3, 5], dtype=np.int64)  # {0, 1, 2}, {3, 4}, {5}
    none = np.zeros(6, dtype=bool)
    pairs = buckets.open_pairs(0, parent, none).tolist()
    assert pairs == [[0, 3], [0, 4], [0, 5], [1, 3], [1, 4], [1, 5]] + [
        [2, 3],
        [2, 4],
        [2, 5],
        [3, 5],
        [4, 5],
    ]
    assert buckets.open_pairs(1, parent, none).tolist() == []  # band 0 gave them all
    assert buckets.open_pairs(0, np.zeros(6, dtype=np.int64), none).tolist() == []


def test_open_pairs_with_thousands_of_buckets_a_band() -> None:
    # Thousands of buckets per band, each with a tag of its own; the signatures are not
    # needed once the buckets are made.
    rng = np.random.default_rng(6)
    sigs = np.asfortranarray(rng.integers(0, 40, size=(3000, 6), dtype=np.uint32))
    buckets = Buckets.of(sigs, 3, 2, 64)
    assert buckets.bands[1] - buckets.bands[0] > 255
    assert buckets.tag.max() == max(np.diff(buckets.bands))
    unsigned = buckets.without_signatures()
    assert unsigned.sigs.size == 0 and unsigned.sigs.base is None  # not a view of them
    empty = np.zeros(3000, dtype=bool)
    parent = np.arange(3000, dtype=np.int64)
    got = [p for band in range(3) for p in unsigned.open_pairs(band, parent, empty).tolist()]
    want = candidate_pairs(sigs, 3, 2, 64)
    assert len(got) == len(want)  # each pair once: by the first band that pairs it
    assert sorted(map(tuple, got)) == list(map(tuple, want.tolist()))


def _reference_keys(sigs: np.ndarray, band: int, rows: int) -> np.ndarray:
    # The keys as numpy computed them: persistent indexes hold keys made so.
    with np.errstate(over="ignore"):
        h = np.full(len(sigs), np.uint64(band + 1) * np.uint64(0x9E3779B97F4A7C15))
        for col in range(band * rows, (band + 1) * rows):
            h = (h ^ sigs[:, col].astype(np.uint64)) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
    return h


def test_band_keys_do_not_depend_on_layout() -> None:
    rng = np.random.default_rng(7)
    sigs = rng.integers(0, 2**32, size=(1000, 6), dtype=np.uint32)
    for band in range(3):
        rows = band_keys(sigs, band, 2)
        assert rows.dtype == np.uint64
        assert (rows == _reference_keys(sigs, band, 2)).all()
        assert (rows == band_keys(np.asfortranarray(sigs), band, 2)).all()
        assert (rows == band_keys(sigs[:, : 2 * (band + 1)].copy(), band, 2)).all()
    # Salted by the band: one band's values in another band's place give another key.
    same = np.tile(sigs[:, :2], 2)
    assert not (band_keys(same, 0, 2) == band_keys(same, 1, 2)).any()


@pytest.mark.parametrize("most", [1, 7, 50, 1 << 18])
def test_runs_of_buckets_give_the_band_s_pairs(most: int) -> None:
    # Listed a run of buckets at a time, a band's open pairs are those of the whole band,
    # in the same order; each run pairs about `most` documents (a larger bucket alone).
    rng = np.random.default_rng(8)
    sigs = rng.integers(0, 6, size=(400, 6), dtype=np.uint32)
    sigs[rng.random(400) < 0.3] = 9  # buckets larger than max_bucket
    empty = rng.random(400) < 0.05
    buckets = Buckets.of(sigs, 3, 2, 16, empty)
    parent = np.arange(400, dtype=np.int64)
    parent[[5, 17, 230]] = 3  # some already joined
    for band in range(3):
        runs = buckets.runs(band, most)
        assert runs[0][0] == buckets.bands[band] and runs[-1][1] == buckets.bands[band + 1]
        assert all(a[1] == b[0] for a, b in zip(runs[:-1], runs[1:], strict=True))
        whole = buckets.open_pairs(band, parent, empty)
        parts = [buckets.open_pairs(band, parent, empty, run) for run in runs]
        assert np.concatenate(parts).tolist() == whole.tolist()
        size = np.diff(buckets.bounds)
        pairs = np.where(size <= 16, size * (size - 1) // 2, 2 * (size - 1))
        for lo, hi in runs:
            assert hi - lo == 1 or pairs[lo:hi].sum() <= most
    assert len(buckets.runs(0, 1 << 18)) == 1


def testslices_within_cover_pairs_within_budget() -> None:
    cost = np.array([5, 5, 20, 1, 1, 1, 9])
    chunks = slices_within(cost, 10)
    assert chunks == [(0, 2), (2, 3), (3, 6), (6, 7)]
    assert slices_within(np.empty(0, dtype=np.int64), 10) == []
