"""Fold crawl noise away so that versions of one article compare equal.

Four passes, each cheap:

1. the per-character table (`chars.py`, built once per process) folds width and
   compatibility forms (NFKC), case, Taiwan/Hong Kong variants and traditional characters to
   one canonical simplified form, and control characters to spaces;
2. the noise passes (`NOISE_PASSES`, data that the report reads too) remove what only makes
   sense in context: inline pinyin after a character (`發(fā)`), `?`-mojibake, anti-scraping
   junk runs of random ASCII, HTML remnants;
3. punctuation, whitespace and line breaks are dropped between CJK characters; Latin words
   and numbers stay apart by single spaces;
4. Taiwan vocabulary and phrase-level characters are folded to one form (`phrases.py`:
   軟體 and 软件, 反覆 and 反复).

The result is the text that is compared: `normalize(normalize(t)) == normalize(t)`.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cache

import numba
import numpy as np

from .chars import CJK, SEP, WORD, Tables, codepoints, from_codepoints, tables
from .config import NormalizeConfig
from .phrases import fold_phrases, fold_phrases_batch, vocabulary_table
from .types import Figures

_TONE = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
# Pinyin in parentheses right after an ideograph. The parenthesis comes first in the patterns
# and the ideograph is looked behind from there: a pattern that opens with a literal is searched
# for by it, four to seven times as fast over Chinese text as one that opens with the
# look-behind (the same matches).
_AFTER_IDEOGRAPH = r"(?<=[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]\()"
# A syllable needs a tone mark, or a `?` where a legacy codec (Big5, GBK) lost the mark.
_PINYIN = re.compile(
    rf"\({_AFTER_IDEOGRAPH}\s*(?=[a-zü?{_TONE}]{{0,7}}[?{_TONE}])[a-zü?{_TONE}]{{1,7}}\s*\)"
)
# Neutral-tone syllables carry no mark (的(de), 了(le)): a parenthesised toneless syllable right
# after an ideograph is stripped when it is a valid pinyin syllable of two letters or more.
_PINYIN_TONELESS = re.compile(rf"\({_AFTER_IDEOGRAPH}\s*([a-zü]{{2,6}})\s*\)")
_SYLLABLES = (
    "ai an ang ao ba bai ban bang bao bei ben beng bi bian biang biao bie bin bing bo "
    "bong bu ca cai can cang cao ce cei cen ceng cha chai chan chang chao che chen cheng chi "
    "chong chou chu chua chuai chuan chuang chui chun chuo ci cong cou cu cuan cui cun cuo da "
    "dai dan dang dao de dei den deng di dia dian diao die din ding diu dong dou du duan dui "
    "dun duo ei en eng er fa fan fang fei fen feng fiao fo fou fu ga gai gan gang gao ge gei "
    "gen geng gong gou gu gua guai guan guang gui gun guo ha hai han hang hao he hei hen heng "
    "hm hng hong hou hu hua huai huan huang hui hun huo ji jia jian jiang jiao jie jin jing "
    "jiong jiu ju juan jue jun ka kai kan kang kao ke kei ken keng kong kou ku kua kuai kuan "
    "kuang kui kun kuo la lai lan lang lao le lei len leng li lia lian liang liao lie lin "
    "ling liu lo long lou lu luan lue lun luo lü lüe ma mai man mang mao me mei men meng mi "
    "mian miao mie min ming miu mo mou mu na nai nan nang nao ne nei nen neng ng ni nia nian "
    "niang niao nie nin ning niu nong nou nu nuan nue nun nuo nü nüe ou pa pai pan pang pao "
    "pei pen peng pi pian piao pie pin ping po pou pu qi qia qian qiang qiao qie qin qing "
    "qiong qiu qu quan que qun ran rang rao re ren reng ri rong rou ru rua ruan rui run ruo "
    "sa sai san sang sao se sen seng sha shai shan shang shao she shei shen sheng shi shou "
    "shu shua shuai shuan shuang shui shun shuo si song sou su suan sui sun suo ta tai tan "
    "tang tao te tei teng ti tian tiao tie ting tong tou tu tuan tui tun tuo wa wai wan wang "
    "wei wen weng wo wong wu xi xia xian xiang xiao xie xin xing xiong xiu xu xuan xue xun ya "
    "yan yang yao ye yi yin ying yo yong you yu yuan yue yun za zai zan zang zao ze zei zen "
    "zeng zha zhai zhan zhang zhao zhe zhei zhen zheng zhi zhong zhou zhu zhua zhuai zhuan "
    "zhuang zhui zhun zhuo zi zong zou zu zuan zui zun zuo"
)
_TONELESS_SYLLABLES = frozenset(_SYLLABLES.split(" "))
# `?` or U+FFFD runs are what survives of bytes decoded with the wrong codec; a pinyin
# syllable glued to one is the remains of a mangled annotation (`?yōu)`). The run is written as
# one and any more: a pattern that opens with a character class (not a repeat of one) is
# searched for by that class, three times as fast over Chinese text (the same matches).
_MOJIBAKE = re.compile(rf"[?\ufffd][?\ufffd]*(?:[a-zü]{{0,6}}[{_TONE}][a-zü]{{0,6}}\)?)?")
# Anti-scraping junk: four or more short fragments of printable ASCII separated by spaces,
# e.g. `) x- F6 b+ P5 t/ W7 q! N# {`; checked further in `_is_junk`.
_JUNK = re.compile(r"(?<![!-~])(?:[!-~]{1,3}[ \t]+){3,}[!-~]{1,3}(?![!-~])")
# Lists of links: three or more short lines in a row (blank lines between them allowed), each
# marked as an item by a bullet, a number (`1.`, `2、`, `3)`, `[4]`, `【5】`) or a date at its
# end (`(07-26)`, ` 2023-05-06`). Related articles, rankings, "more news": the page's, not the
# article's, and different on every page of a site, so no count of repeated text sets them
# aside. The lines go; the line breaks around them stay. `_fold_join_plain` sends every text
# that has three such lines in a row to this pass (`_item_start`, `_item_end`).
_BULLETS = "\u00b7\u2022\u2192\u25a0-\u25cf\u2605\u2606"
# A numbered line that gives a field a value of digits or a code (`1. 预算金额：450万元`,
# `2. 项目编号：ZB23-1`) is a record's, whose numbers tell it from another record on its
# template (verify.py): not an item. A title with a colon goes on in words (`江苏工艺:传统…`).
_FIELD = r"(?![^\n\ud800：:]{0,8}[：:] *[0-9A-Za-z０-９Ａ-Ｚａ-ｚ¥￥$])"
_NUMBERED = rf"(?:[0-9]{{1,2}}[.、)](?![0-9])|\[[0-9]{{1,2}}\]|【[0-9]{{1,2}}】){_FIELD}"
_ITEM_MARK = rf"(?:[{_BULLETS}]|[-*+](?= )|{_NUMBERED})"
_ITEM_DATE = r"[ (\[](?:[0-9]{4}[-/.])?[0-9]{1,2}[-/.][0-9]{1,2}[)\]]?"
_ITEM_CHARS = 60  # an item's text, at most: a title, not a paragraph
_LISTING = 3  # a page with lists this many times as long as the rest of it has no text
# A title does not end a sentence: a short line that does (`。`, `；`, `！`, as folded) is a
# point of an article, not a link.
_ITEM_TEXT = rf"[^\n\ud800]{{0,{_ITEM_CHARS - 1}}}[^\n\ud800 。;!.]"
# An item starts and ends with a character other than a space, and the lines between two
# items are blank lines whole: spaces are taken in one way only, so a long run of them costs one
# look, not one per way to split it.
_ITEM_TITLE = rf"[^\n\ud800 ][^\n\ud800]{{1,{_ITEM_CHARS - 1}}}?{_ITEM_DATE}"
_ITEM = rf" *(?:{_ITEM_MARK}{_ITEM_TEXT}|{_ITEM_TITLE}) *"
_BETWEEN = r"(?:\n(?: *\n)*|(?=\ud800)|\Z)"
_LIST = re.compile(rf"(?:(?<=[\n\ud800])|^)(?:{_ITEM}{_BETWEEN}){{2,}}{_ITEM}(?=[\n\ud800]|\Z)")
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]{0,15}(?:\s[^<>]{0,500})?/?>")
_HTML_ENTITY = re.compile(r"&(?:[a-zA-Z]{2,8}|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


@dataclass(frozen=True)
class NoiseCounts:
    """How much of each noise kind the normalizer removed or folded in one text."""

    traditional: int = 0
    width: int = 0
    pinyin: int = 0
    mojibake: int = 0
    junk: int = 0
    html: int = 0
    line_breaks: int = 0
    vocabulary: int = 0
    lists: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.__dict__.items()}


def _is_junk(m: re.Match[str]) -> bool:
    """A run of short ASCII fragments is junk when many fragments carry punctuation."""
    parts = m.group(0).split()
    punct = sum(1 for p in parts if not p.isalnum())  # a part holds a non-alphanumeric
    return len(parts) >= 4 and punct >= 3 and punct * 5 >= len(parts) * 2


def _is_syllable(m: re.Match[str]) -> bool:
    """A parenthesised toneless word is pinyin when it is a valid syllable."""
    return m.group(1) in _TONELESS_SYLLABLES


def _entity_gap(m: re.Match[str]) -> str:
    """An HTML entity leaves a space, or nothing if it decodes to nothing."""
    return " " if html.unescape(m.group(0)) else ""


def _junk_areas(text: str) -> list[tuple[int, int]]:
    """Where `_JUNK` can match in `text`: the runs of printable ASCII, spaces and tabs (whole:
    the characters on either side are none of these) that hold four or more fragments of one
    to three printable characters in a row, separated by spaces or tabs. A match of `_JUNK`
    is such fragments, so it lies inside such a run; most text holds none (Chinese text,
    English words, numbers, links)."""
    bounds = _short_fragment_runs(codepoints(text))
    return list(zip(bounds[0::2].tolist(), bounds[1::2].tolist(), strict=True))


def _list_areas(text: str) -> list[tuple[int, int]]:
    """Where `_LIST` can match in `text`: runs of three or more lines that could be items of a
    list (`_items_after`), blank lines between them allowed, each from the start of its first
    line to the end of its last. A match of `_LIST` is such lines, so it lies inside one; most
    text holds none (prose, and a list is scanned once)."""
    bounds = _item_runs(codepoints(text))
    return list(zip(bounds[0::2].tolist(), bounds[1::2].tolist(), strict=True))


@numba.njit(cache=True, nogil=True)
def _item_runs(cps: np.ndarray) -> np.ndarray:
    """`_list_areas` of a text's code points: start and end of each run, flat. A line ends at
    a line break, at U+D800 (the separator of texts in a batch, which also ends a run) and at
    the end."""
    n = cps.size
    found = 0
    bounds = np.empty(0, dtype=np.int64)
    for fill in range(2):  # count the runs, then fill their bounds in
        if fill:
            bounds = np.empty(2 * found, dtype=np.int64)
            found = 0
        items = 0
        run_start = run_end = start = 0
        line = 0
        first = last = -1
        for i in range(n + 1):
            c = cps[i] if i < n else 0x0A
            if c != 0x0A and c != 0xD800:
                if c != 0x20:
                    line += 1
                    first = c if first < 0 else first
                    last = c
                continue
            after = _items_after(items, line, first, last)
            if after > items:  # an item: the run goes on to the end of this line
                run_start = start if items == 0 else run_start
                run_end = i
            last_line = i == n or c == 0xD800
            # The run ends before a line that is no item, or with the text.
            if (items if first >= 0 and after == 0 else after if last_line else 0) >= 3:
                if fill:
                    bounds[2 * found] = run_start
                    bounds[2 * found + 1] = run_end
                found += 1
            items = 0 if last_line else after
            start = i + 1
            line = 0
            first = last = -1
    return bounds


@numba.njit(cache=True, nogil=True)
def _short_fragment_runs(cps: np.ndarray) -> np.ndarray:
    """`_junk_areas` of a text's code points: start and end of each run, flat."""
    n = cps.size
    found = 0
    bounds = np.empty(0, dtype=np.int64)
    for fill in range(2):  # count the runs, then fill their bounds in
        if fill:
            bounds = np.empty(2 * found, dtype=np.int64)
            found = 0
        i = 0
        while i < n:
            if not (0x20 <= cps[i] <= 0x7E or cps[i] == 0x09):
                i += 1
                continue
            start = i
            frag = chain = longest = 0  # fragment length, short fragments in a row, most so
            while i <= n:
                blank = i == n or not (0x21 <= cps[i] <= 0x7E)
                if blank and frag:
                    chain = chain + 1 if frag <= 3 else 0
                    longest = max(longest, chain)
                    frag = 0
                if i == n or not (0x20 <= cps[i] <= 0x7E or cps[i] == 0x09):
                    break
                frag = 0 if blank else frag + 1
                i += 1
            if longest >= 4:
                if fill:
                    bounds[2 * found] = start
                    bounds[2 * found + 1] = i
                found += 1
    return bounds


