"""The night's input checks wired into the nightly's ingest step, on hand-made feeds: the
figures in fraud.runs' details, a warning that only logs, a failure that stops the night with
exit code 65 and a failed row."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from fraudspark.cli import main
from fraudspark.config import Config
from fraudspark.errors import EXIT_DATA_CHECK_FAILED
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.pipelines.nightly import NightInputs, last_statuses, run_night

# Spark end to end with trained models: tens of seconds a test (make test runs them).
pytestmark = pytest.mark.slow

HEADER = "tx_id,tx_ts,customer_id,terminal_id,tx_amount,is_fraud"
# Mondays: two weeks of history, then the warned night and the failed night.
WEEK_1, WEEK_2, WARNED, FAILED = (
    date(2025, 3, 3),
    date(2025, 3, 10),
    date(2025, 3, 17),
    date(2025, 3, 24),
)


def feed(path: Path, day: date, rows: list[tuple[int, int]], extra: Sequence[str] = ()) -> str:
    """A CSV of (tx_id, customer_id) rows at noon of ``day``, plus raw ``extra`` lines."""
    lines = [HEADER] + [f"{tx},{day} 12:00:00,{customer},7,10.00,0" for tx, customer in rows]
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return str(path)


def details(spark: SparkSession, config: Config, day: date) -> tuple[str, dict[str, str], str]:
    row = spark.sql(
        f"SELECT status, details, error FROM delta.`{config.lakehouse_root}/runs` "
        f"WHERE run_date = '{day}' AND step = 'ingest'"
    ).first()
    assert row is not None
    return row.status, dict(row.details or {}), row.error


def test_the_ingest_step_records_its_checks_warns_and_fails_the_night(
    spark: SparkSession,
    config: Config,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # History: ten transactions of customers 1..10 on each of two Mondays (one ingest).
    history = feed(tmp_path / "h.csv", WEEK_1, [(c, c) for c in range(1, 11)])
    with open(history, "a") as handle:
        handle.writelines(f"{100 + c},{WEEK_2} 12:00:00,{c},7,10.00,0\n" for c in range(1, 11))
    ingest_transactions(spark, config, history, "csv")

    # Ten rows, one from customer 99 (never seen): 10% unknown warns (above 0.05, not 0.2);
    # ten against a median of 10 is on volume; nothing quarantined.
    warned = feed(
        tmp_path / "warned.csv", WARNED, [(300 + c, c) for c in range(1, 10)] + [(310, 99)]
    )
    with caplog.at_level(logging.WARNING, logger="fraudspark.pipelines.nightly"):
        assert run_night(spark, config, NightInputs(WARNED, warned, source_format="csv"),
                         only="ingest") == ["ingest"]  # fmt: skip
    status, found, error = details(spark, config, WARNED)
    assert (status, error) == ("succeeded", None)
    assert found["data_checks"] == "warn"
    assert found["check.volume"] == (
        "volume: 10 transactions vs a median of 10 over 2 week(s), 0.0% off "
        "(warn above 0.3, fail above 0.6): ok"
    )
    assert found["check.quarantine_share"] == (
        "quarantine_share: 0 of 10 rows read (0.00%) (warn above 0.01, fail above 0.05): ok"
    )
    unknown = (
        "unknown_customer_share: 1 of 10 accepted transactions (10.00%) "
        "(warn above 0.05, fail above 0.2): warn"
    )
    assert found["check.unknown_customer_share"] == unknown
    warnings = [r.getMessage() for r in caplog.records if r.name == "fraudspark.pipelines.nightly"]
    assert warnings == [f"night {WARNED}: data check {unknown}"]

    # Three rows and one without a customer (quarantined): 3 against a median of 10 over three
    # weeks is 70% off, and 1 of 4 rows quarantined is 25%: both fail.
    failed = feed(
        tmp_path / "failed.csv", FAILED, [(400, 1), (401, 2), (402, 3)],
        [f"403,{FAILED} 12:00:00,,7,10.00,0"],
    )  # fmt: skip
    conf = tmp_path / "conf.yaml"
    conf.write_text("spark: {master: 'local[2]', shuffle_partitions: 4}\n"
                    "nightly: {lock_settle_seconds: 0}\n")  # fmt: skip
    code = main(["nightly", "--conf", str(conf), "--lakehouse", config.lakehouse_root,
                 "--date", str(FAILED), "--source", failed, "--format", "csv"])  # fmt: skip
    assert code == EXIT_DATA_CHECK_FAILED == 65
    volume = (
        "volume: 3 transactions vs a median of 10 over 3 week(s), 70.0% off "
        "(warn above 0.3, fail above 0.6): fail"
    )
    quarantine = (
        "quarantine_share: 1 of 4 rows read (25.00%) (warn above 0.01, fail above 0.05): fail"
    )
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        f"fraudspark nightly: error: night {FAILED}: the input failed its data checks: "
        f"{volume}; {quarantine}. The rows are ingested; fix the feed and run the night again, "
        f"or accept it with --from-step labels"
    )
    status, found, error = details(spark, config, FAILED)
    assert status == "failed" and error.startswith("fraudspark.errors.DataCheckError: night")
    assert found["data_checks"] == "fail"
    assert (found["check.volume"], found["check.quarantine_share"]) == (volume, quarantine)
    assert found["summary"] == "read 4, accepted 3, quarantined 1, already present 0"
    # The night stopped at ingest: labels and later steps did not run.
    assert last_statuses(spark, config, FAILED) == {"ingest": "failed"}
