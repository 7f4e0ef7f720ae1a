from __future__ import annotations

import dataclasses
import re

import numpy as np
import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import normalize as normalize_module
from dedup.chars import CJK, SEP, codepoints, from_codepoints
from dedup.config import NormalizeConfig
from dedup.normalize import (
    _JUNK,
    _MOJIBAKE,
    _PINYIN,
    _PINYIN_TONELESS,
    _TONE,
    _TONE_CPS,
    NOISE_PASSES,
    NoiseCounts,
    _context_passes,
    _fold_join_context,
    _fold_join_plain,
    _is_junk,
    _junk_areas,
    frame_only,
    navigation_only,
    normalize,
    normalize_batch,
    normalize_counted,
    normalize_measured,
    placeholder_only,
    tables,
)
from dedup.phrases import build_table, fold_phrases, vocabulary_table

# (noise kind, noisy text, clean text): each noisy form must normalize like the clean one.
CASES = [
    ("traditional", "發展經濟，推進會議", "发展经济，推进会议"),
    ("taiwan variants", "裡面的臺灣著作", "里面的台湾着作"),
    ("pinyin", "發(fā)展經(jīng)濟", "发展经济"),
    ("pinyin full-width parens", "發（fā）展", "发展"),
    ("pinyin, neutral tone", "我的(de)書了(le)", "我的书了"),
    ("pinyin after a legacy codec", "爭(zh?ng)取關(gu?n)係", "争取关系"),
    ("mojibake", "業績?yōu)椤皹?biāo)準", "业绩椤皹准"),
    ("replacement char", "办公\ufffd厅", "办公厅"),
    ("width", "ＡＢＣ１２３，全角", "ABC123,全角"),
    ("punctuation mangled", "他说.'你好.我们走'.", "他说：“你好，我们走”。"),
    ("quote markers", "「重要」『通知』> 引用", "“重要”“通知”引用"),
    ("junk line", "一、着力思想\n) x- F6 b+ P5 t/ W7 q! N# {\n提标增强", "一、着力思想提标增强"),
    ("junk after text", "守住阵地。7 N2 `. G) U2 u2 V' ]\n二是立足", "守住阵地。二是立足"),
    ("hard line break", "让\n干得好的\n讲经验", "让“干得好的”讲经验"),
    ("whitespace", "办公\u3000厅 \t工作\r\n", "办公厅工作"),
    ("html", "<p>办公厅</p>&nbsp;<br/>工作&amp;", "办公厅工作"),
    ("latin case", "Hello   WORLD, ＮＥＷＳ", "hello world news"),
    ("link list", "正文。\n相关：\n· 甲（07-26）\n· 丁（08-01）\n· 己（09-12）", "正文。\n相关："),
    ("numbered list", "正文。\n热门：\n1. 甲乙\n2. 丙丁\n\n3. 戊己\n尾。", "正文。\n热门：\n尾。"),
    ("dated list", "正文。\n 甲乙丙 2023-05-06\n丁戊己 2023-05-07 \n庚辛 [2023/5/8]", "正文。"),
]


@pytest.mark.parametrize(("kind", "noisy", "clean"), CASES, ids=[c[0] for c in CASES])
def test_noise_is_folded(kind: str, noisy: str, clean: str) -> None:
    assert normalize(noisy) == normalize(clean)


def test_output_form() -> None:
    assert normalize("發(fā)展，ＡＢＣ  Def 2023年") == "发展abc def 2023年"


def test_latin_words_are_kept_apart() -> None:
    assert normalize("The quick brown fox.") == "the quick brown fox"
    assert normalize("iPhone15手机") == "iphone15手机"


def test_parenthesised_words_that_are_not_pinyin_stay() -> None:
    assert normalize("系统(linux)的(de)内核") == "系统linux的内核"


def test_english_is_not_junk() -> None:
    text = "I am a boy. It is ok to go."
    assert normalize(text) == "i am a boy it is ok to go"


