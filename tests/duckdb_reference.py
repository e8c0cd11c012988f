"""The feature tables as DuckDB SQL: an independent reference for ``fraud.features_windowed``
(one query with ``RANGE`` frames, written from the feature definitions, no prefix sums) and
``fraud.features_monthly`` (exact integer sums per calendar month), and row-by-row comparisons
with what Spark wrote.

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
from fraudspark.features.monthly import MONTHLY_COLUMNS
from fraudspark.features.windowed import AMOUNT_SCALE, MAX_AMOUNT

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


def duckdb_monthly_query(features: FeatureConfig, files: list[str]) -> str:
    """``fraud.features_monthly`` (:func:`monthly_features`) as one SQL query.

    One row per (entity_type, entity_id, month) with activity: ``visible_from`` (the first
    instant of the next month, UTC), ``nb_tx``, ``avg_amount``, ``std_amount`` (population),
    ``nb_counterparties`` (the number of (customer, terminal) pairs), and for terminals
    ``nb_labelled_tx`` and ``fraud_rate`` over the transactions with ``tx_ts <= visible_from -
    label delay`` (0 when none is labelled); customers carry nulls in both. Amounts are summed
    in exact integer units of ``1 / AMOUNT_SCALE`` (rounded half to even, as ``F.rint``), squares
    in HUGEINT, and the spread uses the same exact decomposition as Spark (``q`` the rounded
    mean, ``r = S1 - q n``: ``S2 - q (q n + 2 r) - r^2 / n``). An amount above ``MAX_AMOUNT``
    or below 0 raises an error, as in Spark.
    """
    file_list = ", ".join(f"'{f}'" for f in files)
    next_month = "(month + INTERVAL 1 MONTH)"
    known_by = f"({next_month} - INTERVAL {features.label_delay_days} DAY)"
    units = (
        f"CASE WHEN tx_amount > {MAX_AMOUNT!r} OR tx_amount < 0 THEN error('tx_amount outside "
        f"[0, {MAX_AMOUNT:g}] cannot be summed exactly: ' || tx_amount) "
        f"ELSE CAST(round_even(tx_amount * {AMOUNT_SCALE}, 0) AS BIGINT) END"
    )
    sides = "\n  UNION ALL\n".join(
        f"  SELECT '{name}' AS entity_type, {key} AS entity_id, month, sum(n) AS n, "
        f"sum(s1) AS s1, sum(s2) AS s2, sum(labelled) AS labelled, sum(frauds) AS frauds, "
        f"count(*) AS pairs\n  FROM pairs GROUP BY {key}, month"
        for name, key in (("customer", "customer_id"), ("terminal", "terminal_id"))
    )
    terminal = "entity_type = 'terminal'"
    columns = {
        "entity_type": "entity_type",
        "entity_id": "entity_id",
        "month": "month",
        "visible_from": f"CAST({next_month} AS TIMESTAMP)",
        "nb_tx": "CAST(n AS INTEGER)",
        "avg_amount": f"CAST(s1 AS DOUBLE) / n / {AMOUNT_SCALE}",
        "std_amount": (
            "sqrt(greatest(CAST(s2 - q * (q * n + 2 * r) AS DOUBLE) "
            f"- (CAST(r AS DOUBLE) * CAST(r AS DOUBLE)) / n, 0.0) / n) / {AMOUNT_SCALE}"
        ),
        "nb_counterparties": "CAST(pairs AS INTEGER)",
        "nb_labelled_tx": f"CASE WHEN {terminal} THEN CAST(labelled AS INTEGER) END",
        "fraud_rate": (
            f"CASE WHEN {terminal} THEN "
            "coalesce(CAST(frauds AS DOUBLE) / nullif(labelled, 0), 0.0) END"
        ),
    }
    assert tuple(columns) == MONTHLY_COLUMNS, "column order drifted"
    select = ",\n  ".join(f"{expr} AS {name}" for name, expr in columns.items())
    return (
        f"WITH tx AS (\n"
        f"  SELECT customer_id, terminal_id, CAST(tx_ts AS TIMESTAMP) AS tx_ts, tx_amount, "
        f"is_fraud,\n"
        f"    CAST(date_trunc('month', CAST(tx_ts AS TIMESTAMP)) AS DATE) AS month\n"
        f"  FROM read_parquet([{file_list}], hive_partitioning = true)\n"
        f"), pairs AS (\n"
        f"  SELECT customer_id, terminal_id, month, count(*) AS n, sum(units) AS s1,\n"
        f"    sum(CAST(units AS HUGEINT) * units) AS s2, sum(known) AS labelled,\n"
        f"    sum(known * coalesce(is_fraud, 0)) AS frauds\n"
        f"  FROM (\n"
        f"    SELECT customer_id, terminal_id, month, is_fraud, {units} AS units,\n"
        f"      CAST(tx_ts <= {known_by} AS BIGINT) AS known\n"
        f"    FROM tx\n"
        f"  )\n"
        f"  GROUP BY customer_id, terminal_id, month\n"
        f"), months AS (\n{sides}\n"
        # q: the mean in units, rounded; any integer q keeps the decomposition exact.
        f"), rounded AS (\n"
        f"  SELECT *, s1 - q * n AS r\n"
        f"  FROM (SELECT *, CAST(round(CAST(s1 AS DOUBLE) / n) AS BIGINT) AS q FROM months)\n"
        f")\n"
        f"SELECT\n  {select}\nFROM rounded"
    )


# --------------------------------------------------------------------------- agreement


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
            conditions[name] = _close(a, b)
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


def _close(a: str, b: str) -> str:
    """SQL: ``a`` and ``b`` differ beyond REL_TOL relative (both null or both NaN agree)."""
    close = (
        f"({a} = {b} OR abs({a} - {b}) <= {REL_TOL} * greatest(abs({a}), abs({b})) "
        f"OR (isnan({a}) AND isnan({b})))"
    )
    return f"(NOT coalesce({close}, {a} IS NULL AND {b} IS NULL))"


def table_files(table_dir: Path) -> list[str]:
    """The Parquet data files under a freshly written Delta table (its log left out)."""
    return sorted(str(p) for p in table_dir.rglob("*.parquet") if "_delta_log" not in p.parts)


def compare_monthly(
    con: duckdb.DuckDBPyConnection, spark_files: list[str], duck_out: Path
) -> Agreement:
    """Join Spark's ``fraud.features_monthly`` and DuckDB's rows on (entity_type, entity_id,
    month) and count the rows where any column differs: visible_from and the counts exactly
    (nulls included), avg_amount, std_amount and fraud_rate within REL_TOL relative."""
    spark_list = ", ".join(f"'{f}'" for f in spark_files)
    keys = ("entity_type", "entity_id", "month")
    conditions: dict[str, str] = {}
    for name in MONTHLY_COLUMNS[len(keys) :]:
        a, b = f"s.{name}", f"d.{name}"
        if name in ("avg_amount", "std_amount", "fraud_rate"):
            conditions[name] = _close(a, b)
        else:
            conditions[name] = f"({a} IS DISTINCT FROM {b})"
    missing = "(s.entity_id IS NULL OR d.entity_id IS NULL)"
    any_diff = " OR ".join([missing, *conditions.values()])
    per_column = ", ".join(
        f'count(*) FILTER (WHERE {cond}) AS "{name}"' for name, cond in conditions.items()
    )
    # Spark writes the partition column (entity_type) in the path only; visible_from may come
    # back with a time zone: both sides are cast to plain UTC timestamps.
    cast = (
        "SELECT * REPLACE (CAST(visible_from AS TIMESTAMP) AS visible_from, "
        "CAST(month AS DATE) AS month, CAST(entity_type AS VARCHAR) AS entity_type)"
    )
    query = f"""
        WITH s AS ({cast} FROM read_parquet([{spark_list}], hive_partitioning = true)),
             d AS ({cast} FROM read_parquet('{duck_out}/**/*.parquet', hive_partitioning = true))
        SELECT count(s.entity_id), count(d.entity_id), count(*) FILTER (WHERE {any_diff}),
               {per_column}
        FROM s FULL OUTER JOIN d USING (entity_type, entity_id, month)
    """
    row = con.execute(query).fetchone()
    assert row is not None
    names = list(conditions)
    by_column = {n: int(v) for n, v in zip(names, row[3:], strict=True) if v}
    return Agreement(int(row[0]), int(row[1]), int(row[2]), by_column)


def agreement_line(what: str, agreement: Agreement) -> str:
    verdict = "agree" if agreement.agree else "DISAGREE"
    return (
        f"{what} {verdict}: {agreement.mismatching_rows} mismatching rows "
        f"(Spark {agreement.spark_rows:,} rows, DuckDB {agreement.duckdb_rows:,} rows)"
        + (f"; by column {agreement.by_column}" if agreement.by_column else "")
    )
