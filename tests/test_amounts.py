"""High-denomination amounts: exact windowed and monthly means and spreads up to 1e10 per
payment, and a clear error (never a wrap-around) beyond what the arithmetic represents."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from pyspark.sql import SparkSession

from fraudspark.config import FeatureConfig
from fraudspark.features.definitions import customer_windows
from fraudspark.features.monthly import monthly_features
from fraudspark.features.windowed import entity_window_features

SCHEMA = (
    "tx_id long, tx_ts timestamp, customer_id long, terminal_id long, tx_amount double, "
    "is_fraud int"
)


def test_windowed_mean_of_a_thousand_1e10_payments_is_exact() -> None:
    # 1000 x 9,999,999,999.99 in micro-units is 1e19 > 2^63: a single int64 prefix sum wraps.
    n = 1000
    amount = np.full(n, 9_999_999_999.99)
    ts = np.arange(n, dtype=np.int64) * 1_000_000  # one per second
    features = entity_window_features(
        np.zeros(n, np.int64), ts, amount, np.zeros(n), customer_windows(FeatureConfig())
    )
    mean = features["cust_avg_amount_1d"]
    assert features["cust_nb_tx_1d"][-1] == n
    # The arithmetic mean of equal amounts is the amount, to the cent (and to the double).
    assert abs(Decimal(mean[-1]) - Decimal("9999999999.99")) < Decimal("0.005")
    assert mean[-1] == 9_999_999_999.99


def test_windowed_amount_beyond_the_limit_is_an_error() -> None:
    with pytest.raises(OverflowError, match="tx_amount outside"):
        entity_window_features(
            np.zeros(2, np.int64),
            np.array([0, 1_000_000], np.int64),
            np.array([1.0, 1e13]),
            np.zeros(2),
            customer_windows(FeatureConfig()),
        )


@pytest.mark.slow
def test_monthly_mean_and_std_of_high_denomination_amounts(spark: SparkSession) -> None:
    rows = [
        (1, datetime(2025, 1, 5, 10), 1, 9, 250_000_000.0, 0),
        (2, datetime(2025, 1, 6, 10), 1, 9, 1_200_000_000.0, 0),
        (3, datetime(2025, 1, 7, 10), 2, 9, 1_200_000_000.0, 0),
    ]
    frame = spark.createDataFrame(rows, SCHEMA).selectExpr("*", "to_date(tx_ts) AS tx_date")
    got = {
        (r["entity_type"], r["entity_id"]): (r["nb_tx"], r["avg_amount"], r["std_amount"])
        for r in monthly_features(frame, FeatureConfig()).collect()
    }
    # Customer 1: mean (250e6 + 1.2e9) / 2 = 725e6, population std 475e6.
    # Terminal 9: mean 2,650e6 / 3 = 883,333,333.33..., std sqrt(2/9) * 950e6.
    assert got[("customer", 1)] == (2, 725_000_000.0, 475_000_000.0)
    assert got[("customer", 2)] == (1, 1_200_000_000.0, 0.0)
    n, avg, std = got[("terminal", 9)]
    assert n == 3
    assert abs(avg - 883_333_333.3333334) < 1e-6
    assert abs(std - 447_834_294.7514801) < 1e-3  # 950e6 * sqrt(2) / 3


def test_monthly_spread_is_exact_when_amounts_use_every_digit(spark: SparkSession) -> None:
    # Micro-units up to 1.8e18 (above 2^60): every 16-bit digit of the squares' parts is used;
    # the sum of the month's units stays below 2^63, the limit of its int64 sum.
    amounts = [1.5e12, 1_234_567_890_123.45, 0.01, 7e11, 1_799_999_999_999.99]
    rows = [(i, datetime(2025, 1, 5 + i), 1, 9, a, 0) for i, a in enumerate(amounts)]
    frame = spark.createDataFrame(rows, SCHEMA).selectExpr("*", "to_date(tx_ts) AS tx_date")
    got = monthly_features(frame, FeatureConfig()).where("entity_type = 'customer'").first()
    # The exact reference: integer micro-units, population variance as an exact fraction.
    units = [int(Decimal(repr(a)) * 1_000_000) for a in amounts]
    n, s1, s2 = len(units), sum(units), sum(u * u for u in units)
    variance = Fraction(n * s2 - s1 * s1, n * n)
    assert got is not None and got["nb_tx"] == n
    assert got["avg_amount"] == pytest.approx(s1 / n / 1e6, rel=1e-15)
    assert got["std_amount"] == pytest.approx(float(variance) ** 0.5 / 1e6, rel=1e-12)


@pytest.mark.parametrize("amount", [1e13, -5.0])
def test_monthly_amount_beyond_the_limit_is_an_error(spark: SparkSession, amount: float) -> None:
    frame = spark.createDataFrame([(1, datetime(2025, 1, 5), 1, 9, amount, 0)], SCHEMA).selectExpr(
        "*", "to_date(tx_ts) AS tx_date"
    )
    with pytest.raises(Exception, match="cannot be summed exactly"):
        monthly_features(frame, FeatureConfig()).collect()