def test_counts(seed_texts: dict[str, str]) -> None:
    _, noise = normalize_counted(seed_texts["000_fa5b47ae513dff0c.txt"])
    assert noise.traditional > 500
    assert noise.pinyin > 200
    assert noise.mojibake >= 1
    _, noise4 = normalize_counted(seed_texts["004_0276c29fa1116ed8.txt"])
    assert noise4.junk >= 10
    assert noise4.pinyin == 0


@pytest.mark.parametrize("conversion", ["s2t", "s2tw", "s2hk", "s2twp"])
@pytest.mark.parametrize("seed", ["001_096293c0fedcb6b3.txt", "002_", "003_", "004_"])
def test_opencc_conversions_fold_back(
    seed_texts: dict[str, str], conversion: str, seed: str
) -> None:
    # OpenCC's conversions of a simplified text fold back exactly, s2twp's swapped Taiwan
    # vocabulary (軟體, 預設) included.
    simplified = next(t for name, t in seed_texts.items() if name.startswith(seed))
    converted = opencc.OpenCC(conversion).convert(simplified)
    assert normalize(converted) == normalize(simplified)


# Words that one version writes one way and another version another way.
VOCABULARY = [
    ("軟體", "软件"),
    ("預設", "默认"),
    ("預設", "缺省"),
    ("反覆", "反复"),
    ("瞭解", "了解"),
    ("程式", "程序"),
]


@pytest.mark.parametrize(("taiwan", "mainland"), VOCABULARY, ids=[v[1] for v in VOCABULARY])
def test_vocabulary_is_folded(taiwan: str, mainland: str) -> None:
    assert normalize(f"这个{taiwan}很好") == normalize(f"这个{mainland}很好")


def test_vocabulary_fold_counts_and_switch() -> None:
    folded, noise = normalize_counted("這個軟體的預設設定")
    assert folded == normalize("这个软件的默认设置")
    assert noise.vocabulary >= 2  # 軟體 and 預設 (and 設定, when 设置 is not its class's form)
    assert normalize("軟體", NormalizeConfig(fold_phrases=False)) == "软体"
    assert normalize("軟體") == normalize("软件")


def test_vocabulary_table_is_stable() -> None:
    # No replacement contains a key: one pass over any text is already a fixed point.
    table = vocabulary_table()
    keys = {
        table.keys[table.key_off[p] : table.key_off[p + 1]].tobytes() for p in range(len(table))
    }
    assert len(keys) == len(table) > 400
    for p in range(len(table)):
        value = table.vals[table.val_off[p] : table.val_off[p + 1]].tobytes()
        assert not any(k in value for k in keys)


def test_build_table_merges_word_classes() -> None:
    table = build_table([("甲乙", "丙丁"), ("戊己", "丙丁"), ("庚", "辛壬")], lambda s: s)
    out, count = fold_phrases(_cps("甲乙戊己丙丁庚辛壬"), table)
    # One class {甲乙, 戊己, 丙丁} folded to its smallest source form (戊 U+620A < 甲 U+7532);
    # single characters are never keys.
    assert count == 2
    assert _text(out) == "戊己戊己戊己庚辛壬"


