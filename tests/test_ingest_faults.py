"""Ingest: each row of issue 11's fault table, with the reconciliation identity on each input."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import QUARANTINE, TRANSACTIONS
from fraudspark.pipelines.ingest import IngestReport, ingest_transactions

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
HEADER = "tx_id,tx_ts,customer_id,terminal_id,tx_amount,is_fraud"


def counts(report: IngestReport) -> tuple[int, int, int, int]:
    # IngestReport itself refuses counts that do not reconcile (read = acc + quar + present).
    return (report.read, report.accepted, report.quarantined, report.present)


def quarantine(spark: SparkSession, config: Config) -> list[tuple[str, str]]:
    rows = read_table(spark, config, QUARANTINE).collect()
    return sorted((r["reason"], r["raw"]) for r in rows)


def test_pandas_nanosecond_parquet_is_read_at_microseconds(
    spark: SparkSession, config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stamps = pd.to_datetime([f"2025-02-28 10:00:{s:02d}.123456789" for s in range(20)])
    frame = pd.DataFrame(
        {
            "tx_id": range(1, 21),
            "tx_ts": stamps,
            "customer_id": [10] * 20,
            "terminal_id": [20] * 20,
            "tx_amount": [5.0] * 20,
            "is_fraud": [0] * 20,
        }
    )
    frame.to_parquet(tmp_path / "day.parquet")  # pandas' default: TIMESTAMP(NANOS)
    with caplog.at_level(logging.WARNING):
        report = ingest_transactions(spark, config, str(tmp_path / "day.parquet"), "parquet", NOW)
    assert counts(report) == (20, 20, 0, 0)
    first = spark.sql(
        "SELECT CAST(tx_ts AS STRING) FROM fraud.transactions WHERE tx_id = 1"
    ).first()
    assert first is not None and first[0] == "2025-02-28 10:00:00.123456"
    assert "sub-microsecond digits dropped on 20 row(s)" in caplog.text


def test_integral_float_ids_are_integers_and_others_quarantined(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    # What pandas writes for an integer column holding one missing value: 14.0, and ''.
    lines = [HEADER] + [
        f"{i}.0,2025-02-28 10:{i:02d}:00,{10 + i}.0,20.0,1.5,0" for i in range(1, 30)
    ]
    lines += ["30.0,2025-02-28 11:00:00,11.5,20.0,1.5,0", "31.0,2025-02-28 11:01:00,,20.0,1.5,0"]
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    report = ingest_transactions(spark, config, str(tmp_path / "in.csv"), "csv", NOW)
    assert counts(report) == (31, 29, 2, 0)
    ids = [
        r["customer_id"] for r in read_table(spark, config, TRANSACTIONS).orderBy("tx_id").collect()
    ]
    assert ids == list(range(11, 40))
    assert [reason for reason, _ in quarantine(spark, config)] == [
        "invalid_customer_id",
        "missing_customer_id",
    ]


@pytest.mark.slow
def test_csv_row_with_a_field_too_many_or_too_few_is_quarantined_whole(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    good = [f"{i},2025-02-28 10:00:00,10,20,3.5" for i in range(1, 21)]
    too_many = "21,2025-02-28 10:00:00,10,20,12,50"  # a decimal comma under a 5-column header
    too_few = "22,2025-02-28 10:00:00,10,20"
    header = "tx_id,tx_ts,customer_id,terminal_id,tx_amount"
    (tmp_path / "in.csv").write_text("\n".join([header, *good, too_many, too_few]) + "\n")
    report = ingest_transactions(spark, config, str(tmp_path / "in.csv"), "csv", NOW)
    assert counts(report) == (22, 20, 2, 0)
    assert quarantine(spark, config) == [
        ("malformed_record", too_many),
        ("malformed_record", too_few),
    ]
    assert read_table(spark, config, TRANSACTIONS).where("tx_amount != 3.5").count() == 0


@pytest.mark.slow
def test_truncated_json_line_keeps_its_original_text(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    good = json.dumps(
        {"tx_id": 1, "tx_ts": "2025-02-28T10:00:00Z", "customer_id": 10, "terminal_id": 20,
         "tx_amount": 2.5}
    )  # fmt: skip
    cut = '{"tx_id": 2, "tx_ts": "2025-02-28T10:01:00Z", "customer_id": 1'
    (tmp_path / "in.json").write_text(good + "\n" + cut)
    report = ingest_transactions(spark, config, str(tmp_path / "in.json"), "json", NOW)
    assert counts(report) == (2, 1, 1, 0)
    assert quarantine(spark, config) == [("malformed_record", cut)]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_empty_day_folder_reads_nothing(
    spark: SparkSession, config: Config, tmp_path: Path, fmt: str
) -> None:
    (tmp_path / "day=2025-02-28").mkdir()
    report = ingest_transactions(spark, config, str(tmp_path / "day=2025-02-28"), fmt, NOW)
    assert counts(report) == (0, 0, 0, 0)


def test_header_only_csv_reads_nothing(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(HEADER + "\n")
    report = ingest_transactions(spark, config, str(tmp_path / "in.csv"), "csv", NOW)
    assert counts(report) == (0, 0, 0, 0)
    assert read_table(spark, config, QUARANTINE).count() == 0
