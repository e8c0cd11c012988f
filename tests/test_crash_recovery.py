"""A night whose driver is SIGKILLed while it writes fraud.features_windowed, and its rerun
SIGKILLed while it writes fraud.scores: after each crash the previous table version stays what
SQL sees; the night run again resumes where it stopped and equals an uninterrupted run. The
killed night's lock is recognised as stale by the rerun."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.lakehouse.checksum import TableChecksum, table_checksum
from fraudspark.lakehouse.io import register_tables, table_version
from fraudspark.lakehouse.lock import LOCK_NAME
from fraudspark.lakehouse.tables import FEATURES_WINDOWED, SCORES, Table, table_path
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.nightly import NightInputs, day_source, last_statuses, run_night
from fraudspark.pipelines.score import score_days
from fraudspark.pipelines.train import train_scorer
from fraudspark.registry import MODEL_NAMES, register_model
from fraudspark.simulate.generator import generate_transactions, write_raw
from tests.jvm import DRIVER_JAVA_OPTIONS

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
                    "driver_java_options": DRIVER_JAVA_OPTIONS,
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


def scores_frame(spark: SparkSession, root: str) -> pd.DataFrame:
    """fraud.scores without its write time, in a fixed order, attribution shares rounded: two
    processes' torch kernels may differ in the last bits of a float (checked with a tolerance,
    where the other tables' checksums are exact)."""
    frame = spark.read.format("delta").load(f"{root}/scores").drop("scored_at").toPandas()
    frame["top_features"] = frame["top_features"].map(tuple)
    frame["top_feature_shares"] = [
        tuple(round(float(share), 9) for share in shares) for shares in frame["top_feature_shares"]
    ]
    return frame.sort_values(["tx_id", "model_name"]).reset_index(drop=True)


def crash_while_writing(
    spark: SparkSession, config: Config, night_source: str, directory: Path, written: Table
) -> None:
    """Start `fraudspark nightly --date NIGHT`, SIGKILL it when the first new data file of
    ``written`` appears (before its commit), and check the table is as it was."""
    directory.mkdir()
    table = Path(table_path(config, written))
    version = table_version(spark, config, written)
    before = table_checksum(spark, str(table))
    old_files = data_files(table)

    night = night_process(config, night_source, directory)
    deadline = time.monotonic() + 900  # JVM start and the steps before, on a loaded machine
    while not data_files(table) - old_files:
        assert night.poll() is None, (directory / "night.log").read_text()[-3000:]
        assert time.monotonic() < deadline, f"the night never wrote {written.name}"
        time.sleep(0.01)
    os.killpg(night.pid, signal.SIGKILL)  # the driver and its JVM, before the commit
    night.wait()

    # The half-written files are on disk but no commit names them: SQL sees the old version.
    assert data_files(table) - old_files
    assert table_version(spark, config, written) == version
    assert table_checksum(spark, str(table)) == before
    register_tables(spark, config)
    count = spark.sql(f"SELECT count(*) FROM fraud.{written.name}").first()[0]  # type: ignore[index]
    assert count == before.rows
    assert (Path(config.lakehouse_root) / "_locks" / LOCK_NAME).exists()  # the dead holder's


def test_driver_killed_mid_write_of_features_then_of_scores_keeps_each_table_and_resumes(
    spark: SparkSession, config: Config, raw: tuple[Path, Path], tmp_path: Path
) -> None:
    history, nights = raw
    night_source = day_source(str(nights), NIGHT)
    assert night_source is not None
    run_night(spark, config, NightInputs(PREVIOUS, str(history)))
    # A champion scorer (one epoch: the test is about the write, not the model), and the
    # previous night scored, so that fraud.scores has a version to keep.
    trained = train_scorer(spark, config, "ae", START, PREVIOUS, training=TrainingConfig(epochs=1))
    name = MODEL_NAMES["ae"]
    register_model(config, name, trained.artifact, trained.params)
    score_days(spark, config, name, PREVIOUS, PREVIOUS)
    # The reference: a copy of the lakehouse after the previous night (Delta logs hold relative
    # paths; the registry's artifacts stay where they are), running the night uninterrupted.
    reference = config.with_lakehouse(str(tmp_path / "reference"))
    shutil.copytree(config.lakehouse_root, reference.lakehouse_root)
    run_night(spark, reference, NightInputs(NIGHT, night_source))
    expected = checksums(spark, reference.lakehouse_root)
    expected_scores = scores_frame(spark, reference.lakehouse_root)
    assert (expected_scores["tx_date"] == NIGHT).any()

    crash_while_writing(spark, config, night_source, tmp_path / "first", FEATURES_WINDOWED)
    assert last_statuses(spark, config, NIGHT) == {"ingest": "succeeded", "labels": "skipped"}
    # Run again, killed while it writes the scores: features are done and logged.
    crash_while_writing(spark, config, night_source, tmp_path / "second", SCORES)
    assert last_statuses(spark, config, NIGHT) == {
        "ingest": "succeeded", "labels": "skipped", "features": "succeeded",
    }  # fmt: skip

    # Run again: the dead holder's lock is broken, the night resumes at score.
    assert run_night(spark, config, NightInputs(NIGHT, night_source)) == [
        "score", "monitor", "maintain",
    ]  # fmt: skip
    assert checksums(spark, config.lakehouse_root) == expected
    pd.testing.assert_frame_equal(
        scores_frame(spark, config.lakehouse_root), expected_scores, check_exact=False, rtol=1e-6
    )
