"""One SparkSession for the whole test run: local[2], 4 shuffle partitions, UI off."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from fraudspark.config import Config, load_config
from fraudspark.session import build_spark

REPO = Path(__file__).resolve().parent.parent
# Timestamps collected from Spark are naive local times: make local time UTC, like the session.
os.environ["TZ"] = "UTC"
time.tzset()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: end-to-end test taking tens of seconds")


@pytest.fixture(scope="session")
def session_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lakehouse")


@pytest.fixture(scope="session")
def base_config(session_lakehouse: Path) -> Config:
    config = load_config(REPO / "conf" / "local.yaml", lakehouse=str(session_lakehouse))
    spark = config.spark.model_copy(update={"master": "local[2]", "shuffle_partitions": 4})
    # No settling delay before taking the nightly lock: tests start one night at a time.
    nightly = config.nightly.model_copy(update={"lock_settle_seconds": 0})
    return config.model_copy(update={"spark": spark, "nightly": nightly})


@pytest.fixture(scope="session")
def spark(base_config: Config) -> Iterator[SparkSession]:
    session = build_spark(base_config)
    yield session
    session.stop()


@pytest.fixture
def config(base_config: Config, tmp_path: Path, spark: SparkSession) -> Config:
    """A config whose lakehouse is a fresh directory for this test (its own `fraud` tables)."""
    for table in spark.catalog.listTables(base_config.lakehouse.database):
        spark.sql(f"DROP TABLE IF EXISTS {base_config.lakehouse.database}.{table.name}")
    return base_config.with_lakehouse(str(tmp_path / "lakehouse"))