def _cps(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _text(cps: np.ndarray) -> str:
    return cps.astype(np.uint32).tobytes().decode("utf-32-le")


def test_t2s_matches_opencc(seed_texts: dict[str, str]) -> None:
    traditional = seed_texts["000_fa5b47ae513dff0c.txt"]
    assert normalize(opencc.OpenCC("t2s").convert(traditional)) == normalize(traditional)


def test_switches_turn_stages_off() -> None:
    assert normalize("發展", NormalizeConfig(t2s=False)) == "發展"
    assert "fā" in normalize("發(fā)展", NormalizeConfig(strip_pinyin=False))


def test_seeds_are_fixed_points(seed_texts: dict[str, str]) -> None:
    for text in seed_texts.values():
        once = normalize(text)
        assert normalize(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_idempotent_and_total(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


_NOISE_ALPHABET = "發展經濟()fāǎ?. x-F6 b+\n「」，。ＡＢ<p>&;軟體件预設默认缺省反覆复"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(_NOISE_ALPHABET)))
def test_idempotent_on_noise_alphabet(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


# Lines of lists, and what is near them: marks, dates, other noise.
_LIST_PIECES = [
    "\n",
    "\n\n",
    "· ",
    "1. ",
    "2、",
    "- ",
    "[3]",
    "甲乙",
    "长" * 61,
    "(07-26)",
    " 2023-05-06",
    " ",
    "<p>",
    "(fā)",
    "x- F6 b+ P5",
    "?",
    "\n?\n",
    "&nbsp;",
    "<br/>",
    "1. 预算：45",
]
_CONTEXT_ALPHABET = "發展經濟()（）fāǎzhng?？\ufffd<>/p&#;nbsp x-F6 b+\t\n「」，。ＡＢab·1.、-"


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(_CONTEXT_ALPHABET))
    | st.lists(st.sampled_from(_LIST_PIECES), max_size=12).map("".join)
)
def test_plain_fast_path_equals_general_path(text: str) -> None:
    # The compiled fast path may only accept texts that the context passes leave unchanged
    # (so a text it takes has no noise removed: `normalize_measured` counts none for it).
    # A text it finds only a list in changes under the list pass alone.
    t = tables(NormalizeConfig())
    cps = _cps(text)
    fast, plain, listed = _fold_join_plain(cps, t.fold, t.cls, _TONE_CPS)
    bounds, which = np.array([0, cps.size]), np.array([0])
    general, _, removed, *_ = _fold_join_context(cps, bounds, which, t, NormalizeConfig())
    if plain:
        assert not listed
        assert np.array_equal(fast, general)
        assert removed.tolist() == [0]
    if listed:
        lists = NormalizeConfig(strip_html=False, strip_pinyin=False)
        lists = dataclasses.replace(lists, strip_mojibake=False, strip_junk=False)
        alone = _fold_join_context(cps, bounds, which, t, lists)
        assert np.array_equal(alone[0], general) and alone[2].tolist() == removed.tolist()


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("发展（经济）", True),
        ("我们(linux)走", False),  # could be a toneless syllable: checked in full
        ("我们(1998)走", True),
        ("發(fā)展", False),
        ("价格<100元&免费", True),
        ("<p>段落", False),
        ("&nbsp;", False),
        ("好?吗", True),
        ("好?yōu)", False),
        ("hello world, foo bar", True),
        ("a bc def ghi", False),  # four short fragments: a junk candidate, checked in full
        (") x- F6 b+ P5", False),
        ("6 ; ;?;", False),  # the mojibake pass makes `;?;` two fragments: then it is junk
        ("6 ; ;?", True),
        ("甲。\n· 乙\n· 丙\n· 丁", False),  # a list: three items in a row
        ("甲。\n· 乙\n· 丙\n丁。", True),  # two
        ("1. 乙\n\n2. 丙\n \n3. 丁", False),  # blank lines do not break the row
        ("乙 (07-26)\n丙 (07-27)\n丁 (07-28)", False),  # dates at the ends
        ("1998年，乙。\n" * 3, False),  # could be items: the list pattern decides
        ("1998年" + "长" * 140 + "\n" * 3, True),  # too long to be an item
        ("· 甲\n· 乙 2023-05-06\n?\n· 丙", False),  # the mojibake pass blanks the `?` line
    ],
)
def test_plain_fast_path_triggers(text: str, plain: bool) -> None:
    t = tables(NormalizeConfig())
    assert _fold_join_plain(_cps(text), t.fold, t.cls, _TONE_CPS)[1] is plain


def test_noise_passes_name_a_count_and_a_switch() -> None:
    counts = {f.name for f in dataclasses.fields(NoiseCounts)}
    switches = {f.name for f in dataclasses.fields(NormalizeConfig)}
    for noise in NOISE_PASSES:
        assert noise.kind in counts and noise.flag in switches