@dataclass(frozen=True)
class NoisePass:
    """One kind of crawl noise that only makes sense in context: where it is, and what is
    left in its place. The normalizer removes it (`remove`, counted under `kind`); the report
    shows the very same places as noise (`spans`).

    >>> NOISE_PASSES[0].remove("办公<br/>厅")
    ('办公 厅', 1)
    """

    kind: str  # the NoiseCounts field that counts the removals
    flag: str  # the NormalizeConfig field that turns the pass on
    pattern: re.Pattern[str]
    # What replaces a match: a space keeps Latin words apart, "" joins the two sides.
    replacement: str | Callable[[re.Match[str]], str]
    # The pattern cannot match unless the text holds one of these characters: a cheap test
    # before the scan. Empty: always scan.
    trigger: str = ""
    # Only matches for which this holds are noise (others are left as they are).
    accept: Callable[[re.Match[str]], bool] | None = None
    # Look for the pattern only inside these areas of the text ((start, end), disjoint, in
    # order; each searched on its own): a fast scan that keeps the costlier pattern off most of
    # the text. Every match of the pattern must lie inside one.
    within: Callable[[str], Iterable[tuple[int, int]]] | None = None
    # Whether the report marks the places (and leaves them out of its diff); turning it off
    # changes report pages, not normalized text.
    shown_in_report: bool = True

    def enabled(self, cfg: NormalizeConfig) -> bool:
        """Whether `cfg` turns this pass on."""
        return bool(getattr(cfg, self.flag))

    def may_occur(self, text: str) -> bool:
        """False when the pattern cannot match `text` (no trigger character in it)."""
        for c in self.trigger:  # a loop, not any(): it runs for every pass of many texts
            if c in text:
                return True
        return not self.trigger

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) of every piece of this noise in `text`, in order."""
        areas = self.within(text) if self.within is not None else ((0, len(text)),)
        for base, end in areas:
            scope = text if self.within is None else text[base:end]
            for m in self.pattern.finditer(scope):
                if self.accept is None or self.accept(m):
                    yield base + m.start(), base + m.end()

    def remove(self, text: str) -> tuple[str, int]:
        """`text` with every piece of this noise replaced, and how many pieces there were."""
        if self.accept is None and self.within is None:
            return self.pattern.subn(self.replacement, text)
        accept, replacement, count = self.accept, self.replacement, 0

        def replace(m: re.Match[str]) -> str:
            nonlocal count
            if accept is not None and not accept(m):
                return m.group(0)
            count += 1
            return replacement if isinstance(replacement, str) else replacement(m)

        if self.within is None:
            return self.pattern.sub(replace, text), count
        parts: list[str] = []
        at = 0
        for start, end in self.within(text):
            if accept is None:  # no call back to Python for each match
                kept, found = self.pattern.subn(replacement, text[start:end])
                parts += (text[at:start], kept)
                count += found
            else:
                parts += (text[at:start], self.pattern.sub(replace, text[start:end]))
            at = end
        parts.append(text[at:])
        return "".join(parts), count


# The context passes, in the order they run: a later pass sees the text the earlier ones left.
NOISE_PASSES: tuple[NoisePass, ...] = (
    NoisePass("html", "strip_html", _HTML_TAG, " ", trigger="<"),
    NoisePass("html", "strip_html", _HTML_ENTITY, _entity_gap, trigger="&"),
    NoisePass("pinyin", "strip_pinyin", _PINYIN, "", trigger="("),
    NoisePass(
        "pinyin",
        "strip_pinyin",
        _PINYIN_TONELESS,
        "",
        trigger="(",
        accept=_is_syllable,
    ),
    NoisePass("mojibake", "strip_mojibake", _MOJIBAKE, " ", trigger="?\ufffd"),
    NoisePass("junk", "strip_junk", _JUNK, " ", accept=_is_junk, within=_junk_areas),
    NoisePass("lists", "strip_lists", _LIST, "", within=_list_areas),
)


def _context_passes(text: str, cfg: NormalizeConfig) -> tuple[str, dict[str, int], str, str]:
    """The text the context passes leave, how many pieces of each kind they removed, the text
    as it was right after the HTML passes (markup gone, nothing else touched) and the text
    the list pass was given."""
    counts: dict[str, int] = {}
    unmarked = listed = text
    for noise in NOISE_PASSES:
        if noise.kind == "lists":
            listed = text
        if noise.enabled(cfg) and noise.may_occur(text):
            text, n = noise.remove(text)
            counts[noise.kind] = counts.get(noise.kind, 0) + n
        if noise.kind == "html":
            unmarked = text
    return text, counts, unmarked, listed


def normalize_counted(
    text: str, cfg: NormalizeConfig = NormalizeConfig()
) -> tuple[str, NoiseCounts]:
    """Normalize `text` and count each kind of noise removed (for reports)."""
    t = tables(cfg)
    cps = codepoints(text)
    folded = t.fold[cps]
    changed = folded != cps
    n_trad = int(np.count_nonzero(t.trad[cps]))
    n_width = int(np.count_nonzero(changed & (cps >= 0xFF00) & (cps <= 0xFFEF)))
    # A line break between two CJK characters is a hard break inside a sentence.
    nl = np.flatnonzero(cps == 0x0A)
    inner = nl[(nl > 0) & (nl < cps.size - 1)]
    line_breaks = int(
        np.count_nonzero((t.cls[folded[inner - 1]] == CJK) & (t.cls[folded[inner + 1]] == CJK))
    )
    stage2, counts, _, _ = _context_passes(from_codepoints(folded), cfg)
    tokens = _join_separated(codepoints(stage2), t.cls, 1)[0]
    joined, counts["vocabulary"] = _fold_vocabulary(tokens, cfg)
    return from_codepoints(joined), NoiseCounts(
        traditional=n_trad, width=n_width, line_breaks=line_breaks, **counts
    )


def _fold_vocabulary(cps: np.ndarray, cfg: NormalizeConfig) -> tuple[np.ndarray, int]:
    if not (cfg.t2s and cfg.fold_phrases):
        return cps, 0
    return fold_phrases(cps, vocabulary_table())


def normalize_codepoints(text: str, cfg: NormalizeConfig = NormalizeConfig()) -> np.ndarray:
    """`normalize` as a uint32 array of code points (what shingling consumes)."""
    return normalize_batch([text], cfg)[0]


def normalize_batch(
    texts: Sequence[str], cfg: NormalizeConfig = NormalizeConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """`normalize_codepoints` of many texts, back to back: text d's normalized code points
    are out[offsets[d]:offsets[d + 1]]. One compiled pass folds and joins every text that no
    context pattern can touch, and one folds the vocabulary of all; only the rest take the
    general path, one by one."""
    out, offsets, _ = _normalize_batch(texts, cfg, measure=False)
    return out, offsets


def normalize_measured(
    texts: Sequence[str], cfg: NormalizeConfig = NormalizeConfig()
) -> tuple[np.ndarray, np.ndarray, Figures]:
    """`normalize_batch`, and the `Figures` of each text from the same pass: the letters and
    digits the noise passes removed (none, for a text the compiled pass took), and one compiled
    count over the batch's code points of traditional characters, damaged layout and the
    letters and digits of unended lines (once HTML markup is removed)."""
    out, offsets, figures = _normalize_batch(texts, cfg, measure=True)
    assert figures is not None
    return out, offsets, figures


def _normalize_batch(
    texts: Sequence[str], cfg: NormalizeConfig, measure: bool
) -> tuple[np.ndarray, np.ndarray, Figures | None]:
    t = tables(cfg)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    cps = codepoints("".join(texts))  # one code unit per character, as each text alone
    joined, joined_off, plain, listed = _fold_join_plain_batch(
        cps, offsets, t.fold, t.cls, _TONE_CPS
    )
    noise = np.zeros(len(texts), dtype=np.int64)  # a text the compiled pass took has none
    # The folded text without HTML markup, whose lines are measured, of each text the general
    # path took (one the compiled pass took has no markup: its lines are measured as they are).
    unmarked = [np.empty(0, dtype=np.uint32)]
    unmarked_start = np.zeros(len(texts), dtype=np.int64)
    unmarked_end = np.zeros(len(texts), dtype=np.int64)
    # The general path, with every pass for the texts that need more than the list pass, and
    # with only that one for the others (the compiled pass found nothing else in them).
    shift = 0
    in_lists = np.zeros(len(texts), dtype=np.int64)
    for general, passes in ((~plain & ~listed, cfg), (listed, _lists_only(cfg))):
        which = np.flatnonzero(general)
        if which.size == 0:
            continue
        part, part_off, removed, piece, start, end, in_lists[which] = _fold_join_context(
            cps, offsets, which, t, passes
        )
        noise[which], unmarked_start[which], unmarked_end[which] = removed, start, end
        unmarked_start[which] += shift
        unmarked_end[which] += shift
        unmarked.append(piece)
        shift += piece.size
        joined, joined_off = _merge(joined, joined_off, part, part_off, which)
    if cfg.t2s and cfg.fold_phrases:
        joined, joined_off, _ = fold_phrases_batch(joined, joined_off, vocabulary_table())
    if not measure:
        return joined, joined_off, None
    traditional, mangled, unended, full_width = _layout_batch(
        cps,
        offsets,
        plain,
        np.concatenate(unmarked),
        unmarked_start,
        unmarked_end,
        t.fold,
        t.cls,
        t.trad,
    )
    keys = np.fromiter(map(copy_key, texts), dtype=np.int64, count=len(texts))
    length = np.diff(joined_off)
    # A page with lists of links several times as long as the rest is a listing page.
    length[in_lists > _LISTING * length] = 0
    for d in np.flatnonzero((length > 0) & (length <= _FRAME_LENGTH)).tolist():
        if length[d] <= _PLACEHOLDER_LENGTH:
            folded = from_codepoints(joined[joined_off[d] : joined_off[d + 1]])
            if placeholder_only(folded) or navigation_only(texts[d]):
                length[d] = 0  # no text: a version of nothing (Figures.length)
                continue
        if frame_only(texts[d]):
            length[d] = 0
    figures = Figures(length, noise, traditional, mangled, unended, full_width, keys)
    return joined, joined_off, figures


@cache
def _lists_only(cfg: NormalizeConfig) -> NormalizeConfig:
    """`cfg` with every context pass but the list pass turned off."""
    return replace(
        cfg, strip_html=False, strip_pinyin=False, strip_mojibake=False, strip_junk=False
    )


# What a page shows where its script or template had no value.
PLACEHOLDERS = frozenset(["null", "undefined", "nan", "none", "nil", "object", "true", "false"])
_PLACEHOLDER_DIGITS = 8
_PLACEHOLDER_LENGTH = 64  # no text of placeholders alone is longer than this, as a rule


def placeholder_only(normalized: str) -> bool:
    """Whether a normalized text is nothing but the words of `PLACEHOLDERS` (`null`,
    `undefined`, `NaN`, `[object Object]`: what a page shows where its script or template
    had no value) and at most 8 digits (`0`, `404`): a page with no text."""
    digits = 0
    for token in normalized.split():
        if token.isascii() and token.isdigit():
            digits += len(token)
        elif token not in PLACEHOLDERS:
            return False
    return digits <= _PLACEHOLDER_DIGITS


# Between the items of a navigation bar, and the items' longest.
_NAV_BAR = re.compile(r"[|｜¦>›»]")
_NAV_ITEMS = re.compile(r"[\s|｜¦>›»]+")
_NAV_ITEM_LENGTH = 8


def navigation_only(text: str) -> bool:
    """Whether a text (as read) is nothing but navigation bars: every line that holds
    anything has a bar (`|`, `｜`, `¦`, `>`, `›`, `»`) and three or more items of at most 8
    characters between bars and spaces (`登录 | 注册 | 手机版`, `首页 > 体育 > 正文`). A page
    of them has no text (only texts short once normalized are asked)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and all(map(_navigation_bar, lines))


