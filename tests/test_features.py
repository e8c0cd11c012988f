"""Feature definitions on tiny hand-written data, expected values written out by hand."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config, FeatureConfig
from fraudspark.features import definitions
from fraudspark.features.definitions import (
    column_kind,
    feature_fields,
    monthly_feature_columns,
    windowed_feature_columns,
)
from fraudspark.features.model_inputs import model_inputs
from fraudspark.features.monthly import monthly_features
from fraudspark.features.store import assemble_feature_rows, model_feature_columns
from fraudspark.features.windowed import calendar_flags, windowed_features
from fraudspark.ingest.rules import business_date

TX_SCHEMA = (
    "tx_id long, tx_ts timestamp, customer_id long, terminal_id long, tx_amount double, "
    "is_fraud int"
)


def transactions(spark: SparkSession, rows: list[tuple[object, ...]]) -> DataFrame:
    """(tx_id, 'YYYY-MM-DD HH:MM:SS', customer, terminal, amount, is_fraud) -> a frame."""
    parsed = [(r[0], datetime.fromisoformat(str(r[1])), *r[2:]) for r in rows]
    return spark.createDataFrame(parsed, TX_SCHEMA).selectExpr("*", "to_date(tx_ts) AS tx_date")


def by_tx(frame: DataFrame, columns: list[str]) -> dict[int, tuple[object, ...]]:
    return {r["tx_id"]: tuple(r[c] for c in columns) for r in frame.collect()}


def test_column_names_follow_configuration() -> None:
    config = FeatureConfig(
        customer_day_windows=[1, 15],
        terminal_day_windows=[7],
        minute_windows=[120],
    )
    assert windowed_feature_columns(config) == [
        "tx_during_weekend",
        "tx_during_night",
        "cust_nb_tx_1d",
        "cust_avg_amount_1d",
        "cust_nb_tx_15d",
        "cust_avg_amount_15d",
        "cust_nb_tx_120m",
        "cust_avg_amount_120m",
        "term_nb_tx_7d",
        "term_risk_7d",
        "term_nb_tx_120m",
        "term_avg_amount_120m",
    ]


@pytest.mark.parametrize(
    "features",
    [FeatureConfig(), FeatureConfig(customer_day_windows=[2, 15], minute_windows=[120])],
)
def test_every_store_column_has_a_declared_kind(features: FeatureConfig) -> None:
    config = Config(features=features)
    fields = feature_fields(features)
    names = [field.name for field in fields]

    assert names == model_feature_columns(config)
    store = {
        "tx_amount",
        *windowed_feature_columns(features),
        *monthly_feature_columns("customer"),
        *monthly_feature_columns("terminal"),
        "cust_month_missing",
        "term_month_missing",
    }
    assert set(names) == store
    assert all(field.kind == column_kind(field.name) for field in fields)


def test_declared_kinds_of_hand_picked_columns() -> None:
    expected = {
        "tx_amount": ("amount", "double"),
        "tx_during_weekend": ("flag", "int"),
        "tx_during_night": ("flag", "int"),
        "cust_nb_tx_7d": ("count", "int"),
        "cust_avg_amount_30d": ("amount", "double"),
        "cust_nb_tx_15m": ("count", "int"),
        "term_nb_tx_1d": ("count", "int"),
        "term_risk_30d": ("risk", "double"),
        "term_avg_amount_60m": ("amount", "double"),
        "cust_month_std_amount": ("amount", "double"),
        "cust_month_nb_counterparties": ("count", "int"),
        "term_month_fraud_rate": ("risk", "double"),
        "term_month_missing": ("missing", "int"),
    }
    fields = {field.name: (field.kind, field.dtype) for field in feature_fields(FeatureConfig())}
    assert {name: fields[name] for name in expected} == expected


def test_a_feature_without_a_declared_kind_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # A new monthly measure added without declaring its kind.
    monkeypatch.setattr(definitions, "MONTHLY_MEASURES", (*definitions.MONTHLY_MEASURES, "p95"))
    with pytest.raises(ValueError, match="'term_month_p95' has no declared kind"):
        feature_fields(FeatureConfig())
    with pytest.raises(ValueError, match="'seconds_since_last_tx' has no declared kind"):
        column_kind("seconds_since_last_tx")


def test_customer_windows_include_ties_and_exclude_exactly_w_before(spark: SparkSession) -> None:
    frame = transactions(
        spark,
        [
            (1, "2025-01-01 10:00:00", 1, 100, 10.0, 0),
            (2, "2025-01-01 10:00:00", 1, 101, 20.0, 0),  # same second as tx 1
            (3, "2025-01-02 10:00:00", 1, 102, 30.0, 0),  # exactly 1 day after 1 and 2
            (4, "2025-01-02 10:14:59", 1, 103, 40.0, 0),
            (5, "2025-01-02 10:29:59", 1, 104, 50.0, 0),  # exactly 15 min after tx 4
            (6, "2025-01-02 10:05:00", 2, 100, 99.0, 0),  # another customer: never counted
        ],
    )
    columns = [
        "cust_nb_tx_1d",
        "cust_avg_amount_1d",
        "cust_nb_tx_7d",
        "cust_avg_amount_7d",
        "cust_nb_tx_15m",
        "cust_avg_amount_15m",
        "cust_nb_tx_30m",
        "cust_avg_amount_30m",
    ]
    got = by_tx(windowed_features(frame, FeatureConfig(), partitions=2, time_zone="UTC"), columns)
    assert got == {
        1: (2, 15.0, 2, 15.0, 2, 15.0, 2, 15.0),
        2: (2, 15.0, 2, 15.0, 2, 15.0, 2, 15.0),
        3: (1, 30.0, 3, 20.0, 1, 30.0, 1, 30.0),
        4: (2, 35.0, 4, 25.0, 2, 35.0, 2, 35.0),
        5: (3, 40.0, 5, 30.0, 1, 50.0, 3, 40.0),
        6: (1, 99.0, 1, 99.0, 1, 99.0, 1, 99.0),
    }


def test_terminal_risk_sees_only_labels_older_than_the_delay(spark: SparkSession) -> None:
    frame = transactions(
        spark,
        [
            (1, "2025-01-01 12:00:00", 1, 5, 10.0, 1),
            (2, "2025-01-03 12:00:00", 2, 5, 10.0, 0),
            (3, "2025-01-05 12:00:00", 3, 5, 10.0, 1),  # fraud inside the 7-day delay of tx 4
            (4, "2025-01-08 12:00:00", 4, 5, 10.0, 0),  # tx 1 is exactly 7 days before: known
            (5, "2025-01-12 12:00:01", 5, 5, 10.0, None),
            (6, "2025-01-12 12:00:01", 6, 6, 10.0, 0),  # other terminal, nothing known
        ],
    )
    columns = ["term_nb_tx_1d", "term_risk_1d", "term_nb_tx_7d", "term_risk_7d", "term_nb_tx_30d"]
    got = by_tx(windowed_features(frame, FeatureConfig(), partitions=2, time_zone="UTC"), columns)
    assert got == {
        1: (0, 0.0, 0, 0.0, 0),
        2: (0, 0.0, 0, 0.0, 0),
        3: (0, 0.0, 0, 0.0, 0),
        4: (1, 1.0, 1, 1.0, 1),
        # (Dec 29 12:00:01, Jan 5 12:00:01]: txs 1, 2, 3 for 7d; only tx 3 in the last day.
        5: (1, 1.0, 3, 2 / 3, 3),
        6: (0, 0.0, 0, 0.0, 0),
    }


def test_terminal_minute_windows_and_calendar_flags(spark: SparkSession) -> None:
    frame = transactions(
        spark,
        [
            (1, "2025-01-04 06:59:59", 1, 7, 10.0, 0),  # Saturday, night
            (2, "2025-01-04 07:00:00", 2, 7, 30.0, 0),  # Saturday, day
            (3, "2025-01-04 07:59:59", 3, 7, 50.0, 0),
            (4, "2025-01-06 00:00:00", 4, 8, 1.0, 0),  # Monday, night
        ],
    )
    columns = [
        "tx_during_weekend",
        "tx_during_night",
        "term_nb_tx_15m",
        "term_avg_amount_15m",
        "term_nb_tx_60m",
        "term_avg_amount_60m",
    ]
    got = by_tx(windowed_features(frame, FeatureConfig(), partitions=2, time_zone="UTC"), columns)
    assert got == {
        1: (1, 1, 1, 10.0, 1, 10.0),
        2: (1, 0, 2, 20.0, 2, 20.0),
        3: (1, 0, 1, 50.0, 2, 40.0),  # tx 1 is exactly 60 min before: excluded
        4: (0, 1, 1, 1.0, 1, 1.0),
    }


def test_monthly_features_and_label_visibility(spark: SparkSession) -> None:
    frame = transactions(
        spark,
        [
            (1, "2025-01-05 10:00:00", 1, 9, 10.0, 1),
            (2, "2025-01-20 10:00:00", 2, 9, 30.0, 0),
            (3, "2025-01-28 10:00:00", 1, 9, 20.0, 1),  # label not known by Feb 1 (delay 7)
            (4, "2025-02-03 10:00:00", 1, 8, 40.0, None),
        ],
    )
    rows = {
        (r["entity_type"], r["entity_id"], str(r["month"])): (
            str(r["visible_from"]),
            r["nb_tx"],
            r["avg_amount"],
            r["std_amount"],
            r["nb_counterparties"],
            r["nb_labelled_tx"],
            r["fraud_rate"],
        )
        for r in monthly_features(frame, FeatureConfig()).collect()
    }
    std_jan = math.sqrt(((10 - 20) ** 2 + (30 - 20) ** 2 + 0) / 3)
    assert rows.keys() == {
        ("customer", 1, "2025-01-01"),
        ("customer", 2, "2025-01-01"),
        ("customer", 1, "2025-02-01"),
        ("terminal", 9, "2025-01-01"),
        ("terminal", 8, "2025-02-01"),
    }
    assert rows[("customer", 1, "2025-01-01")] == (
        "2025-02-01 00:00:00", 2, 15.0, 5.0, 1, None, None
    )  # fmt: skip
    assert rows[("terminal", 9, "2025-01-01")][:5] == (
        "2025-02-01 00:00:00",
        3,
        20.0,
        pytest.approx(std_jan),
        2,
    )
    assert rows[("terminal", 9, "2025-01-01")][5:] == (2, 0.5)
    assert rows[("terminal", 8, "2025-02-01")] == ("2025-03-01 00:00:00", 1, 40.0, 0.0, 1, 1, 0.0)


def test_calendar_flags_and_months_follow_the_business_time_zone(spark: SparkSession) -> None:
    # Kiritimati is UTC+14. Tx 1, Friday 2025-01-31 11:00 UTC, is Saturday 01:00 there: a
    # weekend night in February. Tx 2, Friday 09:00 UTC, is Friday 23:00 there: January.
    zone = "Pacific/Kiritimati"
    frame = transactions(
        spark,
        [(1, "2025-01-31 11:00:00", 1, 9, 10.0, 0), (2, "2025-01-31 09:00:00", 1, 9, 20.0, 0)],
    ).withColumn("tx_date", business_date(F.col("tx_ts"), zone))
    flags = ["tx_during_weekend", "tx_during_night"]

    zoned = by_tx(windowed_features(frame, FeatureConfig(), partitions=2, time_zone=zone), flags)
    utc = by_tx(windowed_features(frame, FeatureConfig(), partitions=2, time_zone="UTC"), flags)

    assert zoned == {1: (1, 1), 2: (0, 0)}
    assert utc == {1: (0, 0), 2: (0, 0)}  # Friday 11:00 and 09:00 in UTC
    months = {
        (r["entity_id"], str(r["month"])): r["nb_tx"]
        for r in monthly_features(frame, FeatureConfig())
        .where("entity_type = 'customer'")
        .collect()
    }
    assert months == {(1, "2025-01-01"): 1, (1, "2025-02-01"): 1}


def test_calendar_flags_at_the_edges_of_nights_weeks_and_the_epoch(spark: SparkSession) -> None:
    # (timestamp in UTC, weekday, weekend, night) written out from a calendar.
    cases = [
        ("1969-12-31 23:59:59.999999", "Wednesday", 0, 0),  # just before the epoch
        ("1970-01-01 00:00:00", "Thursday", 0, 1),
        ("1970-01-03 06:59:59.999999", "Saturday", 1, 1),  # the night's last instant
        ("1970-01-03 07:00:00", "Saturday", 1, 0),
        ("1965-05-16 03:00:00", "Sunday", 1, 1),  # before the epoch
        ("2025-03-02 23:59:59", "Sunday", 1, 0),
        ("2025-03-03 00:00:00", "Monday", 0, 1),
        ("2025-03-07 12:00:00", "Friday", 0, 0),
        ("2399-12-31 06:00:00", "Friday", 0, 1),
    ]
    frame = spark.createDataFrame(
        [(datetime.fromisoformat(ts), day) for ts, day, _, _ in cases],
        "tx_ts timestamp, day string",
    )

    flagged = frame.withColumns(calendar_flags(F.col("tx_ts"))).collect()

    assert [(r["day"], r["tx_during_weekend"], r["tx_during_night"]) for r in flagged] == [
        (day, weekend, night) for _, day, weekend, night in cases
    ]
    # Spark's own calendar functions agree (the session time zone is UTC).
    spark_days = frame.select(F.date_format("tx_ts", "EEEE").alias("day")).collect()
    assert [r["day"] for r in spark_days] == [day for _, day, _, _ in cases]


def test_store_as_of_join_forward_fill_and_staleness(
    spark: SparkSession, base_config: Config
) -> None:
    features = base_config.features.model_copy(update={"monthly_staleness_months": 1})
    config = base_config.model_copy(update={"features": features})
    frame = transactions(
        spark,
        [
            (1, "2025-01-10 09:00:00", 7, 1, 10.0, 0),
            (2, "2025-01-31 23:59:59", 7, 1, 30.0, 0),  # January not visible yet
            (3, "2025-02-01 00:00:00", 8, 1, 50.0, 0),  # first instant: January visible
            (4, "2025-03-03 09:00:00", 8, 1, 70.0, 0),  # Feb row visible (age 1)
            (5, "2025-04-03 09:00:00", 7, 2, 90.0, 0),  # Jan row is 3 months old: stale
            (6, "2025-03-15 09:00:00", 9, 2, 11.0, 0),
            (
                7,
                "2025-01-15 09:00:00",
                9,
                2,
                13.0,
                0,
            ),  # cust 9: Feb silent, March forward-fills Jan
        ],
    )
    windowed = windowed_features(frame, features, partitions=2, time_zone="UTC")
    rows = assemble_feature_rows(frame, windowed, monthly_features(frame, features), config)
    assert rows.columns[:7] == [
        "tx_id", "tx_ts", "tx_date", "customer_id", "terminal_id", "tx_amount", "is_fraud"
    ]  # fmt: skip
    assert rows.columns[7:] == model_feature_columns(config)[1:]
    got = by_tx(
        rows,
        ["cust_month_nb_tx", "cust_month_avg_amount", "cust_month_missing", "term_month_nb_tx",
         "term_month_nb_counterparties", "term_month_missing"],
    )  # fmt: skip
    assert got == {
        1: (None, None, 1, None, None, 1),
        2: (None, None, 1, None, None, 1),
        3: (None, None, 1, 2, 1, 0),  # terminal 1 in January: txs 1, 2 by customer 7
        4: (1, 50.0, 0, 1, 1, 0),  # customer 8's February; terminal 1's February (tx 3)
        5: (None, None, 1, 1, 1, 0),  # terminal 2: March (tx 6) is visible in April
        6: (1, 13.0, 0, 1, 1, 0),  # Jan forward-filled through silent Feb, age 2 <= 1 + 1
        7: (None, None, 1, None, None, 1),
    }


def test_model_inputs_are_doubles_with_null_as_zero_and_other_columns_untouched(
    spark: SparkSession,
) -> None:
    rows = spark.createDataFrame(
        [(1, None, 2.5, "x"), (2, 7, None, None)],
        "tx_id long, `n.count` int, `odd``name` double, `pass.through` string",
    )
    out = model_inputs(rows, ["n.count", "odd`name"])
    assert out.columns == rows.columns
    assert dict(out.dtypes) == {
        "tx_id": "bigint", "n.count": "double", "odd`name": "double", "pass.through": "string",
    }  # fmt: skip
    assert [tuple(row) for row in out.orderBy("tx_id").collect()] == [
        (1, 0.0, 2.5, "x"),
        (2, 7.0, 0.0, None),
    ]
    with pytest.raises(ValueError, match="lack feature columns"):
        model_inputs(rows, ["absent"])
