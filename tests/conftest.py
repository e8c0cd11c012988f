"""One SparkSession for the whole test run: local[2], 4 shuffle partitions, UI off.

Also: ``module_config`` (a lakehouse, and so an MLflow registry, of the test module's own) and
``one_torch_thread`` (torch and OpenMP on one thread for a module, restored afterwards).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from threadpoolctl import threadpool_limits

from fraudspark.config import Config, load_config
from fraudspark.models.training import one_torch_thread as _one_torch_thread
from fraudspark.session import build_spark, cached_jars, jars_folder
from tests.jvm import SESSION_JAVA_OPTIONS

REPO = Path(__file__).resolve().parent.parent
# Timestamps collected from Spark are naive local times: make local time UTC, like the session.
os.environ["TZ"] = "UTC"
time.tzset()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: end-to-end test taking tens of seconds")
    config.addinivalue_line(
        "markers",
        "solo: starts its own Spark processes (a cluster, several drivers) with timing bounds; "
        "`make test` runs these after the parallel part, one at a time",
    )
    config.addinivalue_line(
        "markers",
        "unverified: listed in tests/not_yet_verified.txt: not yet seen passing on the "
        "development machine; `make test` leaves it out, `make test-all` runs it",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, resolve Delta's jars once before the workers start their Spark
    drivers together: two Ivy resolutions into one cache at a time are not safe, and a fresh
    machine has no jars yet. Later runs find the jars kept and start nothing here."""
    options = session.config
    if hasattr(options, "workerinput") or not options.getoption("numprocesses", default=None):
        return
    config = load_config(REPO / "conf" / "local.yaml")
    if jars_folder(config) is not None and cached_jars(jars_folder(config)) is None:
        build_spark(config, register=False).stop()


# Tests not yet seen passing here, one node id a line ("#" starts a comment).
NOT_YET_VERIFIED = Path(__file__).with_name("not_yet_verified.txt")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not NOT_YET_VERIFIED.exists():
        return
    listed = {
        line.split("#", 1)[0].strip()
        for line in NOT_YET_VERIFIED.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    }
    for item in items:
        if item.nodeid in listed:
            item.add_marker(pytest.mark.unverified)


@pytest.fixture(scope="session")
def session_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lakehouse")


@pytest.fixture(scope="session")
def base_config(session_lakehouse: Path) -> Config:
    config = load_config(REPO / "conf" / "local.yaml", lakehouse=str(session_lakehouse))
    spark = config.spark.model_copy(
        update={
            "master": "local[2]",
            "shuffle_partitions": 4,
            "driver_java_options": SESSION_JAVA_OPTIONS,  # see tests/jvm.py
        }
    )
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


@pytest.fixture(scope="module")
def module_config(
    base_config: Config, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Config:
    """A lakehouse for this test module alone: its tables and its MLflow registry
    (``<lakehouse>/_mlflow``), so registered version numbers never depend on another module."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    return base_config.with_lakehouse(str(tmp_path_factory.mktemp(name) / "lakehouse"))


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch (intra-op) and OpenMP/BLAS on one thread for a module, both restored afterwards.

    On 2 cores shared with Spark, small networks and scikit-learn's OpenMP models run several
    times slower on more threads. Use with ``pytestmark = pytest.mark.usefixtures(...)``.
    """
    with _one_torch_thread(), threadpool_limits(limits=1):
        yield
