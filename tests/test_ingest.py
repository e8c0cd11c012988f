"""Ingest: every validation rule, idempotence, reconciliation, late labels."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.ingest.sources import MissingColumnsError
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import QUARANTINE, TRANSACTIONS
from fraudspark.pipelines.ingest import (
    IngestReport,
    ingest_labels,
    ingest_transactions,
    within_id_range,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
HEADER = ["tx_id", "tx_ts", "customer_id", "terminal_id", "tx_amount", "is_fraud"]
GOOD = ["1", "2025-02-28 10:00:00", "10", "20", "12.50", "0"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def quarantine_reasons(spark: SparkSession, config: Config) -> dict[str, str]:
    """tx_id text (as in the raw JSON) -> reason, for the quarantined transaction rows."""
    rows = read_table(spark, config, QUARANTINE).selectExpr(
        "get_json_object(raw, '$.tx_id') AS tx_id", "reason"
    )
    return {row["tx_id"]: row["reason"] for row in rows.collect()}


@pytest.mark.slow
def test_valid_rows_are_accepted_with_contract_types(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    source = write_csv(
        tmp_path / "in.csv", [GOOD, ["2", "2025-02-28T23:59:59Z", "11", "21", "0", ""]]
    )
    report = ingest_transactions(spark, config, source, "csv", now=NOW)
    assert (report.read, report.accepted, report.quarantined, report.present) == (
        2,
        2,
        0,
        0,
    )
    rows = spark.sql(
        "SELECT tx_id, CAST(tx_ts AS STRING) ts, customer_id, terminal_id, tx_amount, is_fraud, "
        "CAST(tx_date AS STRING) d FROM fraud.transactions ORDER BY tx_id"
    ).collect()
    assert [tuple(r) for r in rows] == [
        (1, "2025-02-28 10:00:00", 10, 20, 12.5, 0, "2025-02-28"),
        (2, "2025-02-28 23:59:59", 11, 21, 0.0, None, "2025-02-28"),
    ]


BAD_ROWS = [
    (["", "2025-02-28 10:00:00", "10", "20", "1.0", "0"], "missing_tx_id"),
    (["x1", "2025-02-28 10:00:00", "10", "20", "1.0", "0"], "invalid_tx_id"),
    (["7", "", "10", "20", "1.0", "0"], "missing_tx_ts"),
    (["7", "28/02/2025 10h", "10", "20", "1.0", "0"], "invalid_tx_ts"),
    (["7", "2025-02-30 10:00:00", "10", "20", "1.0", "0"], "invalid_tx_ts"),
    (["7", "1969-12-31 23:59:59", "10", "20", "1.0", "0"], "tx_ts_before_1970"),
    (["7", "2025-03-02 12:00:01", "10", "20", "1.0", "0"], "tx_ts_in_future"),
    (["7", "2025-02-28 10:00:00", "", "20", "1.0", "0"], "missing_customer_id"),
    (["7", "2025-02-28 10:00:00", "10", "", "1.0", "0"], "missing_terminal_id"),
    (["7", "2025-02-28 10:00:00", "10", "t20", "1.0", "0"], "invalid_terminal_id"),
    (["7", "2025-02-28 10:00:00", "10", "20", "", "0"], "missing_tx_amount"),
    (["7", "2025-02-28 10:00:00", "10", "20", "12,5", "0"], "invalid_tx_amount"),
    (["7", "2025-02-28 10:00:00", "10", "20", "NaN", "0"], "non_finite_tx_amount"),
    (["7", "2025-02-28 10:00:00", "10", "20", "Infinity", "0"], "non_finite_tx_amount"),
    (["7", "2025-02-28 10:00:00", "10", "20", "-0.01", "0"], "negative_tx_amount"),
    (["7", "2025-02-28 10:00:00", "10", "20", "1.0", "2"], "invalid_is_fraud"),
    (["7", "2025-02-28 10:00:00", "10", "20", "1.0", "yes"], "invalid_is_fraud"),
]


@pytest.fixture(scope="module")
def bad_rows_ingested(
    spark: SparkSession, base_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> tuple[IngestReport, dict[str, tuple[str, dict[str, str]]]]:
    """One ingest of a file holding a good row and one row per rule, told apart by `case`."""
    directory = tmp_path_factory.mktemp("rules")
    config = base_config.with_lakehouse(str(directory / "lakehouse"))
    rows = [[*GOOD, "good"]] + [[*row, str(i)] for i, (row, _) in enumerate(BAD_ROWS)]
    source = write_csv(directory / "in.csv", rows, [*HEADER, "case"])
    report = ingest_transactions(spark, config, source, "csv", now=NOW)
    quarantined = {}
    for q in read_table(spark, config, QUARANTINE).collect():
        raw = json.loads(q["raw"])
        assert q["record_kind"] == "transaction" and q["source_file"].endswith("in.csv")
        quarantined[raw.pop("case")] = (q["reason"], raw)
    return report, quarantined


def test_one_row_per_rule_reconciles(
    bad_rows_ingested: tuple[IngestReport, dict[str, tuple[str, dict[str, str]]]],
) -> None:
    report, _ = bad_rows_ingested
    n = len(BAD_ROWS)
    assert (report.read, report.accepted, report.quarantined, report.present) == (
        n + 1,
        1,
        n,
        0,
    )


@pytest.mark.parametrize(("case", "rule"), list(enumerate(BAD_ROWS)))
def test_each_rule_quarantines_the_whole_row_with_its_reason(
    bad_rows_ingested: tuple[IngestReport, dict[str, tuple[str, dict[str, str]]]],
    case: int,
    rule: tuple[list[str], str],
) -> None:
    row, reason = rule
    _, quarantined = bad_rows_ingested
    got_reason, raw = quarantined[str(case)]
    assert got_reason == reason
    # The raw row is kept whole, as text, exactly as it came.
    assert [raw[c] if raw[c] is not None else "" for c in HEADER] == row


def test_duplicates_in_source_keep_one_identical_copy_and_reject_conflicts(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    same = ["5", "2025-02-28 11:00:00", "10", "20", "3.0", "0"]
    conflict_a = ["6", "2025-02-28 11:00:00", "10", "20", "3.0", "0"]
    conflict_b = ["6", "2025-02-28 11:00:00", "10", "20", "4.0", "0"]
    source = write_csv(tmp_path / "in.csv", [same, same, conflict_a, conflict_b])
    report = ingest_transactions(spark, config, source, "csv", now=NOW)
    assert (report.read, report.accepted, report.quarantined, report.present) == (
        4,
        1,
        3,
        0,
    )
    reasons = sorted(r["reason"] for r in read_table(spark, config, QUARANTINE).collect())
    assert reasons == [
        "conflicting_tx_id_in_source",
        "conflicting_tx_id_in_source",
        "duplicate_tx_id_in_source",
    ]
    assert [r["tx_id"] for r in read_table(spark, config, TRANSACTIONS).collect()] == [5]


@pytest.mark.slow
def test_reingest_is_idempotent_and_reconciles(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    bad = ["9", "2025-02-28 10:00:00", "10", "20", "-1", "0"]
    source = write_csv(tmp_path / "in.csv", [GOOD, bad, bad])
    first = ingest_transactions(spark, config, source, "csv", now=NOW)
    versions_before = spark.sql("DESCRIBE HISTORY fraud.transactions").count()
    second = ingest_transactions(spark, config, source, "csv", now=NOW)
    assert (first.read, first.accepted, first.quarantined, first.present) == (
        3,
        1,
        2,
        0,
    )
    assert (second.read, second.accepted, second.quarantined, second.present) == (
        3,
        0,
        2,
        1,
    )
    assert read_table(spark, config, TRANSACTIONS).count() == 1
    # Two identical bad rows stay two quarantine rows, and re-ingest adds none.
    assert read_table(spark, config, QUARANTINE).count() == 2
    assert spark.sql("DESCRIBE HISTORY fraud.transactions").count() == versions_before


@pytest.mark.slow
def test_conflicting_row_against_the_table_is_quarantined(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    ingest_transactions(spark, config, write_csv(tmp_path / "a.csv", [GOOD]), "csv", now=NOW)
    changed = [*GOOD[:4], "99.0", "0"]
    relabelled = [*GOOD[:5], "1"]  # the same transaction with a label only: already present
    conflict = ingest_transactions(
        spark, config, write_csv(tmp_path / "b.csv", [changed]), "csv", now=NOW
    )
    present = ingest_transactions(
        spark, config, write_csv(tmp_path / "c.csv", [relabelled]), "csv", now=NOW
    )
    assert (conflict.accepted, conflict.quarantined, conflict.present) == (0, 1, 0)
    assert (present.accepted, present.quarantined, present.present) == (0, 0, 1)
    assert quarantine_reasons(spark, config) == {"1": "conflicting_tx_id_in_table"}


def test_the_lookup_against_the_table_reads_only_the_source_id_range(
    spark: SparkSession,
) -> None:
    stored = spark.createDataFrame(
        [(i, f"row {i}") for i in (1, 5, 10, 20)], "tx_id long, v string"
    )
    source = spark.createDataFrame([(12,), (5,), (None,)], "tx_id long")
    kept = within_id_range(stored, source)
    assert sorted(r["tx_id"] for r in kept.collect()) == [5, 10]
    no_ids = spark.createDataFrame([(None,)], "tx_id long")
    assert within_id_range(stored, no_ids).count() == 0


def test_missing_required_column_fails_naming_it(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    header = ["tx_id", "tx_ts", "customer_id", "tx_amount"]
    source = write_csv(tmp_path / "in.csv", [["1", "2025-02-28 10:00:00", "10", "1.0"]], header)
    with pytest.raises(MissingColumnsError, match="terminal_id"):
        ingest_transactions(spark, config, source, "csv", now=NOW)


def test_extra_columns_are_kept_in_a_map(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "in.csv", [[*GOOD, "3"]], [*HEADER, "tx_fraud_scenario"])
    ingest_transactions(spark, config, source, "csv", now=NOW)
    row = read_table(spark, config, TRANSACTIONS).head()
    assert row["extra"] == {"tx_fraud_scenario": "3"}


@pytest.mark.slow
def test_parquet_and_json_sources(spark: SparkSession, config: Config, tmp_path: Path) -> None:
    frame = spark.createDataFrame(
        [
            (1, datetime(2025, 2, 28, 10), 10, 20, 12.5, 0),
            (2, datetime(2025, 2, 28, 11), 10, 20, float("nan"), None),
        ],
        "tx_id long, tx_ts timestamp, customer_id long, terminal_id long, tx_amount double, "
        "is_fraud int",
    )
    frame.write.parquet(str(tmp_path / "pq"))
    report = ingest_transactions(spark, config, str(tmp_path / "pq"), "parquet", now=NOW)
    assert (report.accepted, report.quarantined) == (1, 1)
    (tmp_path / "in.json").write_text(
        '{"tx_id": 3, "tx_ts": "2025-02-28T12:00:00Z", "customer_id": 1, "terminal_id": 2, '
        '"tx_amount": 5.25}\n'
    )
    report = ingest_transactions(spark, config, str(tmp_path / "in.json"), "json", now=NOW)
    assert (report.accepted, report.quarantined) == (1, 0)
    ids = sorted(r["tx_id"] for r in read_table(spark, config, TRANSACTIONS).collect())
    assert ids == [1, 3]


@pytest.mark.slow
def test_late_labels_update_only_the_targeted_rows(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    rows = [
        ["1", "2025-02-27 10:00:00", "10", "20", "1.0", ""],
        ["2", "2025-02-28 10:00:00", "10", "20", "2.0", ""],
        ["3", "2025-02-28 11:00:00", "11", "20", "3.0", "0"],
    ]
    ingest_transactions(spark, config, write_csv(tmp_path / "tx.csv", rows), "csv", now=NOW)
    labels = write_csv(
        tmp_path / "labels.csv",
        [["2", "1"], ["3", "0"], ["404", "1"], ["1", "maybe"]],
        ["tx_id", "is_fraud"],
    )
    report = ingest_labels(spark, config, labels, "csv", now=NOW)
    assert (report.read, report.updated, report.unchanged, report.quarantined) == (
        4,
        1,
        1,
        2,
    )
    table = {
        r["tx_id"]: (r["is_fraud"], r["label_updated_at"] is not None)
        for r in read_table(spark, config, TRANSACTIONS).collect()
    }
    assert table == {1: (None, False), 2: (1, True), 3: (0, False)}
    reasons = {
        r["raw"]: r["reason"]
        for r in read_table(spark, config, QUARANTINE).where("record_kind = 'label'").collect()
    }
    assert sorted(reasons.values()) == ["invalid_is_fraud", "unknown_tx_id"]
    again = ingest_labels(spark, config, labels, "csv", now=NOW)
    assert (again.updated, again.unchanged, again.quarantined) == (0, 2, 2)