def _navigation_bar(line: str) -> bool:
    if not _NAV_BAR.search(line):
        return False
    items = [item for item in _NAV_ITEMS.split(line) if item]
    return len(items) >= 3 and all(len(item) <= _NAV_ITEM_LENGTH for item in items)


# What only a site's footer says: its copyright and its licence numbers (an ICP number, which
# every site in China shows); and what a footer says besides (other licences, where to report
# the site). A line of a footer is short.
_FOOTER_OWN = re.compile(
    r"©|copyright|all rights reserved|版权所有|icp[备证][ :：]*[0-9]|公网安备[ :：]*[0-9]",
    re.IGNORECASE,
)
_FOOTER_LINE = re.compile(rf"{_FOOTER_OWN.pattern}|许可证|举报电话|举报邮箱", re.IGNORECASE)
_FOOTER_LINE_LENGTH = 100
_FRAME_LENGTH = 600  # normalized characters: no footer alone is longer, as a rule


def frame_only(text: str) -> bool:
    """Whether a text (as read) is nothing but a site's footer and navigation bars: every
    line that holds anything is a navigation bar (`navigation_only`) or a short line of a
    footer (`许可证`, `举报电话`, ...), and one of them says what only a footer says (`©`,
    `Copyright`, `版权所有`, an ICP or 公网安备 number). A page of them has no text: a small
    site's footer is in too few pages to be set aside as repeated text, and it is held whole
    in every page of the site."""
    own = False
    for line in text.splitlines():  # most texts: the first line is neither
        if len(line) <= _FOOTER_LINE_LENGTH and _FOOTER_LINE.search(line):
            own = own or _FOOTER_OWN.search(line) is not None
        elif line.strip() and not _navigation_bar(line):
            return False
    return own


