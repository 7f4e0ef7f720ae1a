"""The cluster stage: verified pairs -> final clusters, representatives and the fate of every
document. Every engine (the local run, the streaming index, Spark on each connected component)
calls `settle` or `cluster`; the rules live here and nowhere else.

1. Union-find over the verified pairs gives connected components.
2. Chains are split (`split_chains`). Connected components are transitive: A ~ B and B ~ C
   put A and C in one cluster even when they share almost nothing. With containment as a
   criterion a short page links to every longer page that holds it, so two different
   articles join through teasers in one site's frame:

       frame + article X  >  frame + start of X  ~  frame + start of Y  <  frame + article Y

   and the shorter article would be removed as a "duplicate" of the longer. Every member is
   checked against its cluster's representative (`representatives`: by default the most
   complete and cleanest member, from the `Figures` signing measured; deterministic); the
   members not even loosely similar to it (below `RefineConfig` floors, which sit under the
   match thresholds so that noisy versions linked through a cleaner version stay together)
   form a new group, refined the same way.
3. Each member's similarity to its representative, as measured while splitting, and per
   document its cluster number and the document it duplicates (`Clusters.fates`).
4. Why each member is in its cluster (`joined_via`): the member whose verified pair joined
   it, that pair's similarities, and the share of its text set aside as repeated.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numba import njit

from .config import ClusterConfig, RefineConfig
from .types import Cluster, Figures, Member


@njit(cache=True)
def find_root(parent: np.ndarray, x: int) -> int:
    """The root of x in the union-find array `parent` (compressing the path)."""
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True)
def join(parent: np.ndarray, a: int, b: int) -> bool:
    """Join the sets of a and b in `parent`; False when they were one set already. The
    smaller root becomes the root: roots are the first member in input order."""
    ra = find_root(parent, a)
    rb = find_root(parent, b)
    if ra == rb:
        return False
    if ra < rb:
        parent[rb] = ra
    else:
        parent[ra] = rb
    return True


@njit(cache=True)
def _union_all(parent: np.ndarray, pairs: np.ndarray) -> None:
    for p in range(pairs.shape[0]):
        join(parent, pairs[p, 0], pairs[p, 1])


class UnionFind:
    """Disjoint sets over 0..n-1 whose roots are always the smallest member."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def union(self, a: int, b: int) -> None:
        self.union_pairs(np.array([[a, b]], dtype=np.int64))

    def union_pairs(self, pairs: np.ndarray) -> None:
        if pairs.shape[0]:
            _union_all(self.parent, np.ascontiguousarray(pairs, dtype=np.int64))

    def find(self, x: int) -> int:
        return int(find_root(self.parent, x))

    def roots(self) -> np.ndarray:
        """Root of every element."""
        _compress(self.parent)
        return self.parent.copy()


@njit(cache=True)
def _compress(parent: np.ndarray) -> None:
    # In index order every parent is smaller than its child and already final, so one
    # forward pass points everything at its root.
    for x in range(parent.size):
        parent[x] = parent[parent[x]]


