"""The feature job end to end: nightly runs equal a full recomputation; the training-set job."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config, GeneratorConfig
from fraudspark.features.periods import history_start
from fraudspark.features.store import feature_rows, model_feature_columns
from fraudspark.lakehouse.io import read_table, register_tables
from fraudspark.lakehouse.tables import (
    FEATURES_MONTHLY,
    FEATURES_WINDOWED,
    TRAINING_SETS,
    TRANSACTIONS,
)
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.pipelines.training_sets import build_training_set
from fraudspark.simulate.generator import generate_transactions, scenario_counts, write_raw
from tests.frames import assert_frames_equal
from tests.synthetic_store import write_feature_store

START = date(2025, 1, 1)
# Every scenario several times in a small world.
BUSY_FRAUD = GeneratorConfig(
    high_amount_threshold=150.0,
    compromised_terminals_per_day=0.2,
    compromised_customers_per_day=0.3,
    card_testing_rate=0.01,
    account_takeover_rate=0.01,
)


def snapshot(spark: SparkSession, config: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    windowed = read_table(spark, config, FEATURES_WINDOWED).toPandas()
    monthly = read_table(spark, config, FEATURES_MONTHLY).toPandas()
    return (
        windowed.sort_values("tx_id").reset_index(drop=True),
        monthly.sort_values(["entity_type", "entity_id", "month"]).reset_index(drop=True),
    )


@pytest.fixture(scope="module")
def ingested(
    spark: SparkSession, base_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> Config:
    """61 days (Jan 1 .. Mar 2) of simulated payments with all scenarios, ingested."""
    directory = tmp_path_factory.mktemp("pipeline")
    config = base_config.with_lakehouse(str(directory / "lakehouse"))
    frame = generate_transactions(
        spark, BUSY_FRAUD, customers=60, terminals=50, days=61, start_date=START, seed=3
    )
    assert all(count > 0 for count in scenario_counts(frame).values())
    write_raw(frame, str(directory / "raw"), "parquet")
    ingest_transactions(spark, config, str(directory / "raw"), "parquet")
    register_tables(spark, config)
    return config


def test_history_reaches_back_the_longest_window_plus_delay(base_config: Config) -> None:
    # 30-day terminal window behind a 7-day label delay.
    assert history_start(base_config, date(2025, 3, 1)) == date(2025, 3, 1) - timedelta(days=37)


@pytest.mark.slow
def test_night_after_night_equals_full_recompute(spark: SparkSession, ingested: Config) -> None:
    config = ingested
    compute_features(spark, config, START, date(2025, 2, 26))  # a backfill, as one range
    for night in (date(2025, 2, 27), date(2025, 2, 28), date(2025, 3, 1), date(2025, 3, 2)):
        compute_features(spark, config, night, night)  # across the February/March boundary
    incremental = snapshot(spark, config)
    last = date(2025, 3, 2)
    compute_features(spark, config, last, last)  # the same night again
    rerun = snapshot(spark, config)
    full_report = compute_features(spark, config)
    full = snapshot(spark, config)
    # After a full run a month's rows share files with other months: replacing March rewrites
    # those files, and the report must still count only March's rows.
    night_report = compute_features(spark, config, last, last)

    assert len(full[0]) == read_table(spark, config, FEATURES_WINDOWED).count() > 1000
    assert set(full[1]["month"].astype(str)) == {"2025-01-01", "2025-02-01", "2025-03-01"}
    for got, expected in zip(incremental + rerun, full + full, strict=True):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)

    # The reports' counts (taken from the Delta commits) against the tables' rows.
    transactions = read_table(spark, config, TRANSACTIONS)
    history = transactions.where(F.col("tx_date").between(history_start(config, last), last))
    assert (night_report.transactions_read, night_report.windowed_rows) == (
        history.count(),
        int((full[0]["tx_date"] == last).sum()),
    )
    assert night_report.monthly_rows == int((full[1]["month"] == date(2025, 3, 1)).sum()) > 0
    assert (full_report.transactions_read, full_report.windowed_rows) == (
        transactions.count(),
        len(full[0]),
    )
    assert full_report.monthly_rows == len(full[1])


@pytest.fixture(scope="module")
def small_store(spark: SparkSession, module_config: Config) -> Config:
    """Four days (Jan 30 .. Feb 2) of a tiny feature store written directly: the training-set
    job reads only the feature tables, so it needs no simulator, ingest or feature job."""
    write_feature_store(spark, module_config, date(2025, 1, 30), 4, frauds_from={2: 1})
    register_tables(spark, module_config)
    return module_config


@pytest.mark.slow
def test_training_set_records_versions_and_replaces_its_partition(
    spark: SparkSession, small_store: Config
) -> None:
    config = small_store
    first = build_training_set(spark, config, "jan", date(2025, 1, 30), date(2025, 1, 31))
    build_training_set(spark, config, "feb", date(2025, 2, 1), date(2025, 2, 2))
    again = build_training_set(spark, config, "jan", date(2025, 1, 30), date(2025, 1, 31))

    sets = read_table(spark, config, TRAINING_SETS)
    for name, start, end in (("jan", 30, 31), ("feb", 1, 2)):
        month = 1 if name == "jan" else 2
        expected = feature_rows(spark, config, date(2025, month, start), date(2025, month, end))
        got = sets.where(f"training_set = '{name}'").drop("training_set")
        assert_frames_equal(got, expected, ignore_column_order=True)
    jan = sets.where("training_set = 'jan'")
    assert jan.count() == first.rows == again.rows > 0
    assert again.frauds == jan.where("is_fraud = 1").count() == 1  # customer 2 on Jan 31
    catalog = spark.sql("SELECT * FROM fraud.training_set_catalog ORDER BY training_set").collect()
    assert [row["training_set"] for row in catalog] == ["feb", "jan"]
    assert catalog[1]["source_versions"] == again.versions
    assert catalog[1]["feature_columns"] == model_feature_columns(config)
    assert set(again.versions) == {"transactions", "features_windowed", "features_monthly"}


def test_rows_without_labels_are_the_labelled_rows_without_is_fraud(
    spark: SparkSession, small_store: Config
) -> None:
    start, end = date(2025, 1, 30), date(2025, 2, 2)
    labelled = feature_rows(spark, small_store, start, end)
    unlabelled = feature_rows(spark, small_store, start, end, labels=False)

    assert "is_fraud" not in unlabelled.columns
    assert unlabelled.count() == labelled.count() > 0
    assert_frames_equal(unlabelled, labelled.drop("is_fraud"))
