from __future__ import annotations

import numpy as np

from dedup.config import VerifyConfig
from dedup.verify import is_match, similarities


def _store(*sets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    arrays = [np.array(sorted(s), dtype=np.uint32) for s in sets]
    offsets = np.cumsum([0] + [a.size for a in arrays]).astype(np.int64)
    return np.concatenate(arrays), offsets


def test_exact_jaccard_and_containment() -> None:
    data, offsets = _store([1, 2, 3, 4], [3, 4, 5, 6, 7, 8], [1, 2])
    jac, con = similarities(data, offsets, np.array([[0, 1], [0, 2], [1, 2]]))
    assert jac.tolist() == [2 / 8, 2 / 4, 0.0]
    assert con.tolist() == [2 / 4, 1.0, 0.0]


def test_match_by_either_criterion() -> None:
    cfg = VerifyConfig(threshold=0.7, containment=0.8)
    mask = is_match(np.array([0.75, 0.3, 0.3]), np.array([0.75, 0.9, 0.5]), cfg)
    assert mask.tolist() == [True, True, False]