def copy_key(text: str) -> int:
    """A 63-bit hash of `text` as read, the same in every process and engine."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@numba.njit(cache=True, nogil=True)
def _fold_join_plain_batch(
    cps: np.ndarray, offsets: np.ndarray, fold: np.ndarray, cls: np.ndarray, tones: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`_fold_join_plain` of texts back to back: the results back to back (nothing for a
    text that is not plain), their offsets, which texts were plain and which only the list
    pass can change."""
    docs = offsets.size - 1
    out = np.empty(cps.size, dtype=np.uint32)  # a text's result is never longer than it
    out_off = np.zeros(docs + 1, dtype=np.int64)
    plain = np.zeros(docs, dtype=np.bool_)
    listed = np.zeros(docs, dtype=np.bool_)
    for d in range(docs):
        text, plain[d], listed[d] = _fold_join_plain(
            cps[offsets[d] : offsets[d + 1]], fold, cls, tones
        )
        out[out_off[d] : out_off[d] + text.size] = text
        out_off[d + 1] = out_off[d] + text.size
    return out[: out_off[docs]], out_off, plain, listed


def _fold_join_context(
    cps: np.ndarray, offsets: np.ndarray, which: np.ndarray, t: Tables, cfg: NormalizeConfig
) -> tuple[np.ndarray, ...]:
    """The general path, for texts `which` of a batch (`cps`, `offsets`) at once: table fold,
    context passes on the folded texts, then the join. Returns their results back to back and
    the offsets; how many letters and digits the context passes removed from each
    (punctuation does not count: the join drops it anyway, so a text the compiled pass takes
    has none removed); and each folded text with its HTML markup removed (whose lines
    `Figures.unended` measures), back to back with something between them, and the start and
    end of each; and the letters and digits the list pass removed from each."""
    size = offsets[which + 1] - offsets[which]
    number = (np.cumsum(size) - size) // _GROUP_CHARS  # each text's group: where it starts
    groups = np.split(which, np.flatnonzero(np.diff(number)) + 1)
    done = [_fold_join_group(cps, offsets, group, t, cfg) for group in groups]
    if len(done) == 1:
        return done[0]
    out, out_off, removed, unmarked, start, end, in_lists = zip(*done, strict=True)
    shift = np.cumsum([0] + [u.size for u in unmarked[:-1]])
    length = np.concatenate([np.diff(o) for o in out_off])
    return (
        np.concatenate(out),
        np.concatenate([[0], np.cumsum(length)]).astype(np.int64),
        np.concatenate(removed),
        np.concatenate(unmarked),
        np.concatenate([s + k for s, k in zip(start, shift, strict=True)]),
        np.concatenate([e + k for e, k in zip(end, shift, strict=True)]),
        np.concatenate(in_lists),
    )


