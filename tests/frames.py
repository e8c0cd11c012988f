"""Whole-frame comparison for tests: Spark or pandas frames, or hand-written rows, compared as
multisets of rows (row order ignored unless asked), with a diff that names the missing and the
unexpected rows instead of a bare ``False``.

``assert_frames_equal(actual, expected)`` compares two frames (column names, in order, and every
row); ``assert_rows_equal(frame, columns, rows)`` compares a frame with rows written by hand.
Floats compare exactly unless ``rel`` is given (then like ``pytest.approx``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

Frame = DataFrame | pd.DataFrame

_MISSING = "<null>"


def _normal(value: Any, digits: int | None) -> Hashable:
    """A hashable, comparable form of one cell: nulls and NaN alike, arrays as tuples, maps as
    sorted tuples, numpy scalars as Python ones, floats rounded to ``digits`` significant
    digits when asked."""
    if value is None or value is pd.NaT:
        return _MISSING
    if isinstance(value, np.ndarray | list | tuple):
        return tuple(_normal(item, digits) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _normal(v, digits)) for k, v in value.items()))
    if hasattr(value, "asDict"):  # a Spark Row inside a struct column
        return tuple(_normal(v, digits) for v in value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, float | Decimal):
        number = float(value)
        if math.isnan(number):
            return _MISSING
        return float(f"{number:.{digits}g}") if digits is not None else number
    if isinstance(value, datetime | date | str | int | bool):
        return value
    return repr(value)


def _rows(frame: Frame, digits: int | None) -> tuple[list[str], list[tuple[Hashable, ...]]]:
    if isinstance(frame, DataFrame):
        columns = frame.columns
        rows = [tuple(_normal(v, digits) for v in row) for row in frame.collect()]
    else:
        columns = [str(c) for c in frame.columns]
        rows = [
            tuple(_normal(v, digits) for v in row)
            for row in frame.itertuples(index=False, name=None)
        ]
    return columns, rows


def _sort_key(row: tuple[Hashable, ...]) -> tuple[str, ...]:
    return tuple(repr(cell) for cell in row)


def _diff(columns: Sequence[str], actual: list[tuple[Any, ...]], expected: list[tuple[Any, ...]],
          ordered: bool) -> str | None:  # fmt: skip
    if ordered:
        if actual == expected:
            return None
        lines = [f"rows differ in order or value; columns {list(columns)}"]
        for i, (a, e) in enumerate(zip(actual, expected, strict=False)):
            if a != e:
                lines.append(f"  first difference at row {i}:\n    actual   {a}\n    expected {e}")
                break
        if len(actual) != len(expected):
            lines.append(f"  {len(actual)} rows, expected {len(expected)}")
        return "\n".join(lines)
    missing = Counter(expected) - Counter(actual)
    unexpected = Counter(actual) - Counter(expected)
    if not missing and not unexpected:
        return None
    lines = [f"{len(actual)} rows, expected {len(expected)}; columns {list(columns)}"]
    for title, rows in (("missing (expected, not found)", missing),
                        ("unexpected (found, not expected)", unexpected)):  # fmt: skip
        if rows:
            lines.append(f"  {title}: {sum(rows.values())}")
            for row in sorted(rows.elements(), key=_sort_key)[:20]:
                lines.append(f"    {row}")
    return "\n".join(lines)


def assert_frames_equal(
    actual: Frame,
    expected: Frame,
    *,
    ignore_row_order: bool = True,
    ignore_column_order: bool = False,
    significant_digits: int | None = None,
) -> None:
    """Assert two frames hold the same columns and the same rows (as a multiset by default).

    For two Spark frames the column types must match too. ``significant_digits`` rounds floats
    before comparing (for values computed two ways); by default floats compare exactly.
    """
    if ignore_column_order:
        order = sorted(expected.columns)
        expected = expected.select(*order) if isinstance(expected, DataFrame) else expected[order]
        actual = actual.select(*order) if isinstance(actual, DataFrame) else actual[order]
    if isinstance(actual, DataFrame) and isinstance(expected, DataFrame):
        types = [(f.name, f.dataType.simpleString()) for f in actual.schema.fields]
        wanted = [(f.name, f.dataType.simpleString()) for f in expected.schema.fields]
        assert types == wanted, f"schemas differ:\n  actual   {types}\n  expected {wanted}"
    columns, got = _rows(actual, significant_digits)
    wanted_columns, want = _rows(expected, significant_digits)
    assert columns == wanted_columns, (
        f"columns differ:\n  actual   {columns}\n  expected {wanted_columns}"
    )
    message = _diff(columns, got, want, ordered=not ignore_row_order)
    assert message is None, message


def assert_rows_equal(
    actual: Frame,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    ignore_row_order: bool = True,
    significant_digits: int | None = None,
) -> None:
    """Assert ``actual``'s ``columns`` (selected in that order) hold exactly ``rows``."""
    selected = actual.select(*columns) if isinstance(actual, DataFrame) else actual[list(columns)]
    _, got = _rows(selected, significant_digits)
    want = [tuple(_normal(v, significant_digits) for v in row) for row in rows]
    message = _diff(columns, got, want, ordered=not ignore_row_order)
    assert message is None, message
