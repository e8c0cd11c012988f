"""A tiny feature store written straight into the lakehouse, for scoring and evaluation tests.

Building one through the simulator, ingest and the feature job takes minutes on a loaded
machine; the scoring and evaluation code only reads the three source tables, so tests write
them directly: payments with plausible windowed features, fraud as large amounts at unusual
hours, and customer monthly rows for half the customers (the rest have missing months).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.features.definitions import windowed_feature_columns
from fraudspark.lakehouse.tables import (
    FEATURES_MONTHLY,
    FEATURES_WINDOWED,
    SOURCE_ID_COLUMNS,
    TRANSACTIONS,
    table_path,
)


def write_feature_store(
    spark: SparkSession,
    config: Config,
    start: date,
    days: int,
    *,
    customers: int = 30,
    frauds_from: Mapping[int, int] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Write ``fraud.transactions``, ``features_windowed`` and ``features_monthly``.

    Every customer pays 2-4 times a day; a customer c in ``frauds_from`` also makes one fraud a
    day (amount x20, at night) from day ``start + frauds_from[c]`` on. Returns the transactions.
    """
    frauds_from = frauds_from or {}
    rng = np.random.default_rng(seed)
    payments = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        for customer in range(customers):
            for _ in range(rng.integers(2, 5)):
                payments.append((day, customer, False))
            if offset >= frauds_from.get(customer, days):
                payments.append((day, customer, True))
    n = len(payments)
    is_fraud = np.array([fraud for _, _, fraud in payments])
    hours = np.where(is_fraud, rng.integers(1, 4, n), rng.integers(8, 22, n))
    minutes = rng.integers(0, 60, n)
    tx = pd.DataFrame(
        {
            "tx_id": np.arange(1, n + 1, dtype=np.int64),
            "tx_ts": [
                datetime.combine(day, time(int(hour), int(minute)), tzinfo=timezone.utc)
                for (day, _, _), hour, minute in zip(payments, hours, minutes, strict=True)
            ],
            "tx_date": [day for day, _, _ in payments],
            "customer_id": np.array([customer for _, customer, _ in payments], dtype=np.int64),
            "terminal_id": rng.integers(0, 20, n).astype(np.int64),
            "tx_amount": np.round(rng.lognormal(3.5, 0.5, n) * np.where(is_fraud, 20, 1), 2),
            "is_fraud": is_fraud.astype(np.int32),
        }
    )
    ingested_at = datetime.combine(start + timedelta(days=days), time(), tzinfo=timezone.utc)
    transactions = tx.assign(extra=None, source_file="synthetic", ingested_at=ingested_at)
    transactions["label_updated_at"] = pd.NaT
    for column in SOURCE_ID_COLUMNS:  # an integer-id feed: no source ids
        transactions[column] = None
    assert TRANSACTIONS.schema is not None
    (
        spark.createDataFrame(transactions[TRANSACTIONS.schema.names], TRANSACTIONS.schema)
        .write.format("delta")
        .partitionBy("tx_date")
        .save(table_path(config, TRANSACTIONS))
    )

    windowed = tx.drop(columns="is_fraud")
    for column in windowed_feature_columns(config.features):
        if "nb_tx" in column:
            windowed[column] = rng.integers(0, 5, n).astype(np.int32)
        elif "during" in column:
            windowed[column] = rng.integers(0, 2, n).astype(np.int32)
        else:
            windowed[column] = rng.normal(size=n)
    windowed["tx_during_night"] = (hours < 6).astype(np.int32)
    windowed["cust_avg_amount_1d"] = windowed["tx_amount"] * rng.uniform(0.8, 1.2, n)
    (
        spark.createDataFrame(windowed)
        .write.format("delta")
        .partitionBy("tx_date")
        .save(table_path(config, FEATURES_WINDOWED))
    )

    month = start.replace(day=1)
    previous = (month - timedelta(days=1)).replace(day=1)
    monthly = pd.DataFrame(
        {
            "entity_type": "customer",
            "entity_id": np.arange(0, customers, 2, dtype=np.int64),
            "month": previous,
            "visible_from": datetime.combine(month, time(), tzinfo=timezone.utc),
        }
    )
    k = len(monthly)
    monthly = monthly.assign(
        nb_tx=rng.integers(20, 90, k).astype(np.int32),
        avg_amount=rng.lognormal(3.5, 0.3, k),
        std_amount=rng.lognormal(2.5, 0.3, k),
        nb_counterparties=rng.integers(2, 9, k).astype(np.int32),
        nb_labelled_tx=np.int32(0),
        fraud_rate=0.0,
    )
    (
        spark.createDataFrame(monthly)
        .write.format("delta")
        .partitionBy("entity_type")
        .save(table_path(config, FEATURES_MONTHLY))
    )
    return tx
