"""Every notebook runs, cell by cell, against a small lakehouse."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.features.pipeline import compute_features
from fraudspark.features.store import build_training_set
from fraudspark.generator import generate_transactions, write_raw
from fraudspark.ingest import ingest_transactions
from fraudspark.notebooks import parse_notebook, run_notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.py"))


@pytest.fixture(scope="module")
def small_lakehouse(
    spark: SparkSession, base_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> Config:
    """40 days of a small simulated world, ingested (one bad row), featurised, a training set."""
    directory = tmp_path_factory.mktemp("notebooks")
    config = base_config.with_lakehouse(str(directory / "lakehouse"))
    frame = generate_transactions(
        spark, config.generator, customers=80, terminals=60, days=40,
        start_date=date(2025, 1, 1), seed=5,
    )  # fmt: skip
    write_raw(frame, str(directory / "raw"), "parquet")
    ingest_transactions(spark, config, str(directory / "raw"), "parquet")
    bad = directory / "bad.csv"
    with bad.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [["tx_id", "tx_ts", "customer_id", "terminal_id", "tx_amount"],
             ["1", "2025-01-01 10:00:00", "1", "1", "-3"]]
        )  # fmt: skip
    ingest_transactions(spark, config, str(bad), "csv")
    compute_features(spark, config)
    build_training_set(spark, config, "first-month", date(2025, 1, 1), date(2025, 1, 31))
    return config


def test_notebooks_are_in_databricks_source_format() -> None:
    assert NOTEBOOKS, "no notebooks found"
    for notebook in NOTEBOOKS:
        kinds = {cell.kind for cell in parse_notebook(notebook)}
        assert {"python", "sql", "md"} <= kinds, notebook.name


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(
    notebook: Path,
    small_lakehouse: Config,
    spark: SparkSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUDSPARK_LAKEHOUSE", small_lakehouse.lakehouse_root)
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        namespace = run_notebook(notebook)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    assert namespace["spark"] is spark  # the notebook joined the running session
