from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from helpers import framed_site_pages

from dedup.config import Config, LSHConfig, RepeatConfig
from dedup.pipeline import deduplicate
from dedup.repeats import (
    SAMPLE,
    SAMPLE_MAX,
    Groups,
    RepeatCounter,
    RepeatStats,
    count_repeats,
    estimated_similarities,
    group_roots,
    held,
    joins,
    keep_from,
    repeated_shares,
    sample_ranks,
)
from dedup.types import Doc


def _clusters(cfg: Config, **pages: int) -> list[list[str]]:
    texts = framed_site_pages(**pages)
    result = deduplicate([Doc(k, v) for k, v in texts.items()], cfg)
    return sorted(sorted(m.id for m in c.members) for c in result.clusters)


REPOST = [["repost-bare", "s1-repost", "s2-repost", "s3-repost"]]


def test_site_text_links_nothing_and_reposts_still_match() -> None:
    # Frames of 2 x 70 characters around articles of 700. Without the pass a page that is
    # only a site's frame is held in the pages of its site and joins one of them. The LSH
    # threshold sits under the Jaccard of the frame page with a page (140 / 840), so that the
    # pair is a candidate whatever the hash values.
    small = {"frame": 70, "article": 700}
    lsh = LSHConfig(threshold=0.15)
    plain = _clusters(Config(jobs=1, lsh=lsh, repeat=RepeatConfig(min_groups=0)), **small)
    [joined] = [c for c in plain if "s1-frame-only" in c]
    assert any(page.startswith("s1-") and page != "s1-frame-only" for page in joined)
    # With it (4 groups: a frame wraps 7 articles, the repost has 4 versions in one group)
    # the frame is set aside: no page links to another through it; the repost matches.
    assert _clusters(Config(jobs=1, lsh=lsh, repeat=RepeatConfig(min_groups=4)), **small) == REPOST


def test_a_bare_frame_half_the_size_of_its_pages_links_nothing() -> None:
    # A bare frame half its pages' size is held in every page of its site. It joins the
    # group of one of them (repeats.containers), not all of them into one group, and MinHash
    # estimates that err upwards do not make it "similar" to them (repeats.joins): the frame
    # is counted in 7 groups, set aside, and no page links to another through it. (It used to
    # make one group of its site, and the site's pages joined through it.)
    found = _clusters(Config(jobs=1, repeat=RepeatConfig(min_groups=4)), frame=200, article=400)
    assert found == REPOST


def test_counter_saturates_and_merges() -> None:
    cfg = RepeatConfig(min_groups=2, table_bits=8)
    a, b = RepeatCounter(cfg), RepeatCounter(cfg)
    a.add([np.array([1, 2, 3], dtype=np.uint32), np.array([3, 4], dtype=np.uint32)])
    b.add([np.array([3, 257], dtype=np.uint32)])  # 257 falls in the slot of 1
    table = a.merge(b).repeats().table
    assert np.flatnonzero(table).tolist() == [1, 3]
    c = RepeatCounter(cfg)
    for _ in range(70_000):
        c.counts[5] = min(int(c.counts[5]) + 1, 65_535)
    c.add([np.array([5], dtype=np.uint32)])
    assert c.counts[5] == 65_535  # saturates rather than wrapping round to 0


def test_groups_join_versions_not_a_bare_frame() -> None:
    sigs = np.asfortranarray(np.array([[1, 2, 3, 4], [1, 2, 3, 4], [1, 9, 9, 9]], np.uint32))
    pairs = np.array([[0, 1], [0, 2]])
    sizes = np.array([100, 100, 10])
    jac, con = estimated_similarities(sigs, pairs, sizes)
    assert jac.tolist() == [1.0, 0.25]
    linked = joins(pairs, jac, sizes, RepeatConfig()) | held(pairs, con, sizes, RepeatConfig())
    assert linked.tolist() == [True, False]  # 2 is small: held whole, but not a version
    groups = group_roots(4, pairs, jac, con, sizes, RepeatConfig())
    assert groups.first.tolist() == [0, 2] and groups.size.tolist() == [2, 1]  # 3: in no pair
    assert groups.sample.tolist() == [0, 1, 2] and groups.bounds.tolist() == [0, 2, 3]


def test_shares_count_the_shingles_set_aside() -> None:
    table = np.zeros(8, dtype=np.uint8)
    table[[1, 3]] = 1  # slots of repeated shingles
    data = np.array([1, 2, 3, 4, 9, 11, 5], dtype=np.uint32)  # 9 and 11 fall in slots 1, 3
    starts, ends = np.array([0, 4, 6, 7]), np.array([4, 6, 7, 7])
    assert repeated_shares(data, starts, ends, table).tolist() == [0.5, 1.0, 0.0, 0.0]