_NOISE_PIECES = [
    *"發展的了()（）?a ",
    "<br/>",
    '<a href="x">',
    "&nbsp;",
    "&#12345;",
    "(de)",
    "( le )",
    "(fā)",
    "(zh?ng)",
    "?yōu)",
    "\ufffd",
    ") x- F6 b+ P5 t/ W7 q! N# {",
    "hello world",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_NOISE_PIECES), max_size=12).map("".join)
    | st.text(alphabet=st.sampled_from(_CONTEXT_ALPHABET))
)
def test_noise_pass_spans_are_what_it_removes(text: str) -> None:
    # The report marks a pass's spans as noise: they are exactly what the normalizer removes.
    for noise in NOISE_PASSES:
        spans = list(noise.spans(text))
        kept, at = [], 0
        for s, e in spans:
            match = noise.pattern.match(text, s)
            assert match is not None and match.end() == e
            repl = noise.replacement
            kept += [text[at:s], repl if isinstance(repl, str) else repl(match)]
            at = e
        assert noise.remove(text) == ("".join(kept) + text[at:], len(spans))
        if not noise.may_occur(text):
            assert spans == []


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(_CONTEXT_ALPHABET + _NOISE_ALPHABET)) | st.text(),
        max_size=6,
    )
)
def test_batch_equals_one_text_at_a_time(texts: list[str]) -> None:
    # Plain texts and texts that need the general path, side by side (and lone surrogates).
    cps, offsets = normalize_batch(texts)
    assert offsets.size == len(texts) + 1
    for d, text in enumerate(texts):
        assert from_codepoints(cps[offsets[d] : offsets[d + 1]]) == normalize(text)


# Pieces of texts for the general path: noise of every kind, and halves of noise that would
# make a match across two texts if their separator let one through (a tag opened at the end of
# one text and closed at the start of the next, pinyin after the last ideograph of one, junk
# fragments on both sides), besides lone surrogates, `<` and control characters.
_BATCH_PIECES = [
    *_NOISE_PIECES,
    "<p",
    ' class="a"',
    "p>",
    "</",
    "<",
    ">",
    "&",
    "amp;",
    "(fā",
    "fā)",
    "發",
    "a b",
    " c d ",
    "x- F6",
    "\ud800",
    "\ud800<\ud800",
    "\x00",
    "\n",
    "\t",
    "1?",
    "。",
    "\n· 甲乙",
    "\n1. 丙",
    "\n2、丁（07-26）",
    " 2023-05-06\n",
    "[3] ",
    "\n\n",
]


def _reference_removed(text: str, cfg: NormalizeConfig) -> int:
    """Letters and digits the context passes remove from one text on its own (`Figures.noise`
    as the general path once computed it, text by text)."""
    t = tables(cfg)
    folded = from_codepoints(t.fold[codepoints(text)])
    left = _context_passes(folded, cfg)[0]
    return int(np.count_nonzero(t.cls[codepoints(folded)] != SEP)) - int(
        np.count_nonzero(t.cls[codepoints(left)] != SEP)
    )


@pytest.mark.parametrize(
    "cfg",
    [NormalizeConfig(), NormalizeConfig(fold_width=False), NormalizeConfig(strip_mojibake=False)],
    ids=["default", "no-width-fold", "no-mojibake"],
)
@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.tuples(
            # Most texts sent down the general path (an entity in the middle), so that two
            # such texts often meet.
            st.lists(st.sampled_from(_BATCH_PIECES), max_size=6).map("".join),
            st.sampled_from(["&amp;", "&amp;", "&amp;", ""]),
            st.lists(st.sampled_from(_BATCH_PIECES), max_size=6).map("".join),
        ).map("".join)
        | st.text(alphabet=st.sampled_from(_CONTEXT_ALPHABET + "\ud800\x00"))
        | st.lists(st.sampled_from(_LIST_PIECES), max_size=12).map("".join),
        max_size=8,
    )
)
def test_general_path_batch_equals_each_text_alone(cfg: NormalizeConfig, texts: list[str]) -> None:
    # The texts of the general path go through the context passes as one string: each comes
    # out as normalize_counted (one text, its own passes) makes it, with the letters and
    # digits its own passes remove, whatever is on either side of it.
    _assert_each_text_alone(texts, cfg)


