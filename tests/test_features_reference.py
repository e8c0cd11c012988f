"""The Spark feature job agrees, row by row, with an independent naive computation."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import FeatureConfig
from fraudspark.features.definitions import (
    customer_windows,
    terminal_windows,
    windowed_feature_columns,
)
from fraudspark.features.monthly import monthly_features
from fraudspark.features.windowed import (
    large_entities,
    large_entities_by_month,
    plan_pieces,
    windowed_features,
)
from tests.feature_reference import reference_windowed_features


def random_transactions(seed: int, n: int = 1500) -> pd.DataFrame:
    """Random payments with the awkward cases made common: ties, exact window offsets."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00", "s")
    # Whole minutes over 45 days: many ties and many gaps of exactly 15/30/60 min or 1/7 days.
    offsets = rng.integers(0, 45 * 24 * 60, size=n).astype("timedelta64[m]")
    exact = rng.choice([15, 30, 60, 24 * 60, 7 * 24 * 60], size=n // 5).astype("timedelta64[m]")
    ts = np.concatenate([start + offsets, start + offsets[: n // 5] + exact])
    m = len(ts)
    fraud = rng.choice([0.0, 1.0, np.nan], size=m, p=[0.7, 0.2, 0.1])
    return pd.DataFrame(
        {
            "tx_id": np.arange(m, dtype=np.int64),
            "tx_ts": pd.to_datetime(ts),
            "customer_id": rng.integers(0, 25, size=m),
            "terminal_id": rng.integers(0, 12, size=m),
            "tx_amount": np.round(rng.gamma(2.0, 30.0, size=m), 2),
            "is_fraud": pd.array(fraud, dtype="Float64").astype("Int64"),
        }
    )


def test_windowed_features_match_reference(spark: SparkSession) -> None:
    config = FeatureConfig()
    tx = random_transactions(seed=7)
    frame = spark.createDataFrame(
        tx, "tx_id long, tx_ts timestamp, customer_id long, terminal_id long, "
        "tx_amount double, is_fraud int",
    ).selectExpr("*", "to_date(tx_ts) AS tx_date")  # fmt: skip
    got = (
        windowed_features(frame, config, partitions=3, time_zone="UTC")
        .toPandas()
        .sort_values("tx_id")
        .reset_index(drop=True)
    )
    expected = reference_windowed_features(tx, config).sort_values("tx_id").reset_index(drop=True)
    columns = windowed_feature_columns(config)
    assert list(got["tx_id"]) == list(expected["tx_id"])
    for column in columns:
        if "_nb_tx_" in column or column.startswith("tx_during"):
            assert (got[column].to_numpy() == expected[column].to_numpy()).all(), column
        else:
            np.testing.assert_allclose(got[column], expected[column], rtol=1e-9, err_msg=column)
    # The data really exercised the edge cases the test is about.
    assert tx.duplicated(["customer_id", "tx_ts"]).any()
    assert (got["term_nb_tx_1d"] == 0).any() and (got["term_risk_7d"] > 0).any()


def test_entities_split_by_time_give_the_same_features(spark: SparkSession) -> None:
    # Short windows and a tiny piece size: every customer (~75 rows) and terminal (~150 rows)
    # is split into pieces of about 15 rows, each piece spanning at least the 3-day look-back.
    config = FeatureConfig(
        customer_day_windows=[1, 2],
        terminal_day_windows=[1, 2],
        label_delay_days=1,
        split_entity_rows=15,
    )
    tx = random_transactions(seed=11)
    frame = spark.createDataFrame(
        tx, "tx_id long, tx_ts timestamp, customer_id long, terminal_id long, "
        "tx_amount double, is_fraud int",
    ).selectExpr("*", "to_date(tx_ts) AS tx_date")  # fmt: skip
    customers, terminals = customer_windows(config), terminal_windows(config)
    customer_plans = large_entities(frame, customers, 15)
    terminal_plans = large_entities(frame, terminals, 15)
    assert len(customer_plans) == 25 and min(plan.pieces for plan in customer_plans) >= 4
    assert len(terminal_plans) == 12 and min(plan.pieces for plan in terminal_plans) >= 8
    columns = windowed_feature_columns(config)
    got = windowed_features(frame, config, partitions=3, time_zone="UTC").toPandas()
    got = got.sort_values("tx_id").reset_index(drop=True)
    expected = reference_windowed_features(tx, config).sort_values("tx_id").reset_index(drop=True)
    assert list(got["tx_id"]) == list(expected["tx_id"])  # each row once: no history copy left
    for column in columns:
        if "_nb_tx_" in column or column.startswith("tx_during"):
            assert (got[column].to_numpy() == expected[column].to_numpy()).all(), column
        else:
            np.testing.assert_allclose(got[column], expected[column], rtol=1e-9, err_msg=column)
    # The feature job finds the same entities in the monthly table, with whole months as their
    # time ranges: coarser pieces, the same features.
    monthly = monthly_features(frame, config)
    by_month = large_entities_by_month(monthly, (customers, terminals), 15)
    assert {p.key for p in by_month[0]} == {p.key for p in customer_plans}
    assert {p.key for p in by_month[1]} == {p.key for p in terminal_plans}
    # Every row lies inside its entity's planned pieces, with a span given too (a night's).
    # The business day of a zone 11 hours east of UTC: its first rows are the day before in UTC.
    micros = tx["tx_ts"].to_numpy().astype("datetime64[us]").astype(np.int64)
    days = (tx["tx_ts"] + pd.Timedelta(hours=11)).dt.date
    span = (date(2025, 1, 10), date(2025, 2, 3))
    in_span = ((days >= span[0]) & (days <= span[1])).to_numpy()
    east = frame.withColumn("tx_date", F.to_date(F.col("tx_ts") + F.expr("INTERVAL 11 HOURS")))
    night_plans = large_entities_by_month(
        monthly_features(east, config), (customers, terminals), 15, span
    )
    assert night_plans[0] and night_plans[1]
    for plans, rows in ((by_month, np.ones(len(tx), bool)), (night_plans, in_span)):
        for plan in [*plans[0], *plans[1]]:
            key = "customer_id" if plan in plans[0] else "terminal_id"
            own = micros[(tx[key] == plan.key).to_numpy() & rows]
            end = plan.first_micros + plan.span_micros * plan.pieces
            assert plan.first_micros <= own.min() and own.max() < end, plan
    from_months = windowed_features(frame, config, 3, time_zone="UTC", plans=by_month).toPandas()
    pd.testing.assert_frame_equal(
        from_months.sort_values("tx_id").reset_index(drop=True),
        got.sort_values("tx_id").reset_index(drop=True),
    )
    # A night (the days given) split the same way equals the unsplit night bit for bit.
    night = (date(2025, 1, 30), date(2025, 1, 31))
    unsplit = config.model_copy(update={"split_entity_rows": None})
    split_night = windowed_features(frame, config, 3, night, time_zone="UTC").toPandas()
    plain_night = windowed_features(frame, unsplit, 3, night, time_zone="UTC").toPandas()
    pd.testing.assert_frame_equal(
        split_night.sort_values("tx_id").reset_index(drop=True),
        plain_night.sort_values("tx_id").reset_index(drop=True),
    )
    assert len(plain_night) > 0


def test_plan_pieces_by_hand() -> None:
    day = 86_400_000_000
    # 100 rows over 10 days in pieces of 25 rows: 4 spans of 2.5 days (look-back 1 day).
    assert plan_pieces(100, 0, 10 * day - 1, day, 25) == (10 * day // 4, 4)
    # A look-back of 4 days makes a piece span 4 days: 3 pieces, not 4.
    assert plan_pieces(100, 0, 10 * day - 1, 4 * day, 25) == (4 * day, 3)
    # Fewer rows than a piece: one piece.
    assert plan_pieces(10, 0, 10 * day - 1, day, 25)[1] == 1
