"""The per-character table: each code point folded to one canonical code point and classed.

One look-up per character folds width and compatibility forms (NFKC), case, Taiwan/Hong Kong
variants and traditional characters to one canonical simplified form, and control characters
to spaces; a second table classes the folded character as a separator, part of a Latin word
or number, or a CJK character that stands alone as a token. The table maps one character to
exactly one character, so offsets into a folded text are offsets into the original. The
traditional-to-simplified fold is per character (OpenCC's character tables); it is canonical
rather than linguistically perfect, which is all deduplication needs.

`normalize.py` folds with it before its noise passes, `phrases.py` folds OpenCC's phrase
tables with it, and shingling and the report read its token classes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from .config import NormalizeConfig
from .tablecache import cached

# Character classes in the token table.
SEP, WORD, CJK = 0, 1, 2
# Code points at or above this that are letters or digits stand alone as tokens
# (CJK ideographs, kana, Hangul); below it they join into words.
_CJK_START = 0x2E80
_TABLE_BUILD_LIMIT = 0x30000  # beyond: identity, classed by unicodedata lazily below


@dataclass(frozen=True)
class Tables:
    """Per-code-point lookup tables: `fold[cp]` is the canonical code point, `cls[cp]` its
    token class (SEP, WORD or CJK) and `trad[cp]` is 1 where the fold is a t2s conversion."""

    fold: np.ndarray
    cls: np.ndarray
    trad: np.ndarray


def _read_opencc(name: str) -> dict[str, str]:
    """Single-character entries of one of OpenCC's dictionaries (first candidate wins)."""
    text = resources.files("opencc").joinpath("dictionary", name).read_text("utf-8")
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and len(parts[0]) == 1:
            target = parts[1].split(" ")[0]
            if len(target) == 1:
                out[parts[0]] = target
    return out


def _fold_char(ch: str) -> str:
    """NFKC and case folding of one character, kept to one character."""
    cat = unicodedata.category(ch)
    if cat[0] in "CZ" and ch != "\n":
        return " "
    n = unicodedata.normalize("NFKC", ch)
    if len(n) != 1:
        n = " " if not any(c.isalnum() for c in n) else ch
    low = n.lower()
    if len(low) == 1:
        n = low
    if unicodedata.category(n)[0] in "CZ" and n != "\n":
        return " "
    return n


_OPENCC_FILES = ("TWVariantsRev.txt", "HKVariantsRev.txt", "TSCharacters.txt")


def opencc_bytes(names: Iterable[str]) -> list[bytes]:
    """The contents of OpenCC dictionary files (what cached tables are keyed on)."""
    folder = resources.files("opencc").joinpath("dictionary")
    return [folder.joinpath(name).read_bytes() for name in names]


@cache
def tables(cfg: NormalizeConfig = NormalizeConfig()) -> Tables:
    """The per-character fold and class tables (once per process and config; built once
    and then read from the table cache, tablecache.py)."""
    sources = [Path(__file__).read_bytes(), *opencc_bytes(_OPENCC_FILES)]
    found = cached("chars", sources, repr(cfg), lambda: asdict(_build(cfg)))
    return Tables(**found)


def _build(cfg: NormalizeConfig) -> Tables:
    size = 0x110000
    fold = np.arange(size, dtype=np.uint32)
    # Regional variants (s2tw/s2hk output) to standard traditional, applied once, then
    # traditional to simplified; composing them avoids the cycles a merged map would have.
    variants: dict[str, str] = {}
    t2s: dict[str, str] = {}
    if cfg.t2s:
        for name in ("TWVariantsRev.txt", "HKVariantsRev.txt"):
            for src, dst in _read_opencc(name).items():
                variants.setdefault(src, dst)
        t2s = _read_opencc("TSCharacters.txt")
    for cp in range(_TABLE_BUILD_LIMIT):
        if 0xD800 <= cp <= 0xDFFF:
            fold[cp] = 0x20
            continue
        ch = chr(cp)
        out = _fold_char(ch) if cfg.fold_width else ch
        if not cfg.casefold and out != ch and out.lower() == out and out.upper() == ch:
            out = ch
        fold[cp] = ord(out)
    # Apply t2s after width folding, then iterate to a fixed point so folding is idempotent.
    trad = np.zeros(size, dtype=np.uint8)
    if t2s:
        t2s_arr = np.arange(size, dtype=np.uint32)
        for src, dst in t2s.items():
            t2s_arr[ord(src)] = ord(dst)
        for _ in range(8):
            nxt = t2s_arr[t2s_arr]
            if np.array_equal(nxt, t2s_arr):
                break
            t2s_arr = nxt
        var_arr = np.arange(size, dtype=np.uint32)
        for src, dst in variants.items():
            var_arr[ord(src)] = ord(dst)
        before = fold.copy()
        fold = t2s_arr[var_arr[fold]]
        trad[fold != before] = 1
    for _ in range(8):
        nxt = fold[fold]
        if np.array_equal(nxt, fold):
            break
        fold = nxt
    cls = np.zeros(size, dtype=np.uint8)
    for cp in range(_TABLE_BUILD_LIMIT):
        ch = chr(cp)
        if ch.isalnum():
            cls[cp] = CJK if cp >= _CJK_START else WORD
    # Supplementary ideographic planes and beyond: letters stand alone.
    cls[_TABLE_BUILD_LIMIT:0xE0000] = CJK
    return Tables(fold=fold, cls=cls, trad=trad)


def codepoints(text: str) -> np.ndarray:
    """`text` as a uint32 array of code points (lone surrogates kept)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def from_codepoints(cps: np.ndarray) -> str:
    """The text of a uint32 array of code points (the inverse of `codepoints`)."""
    return cps.astype(np.uint32, copy=False).tobytes().decode("utf-32-le", "surrogatepass")


def fold_chars(text: str, cfg: NormalizeConfig = NormalizeConfig()) -> str:
    """`text` through the table alone: width, case, variants and traditional characters."""
    return from_codepoints(tables(cfg).fold[codepoints(text)])