# Characters of the texts that go through the context passes together, about (a group ends
# with the text that crosses this): more buys no speed, and the passes hold several copies.
_GROUP_CHARS = 1 << 22


def _fold_join_group(
    cps: np.ndarray, offsets: np.ndarray, which: np.ndarray, t: Tables, cfg: NormalizeConfig
) -> tuple[np.ndarray, ...]:
    """`_fold_join_context` of one group of texts. They go through the passes as one string,
    `_SEPARATOR` between them, so each pattern is run once per group and not once per text;
    their texts without HTML markup keep the separators."""
    folded, letters = _fold_separated(cps, offsets, which, t.fold, t.cls)
    text = from_codepoints(folded)
    stage2, counts, unmarked, listed = _context_passes(text, cfg)
    out, out_off, kept = _join_separated(codepoints(stage2), t.cls, which.size)
    unmarked_cps = folded if unmarked is text else codepoints(unmarked)
    start, end = _separated_bounds(unmarked_cps, which.size)
    in_lists = np.zeros(which.size, dtype=np.int64)
    if counts.get("lists"):
        in_lists = _join_separated(codepoints(listed), t.cls, which.size)[2] - kept
    return out, out_off, letters - kept, unmarked_cps, start, end, in_lists


# Between the texts of the general path, as they go through the context passes together:
# U+D800, `<`, U+D800. No pattern matches across it, nor differently next to it than at the end
# or start of a text, and no pass changes it. U+D800 (a lone surrogate: the character table
# folds it to a space, so no folded text holds one) is neither an ideograph, a letter,
# printable ASCII nor a space to any pattern; `<` ends the attribute run of `_HTML_TAG`
# (`[^<>]`), which would otherwise reach into the next text, and opens no tag itself.
_SEPARATOR = np.array([0xD800, 0x3C, 0xD800], dtype=np.uint32)


