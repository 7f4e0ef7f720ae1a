from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dedup.chars import tables
from dedup.config import NormalizeConfig
from dedup.tablecache import cache_dir, cached


def test_a_table_is_built_once_per_sources_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path))
    built: list[str] = []

    def build(tag: str) -> dict[str, np.ndarray]:
        built.append(tag)
        return {"values": np.arange(5, dtype=np.uint32) * len(built)}

    first = cached("t", [b"source"], "a", lambda: build("a"))
    again = cached("t", [b"source"], "a", lambda: build("again"))
    assert built == ["a"] and np.array_equal(first["values"], again["values"])
    assert again["values"].dtype == np.uint32
    cached("t", [b"source"], "b", lambda: build("b"))  # other options
    cached("t", [b"changed"], "a", lambda: build("c"))  # other sources
    assert built == ["a", "b", "c"]
    assert cache_dir() == tmp_path and len(list(tmp_path.glob("t-*.npz"))) == 3


def test_a_damaged_file_or_a_folder_that_cannot_be_written_only_costs_a_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path))
    cached("t", [b"x"], "", lambda: {"v": np.ones(3)})
    (stored,) = tmp_path.glob("t-*.npz")
    stored.write_bytes(b"not a zip file")
    assert cached("t", [b"x"], "", lambda: {"v": np.zeros(3)})["v"].tolist() == [0, 0, 0]
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder should be")
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(blocked / "sub"))
    assert cached("t", [b"x"], "", lambda: {"v": np.full(2, 7)})["v"].tolist() == [7, 7]


def test_the_character_tables_come_back_from_the_cache_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path))
    cfg = NormalizeConfig(casefold=False)  # a config no other test caches in this process
    built = tables.__wrapped__(cfg)
    read = tables.__wrapped__(cfg)
    assert len(list(tmp_path.glob("chars-*.npz"))) == 1
    for name in ("fold", "cls", "trad"):
        assert np.array_equal(getattr(built, name), getattr(read, name))
        assert getattr(built, name).dtype == getattr(read, name).dtype