def test_members_say_how_much_repeated_text_was_set_aside() -> None:
    # The repost: bare, and in each site's frame (2 x 70 characters around 700).
    texts = framed_site_pages(frame=70, article=700)
    for min_groups, framed in ((4, (0.1, 0.25)), (0, (0.0, 0.0))):
        # LSH low enough that every framed page is a candidate (as in the test above).
        lsh = LSHConfig(threshold=0.15)
        cfg = Config(jobs=1, lsh=lsh, repeat=RepeatConfig(min_groups=min_groups))
        result = deduplicate([Doc(k, v) for k, v in texts.items()], cfg)
        [repost] = [c for c in result.clusters if "repost-bare" in {m.id for m in c.members}]
        shares = {m.id: m.repeated_share for m in repost.members if "repost" in m.id}
        assert len(shares) == 4 and shares.pop("repost-bare") == 0.0
        assert all(framed[0] <= s <= framed[1] for s in shares.values()), shares


def test_hundreds_of_lightly_edited_reposts_stay_one_cluster() -> None:
    """Copies of one short article with a few characters changed each: copies that match on
    their whole sets are counted as one group. Where the groups are tighter, they fall into
    separate groups: the first count finds their text in more than min_groups groups, the
    second leaves them out (their text is all repeated), so the article is not set aside and
    its copies still match. Beside them, a site frame around different articles is still set
    aside."""
    rng = np.random.default_rng(3)

    def cjk(n: int) -> list[str]:
        return [chr(c) for c in rng.integers(0x4E00, 0x9FA5, n)]

    base = cjk(250)
    copies = []
    for _ in range(120):
        text = list(base)
        for p in rng.integers(0, len(text), 8):
            text[p] = chr(int(rng.integers(0x4E00, 0x9FA5)))
        copies.append("".join(text))
    frame = "".join(cjk(120))
    pages = [frame + "".join(cjk(400)) for _ in range(60)]
    docs = [Doc(f"c{k}", t) for k, t in enumerate(copies)]
    docs += [Doc(f"p{k}", t) for k, t in enumerate(pages)]
    result = deduplicate(docs, Config(jobs=1))
    assert [len(c.members) for c in result.clusters] == [120]
    assert result.stats["repeated_slots"] > 0  # the frame
    # Groups as tight as whole sets at Jaccard 0.8 put every copy in a group of its own, and
    # the second count still keeps the article.
    tight = RepeatConfig(group_jaccard=0.8, group_containment=0.9)
    assert [len(c.members) for c in deduplicate(docs, Config(jobs=1, repeat=tight)).clusters] == [
        120
    ]
    one_count = replace(tight, max_share=1.0)  # the second count lets every group in
    alone = deduplicate(docs, Config(jobs=1, repeat=one_count))
    assert alone.clusters == ()  # without it the article is set aside and nothing matches


def test_an_article_reposted_in_other_frames_is_not_set_aside() -> None:
    """An article in 60 copies with typos and 60 teaser pages (its start in a site's frame,
    with related titles of the page's own), beside 40 other pages of that site. The copies
    that match on their whole text count as one group, so the article's text is not taken
    for the site's: every copy stays in the article's cluster, and no page of the site."""
    rng = random.Random(11)

    def text(n: int) -> str:
        return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(n))

    header, footer, hot = text(100), text(100), text(400)
    docs = [Doc(f"site{k}", f"{header}\n{text(400)}\n{text(150)}\n{footer}") for k in range(40)]
    docs.append(Doc("hot", hot))
    for k in range(60):
        typos = list(hot)
        for p in rng.sample(range(400), 16):
            typos[p] = chr(rng.randrange(0x4E00, 0x9FA5))
        docs.append(Doc(f"typo{k}", "".join(typos)))
    for k in range(60):
        teaser = hot[: rng.randint(120, 240)]
        docs.append(Doc(f"teaser{k}", f"{header}\n{teaser}\n{text(150)}\n{footer}"))

    def copies_with_hot(repeat: RepeatConfig) -> set[str]:
        result = deduplicate(docs, Config(jobs=1, repeat=repeat))
        [found] = [c for c in result.clusters if "hot" in {m.id for m in c.members}]
        assert not any(m.id.startswith("site") for m in found.members)
        return {m.id for m in found.members}

    assert {f"typo{k}" for k in range(60)} <= copies_with_hot(RepeatConfig())
    # Groups only as wide as Jaccard 0.8 count the typo copies one by one, the teasers bring
    # the article's start into groups with text of their own, and copies are lost.
    tight = RepeatConfig(group_jaccard=0.8, group_containment=0.9)
    assert len(copies_with_hot(tight)) < 61


