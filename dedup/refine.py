"""Split clusters that union-find chained through documents unlike the representative.

Connected components are transitive: A ~ B and B ~ C put A and C in one cluster even when they
share almost nothing. With containment as a criterion a short page links to every longer page
that holds it, so two different articles join through teasers in one site's frame:

    frame + article X  ⊃  frame + start of X  ~  frame + start of Y  ⊂  frame + article Y

and the shorter article is removed as a "duplicate" of the longer. `split_chains` checks every
member against its cluster's representative and moves the members that are not even loosely
similar to it (below `RefineConfig` floors, which sit under the match thresholds so that noisy
versions of one article linked through a cleaner version stay together) into a new group of
their own, which is refined the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .cluster import representatives
from .config import ClusterConfig
from .errors import ConfigError

# (representatives, members) -> (jaccard, containment) of each row pair.
Similarity = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class RefineConfig:
    """A member stays with its representative when jaccard >= `jaccard` or containment >=
    `containment` (floors, not match thresholds). After `max_rounds` splits of one chain the
    members still unplaced are left alone as singletons (kept): a bound on work, not a
    decision about them."""

    jaccard: float = 0.3
    containment: float = 0.5
    max_rounds: int = 16

    def __post_init__(self) -> None:
        for name in ("jaccard", "containment"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"refine {name} floor must be in [0, 1], got {value}")
        if self.max_rounds < 1:
            raise ConfigError(f"refine max_rounds must be at least 1, got {self.max_rounds}")


def split_chains(
    members: np.ndarray,
    bounds: np.ndarray,
    lengths: np.ndarray,
    similarity: Similarity,
    cluster_cfg: ClusterConfig,
    cfg: RefineConfig = RefineConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """Refine groups in the flat form of `cluster.grouped` (group g is
    members[bounds[g]:bounds[g + 1]]) so that every member of a returned group is at least
    loosely similar to the group's representative. Returns the same flat form: groups of two
    or more, members ascending, groups ordered by their first member.

    Each round costs one similarity per member still being split, so the work is linear in
    the members times the rounds (at most `cfg.max_rounds`).
    """
    members = np.asarray(members, dtype=np.int64)
    bounds = np.asarray(bounds, dtype=np.int64)
    done: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(cfg.max_rounds):
        if bounds.size < 2:
            break
        reps = representatives(members, bounds, lengths, cluster_cfg)
        group = np.repeat(np.arange(bounds.size - 1), np.diff(bounds))
        other = members != reps[group]
        jac, con = similarity(reps[group[other]], members[other])
        close = np.ones(members.size, dtype=bool)
        close[other] = (np.asarray(jac) >= cfg.jaccard) | (np.asarray(con) >= cfg.containment)
        done.append(_select(members, bounds, group, close))
        members, bounds = _select(members, bounds, group, ~close)
    return _ordered(done)


def _select(
    members: np.ndarray, bounds: np.ndarray, group: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The members under `mask` of every group, as groups of two or more in the same order."""
    counts = np.bincount(group[mask], minlength=bounds.size - 1)
    keep = mask & (counts[group] >= 2)
    out = np.zeros(int((counts >= 2).sum()) + 1, dtype=np.int64)
    np.cumsum(counts[counts >= 2], out=out[1:])
    return members[keep], out


def _ordered(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Join flat groups from several rounds and order the groups by their first member."""
    chunks: list[np.ndarray] = []
    for members, bounds in parts:
        chunks.extend(np.split(members, bounds[1:-1]) if bounds.size > 1 else [])
    chunks.sort(key=lambda g: int(g[0]))
    out = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum([g.size for g in chunks], out=out[1:])
    flat = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
    return flat, out