def _assert_each_text_alone(texts: list[str], cfg: NormalizeConfig) -> None:
    cps, offsets, figures = normalize_measured(texts, cfg)
    rows = figures.rows()
    for d, text in enumerate(texts):
        assert from_codepoints(cps[offsets[d] : offsets[d + 1]]) == normalize_counted(text, cfg)[0]
        assert figures.noise[d] == _reference_removed(text, cfg)
        assert rows[d] == normalize_measured([text], cfg)[2].rows()[0]
        if cfg == NormalizeConfig():
            assert rows[d][2:-1] == _reference_figures(text)


@pytest.mark.parametrize("group_chars", [1, 7, 40])
def test_general_path_in_groups(monkeypatch: pytest.MonkeyPatch, group_chars: int) -> None:
    # A batch's general texts go through the passes in groups of about so many characters:
    # the same result whatever the groups.
    monkeypatch.setattr(normalize_module, "_GROUP_CHARS", group_chars)
    texts = ["<p>正文</p>", "正文", "", "發(fā)展 x- F6 b+ P5", "&nbsp;", "?? 甲乙", "<br>" * 9]
    _assert_each_text_alone(texts, NormalizeConfig())
    _assert_each_text_alone(texts[::-1], NormalizeConfig())


# How one text ends and the next starts, where a pattern would match across the two: a tag, an
# entity, pinyin after an ideograph, junk fragments, a mangled annotation.
_ENDS = ['<p class="a"', "<p", "&nbsp", "發", "的", "x- F6 b+", "?", "a b", "\n· 甲\n· 乙", ""]
_STARTS = ['">正文', ">", ";", "(fā)正文", "(de)", " P5 t/ W7", "yōu)", " c d e", "· 丙\n", ""]


@pytest.mark.parametrize("end", _ENDS)
@pytest.mark.parametrize("start", _STARTS)
def test_no_pattern_matches_across_two_texts(end: str, start: str) -> None:
    # Both texts hold an entity: both take the general path, side by side.
    _assert_each_text_alone(["&amp;" + end, start + "&amp;"], NormalizeConfig())


@pytest.mark.parametrize(
    "cfg", [NormalizeConfig(), NormalizeConfig(fold_width=False), NormalizeConfig(t2s=False)]
)
def test_no_text_folds_to_a_surrogate(cfg: NormalizeConfig) -> None:
    # The general path's separator holds a lone surrogate because no folded text does.
    fold = tables(cfg).fold
    assert not np.any((fold >= 0xD800) & (fold <= 0xDFFF))


def test_general_path_edge_batches() -> None:
    # Texts that only hold noise, empty texts and a plain text between general ones. `(fā)`
    # at the start of a text follows no ideograph (not the previous text's): not pinyin; an
    # unclosed `<p` at the end of the last text is no tag.
    texts = ["", "<br/>", "&nbsp;", "(fā)", ") x- F6 b+ P5 t/ W7", "?", "正文", "", "發(fā)<p"]
    cps, offsets, figures = normalize_measured(texts)
    assert np.diff(offsets).tolist() == [0, 0, 0, 2, 0, 0, 2, 0, 2]
    assert from_codepoints(cps) == "fā正文发p"
    assert figures.noise.tolist() == [0, 2, 4, 0, 9, 0, 0, 0, 2]


