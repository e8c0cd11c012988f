"""A real Spark standalone cluster on 127.0.0.1: master, two workers, spark-submit of ingest."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.cluster import REPO, StandaloneCluster, master_state

pytestmark = [pytest.mark.slow, pytest.mark.solo]


@pytest.fixture(scope="module")
def standalone_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StandaloneCluster]:
    """A master and two one-core workers, stopped after the module's tests."""
    cluster = StandaloneCluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_spark_submit_ingest_on_standalone_cluster(
    standalone_cluster: StandaloneCluster, spark: SparkSession, tmp_path: Path
) -> None:
    source = tmp_path / "raw" / "day.csv"
    source.parent.mkdir()
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tx_id", "tx_ts", "customer_id", "terminal_id", "tx_amount", "is_fraud"])
        writer.writerows(
            [[i, f"2025-01-0{1 + i % 3} 12:00:00", i % 5, i % 7, 10.0 + i, 0] for i in range(30)]
            + [[99, "2025-01-01 12:00:00", 1, 1, -5.0, 0]]
        )
    lakehouse = tmp_path / "lakehouse"
    result = standalone_cluster.submit(
        REPO / "jobs" / "ingest.py",
        ["--source", str(source.parent), "--format", "csv", "--lakehouse", str(lakehouse)],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "read 31, accepted 30, quarantined 1, already present 0" in result.stdout
    # The application really ran on the cluster, not in a local master.
    completed = master_state(standalone_cluster.ui_port).get("completedapps")
    assert isinstance(completed, list) and [app["name"] for app in completed] == ["fraudspark"]
    table = spark.read.format("delta").load(str(lakehouse / "transactions"))
    assert table.count() == 30
    assert sorted(r[0] for r in table.select("tx_id").collect()) == list(range(30))
