from __future__ import annotations

import numpy as np

from dedup.config import ShingleConfig
from dedup.shingle import EMPTY_SHINGLE, shingles


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
