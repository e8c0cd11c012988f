"""The tests' whole-frame comparer fails when it should, and says which rows differ."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tests.frames import assert_frames_equal, assert_rows_equal


def test_row_order_is_ignored_but_duplicates_count() -> None:
    left = pd.DataFrame({"id": [1, 2, 2], "x": [0.5, None, 3.0]})
    right = pd.DataFrame({"id": [2, 1, 2], "x": [3.0, 0.5, np.nan]})

    assert_frames_equal(left, right)
    with pytest.raises(AssertionError, match="3 rows, expected 2"):
        assert_frames_equal(left, right.iloc[:2])
    with pytest.raises(AssertionError, match="first difference at row 0"):
        assert_frames_equal(left, right, ignore_row_order=False)


def test_the_diff_names_the_missing_and_the_unexpected_rows() -> None:
    got = pd.DataFrame({"id": [1, 2], "day": [date(2025, 1, 1)] * 2, "x": [1.0, 2.0]})

    expected_message = (
        "2 rows, expected 2; columns ['id', 'day', 'x']\n"
        "  missing (expected, not found): 1\n"
        "    (2, datetime.date(2025, 1, 1), 20.0)\n"
        "  unexpected (found, not expected): 1\n"
        "    (2, datetime.date(2025, 1, 1), 2.0)"
    )
    with pytest.raises(AssertionError, match=re.escape(expected_message)):
        assert_rows_equal(
            got, ["id", "day", "x"], [(1, date(2025, 1, 1), 1.0), (2, date(2025, 1, 1), 20.0)]
        )


def test_columns_must_match_by_name_and_order() -> None:
    left = pd.DataFrame({"a": [1], "b": [2]})

    with pytest.raises(AssertionError, match="columns differ"):
        assert_frames_equal(left, left[["b", "a"]])
    assert_frames_equal(left, left[["b", "a"]], ignore_column_order=True)


def test_arrays_compare_by_value_and_floats_exactly_unless_rounded() -> None:
    left = pd.DataFrame({"names": [np.array(["a", "b"])], "share": [0.1 + 0.2]})
    right = pd.DataFrame({"names": [["a", "b"]], "share": [0.3]})

    with pytest.raises(AssertionError, match="missing"):
        assert_frames_equal(left, right)
    assert_frames_equal(left, right, significant_digits=12)