def _sets(*shingles: list[int]) -> list[np.ndarray]:
    return [np.array(s, dtype=np.uint32) for s in shingles]


def test_earlier_counts_add_to_a_run_s_own() -> None:
    """A slot counted in 3 groups before and 2 now reaches min_groups=4 only together; the
    statistics a run returns are its own counts, of slots counted at least twice
    (a quarter of min_groups, at least 2)."""
    cfg = RepeatConfig(min_groups=4, table_bits=8)
    assert keep_from(cfg) == 2 and keep_from(RepeatConfig(min_groups=32)) == 8
    now = _sets([7, 11], [7, 12], [13])
    alone = count_repeats(lambda: now, cfg)
    assert alone.count == 0
    assert alone.stats.slots.tolist() == [7] and alone.stats.groups.tolist() == [2]
    before = count_repeats(lambda: _sets([7, 20], [7, 21], [7, 22]), cfg)
    assert before.count == 0 and before.stats.groups.tolist() == [3]
    together = count_repeats(lambda: now, cfg, before.stats)
    assert np.flatnonzero(together.table).tolist() == [7]
    assert together.stats.slots.tolist() == alone.stats.slots.tolist()  # this run's alone


def test_stats_combine_adds_and_saturates() -> None:
    a = RepeatStats.counted(
        np.array([1, 5], np.uint32), np.array([2, 65_000], np.uint16), np.array([1, 0], np.uint16)
    )
    b = RepeatStats.counted(
        np.array([5, 9], np.uint32), np.array([1_000, 3], np.uint16), np.array([2, 3], np.uint16)
    )
    both = RepeatStats.combine([a, RepeatStats.none(), b])
    assert both.slots.tolist() == [1, 5, 9]
    assert both.groups.tolist() == [2, 65_535, 3]
    assert both.own.tolist() == [1, 2, 3]
    assert both.repeated(RepeatConfig(min_groups=3)).tolist() == [5, 9]
    assert both.repeated(RepeatConfig(min_groups=2)).tolist() == [1, 5, 9]
    assert both.repeated(RepeatConfig(min_groups=0)).tolist() == []
    counts = np.zeros(16, dtype=np.uint16)
    counts[[1, 9, 10]] = [65_535, 4, 7]
    groups = both.added_to(counts, "groups")
    assert groups.tolist()[:11] == [0, 65_535, 0, 0, 0, 65_535, 0, 0, 0, 7, 7]
    assert counts[9] == 4  # a copy


def test_stats_weigh_groups_by_their_documents() -> None:
    """Documents add up and the largest group is the larger of the parts': a slot most of
    whose documents are in one group is not repeated, in the stats as in the run."""
    u16 = np.uint16
    a = RepeatStats(
        np.array([1, 5], np.uint32),
        np.array([40, 40], u16),
        np.array([1, 1], u16),
        np.array([400, 60], u16),
        np.array([300, 1], u16),
    )
    b = RepeatStats(
        np.array([1, 5], np.uint32),
        np.array([2, 2], u16),
        np.array([0, 0], u16),
        np.array([250, 2], u16),
        np.array([200, 1], u16),
    )
    both = RepeatStats.combine([a, b])
    assert both.docs.tolist() == [650, 62] and both.largest.tolist() == [300, 1]
    cfg = RepeatConfig(min_groups=32)
    assert a.repeated(cfg).tolist() == [5]  # 300 of 400 documents in one group
    assert both.repeated(cfg).tolist() == [1, 5]  # 300 of 650: no longer most
    assert both.repeated(replace(cfg, largest_share=0)).tolist() == [1, 5]
    assert both.repeated(replace(cfg, largest_share=0.4)).tolist() == [5]
    docs = both.added_to(np.zeros(8, u16), "docs")
    largest = both.added_to(np.full(8, 250, u16), "largest")
    assert docs[[1, 5]].tolist() == [650, 62] and largest[[1, 5, 6]].tolist() == [300, 250, 250]


