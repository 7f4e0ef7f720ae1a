from __future__ import annotations

import numpy as np

from dedup.types import Figures


def test_figures_travel_as_rows_and_batches() -> None:
    a = Figures.lengths_only([3, 0])
    b = Figures(*(np.array([k + 1]) for k in range(7)))
    both = Figures.concat([a, b])
    assert len(both) == 3
    # Texts of lengths only are each a version of its own (copy keys 0 and 1).
    assert both.rows() == [(3, 0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0, 1), (1, 2, 3, 4, 5, 6, 7)]
    assert Figures.from_rows(both.rows()).rows() == both.rows()
    assert both.take(np.array([2, 0])).rows() == [(1, 2, 3, 4, 5, 6, 7), (3, 0, 0, 0, 0, 0, 0)]
    assert len(Figures.concat([])) == 0 and Figures.from_rows([]).rows() == []