@numba.njit(cache=True, nogil=True, inline="always")
def _put(out: np.ndarray, t: int, c: int, spaced: bool) -> int:
    """Write code point `c` at out[t], after a space when `spaced` (two words that a separator
    stood between); the place after it."""
    if spaced:
        out[t] = 0x20
        t += 1
    out[t] = c
    return t + 1


@numba.njit(cache=True, nogil=True)
def _fold_separated(
    cps: np.ndarray, offsets: np.ndarray, which: np.ndarray, fold: np.ndarray, cls: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Texts `which` folded by the table, `_SEPARATOR` between them, and the letters and
    digits of each."""
    size = _SEPARATOR.size * max(which.size - 1, 0)
    for d in which:
        size += offsets[d + 1] - offsets[d]
    out = np.empty(size, dtype=np.uint32)
    letters = np.zeros(which.size, dtype=np.int64)
    t = 0
    for k in range(which.size):
        if k:
            out[t : t + _SEPARATOR.size] = _SEPARATOR
            t += _SEPARATOR.size
        for i in range(offsets[which[k]], offsets[which[k] + 1]):
            c = fold[cps[i]]
            if cls[c] != SEP:
                letters[k] += 1
            out[t] = c
            t += 1
    return out, letters


@numba.njit(cache=True, nogil=True)
def _join_separated(
    cps: np.ndarray, cls: np.ndarray, texts: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The join of each of `texts` texts that `_SEPARATOR` divides in `cps`: separators
    dropped, one space kept where a separator stood between two words. Returns the results back
    to back, their offsets and the letters and digits of each."""
    # Output never exceeds the input: a space is only written in place of a dropped separator.
    out = np.empty(cps.size, dtype=np.uint32)
    out_off = np.zeros(texts + 1, dtype=np.int64)
    letters = np.zeros(texts, dtype=np.int64)
    t = d = i = 0
    prev_word = gap = False
    while i < cps.size:
        c = cps[i]
        if c == _SEPARATOR[0]:
            d += 1
            out_off[d] = t
            prev_word = gap = False
            i += _SEPARATOR.size
            continue
        i += 1
        k = cls[c]
        if k == SEP:
            gap = True
            continue
        letters[d] += 1
        t = _put(out, t, c, k == WORD and prev_word and gap)
        prev_word = k == WORD
        gap = False
    out_off[texts] = t
    return out[:t], out_off, letters


@numba.njit(cache=True, nogil=True)
def _separated_bounds(cps: np.ndarray, texts: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end in `cps` of each of the `texts` texts that `_SEPARATOR` divides there."""
    start = np.zeros(texts, dtype=np.int64)
    end = np.empty(texts, dtype=np.int64)
    d = i = 0
    while i < cps.size:
        if cps[i] == _SEPARATOR[0]:
            end[d] = i
            d += 1
            i += _SEPARATOR.size
            start[d] = i
        else:
            i += 1
    end[texts - 1] = cps.size
    return start, end


@numba.njit(cache=True, nogil=True)
def _merge(
    out: np.ndarray, out_off: np.ndarray, part: np.ndarray, part_off: np.ndarray, which: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Texts back to back (`out`, `out_off`) with texts `which` taken from `part`, `part_off`
    (where `out` holds nothing for them)."""
    docs = out_off.size - 1
    merged = np.empty(out.size + part.size, dtype=np.uint32)
    merged_off = np.zeros(docs + 1, dtype=np.int64)
    t = k = 0
    for d in range(docs):
        if k < which.size and which[k] == d:
            src, lo, hi = part, part_off[k], part_off[k + 1]
            k += 1
        else:
            src, lo, hi = out, out_off[d], out_off[d + 1]
        merged[t : t + hi - lo] = src[lo:hi]
        t += hi - lo
        merged_off[d + 1] = t
    return merged, merged_off


@numba.njit(cache=True, nogil=True, inline="always")
def _full_width_alnum(c: int) -> bool:
    return 0xFF10 <= c <= 0xFF19 or 0xFF21 <= c <= 0xFF3A or 0xFF41 <= c <= 0xFF5A


@numba.njit(cache=True, nogil=True)
def _layout_batch(
    cps: np.ndarray,
    offsets: np.ndarray,
    plain: np.ndarray,
    unmarked: np.ndarray,
    unmarked_start: np.ndarray,
    unmarked_end: np.ndarray,
    fold: np.ndarray,
    cls: np.ndarray,
    trad: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per text of a batch (`Figures`): traditional characters; damaged layout (a line break
    or ASCII punctuation between two CJK characters); the letters and digits of lines that
    end without punctuation (titles, menus, bylines, lists: prose ends its paragraphs with
    punctuation), in the text itself when it is `plain`, else in its text without HTML
    markup (`unmarked[unmarked_start[d]:unmarked_end[d]]`); and full-width Latin letters and
    digits."""
    docs = offsets.size - 1
    traditional = np.zeros(docs, dtype=np.int64)
    mangled = np.zeros(docs, dtype=np.int64)
    full_width = np.zeros(docs, dtype=np.int64)
    unended = np.zeros(docs, dtype=np.int64)
    for d in range(docs):
        lo, hi = offsets[d], offsets[d + 1]
        n_trad = n_mangled = n_full = 0
        for i in range(lo, hi):
            c = cps[i]
            f = fold[c]
            n_trad += trad[c]
            n_full += _full_width_alnum(c)
            if (
                (f == 0x0A or (0x21 <= c <= 0x7E and cls[f] == SEP))
                and lo < i < hi - 1
                and cls[fold[cps[i - 1]]] == CJK
                and cls[fold[cps[i + 1]]] == CJK
            ):
                n_mangled += 1
        traditional[d], mangled[d], full_width[d] = n_trad, n_mangled, n_full
        text = cps[lo:hi] if plain[d] else unmarked[unmarked_start[d] : unmarked_end[d]]
        unended[d] = _unended(text, fold, cls)
    return traditional, mangled, unended, full_width


@numba.njit(cache=True, nogil=True)
def _unended(cps: np.ndarray, fold: np.ndarray, cls: np.ndarray) -> int:
    """The letters and digits of the lines of `cps` that end without punctuation."""
    count = 0
    tokens = 0  # letters and digits of the current line
    last = 0  # its last visible character, folded
    for i in range(cps.size):
        f = fold[cps[i]]
        if f == 0x0A:
            if tokens and cls[last] != SEP:
                count += tokens
            tokens = last = 0
        elif f != 0x20:
            last = f
            if cls[f] != SEP:
                tokens += 1
    if tokens and cls[last] != SEP:
        count += tokens
    return count


_TONE_CPS = np.array(sorted(map(ord, _TONE)), dtype=np.uint32)


@numba.njit(cache=True, nogil=True, inline="always")
def _pinyin_letter(c: int, tones: np.ndarray) -> bool:
    return (0x61 <= c <= 0x7A) or c == 0xFC or bool(np.any(tones == c))


@numba.njit(cache=True, nogil=True)
def _pinyin_ahead(cps: np.ndarray, fold: np.ndarray, j: int, tones: np.ndarray) -> bool:
    """Whether `_PINYIN` or `_PINYIN_TONELESS` could match after a `(` ending at j: spaces,
    1-7 syllable letters, spaces, `)`. Conservative: neither the tone mark nor the preceding
    ideograph nor the syllable list is checked."""
    n = cps.size
    while j < n and (fold[cps[j]] == 0x20 or fold[cps[j]] == 0x0A):
        j += 1
    letters = 0
    while j < n:
        c = fold[cps[j]]
        if not (c == 0x3F or 0x61 <= c <= 0x7A or c == 0xFC or np.any(tones == c)):
            break
        letters += 1
        j += 1
    if letters == 0 or letters > 7:
        return False
    while j < n and (fold[cps[j]] == 0x20 or fold[cps[j]] == 0x0A):
        j += 1
    return j < n and fold[cps[j]] == 0x29


@numba.njit(cache=True, nogil=True, inline="always")
def _fragments(frag: int, chain: int, printable: bool, sep: bool) -> tuple[int, int]:
    """One character's step of the count of short ASCII fragments in a row (`_JUNK`):
    (length of the current fragment, short fragments before it)."""
    if printable:
        return frag + 1, chain
    if sep:
        return 0, chain + 1 if 1 <= frag <= 3 else (0 if frag > 3 else chain)
    return 0, 0


@numba.njit(cache=True, nogil=True)
def _fold_join_plain(
    cps: np.ndarray, fold: np.ndarray, cls: np.ndarray, tones: np.ndarray
) -> tuple[np.ndarray, bool, bool]:
    """Table fold and join in one compiled pass, for the common text that no context pass
    could change. Returns (code points, True, False), or (empty, False, False) as soon as the
    folded text holds what a context pattern could match at: `<` or `&` before a letter, `/`
    or `#`, a parenthesised pinyin syllable, U+FFFD, a `?` before a pinyin letter, a fourth
    short ASCII fragment in a row (what `_JUNK` needs). The result then equals
    `_fold_join_context`. A text that holds none of these but three lines in a row that could
    be items of a list (`_LIST`) gives (empty, False, True): only the list pass can change
    it."""
    n = cps.size
    # Output never exceeds the input: a space is only written in place of a dropped separator.
    out = np.empty(n, dtype=np.uint32)
    t = 0
    # The current line: how many characters other than a space it holds, the first and last of
    # them (-1: none yet); and how many lines in a row, blank ones aside, could be items of a
    # list.
    line = 0
    first = last = -1
    items = 0
    frag = 0  # length of the current run of printable non-space ASCII
    chain = 0  # short (1-3) fragments in a row, separated by spaces or tabs only
    qfrag = qchain = 0  # the same, with `?` counted as a space
    prev_word = False
    gap = False
    listed = False
    for i in range(n):
        c = fold[cps[i]]
        if c == 0x0A:
            items = _items_after(items, line, first, last)
            listed |= items >= 3
            line = 0
            first = last = -1
        elif c != 0x20 and c != 0x3F:  # the mojibake pass leaves a space for every `?`
            line += 1
            first = c if first < 0 else first
            last = c
        if c >= 0x80:  # most characters: no pattern starts at one, and it ends any fragment
            if c == 0xFFFD:
                return out[:0], False, False
            frag = chain = qfrag = qchain = 0
        else:
            if c == 0x3F and i + 1 < n and _pinyin_letter(fold[cps[i + 1]], tones):
                return out[:0], False, False
            if (c == 0x3C or c == 0x26) and i + 1 < n:
                nxt = fold[cps[i + 1]]
                if (0x61 <= (nxt | 0x20) <= 0x7A) or nxt == 0x2F or nxt == 0x23:
                    return out[:0], False, False
            if c == 0x28 and _pinyin_ahead(cps, fold, i + 1, tones):
                return out[:0], False, False
            printable = 0x21 <= c <= 0x7E
            sep = c == 0x20 or c == 0x09
            # Fragments as the junk pass sees them with `?` kept, and as the mojibake pass
            # leaves them, with every `?` a space (which can split a fragment into short ones).
            if printable and chain >= 3 or printable and c != 0x3F and qchain >= 3:
                return out[:0], False, False
            frag, chain = _fragments(frag, chain, printable, sep)
            qfrag, qchain = _fragments(qfrag, qchain, printable and c != 0x3F, sep or c == 0x3F)
        k = cls[c]
        if k == SEP:
            gap = True
            continue
        t = _put(out, t, c, k == WORD and prev_word and gap)
        prev_word = k == WORD
        gap = False
    if listed or _items_after(items, line, first, last) >= 3:
        return out[:0], False, True
    return out[:t], True, False


@numba.njit(cache=True, nogil=True, inline="always")
def _items_after(items: int, line: int, first: int, last: int) -> int:
    """Lines in a row that could be items of a list (`_LIST`), once a line of `line`
    characters other than a space, the first and last of them `first` and `last` (-1: a
    blank line, which neither counts nor breaks the row), has been read: a line that `_ITEM`
    matches is short, and starts with a mark (`_item_start`) or ends with a date
    (`_item_end`)."""
    if first < 0:
        return items
    if line <= 2 * _ITEM_CHARS + 16 and (_item_start(first) or _item_end(last)):
        return items + 1
    return 0


@numba.njit(cache=True, nogil=True, inline="always")
def _item_start(c: int) -> bool:
    """Whether an item of a list can start with `c` (`_ITEM_MARK`, or more)."""
    return (
        0x30 <= c <= 0x39
        or c in (0x2A, 0x2B, 0x2D, 0x5B, 0xB7, 0x2022, 0x2192, 0x2605, 0x2606, 0x3010)
        or 0x25A0 <= c <= 0x25CF
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _item_end(c: int) -> bool:
    """Whether an item of a list can end with `c` (`_ITEM_DATE`)."""
    return 0x30 <= c <= 0x39 or c == 0x29 or c == 0x5D


def normalize(text: str, cfg: NormalizeConfig = NormalizeConfig()) -> str:
    """The text that is compared: canonical characters, no noise, no punctuation.

    >>> normalize("發(fā)展，ＡＢＣ  Def")
    '发展abc def'
    """
    return from_codepoints(normalize_codepoints(text, cfg))
