from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.config import NormalizeConfig, ShingleConfig
from dedup.normalize import tables
from dedup.shingle import EMPTY_SHINGLE, NUMBER_BIT, shingle_batch, shingle_codepoints, shingles


def test_character_ngrams_count() -> None:
    # 10 CJK characters -> 6 distinct 5-grams.
    assert shingles("一二三四五六七八九十", ShingleConfig(5)).size == 6


def test_words_are_single_tokens() -> None:
    # 6 words -> 2 word 5-grams, independent of word length.
    assert shingles("alpha beta gamma delta epsilon zeta", ShingleConfig(5)).size == 2


def test_sorted_unique_uint32() -> None:
    s = shingles("重复重复重复重复重复重复重复")
    assert s.dtype == np.uint32
    assert np.all(np.diff(s.astype(np.int64)) > 0)


def test_short_and_empty_texts_still_compare() -> None:
    assert shingles("").tolist() == [int(EMPTY_SHINGLE)]
    assert shingles("你好").size == 1
    assert shingles("你好").tolist() == shingles("你好").tolist()
    assert shingles("你好").tolist() != shingles("您好").tolist()


def test_ngram_size_changes_sets() -> None:
    text = "一二三四五六七八九十"
    assert shingles(text, ShingleConfig(3)).size == 8
    assert set(shingles(text, ShingleConfig(3)).tolist()) != set(
        shingles(text, ShingleConfig(5)).tolist()
    )


def test_cjk_and_word_tokens_differ() -> None:
    assert shingles("a").tolist() != shingles("\u0061\u4e00").tolist()


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="一二三四五六 abc1", max_size=30), max_size=8),
    n=st.integers(1, 6),
)
def test_batch_equals_one_text_at_a_time(texts: list[str], n: int) -> None:
    cls = tables(NormalizeConfig()).cls
    cps = [np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32) for t in texts]
    offsets = np.cumsum([0] + [c.size for c in cps])
    data, sizes = shingle_batch(np.concatenate([np.empty(0, np.uint32), *cps]), offsets, cls, n)
    one_by_one = [shingle_codepoints(c, cls, n) for c in cps]
    assert sizes.tolist() == [s.size for s in one_by_one]
    assert np.array_equal(data, np.concatenate(one_by_one) if texts else data[:0])


def test_numbers_are_elements_by_place_whole_across_breaks() -> None:
    def numbers(text: str) -> list[int]:
        s = shingles(text)
        return s[s >= NUMBER_BIT].tolist()

    base = shingles("于2016年5月在")
    assert numbers("于2016年5月在") == base[-2:].tolist() and base[-3] < NUMBER_BIT
    assert numbers("于20\n16年5月在") == numbers("于2016年5月在")  # a line break inside
    assert numbers("共1,234.5元") == numbers("共1234\n5元")
    # Another year changes that number's element only: the month keeps its place.
    assert len(set(numbers("于2017年5月在")) & set(numbers("于2016年5月在"))) == 1
    # A number's place is the two tokens before it: another place, another element.
    assert not set(numbers("在2016年")) & set(numbers("于2016年"))
    assert numbers("没有数字") == []