def test_one_group_holding_most_documents_is_not_repeated() -> None:
    """A text in 40 groups is repeated; weighed, with one group of 100 documents and 39 of
    one, it is one text in many versions. Weights add up over merged counters. A group's
    sample stands for it: a slot only its first document holds gets that share."""
    cfg = RepeatConfig(min_groups=32, table_bits=12)
    # Each group has text of its own besides 7 and 8.
    sets = _sets(*([7, 8, *range(100 + 10 * k, 110 + 10 * k)] for k in range(40)))
    assert np.flatnonzero(count_repeats(lambda: sets, cfg).table).tolist() == [7, 8]
    sizes = [100] + [1] * 39
    weighed = [(n, [s]) for n, s in zip(sizes, sets, strict=True)]
    assert count_repeats(lambda: sets, cfg, weighed=weighed).count == 0
    spread = [(1, [s]) for s in sets]
    assert count_repeats(lambda: sets, cfg, weighed=spread).count == 2
    left, right = RepeatCounter(cfg), RepeatCounter(cfg)
    left.weigh(weighed[:20])
    right.weigh(weighed[20:])
    merged = left.merge(right)
    docs, largest = merged.documents(np.array([7, 8]))
    assert docs.tolist() == [139, 139] and largest.tolist() == [100, 100]
    assert merged.counts[7] == 40
    # The group of 100 sampled by 4 sets, of which only the first holds 8: 25 documents.
    sample = [sets[0], *_sets([7, 50], [7, 51], [7, 52])]
    counter = RepeatCounter(cfg)
    counter.weigh([(100, sample)])
    docs, largest = counter.documents(np.array([7, 8, 50]))
    assert docs.tolist() == [100, 25, 25] and largest.tolist() == [100, 25, 25]
    assert counter.counts[[7, 8, 50]].tolist() == [1, 1, 0]


@pytest.mark.parametrize("size", [1, 2, 8, 9, 20, 63, 64, 65, 9065, 100_000])
def test_a_group_is_sampled_from_end_to_end(size: int) -> None:
    counts, ranks = sample_ranks(np.array([size]))
    want = min(size, max(SAMPLE, min(SAMPLE_MAX, int(np.ceil(np.sqrt(size))))))
    assert counts.tolist() == [want] and ranks.size == want
    assert ranks[0] == 0 and np.all(np.diff(ranks) > 0) and ranks[-1] < size
    # Spread evenly: no gap between samples is much wider than another.
    gaps = np.diff(np.append(ranks, size))
    assert gaps.max() - gaps.min() <= 1


def test_a_group_that_chains_two_articles_credits_both() -> None:
    """200 documents in one group: the first 150 hold slot 7 (one article), the last 50
    slot 9 (another). Weighed by members spread over the group, 9 gets about 50 documents,
    so it is text of one group, not repeated: weighed by its first members it got none."""
    cfg = RepeatConfig(table_bits=12)
    roots = np.zeros(200, dtype=np.int64)
    groups = Groups.of(roots, np.arange(200))
    sets = [np.array([7 if d < 150 else 9, 1000 + d], dtype=np.uint32) for d in range(200)]
    counter = RepeatCounter(cfg)
    counter.weigh(groups.weighed(sets[d] for d in groups.sample.tolist()))
    docs, largest = counter.documents(np.array([7, 9]))
    assert abs(int(largest[0]) - 150) <= 15 and abs(int(largest[1]) - 50) <= 15
    assert docs.tolist() == largest.tolist()


def test_a_bare_frame_joins_one_page_not_all_into_one_group() -> None:
    """A page held whole in three unrelated pages joins the group of the one that holds most
    of it (then the smallest number): the three stay three groups."""
    # 0: the bare frame; 1, 2, 3: pages around different articles; 4: a version of 3.
    pairs = np.array([[0, 1], [0, 2], [0, 3], [3, 4]])
    jac = np.array([0.3, 0.3, 0.3, 0.9])
    con = np.array([0.9, 0.95, 0.95, 0.9])
    sizes = np.array([30, 100, 100, 100, 100])
    groups = group_roots(5, pairs, jac, con, sizes, RepeatConfig())
    assert groups.first.tolist() == [0, 1, 3] and groups.size.tolist() == [2, 1, 2]
    # The page that holds most of it wins.
    con = np.array([0.9, 0.8, 0.95, 0.9])
    groups = group_roots(5, pairs, jac, con, sizes, RepeatConfig())
    assert groups.first.tolist() == [0, 1, 2] and groups.size.tolist() == [3, 1, 1]