# How the rewritten patterns were first written: a look-behind first, a repeated class first.
_PINYIN_AS_WRITTEN = re.compile(
    rf"(?<=[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f])"
    rf"\(\s*(?=[a-zü?{_TONE}]{{0,7}}[?{_TONE}])[a-zü?{_TONE}]{{1,7}}\s*\)"
)
_TONELESS_AS_WRITTEN = re.compile(
    r"(?<=[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f])\(\s*([a-zü]{2,6})\s*\)"
)
_MOJIBAKE_AS_WRITTEN = re.compile(rf"[?\ufffd]+(?:[a-zü]{{0,6}}[{_TONE}][a-zü]{{0,6}}\)?)?")
_ASCII_RUN = re.compile(r"[ -~\t]{7,}")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_BATCH_PIECES), max_size=12).map("".join)
    | st.text(alphabet=st.sampled_from(_CONTEXT_ALPHABET + "\ufffd fa?"))
)
def test_patterns_match_what_they_matched_as_first_written(text: str) -> None:
    for pattern, first in [
        (_PINYIN, _PINYIN_AS_WRITTEN),
        (_PINYIN_TONELESS, _TONELESS_AS_WRITTEN),
        (_MOJIBAKE, _MOJIBAKE_AS_WRITTEN),
    ]:
        assert [m.span() for m in pattern.finditer(text)] == [
            m.span() for m in first.finditer(text)
        ]
    # Junk is looked for in the ASCII runs of `_junk_areas`, not in every run of 7 or more.
    junk = next(noise for noise in NOISE_PASSES if noise.kind == "junk")
    everywhere = [
        (run.start() + m.start(), run.start() + m.end())
        for run in _ASCII_RUN.finditer(text)
        for m in _JUNK.finditer(run.group(0))
        if _is_junk(m)
    ]
    assert list(junk.spans(text)) == everywhere
    areas = _junk_areas(text)
    assert all(e0 < s1 for (_, e0), (s1, _) in zip(areas, areas[1:], strict=False))


# --- figures: what signing measures for the cluster stage ----------------------------------

# (text, (length, noise, traditional, mangled, unended, full_width)): the `Figures` columns in
# order, but the copy key.
FIGURE_CASES = [
    ("发展经济。", (4, 0, 0, 0, 0, 0)),
    ("發展經濟。", (4, 0, 3, 0, 0, 0)),  # 發經濟 are folded, 展 is both
    ("發(fā)展。", (2, 2, 1, 0, 0, 0)),  # the pinyin's two letters removed
    ("<p>内容</p>", (2, 2, 0, 0, 2, 0)),  # the tags' letters; the line ends unpunctuated
    ("正文&nbsp;内容。", (4, 4, 0, 0, 0, 0)),
    ("正文 x- F6 b+ P5 t/ W7。", (2, 9, 0, 0, 0, 0)),  # junk: its letters and digits
    ("价格?? 元。", (3, 0, 0, 0, 0, 0)),  # a `?` run takes no letter with it
    ("中,文。", (2, 0, 0, 1, 0, 0)),  # ASCII punctuation inside CJK text
    ("中\n文。", (2, 0, 0, 1, 1, 0)),  # a hard line break; the first line ends unpunctuated
    ("ＡＢ文。", (3, 0, 0, 0, 0, 2)),  # full-width letters
    ("首页 | 新闻\n正文。", (6, 0, 0, 1, 4, 0)),  # a menu line: unended
    ("<p>首页 | 新闻</p>\n<p>正文。</p>", (6, 4, 0, 0, 4, 0)),  # lines without their markup
    ("真的吗?\n正文。", (5, 0, 0, 0, 0, 0)),  # a question mark ends a line (mojibake or not)
    ("", (0, 0, 0, 0, 0, 0)),
]


@pytest.mark.parametrize(("text", "want"), FIGURE_CASES, ids=[c[0] for c in FIGURE_CASES])
def test_figures(text: str, want: tuple[int, ...]) -> None:
    assert [row[:-1] for row in normalize_measured([text])[2].rows()] == [want]


def test_copy_keys_tell_byte_identical_texts() -> None:
    texts = ["发展经济。", "發展經濟。", "发展经济。", "发展经济.", ""]
    keys = normalize_measured(texts)[2].copy_key.tolist()
    assert keys[0] == keys[2] and len(set(keys)) == 4
    assert all(0 <= k < 2**63 for k in keys)
    assert normalize_measured(texts[:1])[2].copy_key.tolist() == keys[:1]  # whatever the batch


