"""Table maintenance: OPTIMIZE + VACUUM leave content unchanged and keep recorded versions."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.lakehouse.io import ensure_table, read_table, read_table_as_of, table_version
from fraudspark.lakehouse.tables import RUNS, TRAINING_SET_CATALOG, table_path
from fraudspark.pipelines.maintain import (
    maintain,
    needed_retention_hours,
    parse_interval_hours,
    table_age_hours,
)


def runs_rows(spark: SparkSession, run_id: str, steps: int) -> DataFrame:
    rows = [
        (run_id, date(2025, 3, 1), f"step{i}", "succeeded", datetime(2025, 3, 1, 1, i), 1.5 * i)
        for i in range(steps)
    ]
    frame = spark.createDataFrame(
        rows, "run_id string, run_date date, step string, status string, started_at timestamp, "
        "duration_s double",
    )  # fmt: skip
    return frame.select(
        *frame.columns,
        F.lit(None).cast("long").alias("rows_in"),
        F.lit(None).cast("long").alias("rows_out"),
        F.lit(None).cast("map<string,string>").alias("details"),
        F.lit(None).cast("string").alias("error"),
    )


def fingerprint(frame: DataFrame) -> tuple[int, int]:
    """Row count and an order-independent checksum of every column."""
    # xxhash64 takes no map column: hash each row's JSON. Summed as decimals: a sum of 64-bit
    # hashes overflows a long.
    row_hash = F.xxhash64(F.to_json(F.struct(*frame.columns))).cast("decimal(38,0)")
    row = frame.select(F.count("*"), F.sum(row_hash)).first()
    assert row is not None
    return int(row[0]), int(row[1] or 0)


def history_world(spark: SparkSession, config: Config, protect: bool) -> int:
    """fraud.runs (version 0) with a retention of 0 hours (version 1), two appends of three
    rows (versions 2, 3), then an overwrite in three files (version 4) that removes every file
    of version 3; version 3 recorded by a training set when ``protect``. Returns it."""
    ensure_table(spark, config, RUNS)
    spark.sql(
        f"ALTER TABLE delta.`{table_path(config, RUNS)}` "
        "SET TBLPROPERTIES ('delta.deletedFileRetentionDuration' = 'interval 0 hours')"
    )  # version 1
    for batch in range(2):
        runs_rows(spark, f"run{batch}", 3).write.format("delta").mode("append").save(
            table_path(config, RUNS)
        )  # versions 2, 3
    recorded = 3
    runs_rows(spark, "rerun", 5).repartition(3).write.format("delta").mode("overwrite").save(
        table_path(config, RUNS)
    )
    if protect:
        ensure_table(spark, config, TRAINING_SET_CATALOG)
        catalog = spark.createDataFrame(
            [("ts", date(2025, 3, 1), date(2025, 3, 1), 3, 0, ["x"], {"runs": recorded},
              datetime(2025, 3, 2))],
            TRAINING_SET_CATALOG.schema,
        )  # fmt: skip
        catalog.write.format("delta").mode("append").save(table_path(config, TRAINING_SET_CATALOG))
    return recorded


def test_interval_and_needed_retention() -> None:
    assert parse_interval_hours(None) == 168.0
    assert parse_interval_hours("interval 7 days") == 168.0
    assert parse_interval_hours("interval 36 hours") == 36.0
    assert parse_interval_hours("interval 1 week") == 168.0
    with pytest.raises(ValueError):
        parse_interval_hours("soon")
    history = [
        {"version": 3, "timestamp": datetime(2025, 3, 10, 0, 0)},
        {"version": 2, "timestamp": datetime(2025, 3, 5, 0, 0)},
        {"version": 1, "timestamp": datetime(2025, 3, 1, 0, 0)},
    ]
    now = datetime(2025, 3, 11, 0, 0)
    # Version 1's files may have been removed by version 2 (6 days ago): 144 h + 1 h margin.
    assert needed_retention_hours(history, 1, now) == 145.0
    assert needed_retention_hours(history, 2, now) == 25.0
    assert needed_retention_hours(history, 3, now) is None  # the latest: nothing to keep
    assert table_age_hours(history, now) is None  # version 0 has left the log
    first = {"version": 0, "timestamp": datetime(2025, 2, 28, 12, 0)}
    assert table_age_hours([*history, first], now) == 252.0  # 10.5 days


@pytest.mark.slow  # OPTIMIZE and VACUUM on every table: about a minute each
def test_maintain_keeps_content_and_the_recorded_version(
    spark: SparkSession, config: Config
) -> None:
    recorded = history_world(spark, config, protect=True)
    current_before = fingerprint(read_table(spark, config, RUNS))
    recorded_before = fingerprint(read_table_as_of(spark, config, RUNS, recorded))
    assert recorded_before[0] == 6
    report = maintain(spark, config, tables=[RUNS])
    (result,) = report.tables
    assert result.vacuumed and result.protected is not None
    assert result.protected.owner == "training set ts" and result.protected.version == recorded
    assert result.retention_hours is not None and result.retention_hours >= 1
    assert "retention raised" in result.note
    assert fingerprint(read_table(spark, config, RUNS)) == current_before
    assert fingerprint(read_table_as_of(spark, config, RUNS, recorded)) == recorded_before


@pytest.mark.slow  # OPTIMIZE and VACUUM on every table: about a minute each
def test_without_a_record_vacuum_removes_old_versions(spark: SparkSession, config: Config) -> None:
    """The control: the same table and retention with nothing recorded loses version 3."""
    recorded = history_world(spark, config, protect=False)
    current_before = fingerprint(read_table(spark, config, RUNS))
    report = maintain(spark, config, tables=[RUNS])
    (result,) = report.tables
    assert result.vacuumed and result.retention_hours == 0 and result.protected is None
    assert (result.files_compacted, result.files_written) == (3, 1)  # 3 small files -> 1
    assert table_version(spark, config, RUNS) > 4
    assert fingerprint(read_table(spark, config, RUNS)) == current_before
    with pytest.raises(Exception, match=r"(?i)not exist|FileNotFound|FILE_NOT_EXIST"):
        read_table_as_of(spark, config, RUNS, recorded).collect()


@pytest.mark.slow  # OPTIMIZE and VACUUM on every table: about a minute each
def test_refuse_policy_names_the_version(spark: SparkSession, config: Config) -> None:
    recorded = history_world(spark, config, protect=True)
    report = maintain(spark, config, tables=[RUNS], policy="refuse")
    (result,) = report.tables
    assert not result.vacuumed
    assert f"version {recorded}, recorded by training set ts" in result.note
    assert fingerprint(read_table_as_of(spark, config, RUNS, recorded))[0] == 6


@pytest.mark.slow
def test_a_table_younger_than_its_retention_is_not_vacuumed(
    spark: SparkSession, config: Config
) -> None:
    """Delta's default retention (7 days) on a table made seconds ago: no removed file can be old
    enough, so the VACUUM is not run, and every version stays readable."""
    ensure_table(spark, config, RUNS)
    for run_id in ("first", "second"):  # the second overwrite removes the first one's file
        runs_rows(spark, run_id, 2).write.format("delta").mode("overwrite").save(
            table_path(config, RUNS)
        )
    first = fingerprint(read_table_as_of(spark, config, RUNS, 1))
    report = maintain(spark, config, tables=[RUNS], optimize=False)
    (result,) = report.tables
    assert not result.vacuumed and result.retention_hours is None
    assert "VACUUM not needed" in result.note and "retention of 168 h" in result.note
    assert result.version_after == result.version_before == 2  # no VACUUM commits
    assert fingerprint(read_table_as_of(spark, config, RUNS, 1)) == first == (2, first[1])
