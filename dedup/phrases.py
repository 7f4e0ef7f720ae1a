"""Taiwan vocabulary and phrase-level character choices folded to one form, on normalized text.

OpenCC's `s2twp` converts characters and also swaps words (软件 -> 軟體, 默认 -> 預設). The
per-character fold (`chars.py`) turns 軟體 into 软体, which still differs from 软件, so
the two versions share few shingles around every swapped word. This pass replaces each
Taiwan form (folded to simplified characters) by the mainland form it came from, using
OpenCC's own TWPhrases table. Like the character fold it is canonical rather than perfect:
a mainland text that happens to contain a Taiwan form is folded the same way, which is
harmless because every version of an article is folded alike.

Matching is leftmost-longest over the code points that shingling consumes, in one compiled
pass that costs a table look-up per character when nothing matches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numba
import numpy as np

from . import chars
from .chars import fold_chars, opencc_bytes
from .cluster import UnionFind
from .config import NormalizeConfig
from .tablecache import cached

# Keys start below this code point (all CJK ideographs of the table do); the first-character
# index covers only this range so it stays small.
_INDEX_LIMIT = 0x30000
# Replacement is repeated while it changes something (a replacement can complete a key
# across its boundary); two passes settle every text in practice, four bound it.
_MAX_PASSES = 4


@dataclass(frozen=True)
class PhraseTable:
    """Keys grouped by first code point, longest first, flattened for the compiled matcher.

    `group[cp]` is -1 or the group of keys starting with `cp`; keys of group g are
    `start[g] <= p < start[g + 1]`, key p is `keys[key_off[p]:key_off[p + 1]]` and its
    replacement `vals[val_off[p]:val_off[p + 1]]`.
    """

    group: np.ndarray
    start: np.ndarray
    keys: np.ndarray
    key_off: np.ndarray
    vals: np.ndarray
    val_off: np.ndarray
    growth: int  # longest replacement over its key, rounded up: bounds the output size
    # 1 at `_pair_slot(k[0], k[1])` of every key k (keys have two or more code points): most
    # positions of a text are ruled out by one look-up, before any key is compared.
    pairs: np.ndarray

    def __len__(self) -> int:
        return int(self.key_off.size - 1)


def _read_pairs(name: str) -> list[tuple[str, str]]:
    """(source, target) pairs of an OpenCC phrase table, every target candidate listed."""
    text = resources.files("opencc").joinpath("dictionary", name).read_text("utf-8")
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            pairs.extend((parts[0], tw) for tw in parts[1].split(" ") if tw)
    return pairs


def build_table(pairs: list[tuple[str, str]], fold: Callable[[str], str]) -> PhraseTable:
    """A table mapping every folded form of a word to one canonical form.

    `pairs` are (source, target) with the simplified/mainland form as source. Forms linked by
    the table form one class (默认 and 缺省 both become 預設 in Taiwan, so all three are one
    word here); every member maps to the class's preferred form: a source form if there is
    one, then the shortest, then the smallest. Only all-ideograph entries are used (a Latin
    part would glue to neighbouring words), and keys whose replacement would itself be
    rewritten are dropped, so the mapping is idempotent.
    """
    # Fold every phrase in one call: a line break never occurs inside a phrase and the fold
    # keeps it.
    flat = fold("\n".join(p for pair in pairs for p in pair)).split("\n")
    folded_pairs = list(zip(flat[0::2], flat[1::2], strict=True))
    sources = {a for a, _ in folded_pairs}

    def rank(word: str) -> tuple[bool, int, str]:
        return word not in sources, len(word), word

    linked = [
        (a, b)
        for a, b in folded_pairs
        if a != b and min(len(a), len(b)) >= 2 and _all_ideographs(a + b)
    ]
    # Words numbered in order of preference: a class's root, its smallest number, is the
    # form every member maps to.
    words = sorted({w for pair in linked for w in pair}, key=rank)
    number = {w: k for k, w in enumerate(words)}
    uf = UnionFind(len(words))
    uf.union_pairs(np.array([(number[a], number[b]) for a, b in linked], dtype=np.int64))
    root = uf.roots().tolist()
    mapping = {w: words[root[number[w]]] for w in sorted(words) if words[root[number[w]]] != w}
    stable = {k: v for k, v in mapping.items() if not any(other in v for other in mapping)}
    return _flatten(stable)


def _all_ideographs(s: str) -> bool:
    return all(0x3400 <= ord(c) < _INDEX_LIMIT and c.isalnum() for c in s)


def _flatten(mapping: dict[str, str]) -> PhraseTable:
    # Group by first character; within a group the longest key first (leftmost-longest).
    items = sorted(mapping.items(), key=lambda kv: (kv[0][0], -len(kv[0]), kv[0]))
    group = np.full(_INDEX_LIMIT, -1, dtype=np.int32)
    starts: list[int] = []
    keys: list[int] = []
    vals: list[int] = []
    key_off = [0]
    val_off = [0]
    growth = 1
    for p, (key, val) in enumerate(items):
        if group[ord(key[0])] < 0:
            group[ord(key[0])] = len(starts)
            starts.append(p)
        keys.extend(map(ord, key))
        vals.extend(map(ord, val))
        key_off.append(len(keys))
        val_off.append(len(vals))
        growth = max(growth, -(-len(val) // len(key)))
    starts.append(len(items))
    pairs = np.zeros(_PAIR_SLOTS, dtype=np.uint8)
    for key, _ in items:
        if len(key) < 2:
            raise ValueError(f"phrase keys have two or more characters, not {key!r}")
        pairs[_pair_slot(ord(key[0]), ord(key[1]))] = 1
    return PhraseTable(
        group=group,
        start=np.asarray(starts, dtype=np.int64),
        keys=np.asarray(keys, dtype=np.uint32),
        key_off=np.asarray(key_off, dtype=np.int64),
        vals=np.asarray(vals, dtype=np.uint32),
        val_off=np.asarray(val_off, dtype=np.int64),
        growth=growth,
        pairs=pairs,
    )


_PAIR_SLOTS = 1 << 16


@numba.njit(cache=True, inline="always")
def _pair_slot(a: int, b: int) -> int:
    return ((a * 40503) ^ b) & (_PAIR_SLOTS - 1)


@cache
def vocabulary_table() -> PhraseTable:
    """OpenCC's phrase tables folded with the default character fold (once per process):
    TWPhrases (Taiwan words), and the entries of STPhrases and TSPhrases where a phrase picks
    a traditional character that the per-character fold keeps (反复 -> 反覆, 了解 -> 瞭解)."""
    sources = [Path(chars.__file__ or "").read_bytes(), Path(__file__).read_bytes()]
    sources += opencc_bytes(_PHRASE_FILES)
    found = cached("phrases", sources, repr(NormalizeConfig()), _vocabulary_arrays)
    growth = int(found.pop("growth"))
    return PhraseTable(**found, growth=growth)


_PHRASE_FILES = ("TWPhrases.txt", "STPhrases.txt", "TSPhrases.txt")


def _vocabulary_arrays() -> dict[str, np.ndarray]:
    pairs = _read_pairs("TWPhrases.txt") + _read_pairs("STPhrases.txt")
    pairs += [(simplified, traditional) for traditional, simplified in _read_pairs("TSPhrases.txt")]
    table = asdict(build_table(pairs, fold_chars))
    return table | {"growth": np.asarray(table["growth"])}


@numba.njit(cache=True, nogil=True)
def _replace_once(
    cps: np.ndarray,
    group: np.ndarray,
    start: np.ndarray,
    keys: np.ndarray,
    key_off: np.ndarray,
    vals: np.ndarray,
    val_off: np.ndarray,
    growth: int,
    pairs: np.ndarray,
) -> tuple[np.ndarray, int]:
    n = cps.size
    out = np.empty(n * growth, dtype=np.uint32)
    t = 0
    i = 0
    count = 0
    limit = group.size
    while i < n:
        c = cps[i]
        hit = -1
        if i + 1 < n and pairs[_pair_slot(c, cps[i + 1])] and c < limit and group[c] >= 0:
            g = group[c]
            for p in range(start[g], start[g + 1]):
                lo = key_off[p]
                length = key_off[p + 1] - lo
                if i + length > n:
                    continue
                ok = True
                for k in range(1, length):
                    if cps[i + k] != keys[lo + k]:
                        ok = False
                        break
                if ok:
                    hit = p
                    break
        if hit >= 0:
            for k in range(val_off[hit], val_off[hit + 1]):
                out[t] = vals[k]
                t += 1
            i += key_off[hit + 1] - key_off[hit]
            count += 1
        else:
            out[t] = c
            t += 1
            i += 1
    return out[:t], count


def fold_phrases(cps: np.ndarray, table: PhraseTable) -> tuple[np.ndarray, int]:
    """Replace every key of `table` in `cps` (leftmost-longest); returns the new code points
    and the number of replacements."""
    offsets = np.array([0, cps.size], dtype=np.int64)
    out, _, counts = fold_phrases_batch(np.ascontiguousarray(cps, dtype=np.uint32), offsets, table)
    return out, int(counts[0])


def fold_phrases_batch(
    cps: np.ndarray, offsets: np.ndarray, table: PhraseTable
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`fold_phrases` of texts laid back to back (text d is cps[offsets[d]:offsets[d + 1]])
    in one compiled call: the folded texts back to back, their offsets and replacement
    counts. No key is matched across two texts."""
    if len(table) == 0:
        return cps, offsets, np.zeros(offsets.size - 1, dtype=np.int64)
    return _fold_batch(
        cps,
        offsets,
        table.group,
        table.start,
        table.keys,
        table.key_off,
        table.vals,
        table.val_off,
        table.growth,
        table.pairs,
    )


@numba.njit(cache=True, nogil=True)
def _fold_batch(
    cps: np.ndarray,
    offsets: np.ndarray,
    group: np.ndarray,
    start: np.ndarray,
    keys: np.ndarray,
    key_off: np.ndarray,
    vals: np.ndarray,
    val_off: np.ndarray,
    growth: int,
    pairs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    docs = offsets.size - 1
    pieces = []
    out_off = np.zeros(docs + 1, dtype=np.int64)
    counts = np.zeros(docs, dtype=np.int64)
    for d in range(docs):
        text = cps[offsets[d] : offsets[d + 1]]
        # Passes until nothing changes: a replacement can complete a key with what follows.
        for _ in range(_MAX_PASSES):
            if text.size == 0:
                break
            text, count = _replace_once(
                text, group, start, keys, key_off, vals, val_off, growth, pairs
            )
            counts[d] += count
            if count == 0:
                break
        pieces.append(text)
        out_off[d + 1] = out_off[d] + text.size
    out = np.empty(out_off[docs], dtype=np.uint32)
    for d in range(docs):
        out[out_off[d] : out_off[d + 1]] = pieces[d]
    return out, out_off, counts
