"""The windowed features as one DuckDB SQL query with ``RANGE`` frames: an independent
reference for ``fraud.features_windowed`` (written from the feature definitions, no prefix sums),
and a row-by-row comparison of two sets of Parquet files.

Used by tests/test_skew.py and bench/features.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from fraudspark.config import FeatureConfig
from fraudspark.features.definitions import (
    CALENDAR_FEATURES,
    TRANSACTION_KEYS,
    Window,
    WindowSpec,
    customer_windows,
    terminal_windows,
    windowed_feature_columns,
)

# Means and risks agree within this relative difference; counts and flags exactly.
REL_TOL = 1e-9


def _micros(value: int) -> str:
    return f"to_microseconds({value}::BIGINT)"


def _frame(window: Window) -> str:
    """(t - lag - length, t - lag] as an inclusive RANGE frame on microsecond timestamps."""
    upper = "CURRENT ROW" if window.lag_micros == 0 else f"{_micros(window.lag_micros)} PRECEDING"
    lower = _micros(window.lag_micros + window.length_micros - 1)
    return f"RANGE BETWEEN {lower} PRECEDING AND {upper}"


def _entity_columns(spec: WindowSpec) -> dict[str, str]:
    columns: dict[str, str] = {}
    for window in spec.risk_windows:
        over = f"OVER (PARTITION BY {spec.key} ORDER BY tx_ts {_frame(window)})"
        count = f"count(*) {over}"
        frauds = f"sum(coalesce(is_fraud, 0)) {over}"
        columns[spec.count_column(window)] = f"CAST({count} AS INTEGER)"
        columns[spec.risk_column(window)] = (
            f"CAST(coalesce({frauds} / nullif({count}, 0), 0.0) AS DOUBLE)"
        )
    for window in spec.amount_windows:
        over = f"OVER (PARTITION BY {spec.key} ORDER BY tx_ts {_frame(window)})"
        columns[spec.count_column(window)] = f"CAST(count(*) {over} AS INTEGER)"
        columns[spec.amount_column(window)] = f"avg(tx_amount) {over}"
    return columns


def duckdb_windowed_query(features: FeatureConfig, files: list[str]) -> str:
    """``fraud.features_windowed`` for every transaction, as one SQL query."""
    columns = {
        # dayofweek: 0 = Sunday ... 6 = Saturday; timestamps are UTC (TimeZone is set to UTC).
        "tx_during_weekend": "CAST(dayofweek(tx_ts) IN (0, 6) AS INTEGER)",
        "tx_during_night": "CAST(hour(tx_ts) <= 6 AS INTEGER)",
        **_entity_columns(customer_windows(features)),
        **_entity_columns(terminal_windows(features)),
    }
    assert list(columns) == windowed_feature_columns(features), "column order drifted"
    file_list = ", ".join(f"'{f}'" for f in files)
    select = ",\n  ".join(
        [*TRANSACTION_KEYS, *(f"{expr} AS {name}" for name, expr in columns.items())]
    )
    return (
        f"SELECT\n  {select}\nFROM (\n"
        f"  SELECT tx_id, CAST(tx_ts AS TIMESTAMP) AS tx_ts, CAST(tx_date AS DATE) AS tx_date,\n"
        f"    customer_id, terminal_id, tx_amount, is_fraud\n"
        f"  FROM read_parquet([{file_list}], hive_partitioning = true)\n)"
    )


@dataclass
class Agreement:
    spark_rows: int
    duckdb_rows: int
    mismatching_rows: int
    by_column: dict[str, int]

    @property
    def agree(self) -> bool:
        return self.mismatching_rows == 0 and self.spark_rows == self.duckdb_rows


def compare(
    con: duckdb.DuckDBPyConnection, spark_files: list[str], duck_out: Path, features: FeatureConfig
) -> Agreement:
    """Join Spark's and DuckDB's rows on tx_id and count the rows where any feature differs."""
    spark_list = ", ".join(f"'{f}'" for f in spark_files)
    conditions: dict[str, str] = {}
    for name in windowed_feature_columns(features):
        a, b = f"s.{name}", f"d.{name}"
        if "_nb_tx_" in name or name in CALENDAR_FEATURES:
            conditions[name] = f"({a} IS DISTINCT FROM {b})"
        else:
            close = (
                f"({a} = {b} OR abs({a} - {b}) <= {REL_TOL} * greatest(abs({a}), abs({b})) "
                f"OR (isnan({a}) AND isnan({b})))"
            )
            conditions[name] = f"(NOT coalesce({close}, {a} IS NULL AND {b} IS NULL))"
    missing = "(s.tx_id IS NULL OR d.tx_id IS NULL)"
    any_diff = " OR ".join([missing, *conditions.values()])
    per_column = ", ".join(
        f'count(*) FILTER (WHERE {cond}) AS "{name}"' for name, cond in conditions.items()
    )
    query = f"""
        WITH s AS (SELECT * FROM read_parquet([{spark_list}])),
             d AS (SELECT * FROM read_parquet('{duck_out}/**/*.parquet', hive_partitioning = true))
        SELECT count(s.tx_id), count(d.tx_id), count(*) FILTER (WHERE {any_diff}), {per_column}
        FROM s FULL OUTER JOIN d ON s.tx_id = d.tx_id
    """
    row = con.execute(query).fetchone()
    assert row is not None
    names = list(conditions)
    by_column = {n: int(v) for n, v in zip(names, row[3:], strict=True) if v}
    return Agreement(int(row[0]), int(row[1]), int(row[2]), by_column)
