"""Token n-gram shingles of normalized text, as sorted unique 32-bit hashes.

A CJK character is one token and a Latin word or number is one token, so Chinese is cut into
character n-grams and English into word n-grams by the same code. A text with fewer tokens
than n yields one shingle of all its tokens (short documents still compare exactly), and an
empty text yields one fixed shingle (empty documents are duplicates of each other).

A set also holds one element per number (a word token with a digit), marked by the top bit
(`NUMBER_BIT`; shingles have it clear): its place (the two tokens before it and the one
after it, a number counting as one token) in the bits above `NUMBER_VALUE_BITS`, the number
in those below. Two records on one template have different numbers in the same places (case
numbers, amounts, dates, stakes) where versions of one text do not, and typos do not touch
numbers (verify.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .chars import CJK, WORD, tables
from .config import NormalizeConfig, ShingleConfig

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_CJK_TAG = np.uint64(1 << 40)
EMPTY_SHINGLE = np.uint32(0x1E3779B9)
# Set in the elements that stand for a number, clear in every shingle: numbers sort last,
# grouped by their place.
NUMBER_BIT = np.uint32(1 << 31)
NUMBER_VALUE_BITS = 12
_SHINGLE_MASK = np.uint32((1 << 31) - 1)
_VALUE_MASK = np.uint64((1 << NUMBER_VALUE_BITS) - 1)
_PLACE_MASK = np.uint64((1 << (31 - NUMBER_VALUE_BITS)) - 1)
_NUMBER_SALT = np.uint64(0x5F3759DF5F3759DF)
_START = np.uint64(0x2545F4914F6CDD1D)  # the place of a number that opens the text
_ZERO, _NINE = 48, 57


@njit(cache=True, inline="always")
def _fmix64(h: np.uint64) -> np.uint64:
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@njit(cache=True)
def _tokens(
    cps: np.ndarray, cls: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One 64-bit id per token: the code point for CJK, FNV-1a of the word otherwise. Also
    the numbers: a word with an ASCII digit (normalization folded the full-width ones) starts
    one, and a word that starts with a digit right after a word that ends with one continues
    it (normalized text has a space wherever a separator was, so a number broken by a line
    break, `20 16`, is whole again, as are `1,234` and `12.5`). Per token: whether a number
    starts there, FNV-1a of its characters (separators left out) and its place: the two
    tokens before it and the one after it, a number counting as one token whatever its
    digits."""
    out = np.empty(cps.size, dtype=np.uint64)
    number = np.zeros(cps.size, dtype=np.bool_)
    value = np.zeros(cps.size, dtype=np.uint64)
    place = np.zeros(cps.size, dtype=np.uint64)
    t = 0
    i = 0
    n = cps.size
    run = -1  # the token where the number ending at the last token starts, or -1
    pending = -1  # the number whose place still needs the token after it, or -1
    before, last_token = _START, _START  # the place of a number starting here
    while i < n:
        c = cls[cps[i]]
        if c == CJK:
            out[t] = np.uint64(cps[i]) | _CJK_TAG
            if pending >= 0:
                place[pending] = _fmix64(place[pending] * _FNV_PRIME + out[t])
                pending = -1
            before, last_token = last_token, out[t]
            t += 1
            i += 1
            run = -1
        elif c == WORD:
            h = _FNV_OFFSET
            continued = run >= 0 and _ZERO <= cps[i] <= _NINE
            v = value[run] if continued else _FNV_OFFSET
            digit = False
            last = cps[i]
            while i < n and cls[cps[i]] == WORD:
                h = (h ^ np.uint64(cps[i])) * _FNV_PRIME
                v = (v ^ np.uint64(cps[i])) * _FNV_PRIME
                digit |= _ZERO <= cps[i] <= _NINE
                last = cps[i]
                i += 1
            out[t] = h
            if not continued and pending >= 0:
                after = _NUMBER_SALT if digit else h
                place[pending] = _fmix64(place[pending] * _FNV_PRIME + after)
                pending = -1
            if continued:
                value[run] = v
            elif digit:
                number[t] = True
                value[t] = v
                place[t] = _fmix64(_fmix64(before) * _FNV_PRIME + last_token)
                before, last_token = last_token, _NUMBER_SALT
                run = pending = t
            else:
                before, last_token = last_token, h
            if not _ZERO <= last <= _NINE:
                run = -1
            t += 1
        else:
            i += 1
    if pending >= 0:
        place[pending] = _fmix64(place[pending] * _FNV_PRIME + _START)
    return out[:t], number[:t], value[:t], place[:t]