def _reference_figures(text: str) -> tuple[int, int, int, int]:
    """Traditional characters, damaged layout, unended-line letters (HTML markup removed)
    and full-width letters and digits, one character and one line at a time: a reference for
    the compiled counts."""
    t = tables(NormalizeConfig())
    folded = [int(t.fold[ord(c)]) for c in text]
    cls = [int(t.cls[f]) for f in folded]
    trad = sum(int(t.trad[ord(c)]) for c in text)
    mangled = full = 0
    for i, c in enumerate(text):
        inside = 0 < i < len(text) - 1 and cls[i - 1] == CJK and cls[i + 1] == CJK
        full_width = any(lo <= ord(c) <= hi for lo, hi in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A)))
        full_width |= 0xFF41 <= ord(c) <= 0xFF5A
        punct = c.isascii() and c.isprintable() and c != " " and cls[i] == SEP
        full += full_width
        mangled += inside and (folded[i] == 0x0A or punct)
    unmarked = "".join(chr(f) for f in folded)
    for noise in NOISE_PASSES:
        if noise.kind == "html":
            unmarked = noise.remove(unmarked)[0]
    unended = 0
    for line in unmarked.split("\n"):
        visible = [c for c in line if c != " "]
        if visible and t.cls[ord(visible[-1])] != SEP:
            unended += sum(1 for c in visible if t.cls[ord(c)] != SEP)
    return trad, mangled, unended, full


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(_CONTEXT_ALPHABET + _NOISE_ALPHABET + ",.|中文 ")),
        max_size=5,
    )
)
def test_figures_of_a_batch(texts: list[str]) -> None:
    # The same text as `normalize_batch`, and each text's figures as if it were alone.
    cps, offsets, figures = normalize_measured(texts)
    plain_cps, plain_offsets = normalize_batch(texts)
    assert np.array_equal(cps, plain_cps) and np.array_equal(offsets, plain_offsets)
    rows = figures.rows()
    for text, row in zip(texts, rows, strict=True):
        assert row == normalize_measured([text])[2].rows()[0]
        folded = normalize(text)
        short = len(folded) <= 64
        empty = placeholder_only(folded) or (short and navigation_only(text))
        assert row[0] == (0 if empty else len(folded))
        assert row[2:-1] == _reference_figures(text)


@pytest.mark.parametrize(
    ("normalized", "empty"),
    [
        ("null", True),
        ("undefined null", True),
        ("object object nan", True),
        ("404", True),
        ("0 12345678", False),  # 9 digits: a number someone wrote
        ("20240105", True),
        ("nullable", False),
        ("null 你好", False),
        ("hello", False),
        ("", True),
    ],
)
def test_placeholder_only_texts_are_no_text(normalized: str, empty: bool) -> None:
    assert placeholder_only(normalized) is empty


@pytest.mark.parametrize(
    ("text", "bars"),
    [
        ("登录 | 注册 | 手机版 | 客户端下载", True),
        ("首页 > 体育 > 正文", True),
        ("点赞 收藏 分享 | 举报", True),
        ("首页｜新闻｜体育\n\n关于我们 | 联系方式 | 网站地图\n", True),
        ("登录 | 注册", False),  # two items: a bar, or "A | B" in a sentence
        ("首页 | 新闻 | 国际\n今天天气很好。", False),  # a line of text
        ("登录 | 注册 | 这是一段很长的不像导航的文字", False),  # an item of more than 8
        ("This is a short text", False),  # no bar
        ("", False),
        ("  \n ", False),
    ],
)
def test_navigation_bars_alone_are_no_text(text: str, bars: bool) -> None:
    assert navigation_only(text) is bars
    _, _, figures = normalize_measured([text, text + "\n今天天气很好。"])
    assert figures.length[0] == (0 if bars else len(normalize(text)))
    assert figures.length[1] > 0