def grouped(roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups of two or more as (members, bounds): group g is members[bounds[g]:bounds[g + 1]],
    members ascending, groups ordered by their first member. The flat form of `groups`."""
    order = np.argsort(roots, kind="stable")
    sorted_roots = roots[order]
    bounds = np.flatnonzero(np.diff(sorted_roots)) + 1
    first = np.concatenate(([0], bounds))
    last = np.concatenate((bounds, [roots.size])) if roots.size else first
    big = (last - first) > 1
    keep = np.repeat(big, last - first)
    sizes = (last - first)[big]
    out_bounds = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=out_bounds[1:])
    return order[keep], out_bounds


def groups(roots: np.ndarray) -> list[np.ndarray]:
    """Member indices of every group of two or more, ordered by their first member."""
    members, bounds = grouped(roots)
    return np.split(members, bounds[1:-1]) if bounds.size > 1 else []


def _no_ints() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


def _no_floats() -> np.ndarray:
    return np.empty(0, dtype=np.float64)


@dataclass(frozen=True)
class Verified:
    """The verified pairs the cluster stage receives: rows (i, j) of document numbers, and
    the exact (jaccard, containment) verification measured for each."""

    pairs: np.ndarray
    jaccard: np.ndarray
    containment: np.ndarray

    @classmethod
    def none(cls) -> Verified:
        return cls(np.empty((0, 2), dtype=np.int64), _no_floats(), _no_floats())


@dataclass(frozen=True)
class Known:
    """Similarities already measured, found by pair: `keys` (smaller << 32 | larger document
    number, sorted, unique) with each pair's (jaccard, containment). Similarities are
    symmetric, so a pair is found in either order."""

    keys: np.ndarray
    jaccard: np.ndarray
    containment: np.ndarray

    @classmethod
    def of(cls, pairs: np.ndarray, jaccard: np.ndarray, containment: np.ndarray) -> Known:
        """From rows (i, j) of document numbers and their similarities (of a pair given
        twice, the first)."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        keys = _pair_keys(pairs[:, 0], pairs[:, 1])
        keys, first = np.unique(keys, return_index=True)
        jaccard = np.asarray(jaccard, dtype=np.float64)[first]
        return cls(keys, jaccard, np.asarray(containment, dtype=np.float64)[first])

    def find(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per pair (a[k], b[k]): its place in `keys`, -1 where it is not there."""
        key = _pair_keys(a, b)
        pos = np.searchsorted(self.keys, key)
        hit = pos < self.keys.size
        hit[hit] = self.keys[pos[hit]] == key[hit]
        return np.where(hit, pos, -1)


def _pair_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    return (np.minimum(a, b) << 32) | np.maximum(a, b)


@dataclass(frozen=True)
class Clusters:
    """The final clusters in the flat form of `grouped` (cluster g is
    members[bounds[g]:bounds[g + 1]], members ascending, clusters numbered by their first
    member), the representative of each, and each member's exact (jaccard, containment) to
    its representative (1.0 for the representative itself).

    `settle` adds, per member, why it is in its cluster (`joined_via`): `via`, the member
    whose verified pair joined it (-1 for the representative), that pair's similarities
    (NaN for the representative), and `repeated_share`, the share of its shingles set aside
    as repeated text."""

    members: np.ndarray
    bounds: np.ndarray
    reps: np.ndarray
    jaccard: np.ndarray
    containment: np.ndarray
    via: np.ndarray = field(default_factory=_no_ints)
    via_jaccard: np.ndarray = field(default_factory=_no_floats)
    via_containment: np.ndarray = field(default_factory=_no_floats)
    repeated_share: np.ndarray = field(default_factory=_no_floats)

    def __len__(self) -> int:
        return int(self.reps.size)

    def number(self) -> np.ndarray:
        """The cluster number of each entry of `members`."""
        return np.repeat(np.arange(self.reps.size), np.diff(self.bounds))

    def fates(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per document 0..n-1: its cluster number, and the document it duplicates (its
        cluster's representative); -1 where none. A document is kept when it duplicates
        nothing."""
        group = self.number()
        cluster_of = np.full(n, -1, dtype=np.int64)
        cluster_of[self.members] = group
        duplicate_of = np.full(n, -1, dtype=np.int64)
        other = self.members != self.reps[group]
        duplicate_of[self.members[other]] = self.reps[group[other]]
        return cluster_of, duplicate_of

    def entries(self, n: int) -> np.ndarray:
        """Per document 0..n-1: its entry in `members`, -1 where none."""
        entry = np.full(n, -1, dtype=np.int64)
        entry[self.members] = np.arange(self.members.size)
        return entry


def representatives(
    members: np.ndarray,
    bounds: np.ndarray,
    figures: Figures,
    cfg: ClusterConfig,
    similarity: Similarity | None = None,
) -> np.ndarray:
    """The member kept of every group of `grouped` (`figures` indexed by document number):

    - "cleanest" (the default): among the complete members, the one with the least noise;
      see `_cleanest`. It measures every member against the group's longest member, so it
      needs `similarity`;
    - "longest": the longest normalized text (the most complete version, noise and all);
      "shortest"; or "first" in input order.

    Ties go to the earliest in input order."""
    return _choose(members, bounds, figures, cfg, similarity)[0]


# (representatives, members) -> (jaccard, containment) of each row pair.
Similarity = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
# `Similarity`, given floors (jaccard, containment): exact only for the pairs that reach one
# of them; the others may come back lower (still below both), measured only until they
# could not reach them.
Bounded = Callable[[np.ndarray, np.ndarray, float, float], tuple[np.ndarray, np.ndarray]]
# Document numbers -> the share of each one's shingles set aside as repeated text.
Shares = Callable[[np.ndarray], np.ndarray]

# The "cleanest" rule (`_cleanest`), its constants chosen on the crawl benchmark's tune split
# (README, "Which member is kept").
# A member is complete when it holds at least this share of the article (and two members
# that hold at least this share of the most any member holds agree on where it ends).
COMPLETE = 0.8
# The article is taken to be at least this share of the longest member.
EXTENT_FLOOR = 0.3
# Weights of a member's figures, per character of its normalized text. Noise removed and
# characters of another script weigh 1; damaged layout and text in unended lines weigh less
# (they harm a text less, and proper text has some of them).
MANGLED_WEIGHT = 0.1
UNENDED_WEIGHT = 0.25
# The weight of the share of a member that is foreign to the article.
FOREIGN_WEIGHT = 0.25
# A member judged against L's own text less L's unended lines must itself be at least this
# share prose (a page that is all unended lines tells frame and article apart by nothing).
PROSE_GUARD = 0.7


def _by_length(
    members: np.ndarray, bounds: np.ndarray, lengths: np.ndarray, shortest: bool
) -> np.ndarray:
    """Per group: the longest (or shortest) member, ties to the smallest index."""
    group = np.repeat(np.arange(bounds.size - 1), np.diff(bounds))
    size = lengths[members].astype(np.int64)
    key = size if shortest else -size
    # Per group: the best size, ties to the smallest index (members are ascending).
    order = np.lexsort((members, key, group))
    return members[order[bounds[:-1]]].astype(np.int64)


# What `_choose` measured: per member of the flat groups, (jaccard, containment) to the
# group's longest member (1.0 for that member itself), and the longest member of each group.
Measured = tuple[np.ndarray, np.ndarray, np.ndarray]


def _choose(
    members: np.ndarray,
    bounds: np.ndarray,
    figures: Figures,
    cfg: ClusterConfig,
    similarity: Similarity | None,
    repeated: Shares | None = None,
) -> tuple[np.ndarray, Measured | None]:
    """`representatives`, and for "cleanest" the similarities it measured, which the caller
    reuses where the representative is the longest member."""
    rule = cfg.representative
    if rule == "first" or bounds.size < 2:
        return members[bounds[:-1]].astype(np.int64), None
    if rule != "cleanest":
        return _by_length(members, bounds, figures.length, rule == "shortest"), None
    longest = _by_length(members, bounds, figures.length, shortest=False)
    group = np.repeat(np.arange(bounds.size - 1), np.diff(bounds))
    other = members != longest[group]
    jac = np.ones(members.size, dtype=np.float64)
    con = np.ones(members.size, dtype=np.float64)
    if other.any():
        if similarity is None:
            raise ValueError('representative "cleanest" needs a similarity')
        j, c = similarity(longest[group[other]], members[other])
        jac[other], con[other] = j, c
    shares = np.zeros(members.size)
    if repeated is not None:
        shares = np.asarray(repeated(members), dtype=np.float64)
    reps = _cleanest(members, bounds, group, other, figures.take(members), jac, con, shares)
    return reps, (longest, jac, con)


def _cleanest(
    members: np.ndarray,
    bounds: np.ndarray,
    group: np.ndarray,
    other: np.ndarray,
    fig: Figures,
    jac: np.ndarray,
    con: np.ndarray,
    shares: np.ndarray,
) -> np.ndarray:
    """The most complete and cleanest member of each group, given each member's figures
    (`fig`, row k for members[k]) and its similarity to the group's longest member L
    (`other`: every member but L).

    Completeness. L holds the most text, but not always the most of the article: a site's
    frame or an added note lengthens a copy, a truncated copy shortens one. What a member
    holds of L counts as its prose share of it (its share of text outside unended lines), so
    that a frame held in common is no article: a teaser page in L's frame holds much of L,
    but little of it as prose. When at least two other members hold about the most any of
    them holds (within `COMPLETE`), they agree on where the article ends, and L's prose beyond
    it is foreign to the article. Otherwise the article is L's own prose, and nothing of L is
    foreign: a single shorter member may just be truncated. The article is at least
    `EXTENT_FLOOR` of L, and a member is complete when it holds at least `COMPLETE` of it (L
    always is; with no prose anywhere, L alone is, as with "longest"). A member that is
    mostly prose (`PROSE_GUARD`) is also complete when it holds `COMPLETE` of L's own text
    (`shares`: each member's share of repeated text, set aside) less L's unended lines that
    it lacks: a site frame's byline and related titles are a page's own text, and no article.

    Cleanliness, per character of normalized text: the noise the normalizer removed, the
    characters of a script other than the group's (the lower median of its versions' shares
    of traditional characters, byte-identical copies counted once, so one traditional copy
    among simplified ones is the odd one, and the reverse), and at lower weights damaged
    layout, full-width letters and digits where the group's versions mostly have none (or the
    reverse), and text in unended lines; plus the share of the member foreign to the article
    (for a member other than L: its text that L lacks). The complete member with the lowest
    score is kept; ties go to the one holding more of L, then to the earliest."""
    inside, held = _shares(jac, con)  # the shares of the member, and of L, held in common
    inside[~other], held[~other] = 1.0, 1.0
    starts = bounds[:-1]
    length = np.maximum(fig.length, 1).astype(np.float64)
    prose = 1.0 - np.minimum(fig.unended / length, 1.0)
    # The share of L each member holds as prose (L: its own share of prose).
    held_prose = held * prose
    prose_of_l = np.maximum.reduceat(np.where(other, 0.0, prose), starts)[group]
    most = np.maximum.reduceat(np.where(other, held_prose, 0.0), starts)[group]
    agreeing = (other & (held_prose >= COMPLETE * most)).astype(np.float64)
    agreed = (np.bincount(group, weights=agreeing, minlength=starts.size) >= 2)[group]
    agreed &= most > 0
    extent = np.maximum(np.where(agreed, most, prose_of_l), EXTENT_FLOOR)
    complete = ~other | (held_prose >= COMPLETE * extent)
    # Or when it holds that share of L's own text (its repeated text set aside) less L's
    # unended lines it lacks: a page's frame beyond what the corpus repeats (a byline,
    # related titles) is no article either.
    of_l = np.where(other, 0, fig.length), np.where(other, 0, fig.unended)
    length_l, unended_l = (np.maximum.reduceat(x, starts)[group] for x in of_l)
    own_l = (1.0 - np.maximum.reduceat(np.where(other, 0.0, shares), starts)[group]) * length_l
    article_l = np.maximum(own_l - np.maximum(unended_l - fig.unended, 0), EXTENT_FLOOR * own_l)
    complete |= (held * own_l >= COMPLETE * article_l) & (prose >= PROSE_GUARD)
    beyond = np.where(agreed, np.maximum(prose_of_l - most, 0.0), 0.0)
    foreign = np.where(other, 1.0 - inside, beyond)

    first = _first_copies(group, fig.copy_key)
    other_script = _unusual(fig.traditional, length, group, starts, first)
    other_width = _unusual(fig.full_width, length, group, starts, first)
    removed = fig.noise + other_script + MANGLED_WEIGHT * (fig.mangled + other_width)
    score = (removed + UNENDED_WEIGHT * fig.unended) / length + FOREIGN_WEIGHT * foreign
    score[~complete] = np.inf
    order = np.lexsort((members, -held, score, group))
    return members[order[starts]].astype(np.int64)


def _unusual(
    count: np.ndarray, length: np.ndarray, group: np.ndarray, starts: np.ndarray, first: np.ndarray
) -> np.ndarray:
    """Per member: how far its `count` (of characters of some kind) is from what its group
    usually has, the lower median of the group's versions' shares of them (`first`: the first
    of byte-identical copies, so that copies of one version count once)."""
    share = count / length
    versions = np.bincount(group[first], minlength=starts.size)
    by_share = np.lexsort((share, ~first, group))
    usual = share[by_share[starts + (versions - 1) // 2]][group]
    return np.abs(count - usual * length)


def _first_copies(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Per member of the flat groups: whether no earlier member of its group shares its
    `key` (the first of byte-identical copies)."""
    order = np.lexsort((np.arange(key.size), key, group))
    g, k = group[order], key[order]
    new = np.ones(key.size, dtype=bool)
    new[1:] = (g[1:] != g[:-1]) | (k[1:] != k[:-1])
    first = np.zeros(key.size, dtype=bool)
    first[order[new]] = True
    return first


def _shares(jac: np.ndarray, con: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The share of the smaller and of the larger of two sets that they have in common, from
    their Jaccard and containment (1 / jaccard = 1 / smaller share + 1 / larger share - 1).
    Where containment is no more than Jaccard (identical sets, or too little text of their
    own for containment to count) both are the Jaccard."""
    jac = np.asarray(jac, dtype=np.float64)
    con = np.asarray(con, dtype=np.float64)
    smaller = np.maximum(jac, con)
    larger = jac.copy()
    two = (con > jac) & (jac > 0)
    larger[two] = 1.0 / (1.0 / jac[two] + 1.0 - 1.0 / con[two])
    return smaller, larger


def split_chains(
    members: np.ndarray,
    bounds: np.ndarray,
    figures: Figures,
    similarity: Similarity,
    cluster_cfg: ClusterConfig,
    cfg: RefineConfig = RefineConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """Refine groups in the flat form of `cluster.grouped` (group g is
    members[bounds[g]:bounds[g + 1]]) so that every member of a returned group is at least
    loosely similar to the group's representative. Returns the same flat form: groups of two
    or more, members ascending, groups ordered by their first member.

    Each round costs one similarity per member still being split (two for "cleanest", where
    the representative is not the longest member), so the work is linear in the members
    times the rounds (at most `cfg.max_rounds`).
    """
    found = _split(members, bounds, figures, similarity, cluster_cfg, cfg)
    return found.members, found.bounds


def _split(
    members: np.ndarray,
    bounds: np.ndarray,
    figures: Figures,
    similarity: Similarity,
    cluster_cfg: ClusterConfig,
    cfg: RefineConfig,
    repeated: Shares | None = None,
    bounded: Bounded | None = None,
) -> Clusters:
    """`split_chains`, keeping each final group's representative and every member's
    similarity to it, both as measured in the round that settled the group. Only the
    members that stay with a representative need their exact figures: the others are
    measured with `bounded` where given (`_Remembered.reaching`)."""
    members = np.asarray(members, dtype=np.int64)
    bounds = np.asarray(bounds, dtype=np.int64)
    done: list[Clusters] = []
    remembered = _Remembered(similarity, bounded, cfg)
    for _ in range(cfg.max_rounds):
        if bounds.size < 2:
            break
        remembered.next_round()
        reps, measured = _choose(members, bounds, figures, cluster_cfg, remembered, repeated)
        group = np.repeat(np.arange(bounds.size - 1), np.diff(bounds))
        known = [measured] if measured else []
        jac, con = _against(reps, members, group, remembered.reaching, *known)
        close = _near(jac, con, cfg) | (members == reps[group])
        chain = np.bincount(group[~close], minlength=bounds.size - 1) > 0
        if chain.any():
            reps, jac, con, close = _recentred(
                members,
                bounds,
                group,
                chain,
                (reps, jac, con, close),
                figures,
                remembered,
                cluster_cfg,
                cfg,
                repeated,
            )
        done.append(_select(members, bounds, group, close, reps, jac, con))
        rest = _select(members, bounds, group, ~close, reps, jac, con)
        members, bounds = rest.members, rest.bounds
    return _ordered(done)


class _Remembered:
    """`similarity`, remembering the pairs it measured in the round before (`next_round`
    starts one). A round that peels a small cluster off a large chain leaves the chain's
    longest member, and mostly its representative, in the rest: the next round measures the
    same members against them again (at a million crawl documents, most of what the rounds
    measured). Only two rounds are held, so memory stays linear in the members.

    `reaching` serves what only needs to know which members reach the floors (`cfg`) and the
    exact figures of those: with `bounded`, a pair is measured only until it cannot reach
    them. Such a pair is remembered as below them, and not given where figures are needed."""

    def __init__(self, similarity: Similarity, bounded: Bounded | None, cfg: RefineConfig):
        self.similarity = similarity
        self.bounded = bounded
        self.cfg = cfg
        self.before = (_no_pairs(), _no_pairs())  # exact; below the floors
        self.now: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def next_round(self) -> None:
        if self.now:
            pairs, jac, con, exact = (np.concatenate(x) for x in zip(*self.now, strict=True))
            self.before = (
                Known.of(pairs[exact], jac[exact], con[exact]),
                Known.of(pairs[~exact], jac[~exact], con[~exact]),
            )
        self.now = []

    def __call__(self, reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._measured(reps, others, self.before[:1], None)

    def reaching(self, reps: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact for the pairs that reach the floors; lower for the others, still below."""
        return self._measured(reps, others, self.before, self.bounded)

    def _measured(
        self,
        reps: np.ndarray,
        others: np.ndarray,
        remembered: tuple[Known, ...],
        bounded: Bounded | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        jac = np.empty(reps.size, dtype=np.float64)
        con = np.empty(reps.size, dtype=np.float64)
        miss = np.ones(reps.size, dtype=bool)
        exact = np.ones(reps.size, dtype=bool)
        for kind, known in enumerate(remembered):
            at = known.find(reps, others)
            hit = miss & (at >= 0)
            jac[hit], con[hit] = known.jaccard[at[hit]], known.containment[at[hit]]
            exact[hit] = kind == 0
            miss &= ~hit
        if miss.any():
            if bounded is None:
                jac[miss], con[miss] = self.similarity(reps[miss], others[miss])
            else:
                floors = (self.cfg.jaccard, self.cfg.containment)
                jac[miss], con[miss] = bounded(reps[miss], others[miss], *floors)
                exact[miss] = _near(jac[miss], con[miss], self.cfg)
        self.now.append((np.stack([reps, others], axis=1), jac, con, exact))
        return jac, con


def _no_pairs() -> Known:
    return Known.of(np.empty((0, 2), dtype=np.int64), _no_floats(), _no_floats())


def _near(jac: np.ndarray, con: np.ndarray, cfg: RefineConfig) -> np.ndarray:
    """Whether a member stays with the document it was measured against (the floors)."""
    return (jac >= cfg.jaccard) | (con >= cfg.containment)


def _against(
    reps: np.ndarray, members: np.ndarray, group: np.ndarray, similarity: Similarity, *known: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Each member's (jaccard, containment) to its group's `reps` (1.0 for the
    representative itself), measuring only what no `known` (per group a document, and every
    member's similarities to it) already holds."""
    other = members != reps[group]
    jac = np.ones(members.size, dtype=np.float64)
    con = np.ones(members.size, dtype=np.float64)
    ask = other.copy()
    for ref, known_jac, known_con in known:
        same = ask & (reps[group] == ref[group])
        jac[same], con[same] = known_jac[same], known_con[same]
        ask &= ~same
    if ask.any():
        jac[ask], con[ask] = similarity(reps[group[ask]], members[ask])
    return jac, con


# A round's groups: representatives, and per member (jaccard, containment) to its group's
# representative and whether it stays with it.
Round = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _recentred(
    members: np.ndarray,
    bounds: np.ndarray,
    group: np.ndarray,
    chain: np.ndarray,
    found: Round,
    figures: Figures,
    similarity: _Remembered,
    cluster_cfg: ClusterConfig,
    cfg: RefineConfig,
    repeated: Shares | None,
) -> Round:
    """The round `found` with every `chain` group split around its best centre instead
    (`_centres`): the members close to the centre choose their representative (the cleanest,
    or as `cluster_cfg` says), and those close to it stay; the rest wait for the next round.
    A chain's cleanest member may be one version of a small article that borrows from a
    large one: split around it, each round peels one small cluster, and the rounds run out
    before the large articles are reached."""
    reps, jac, con, close = (x.copy() for x in found)
    centre = _centres(members, bounds, chain, found, similarity.reaching, cfg)
    moved = centre != reps
    if not moved.any():
        return reps, jac, con, close
    inside = moved[group]
    to_centre = _against(centre, members[inside], group[inside], similarity.reaching)
    near = _near(*to_centre, cfg) | (members[inside] == centre[group[inside]])
    # The centre's close members as groups of their own, one per moved group.
    sub = np.flatnonzero(inside)[near]
    sub_group = np.cumsum(moved)[group[sub]] - 1
    sub_bounds = np.zeros(int(moved.sum()) + 1, dtype=np.int64)
    np.cumsum(np.bincount(sub_group, minlength=sub_bounds.size - 1), out=sub_bounds[1:])
    sub_members = members[sub]
    picked, measured = _choose(sub_members, sub_bounds, figures, cluster_cfg, similarity, repeated)
    by_centre = (centre[moved], to_centre[0][near], to_centre[1][near])
    sub_jac, sub_con = _against(
        picked,
        sub_members,
        sub_group,
        similarity.reaching,
        by_centre,
        *([measured] if measured else []),
    )
    reps[moved] = picked
    close[inside] = False
    close[sub] = _near(sub_jac, sub_con, cfg) | (sub_members == picked[sub_group])
    jac[sub], con[sub] = sub_jac, sub_con
    return reps, jac, con, close


def _centres(
    members: np.ndarray,
    bounds: np.ndarray,
    chain: np.ndarray,
    found: Round,
    similarity: Similarity,
    cfg: RefineConfig,
) -> np.ndarray:
    """Per group, the member to split it around: for a `chain` group, of its representative
    and `cfg.probes` candidates, the one close to most of `cfg.sample` members (candidates
    and sample spread evenly over the group's members in input order, so every engine picks
    the same); ties to the representative, then to the earliest candidate. Other groups keep
    their representative."""
    reps, _, _, close = found
    centre = reps.copy()
    asked_c: list[np.ndarray] = []
    asked_s: list[np.ndarray] = []
    shapes: list[tuple[int, int, int, int]] = []  # (group, candidates, sample, own count)
    for g in np.flatnonzero(chain).tolist():
        start, m = int(bounds[g]), int(bounds[g + 1] - bounds[g])
        k, s = min(cfg.probes, m), min(cfg.sample, m)
        cand = start + (2 * np.arange(k) + 1) * m // (2 * k)
        sample = start + (2 * np.arange(s) + 1) * m // (2 * s)
        asked_c.append(np.repeat(cand, s))
        asked_s.append(np.tile(sample, k))
        shapes.append((g, k, s, int(close[sample].sum())))
    if not shapes:
        return centre
    cand_at, sample_at = np.concatenate(asked_c), np.concatenate(asked_s)
    hit = np.ones(cand_at.size, dtype=bool)
    ask = cand_at != sample_at
    if ask.any():
        hit[ask] = _near(*similarity(members[cand_at[ask]], members[sample_at[ask]]), cfg)
    at = 0
    for g, k, s, own in shapes:
        counts = hit[at : at + k * s].reshape(k, s).sum(axis=1)
        best = int(np.argmax(counts))
        if counts[best] > cfg.gain * own:
            centre[g] = members[cand_at[at + best * s]]
        at += k * s
    return centre


def _select(
    members: np.ndarray,
    bounds: np.ndarray,
    group: np.ndarray,
    mask: np.ndarray,
    reps: np.ndarray,
    jac: np.ndarray,
    con: np.ndarray,
) -> Clusters:
    """The members under `mask` of every group, as groups of two or more in the same order,
    with their representatives and similarities."""
    counts = np.bincount(group[mask], minlength=bounds.size - 1)
    keep = mask & (counts[group] >= 2)
    out = np.zeros(int((counts >= 2).sum()) + 1, dtype=np.int64)
    np.cumsum(counts[counts >= 2], out=out[1:])
    return Clusters(members[keep], out, reps[counts >= 2], jac[keep], con[keep])


def _ordered(parts: list[Clusters]) -> Clusters:
    """Join flat groups from several rounds and order the groups by their first member."""
    members = np.concatenate([p.members for p in parts] or [np.empty(0, np.int64)])
    sizes = np.concatenate([np.diff(p.bounds) for p in parts] or [np.empty(0, np.int64)])
    reps = np.concatenate([p.reps for p in parts] or [np.empty(0, np.int64)])
    jac = np.concatenate([p.jaccard for p in parts] or [np.empty(0)])
    con = np.concatenate([p.containment for p in parts] or [np.empty(0)])
    starts = np.cumsum(sizes) - sizes
    order = np.argsort(members[starts], kind="stable")  # groups are disjoint: no ties
    bounds = np.zeros(order.size + 1, dtype=np.int64)
    np.cumsum(sizes[order], out=bounds[1:])
    # Entry k of the result is entry k - (its group's new start) + (its old start).
    take = np.arange(members.size) + np.repeat(starts[order] - bounds[:-1], sizes[order])
    return Clusters(members[take], bounds, reps[order], jac[take], con[take])


def settle(
    members: np.ndarray,
    bounds: np.ndarray,
    figures: Figures,
    similarity: Similarity,
    cfg: ClusterConfig,
    refine: RefineConfig = RefineConfig(),
    *,
    verified: Verified | None = None,
    repeated: Shares | None = None,
    direct: Matches | None = None,
    bounded: Bounded | None = None,
) -> Clusters:
    """Connected components (flat form of `grouped`) -> final `Clusters`: chains split,
    representatives chosen, each member measured against its representative and told why
    it is in its cluster (`joined_via`, over the `verified` pairs among the members).

    `figures` is indexed by document number; `similarity(reps, others)` gives the exact
    similarities of row pairs, and `repeated(docs)` each document's share of repeated text
    (from a store, from sets in memory, or from a distributed join: the rule does not care
    where the sets are). Without `repeated` the shares are 0. `bounded`, where an engine has
    it, measures the pairs whose figures matter only if they reach the floors for less
    (the results are the same)."""
    known = None if repeated is None else _asked_once(repeated, members)
    found = _split(members, bounds, figures, similarity, cfg, refine, known, bounded)
    via, via_jac, via_con = joined_via(found, verified or Verified.none(), direct)
    shares = np.zeros(found.members.size, dtype=np.float64)
    if known is not None and found.members.size:
        shares = known(found.members)
    return replace(
        found, via=via, via_jaccard=via_jac, via_containment=via_con, repeated_share=shares
    )


def _asked_once(repeated: Shares, members: np.ndarray) -> Shares:
    """`repeated`, asked once for all `members` (each round of the cluster stage, and the
    final members, look their shares up)."""
    members = np.asarray(members, dtype=np.int64)
    order = np.argsort(members, kind="stable")
    asked = np.asarray(repeated(members), dtype=np.float64) if members.size else np.empty(0)

    def known(docs: np.ndarray) -> np.ndarray:
        return asked[order[np.searchsorted(members, docs, sorter=order)]]

    return known


def cluster(
    n: int,
    verified: Verified,
    figures: Figures,
    similarity: Similarity,
    cfg: ClusterConfig,
    refine: RefineConfig = RefineConfig(),
    repeated: Shares | None = None,
    direct: Matches | None = None,
    bounded: Bounded | None = None,
) -> Clusters:
    """The cluster stage: verified pairs (rows of document numbers 0..n-1, with their
    similarities) -> `Clusters`."""
    uf = UnionFind(n)
    uf.union_pairs(verified.pairs)
    return settle(
        *grouped(uf.roots()),
        figures,
        similarity,
        cfg,
        refine,
        verified=verified,
        repeated=repeated,
        direct=direct,
        bounded=bounded,
    )


# (jaccard, containment) arrays -> whether each pair is a match (verify.is_match).
Matches = Callable[[np.ndarray, np.ndarray], np.ndarray]


def joined_via(
    found: Clusters, verified: Verified, direct: Matches | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per entry of `found.members`: the member whose verified pair joined it to its
    cluster, and that pair's (jaccard, containment); -1 and NaN for a representative.

    A member that matches the representative itself (`direct` on its measured similarity to
    it) is joined via the representative: engines that verify different subsets of the
    candidate pairs (the local one skips pairs already joined) then agree.

    The verified pairs between members of one final cluster are walked breadth first from
    its representative: a member's `via` is its neighbour one pair nearer the representative
    (so following `via` from any member leads to the representative along verified pairs,
    as few as there are); of several such neighbours, the one whose pair has the highest
    Jaccard, then the earliest in input order. A member that no such path reaches (the
    chain-splitting step cut its path, and kept it because it is loosely similar to the
    representative) is joined via the representative, with the similarity measured against
    it. Only the set of pairs matters, not their order, so every engine gets the same."""
    members, m = found.members, found.members.size
    if m == 0:
        return _no_ints(), _no_floats(), _no_floats()
    group = found.number()
    is_rep = members == found.reps[group]
    order = np.argsort(members, kind="stable")
    ends = []
    for col in (0, 1):
        docs = np.asarray(verified.pairs, dtype=np.int64).reshape(-1, 2)[:, col]
        pos = np.minimum(np.searchsorted(members[order], docs), m - 1)
        entry = order[pos]
        entry[members[entry] != docs] = -1
        ends.append(entry)
    a, b = ends
    inside = (a >= 0) & (b >= 0)
    inside[inside] = group[a[inside]] == group[b[inside]]
    a, b = a[inside], b[inside]
    jac = np.asarray(verified.jaccard, dtype=np.float64)[inside]
    con = np.asarray(verified.containment, dtype=np.float64)[inside]
    # Both directions, as adjacency lists of entries.
    src, dst = np.concatenate((a, b)), np.concatenate((b, a))
    edge = np.concatenate((np.arange(a.size), np.arange(a.size)))
    by_src = np.argsort(src, kind="stable")
    starts = np.searchsorted(src[by_src], np.arange(m + 1))
    parent, via_edge = _walk(starts, dst[by_src], edge[by_src], jac, np.flatnonzero(is_rep))
    # Not reached: via the representative, as the chain-splitting step measured it.
    via = np.where(parent >= 0, members[parent], found.reps[group])
    # A last entry that `via_edge` -1 picks.
    via_jac = np.append(jac, np.nan)[via_edge]
    via_con = np.append(con, np.nan)[via_edge]
    cut = via_edge < 0
    if direct is not None:
        cut |= direct(found.jaccard, found.containment)
        via[cut] = found.reps[group][cut]
    via_jac[cut], via_con[cut] = found.jaccard[cut], found.containment[cut]
    via[is_rep] = -1
    via_jac[is_rep] = np.nan
    via_con[is_rep] = np.nan
    return via.astype(np.int64), via_jac, via_con


@njit(cache=True)
def _walk(
    starts: np.ndarray, dst: np.ndarray, edge: np.ndarray, jac: np.ndarray, roots: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Breadth first from every root at once over the adjacency lists (node k's neighbours
    dst[starts[k]:starts[k + 1]], through edge[...]): each node's parent one level nearer
    its root and the edge to it, the parent chosen by the edge's highest `jac`, then the
    smallest node; -1 where none. A FIFO queue finishes a level before the next starts, so
    every candidate parent of a node is seen before the node's own turn."""
    n = starts.size - 1
    depth = np.full(n, -1, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    via = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    tail = 0
    for r in roots:
        depth[r] = 0
        queue[tail] = r
        tail += 1
    head = 0
    while head < tail:
        u = queue[head]
        head += 1
        for k in range(starts[u], starts[u + 1]):
            v = dst[k]
            e = edge[k]
            if depth[v] < 0:
                depth[v] = depth[u] + 1
                parent[v] = u
                via[v] = e
                queue[tail] = v
                tail += 1
            elif depth[v] == depth[u] + 1:
                best = jac[via[v]]
                if jac[e] > best or (jac[e] == best and u < parent[v]):
                    parent[v] = u
                    via[v] = e
    return parent, via


def round_similarity(x: float) -> float:
    """A similarity as clusters.jsonl and the report give it: six decimals, every engine."""
    return round(float(x), 6)


def make_cluster(number: int, representative: Member, others: Iterable[Member]) -> Cluster:
    """A cluster record: the representative first, then the other members in input order."""
    members = (representative, *others)
    return Cluster(cluster=number, representative=representative.id, members=members)


def _rounded(x: float) -> float | None:
    return None if x != x else round_similarity(x)  # NaN: none


def member_records(clusters: Clusters, ids: Sequence[Any]) -> list[Member]:
    """Every entry of `clusters.members` as a record, with the figures rounded as
    clusters.jsonl and the annotate fields give them."""
    members, via = clusters.members.tolist(), clusters.via.tolist()
    group = clusters.number().tolist()
    reps = clusters.reps.tolist()
    jac, con = clusters.jaccard.tolist(), clusters.containment.tolist()
    via_jac, via_con = clusters.via_jaccard.tolist(), clusters.via_containment.tolist()
    shares = clusters.repeated_share.tolist()
    out = []
    with gc_paused():
        for k, m in enumerate(members):
            share = round_similarity(shares[k])
            if m == reps[group[k]]:
                out.append(Member(ids[m], 1.0, 1.0, repeated_share=share))
                continue
            out.append(
                Member(
                    ids[m],
                    round_similarity(jac[k]),
                    round_similarity(con[k]),
                    ids[via[k]],
                    _rounded(via_jac[k]),
                    _rounded(via_con[k]),
                    share,
                )
            )
    return out


def cluster_records(
    clusters: Clusters, ids: Sequence[Any], records: Sequence[Member] | None = None
) -> list[Cluster]:
    """Every cluster as a record, numbered as in `clusters` (`records`: its
    `member_records`, when the caller has them)."""
    if records is None:
        records = member_records(clusters, ids)
    out = []
    members, reps = clusters.members.tolist(), clusters.reps.tolist()
    bounds = clusters.bounds.tolist()
    with gc_paused():
        for number, rep in enumerate(reps):
            lo, hi = bounds[number], bounds[number + 1]
            at = members.index(rep, lo, hi)
            others = (records[k] for k in range(lo, hi) if k != at)
            out.append(make_cluster(number, records[at], others))
    return out


@contextmanager
def gc_paused() -> Iterator[None]:
    """Build many small acyclic objects without the cyclic collector: with millions of live
    objects (ids, index) each of its passes walks them all, which made building the cluster
    records grow faster than the number of clusters. The previous state is restored."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
