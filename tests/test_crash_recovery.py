"""A night whose driver is SIGKILLed while it writes fraud.features_windowed: the previous
table version stays what SQL sees, and the night run again resumes and equals an uninterrupted
run. The killed night's lock is recognised as stale by the rerun."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import yaml
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.lakehouse.checksum import TableChecksum, table_checksum
from fraudspark.lakehouse.io import register_tables, table_version
from fraudspark.lakehouse.lock import LOCK_NAME
from fraudspark.lakehouse.tables import FEATURES_WINDOWED, table_path
from fraudspark.pipelines.nightly import NightInputs, day_source, last_statuses, run_night
from fraudspark.simulate.generator import generate_transactions, write_raw
from tests.jvm import SPARK_EXTRA

pytestmark = [pytest.mark.slow, pytest.mark.solo]

REPO = Path(__file__).resolve().parent.parent
START = date(2025, 1, 1)
PREVIOUS, NIGHT = date(2025, 1, 3), date(2025, 1, 4)
# Columns that record when a row was written, not what it holds.
TABLES = {
    "transactions": ("ingested_at", "label_updated_at"),
    "transactions_quarantine": ("ingested_at",),
    "features_windowed": (),
    "features_monthly": (),
}


def data_files(table: Path) -> set[Path]:
    return {p for p in table.rglob("*.parquet") if "_delta_log" not in p.parts}


def checksums(spark: SparkSession, root: str) -> dict[str, TableChecksum]:
    return {name: table_checksum(spark, f"{root}/{name}", skip) for name, skip in TABLES.items()}


@pytest.fixture(scope="module")
def raw(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Raw parquet: 2025-01-01..03 (the previous night's backlog) and 2025-01-04 (the night)."""
    directory = tmp_path_factory.mktemp("crash_raw")
    frame = generate_transactions(
        spark, Config().generator, customers=100, terminals=50, days=4, start_date=START, seed=3
    )
    write_raw(frame.where(f"tx_ts < '{NIGHT}'"), str(directory / "history"), "parquet")
    write_raw(frame.where(f"tx_ts >= '{NIGHT}'"), str(directory / "nights"), "parquet")
    return directory / "history", directory / "nights"


def night_process(config: Config, source: str, directory: Path) -> subprocess.Popen[str]:
    """`fraudspark nightly --date NIGHT` in its own process group (driver and JVM)."""
    conf = directory / "conf.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                "spark": {
                    "master": "local[2]",
                    "shuffle_partitions": 4,
                    "driver_memory": "1g",
                    "extra": SPARK_EXTRA,
                },
                "lakehouse": {"root": config.lakehouse_root},
                "monitoring": {"reports_dir": str(directory / "reports")},
                "nightly": {"lock_settle_seconds": 0},
            }
        )
    )
    command = [sys.executable, "-m", "fraudspark.cli", "nightly", "--date", str(NIGHT),
               "--source", source, "--conf", str(conf)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        command, env=env, cwd=directory, start_new_session=True, text=True,
        stdout=(directory / "night.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_driver_killed_mid_write_of_features_windowed_keeps_the_table_and_resumes(
    spark: SparkSession, config: Config, raw: tuple[Path, Path], tmp_path: Path
) -> None:
    history, nights = raw
    night_source = day_source(str(nights), NIGHT)
    assert night_source is not None
    run_night(spark, config, NightInputs(PREVIOUS, str(history)))
    # The reference: a copy of the lakehouse after the previous night (Delta logs hold relative
    # paths), running the night uninterrupted.
    reference = config.with_lakehouse(str(tmp_path / "reference"))
    shutil.copytree(config.lakehouse_root, reference.lakehouse_root)
    run_night(spark, reference, NightInputs(NIGHT, night_source))
    expected = checksums(spark, reference.lakehouse_root)

    table = Path(table_path(config, FEATURES_WINDOWED))
    version = table_version(spark, config, FEATURES_WINDOWED)
    before = table_checksum(spark, str(table))
    old_files = data_files(table)

    night = night_process(config, night_source, tmp_path)
    deadline = time.monotonic() + 900  # JVM start, ingest, features on a loaded machine
    while not data_files(table) - old_files:
        assert night.poll() is None, (tmp_path / "night.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the night never wrote features_windowed"
        time.sleep(0.01)
    os.killpg(night.pid, signal.SIGKILL)  # the driver and its JVM, before the commit
    night.wait()

    # The half-written files are on disk but no commit names them: SQL sees the old version.
    assert data_files(table) - old_files
    assert table_version(spark, config, FEATURES_WINDOWED) == version
    assert table_checksum(spark, str(table)) == before
    register_tables(spark, config)
    assert spark.sql("SELECT count(*) FROM fraud.features_windowed").first()[0] == before.rows  # type: ignore[index]
    assert last_statuses(spark, config, NIGHT) == {"ingest": "succeeded", "labels": "skipped"}
    assert (Path(config.lakehouse_root) / "_locks" / LOCK_NAME).exists()  # the dead holder's

    # Run again: the dead holder's lock is broken, the night resumes at features.
    assert run_night(spark, config, NightInputs(NIGHT, night_source)) == [
        "features", "score", "monitor", "maintain",
    ]  # fmt: skip
    assert checksums(spark, config.lakehouse_root) == expected
