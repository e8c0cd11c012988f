"""The Spark feature job agrees, row by row, with an independent naive computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from fraudspark.config import FeatureConfig
from fraudspark.features.definitions import windowed_feature_columns
from fraudspark.features.windowed import windowed_features
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
