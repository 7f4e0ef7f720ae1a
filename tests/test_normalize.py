from __future__ import annotations

import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.config import NormalizeConfig
from dedup.normalize import normalize, normalize_counted

# (noise kind, noisy text, clean text): each noisy form must normalize like the clean one.
CASES = [
    ("traditional", "發展經濟，推進會議", "发展经济，推进会议"),
    ("taiwan variants", "裡面的臺灣著作", "里面的台湾着作"),
    ("pinyin", "發(fā)展經(jīng)濟", "发展经济"),
    ("pinyin full-width parens", "發（fā）展", "发展"),
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
]


@pytest.mark.parametrize(("kind", "noisy", "clean"), CASES, ids=[c[0] for c in CASES])
def test_noise_is_folded(kind: str, noisy: str, clean: str) -> None:
    assert normalize(noisy) == normalize(clean)


def test_output_form() -> None:
    assert normalize("發(fā)展，ＡＢＣ  Def 2023年") == "发展abc def 2023年"


def test_latin_words_are_kept_apart() -> None:
    assert normalize("The quick brown fox.") == "the quick brown fox"
    assert normalize("iPhone15手机") == "iphone15手机"


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


@pytest.mark.parametrize("conversion", ["s2t", "s2tw", "s2hk"])
def test_opencc_conversions_fold_back(seed_texts: dict[str, str], conversion: str) -> None:
    # The fold is per character: OpenCC's conversions of a simplified text fold back exactly.
    simplified = seed_texts["001_096293c0fedcb6b3.txt"]
    converted = opencc.OpenCC(conversion).convert(simplified)
    assert normalize(converted) == normalize(simplified)


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


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("發展經濟()fāǎ?. x-F6 b+\n「」，。ＡＢ<p>&;")))
def test_idempotent_on_noise_alphabet(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
