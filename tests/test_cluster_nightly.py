"""The whole nightly on a standalone cluster whose Python does not have fraudspark: the package
is shipped with ``--py-files`` (``make dist``), and every table equals a local run's."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.generator import generate_transactions, write_raw
from fraudspark.lakehouse.checksum import table_checksum
from fraudspark.nightly import NightInputs, run_night
from fraudspark.tables import register_tables
from tests.cluster import REPO, StandaloneCluster, build_dist, master_state, worker_python

pytestmark = pytest.mark.slow

START = date(2025, 1, 1)
NIGHT = date(2025, 1, 10)
# Columns that record when a row was written, not what it holds.
WRITE_TIMES = {
    "transactions": ("ingested_at", "label_updated_at"),
    "transactions_quarantine": ("ingested_at",),
    "features_windowed": (),
    "features_monthly": (),
}


@pytest.fixture(scope="module")
def shipped_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[StandaloneCluster, Path]]:
    """A master and two workers running a Python without fraudspark; and the package's zip."""
    directory = tmp_path_factory.mktemp("shipped")
    python = worker_python(directory / "venv")
    py_files = build_dist(directory / "dist")
    cluster = StandaloneCluster(directory / "logs", python=python, keep_pythonpath=False)
    (directory / "logs").mkdir()
    cluster.start()
    try:
        yield cluster, py_files
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def night_files(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Ten days of raw parquet (the night's files carry its backlog) and a labels CSV: five
    late fraud labels and one for a transaction never ingested (quarantined)."""
    directory = tmp_path_factory.mktemp("night_files")
    frame = generate_transactions(
        spark, Config().generator, customers=300, terminals=150, days=10, start_date=START,
        seed=5,
    )  # fmt: skip
    write_raw(frame, str(directory / "raw"), "parquet")
    first_ids = [r.tx_id for r in frame.where("is_fraud = 0").orderBy("tx_id").limit(5).collect()]
    labels = directory / "labels.csv"
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tx_id", "is_fraud"])
        writer.writerows([[tx_id, 1] for tx_id in first_ids] + [[10**12, 1]])
    return directory / "raw", labels


def night_conf(directory: Path, base_config: Config) -> Path:
    """A configuration file for a run whose lakehouse and reports are under ``directory``."""
    conf = directory / "conf.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                "spark": {"shuffle_partitions": base_config.spark.shuffle_partitions},
                "lakehouse": {"root": str(directory / "lakehouse")},
                "monitoring": {"reports_dir": str(directory / "reports")},
                "nightly": {"lock_settle_seconds": 0},
            }
        )
    )
    return conf


def test_the_nightly_runs_on_a_cluster_without_fraudspark_installed_and_equals_a_local_run(
    shipped_cluster: tuple[StandaloneCluster, Path],
    night_files: tuple[Path, Path],
    spark: SparkSession,
    config: Config,
    base_config: Config,
    tmp_path: Path,
) -> None:
    cluster, py_files = shipped_cluster
    raw, labels = night_files
    remote = tmp_path / "cluster"
    remote.mkdir()
    args = ["--date", str(NIGHT), "--source", str(raw), "--labels", str(labels),
            "--conf", str(night_conf(remote, base_config))]  # fmt: skip
    result = cluster.submit(REPO / "jobs" / "nightly.py", args, cwd=remote, py_files=py_files)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    completed = master_state(cluster.ui_port).get("completedapps")
    assert isinstance(completed, list) and len(completed) >= 1
    # Without a registered model, score and monitor skip (nothing to compare for them).
    for step, status in [("ingest", "succeeded"), ("labels", "succeeded"),
                         ("features", "succeeded"), ("score", "skipped"),
                         ("monitor", "skipped")]:  # fmt: skip
        assert f"night {NIGHT}: {step} {status}" in result.stdout

    run_night(spark, config, NightInputs(NIGHT, str(raw), str(labels)))
    local_root = Path(config.lakehouse_root)
    for table, excluded in WRITE_TIMES.items():
        on_cluster = table_checksum(spark, str(remote / "lakehouse" / table), excluded)
        local = table_checksum(spark, str(local_root / table), excluded)
        assert on_cluster == local, table
        assert on_cluster.rows > 0, table
    runs = "SELECT step, status, rows_in, rows_out FROM delta.`{}/runs` ORDER BY step"
    assert (
        spark.sql(runs.format(remote / "lakehouse")).collect()
        == spark.sql(runs.format(local_root)).collect()
    )
    register_tables(spark, config)