def test_an_article_mostly_in_one_group_keeps_its_text() -> None:
    """60 lightly edited copies of an article (one group) and a teaser of it in each of 12
    sites' frames (each a group of its own: the frame weighs against it). The article's
    text is in 13 groups, the frames in 4 each: with min_groups 4 both used to be set aside,
    and the teasers, left with no text of their own, joined nothing. Most of the article's
    documents are in one group, so its text is not repeated: the teasers join it (and no
    longer a page of their own site through their frame's leftovers)."""
    rng = random.Random(3)

    def text(n: int) -> str:
        return "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(n))

    article = text(400)
    docs = {}
    for k in range(60):
        at = rng.randrange(400)
        docs[f"copy{k:02d}"] = article[:at] + text(1) + article[at + 1 :]
    for site in range(12):
        head, foot = text(60), text(60)
        for k in range(3):
            docs[f"s{site:02d}-page{k}"] = f"{head}\n{text(400)}\n{foot}"
        docs[f"s{site:02d}-teaser"] = f"{head}\n{article[:240]}\n{foot}"
    teasers = {k for k in docs if k.endswith("teaser")}

    def found(repeat: RepeatConfig) -> list[set[str]]:
        result = deduplicate([Doc(k, v) for k, v in docs.items()], Config(jobs=1, repeat=repeat))
        return [{m.id for m in c.members} for c in result.clusters]

    cfg = RepeatConfig(min_groups=4)
    clusters = found(cfg)
    assert len(clusters) == 1 and clusters[0] == {k for k in docs if "page" not in k}
    before = found(replace(cfg, largest_share=0))
    assert [teasers & c for c in before if "copy00" in c] == [set()]


def test_a_weighed_counter_pickles_its_weights_sparsely() -> None:
    """Spark's tasks send their counters to the driver: the weights travel at their nonzero
    slots only, and come back whole."""
    import pickle

    cfg = RepeatConfig(table_bits=16)
    counter = RepeatCounter(cfg)
    counter.weigh([(5, _sets([1, 2, 3], [2, 3])), (1, _sets([9]))])
    plain = RepeatCounter(cfg)
    plain.add(_sets([1, 2, 3], [9]))
    sent = pickle.dumps(counter)
    assert len(sent) < len(pickle.dumps(plain)) + 200
    back = pickle.loads(sent)
    assert np.array_equal(back.counts, counter.counts)
    assert back.extra is not None and np.array_equal(back.extra, counter.extra)
    assert back.largest is not None and np.array_equal(back.largest, counter.largest)
    docs, largest = back.documents(np.array([1, 2, 3, 9]))
    assert docs.tolist() == [3, 5, 5, 1] and largest.tolist() == [3, 5, 5, 1]
    assert pickle.loads(pickle.dumps(plain)).extra is None


def test_groups_weighed_in_one_chunk_count_as_one_at_a_time() -> None:
    """The local engine weighs many groups per read (`weigh_fetched`, sets in any order in
    the chunk) and counts many sets per read (`add_fetched`): the counts are those of one
    group, or one set, at a time. A small table makes slots shared within sets."""
    rng = np.random.default_rng(4)
    cfg = RepeatConfig(min_groups=3, table_bits=8, max_share=0.3, largest_share=0)
    groups = []
    for _ in range(40):
        sample = [np.unique(rng.integers(0, 1000, rng.integers(0, 30))).astype(np.uint32)]
        sample += [s.astype(np.uint32) for s in rng.integers(0, 1000, (rng.integers(0, 8), 9))]
        groups.append((int(rng.integers(len(sample), 300)) if len(sample) > 1 else 1, sample))
    one = RepeatCounter(cfg)
    one.weigh(groups)
    sets = [s for _, sample in groups for s in sample]
    order = rng.permutation(len(sets))  # where each set lies in the chunk
    lengths = np.array([len(s) for s in sets])
    data = np.concatenate([sets[k] for k in order])
    starts = np.empty(len(sets), dtype=np.int64)
    starts[order] = np.r_[0, np.cumsum(lengths[order])[:-1]]
    bounds = np.r_[0, np.cumsum([len(sample) for _, sample in groups])]
    sizes = np.array([size for size, _ in groups])
    many = RepeatCounter(cfg)
    many.weigh_fetched(
        (data, starts, starts + lengths, bounds[a : b + 1], sizes[a:b])
        for a, b in [(0, 1), (1, 25), (25, 40)]
    )
    assert one.extra is not None and many.extra is not None
    assert one.extra.any() and one.counts.max() > 1
    assert np.array_equal(one.counts, many.counts)
    assert np.array_equal(one.extra, many.extra)
    assert np.array_equal(one.largest, many.largest)
    first = one.repeats()
    assert first.count
    alone, together = RepeatCounter(cfg), RepeatCounter(cfg)
    alone.add(sets, first)
    together.add_fetched([(data, starts, starts + lengths)], first)
    assert np.array_equal(alone.counts, together.counts)
    assert 0 < alone.counts.sum() < lengths.sum()  # some sets, not all, are mostly repeated