@njit(cache=True)
def _ngram_hashes(
    tokens: np.ndarray, number: np.ndarray, value: np.ndarray, place: np.ndarray, n: int
) -> np.ndarray:
    """Hashes (unsorted, may repeat) of the n-grams of `tokens`: a polynomial rolling hash
    over mixed tokens, finalised by fmix64, so O(1) per shingle; then one element per number
    (`_tokens`): `NUMBER_BIT`, its place, its value."""
    t = tokens.size
    if t == 0:
        return np.full(1, EMPTY_SHINGLE, dtype=np.uint32)
    numbers = 0
    for i in range(t):
        numbers += number[i]
    width = min(n, t)
    mixed = np.empty(t, dtype=np.uint64)
    for i in range(t):
        mixed[i] = _fmix64(tokens[i])
    base = np.uint64(0x100000001B3)
    top = np.uint64(1)  # base ** (width - 1)
    for _ in range(width - 1):
        top *= base
    h = np.uint64(0)
    for j in range(width):
        h = h * base + mixed[j]
    count = t - width + 1
    out = np.empty(count + numbers, dtype=np.uint32)
    out[0] = np.uint32(_fmix64(h ^ np.uint64(width)) >> np.uint64(32)) & _SHINGLE_MASK
    for k in range(1, count):
        h = (h - mixed[k - 1] * top) * base + mixed[k + width - 1]
        out[k] = np.uint32(_fmix64(h ^ np.uint64(width)) >> np.uint64(32)) & _SHINGLE_MASK
    k = count
    for i in range(t):
        if number[i]:
            where = place[i] & _PLACE_MASK
            digits = _fmix64(value[i] ^ _NUMBER_SALT) & _VALUE_MASK
            element = (where << np.uint64(NUMBER_VALUE_BITS)) | digits
            out[k] = np.uint32(element) | NUMBER_BIT
            k += 1
    return out


@njit(cache=True)
def _ngram_batch(
    cps: np.ndarray, offsets: np.ndarray, cls: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """`_ngram_hashes(_tokens(text))` of each text in one call: text d is
    cps[offsets[d]:offsets[d + 1]]; returns the hashes back to back and their counts."""
    docs = offsets.size - 1
    # Each text: at most max(1, tokens - n + 1) shingles and one element per token.
    out = np.empty(2 * cps.size + docs, dtype=np.uint32)
    counts = np.empty(docs, dtype=np.int64)
    t = 0
    for d in range(docs):
        tokens, number, value, place = _tokens(cps[offsets[d] : offsets[d + 1]], cls)
        h = _ngram_hashes(tokens, number, value, place, n)
        out[t : t + h.size] = h
        counts[d] = h.size
        t += h.size
    return out[:t], counts


def shingle_batch(
    cps: np.ndarray, offsets: np.ndarray, cls: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """`shingle_codepoints` of many normalized texts at once (text d is
    cps[offsets[d]:offsets[d + 1]]): their sets back to back, and the size of each. One
    compiled call hashes them all; each text's hashes are sorted in place (numpy's sort is
    faster per text than one sort of the batch keyed by text), then one pass drops the
    repeats."""
    hashes, counts = _ngram_batch(np.ascontiguousarray(cps, dtype=np.uint32), offsets, cls, n)
    ends = np.cumsum(counts)
    starts = ends - counts  # every text has at least one shingle
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        hashes[a:b].sort()
    keep = np.empty(hashes.size, dtype=bool)
    np.not_equal(hashes[1:], hashes[:-1], out=keep[1:])
    keep[starts] = True
    sizes = np.add.reduceat(keep, starts).astype(np.int64) if starts.size else counts
    return hashes[keep], sizes


def shingle_codepoints(cps: np.ndarray, cls: np.ndarray, n: int) -> np.ndarray:
    """Sorted unique shingle hashes of a normalized text given as code points."""
    tokens, number, value, place = _tokens(cps, cls)
    return sorted_unique(_ngram_hashes(tokens, number, value, place, n))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sort and drop repeats. numpy's sort is SIMD-accelerated (several times faster than a
    compiled loop's), and np.unique is an order of magnitude slower on small arrays."""
    s = np.sort(values)
    if s.size < 2:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def shingles(
    normalized: str,
    cfg: ShingleConfig = ShingleConfig(),
    norm_cfg: NormalizeConfig = NormalizeConfig(),
) -> np.ndarray:
    """Sorted unique uint32 hashes of the token n-grams of an already normalized text."""
    cps = np.frombuffer(normalized.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return shingle_codepoints(cps, tables(norm_cfg).cls, cfg.ngram)