@pytest.mark.parametrize(
    ("text", "removed"),
    [
        ("正文。\n· 甲\n· 乙\n· 丙", 1),
        ("· 甲\n· 乙\n· 丙\n正文。", 1),  # at the start
        ("正文。\n· 甲\n· 乙\n正文。", 0),  # two items: not a list
        ("1. 第一条很长" + "长" * 70 + "。\n2. 乙\n3. 丙", 0),  # a paragraph is no item
        ("【1】甲\n【2】乙\n【3】丙\n\n· 丁\n· 戊\n· 己", 1),  # one block, blank line inside
        ("- 甲\n- 乙\n- 丙", 1),
        ("-甲\n-乙\n-丙", 0),  # a dash is a bullet only before a space
        ("1.5 甲\n2.5 乙\n3.5 丙", 0),  # numbers, not marks
        ("1. 项目编号：ZB23-1\n2. 乙：450万元\n3. 工期: 180天", 0),  # a record's fields
        ("1. 藏北：部队力保灾民\n2. 乙\n3. 丙", 1),  # a title: words after the colon
        ("1. 江苏:传统(附图片1张)\n2. 乙\n3. 丙", 1),
        ("1. 加强领导；\n2. 明确乙。\n3. 落实丙！", 0),  # an article's points end sentences
        ("· 藏北：乙（02-15）\n· 丙（02-16）\n· 丁（02-17）", 1),  # bullets: titles
    ],
)
def test_link_lists_are_removed(text: str, removed: int) -> None:
    left, counts = normalize_counted(text)
    assert counts.lists == removed
    assert ("乙" in left) is (removed == 0)
    assert normalize_batch([text])[0].tolist() == codepoints(left).tolist()


def test_link_list_switch() -> None:
    text = "正文。\n· 甲\n· 乙\n· 丙"
    assert normalize(text, NormalizeConfig(strip_lists=False)) == "正文甲乙丙"
    assert normalize(text) == "正文"


@pytest.mark.parametrize(
    ("text", "frame"),
    [
        (
            "关于我们 | 联系方式 | 网站地图\nCopyright © 2010-2023 甲网 All Rights Reserved"
            "\n浙ICP备90031396号-5　浙公网安备 17355276881009号\n违法和不良信息举报电话：0566-1649",
            True,
        ),
        ("版权所有 © 甲网\n\n互联网新闻信息服务许可证", True),
        ("首页 | 新闻 | 国际\n版权所有 © 甲网\n今天天气很好。", False),  # a line of text
        ("版权所有" + "长" * 100, False),  # too long for a footer's line
        ("本报讯 国家网信办今天发布新规，网站必须公示ICP备案号。", False),
        ("互联网新闻信息服务许可证\n举报电话：12377", False),  # nothing only a footer says
        ("首页 | 新闻 | 国际 | 体育", False),  # a bar alone (navigation_only's, if short)
        ("", False),
    ],
)
def test_site_footers_alone_are_no_text(text: str, frame: bool) -> None:
    assert frame_only(text) is frame
    _, _, figures = normalize_measured([text, text + "\n今天天气很好。"])
    assert bool(figures.length[0] == 0) is (frame or navigation_only(text) or not normalize(text))
    assert figures.length[1] > 0


def test_texts_with_only_a_list_batched_with_others() -> None:
    # Plain texts, texts only the list pass changes and texts every pass may change, side by
    # side: each as alone, with the letters removed and the lines measured on its own text.
    listed = "正文。\n· 甲乙（07-26）\n· 丙丁（07-27）\n\n· 戊（07-28）\n尾声"
    texts = [
        listed,
        "<p>正文</p>",
        "正文",
        listed + "\n1. 己\n2. 庚\n3. 辛",
        "發(fā)展\n· 甲\n· 乙\n· 丙",
        "",
    ]
    for order in (texts, texts[::-1], texts[1:] + texts[:1]):
        _assert_each_text_alone(order, NormalizeConfig())
        _assert_each_text_alone(order, NormalizeConfig(strip_lists=False))
    _, _, figures = normalize_measured(texts)
    assert figures.noise[0] == len("甲乙0726丙丁0727戊0728")
