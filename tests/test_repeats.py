from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
from helpers import framed_site_pages

from dedup.config import Config, LSHConfig, RepeatConfig
from dedup.pipeline import deduplicate
from dedup.repeats import (
    RepeatCounter,
    RepeatStats,
    count_repeats,
    estimated_similarities,
    group_roots,
    keep_from,
    repeated_shares,
    same_group,
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
    assert [c for c in plain if "s1-frame-only" in c] == [["s1-article0", "s1-frame-only"]]
    # With it (4 groups: a frame wraps 7 articles, the repost has 4 versions in one group)
    # the frame is set aside: no page links to another through it; the repost matches.
    assert _clusters(Config(jobs=1, lsh=lsh, repeat=RepeatConfig(min_groups=4)), **small) == REPOST


def test_known_limit_a_bare_frame_as_large_as_a_page_joins_the_site() -> None:
    # A bare frame at least a fifth of its pages' size (RepeatConfig.group_ratio) is held in
    # them as a truncated copy is: it makes one group of its site, the frame is counted once
    # and never set aside, and the site's pages join through it (as without the pass). Pinned
    # so that a change of the rule shows here.
    found = _clusters(Config(jobs=1, repeat=RepeatConfig(min_groups=4)), frame=200, article=400)
    assert [len(c) for c in found] == [8, 8, 8] and all(
        any(m.endswith("frame-only") for m in c) for c in found
    )


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
    linked = same_group(pairs, jac, con, sizes, RepeatConfig())
    assert linked.tolist() == [True, False]  # 2 is small: held whole, but not a version
    assert group_roots(4, pairs, linked).tolist() == [0, 2]  # 3 is in no candidate pair


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
        [repost] = [c for c in result.clusters if len(c.members) == 4]
        shares = {m.id: m.repeated_share for m in repost.members}
        assert shares.pop("repost-bare") == 0.0
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
    a = RepeatStats(
        np.array([1, 5], np.uint32), np.array([2, 65_000], np.uint16), np.array([1, 0], np.uint16)
    )
    b = RepeatStats(
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
