"""String ids: surrogate keys from fraud.id_dictionary, source ids kept beside them."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.ingest.ids import new_dictionary_entries
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import ID_DICTIONARY, QUARANTINE, TRANSACTIONS
from fraudspark.pipelines.ingest import ingest_labels, ingest_transactions

# Spark end to end with trained models: tens of seconds a test (make test runs them).
pytestmark = pytest.mark.slow

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
K = 2**62  # the first surrogate key
FF_HEADER = "TX_ID,TX_TS,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD\n"


def counts(report: object) -> tuple[int, int, int, int]:
    r = report
    return (r.read, r.accepted, r.quarantined, r.present)  # type: ignore[attr-defined]


def dictionary(spark: SparkSession, config: Config) -> dict[tuple[str, str], int]:
    return {
        (r["id_kind"], r["source_id"]): r["id"]
        for r in read_table(spark, config, ID_DICTIONARY).collect()
    }


def test_new_keys_are_dense_sorted_and_start_at_2_62(spark: SparkSession) -> None:
    wanted = spark.createDataFrame(
        [("tx", "b"), ("tx", "a"), ("customer", "a")], "id_kind string, source_id string"
    )
    first = new_dictionary_entries(wanted, None, NOW)
    keys = {(r["id_kind"], r["source_id"]): r["id"] for r in first.collect()}
    assert keys == {("tx", "a"): K, ("tx", "b"): K + 1, ("customer", "a"): K}
    more = spark.createDataFrame(
        [("tx", "a"), ("tx", "0"), ("terminal", "a")], "id_kind string, source_id string"
    )
    second = new_dictionary_entries(more, first, NOW)
    # "a" is known; "0" continues after the kind's largest key even though it sorts first.
    assert {(r["id_kind"], r["source_id"]): r["id"] for r in second.collect()} == {
        ("tx", "0"): K + 2,
        ("terminal", "a"): K,
    }


def test_fraudfinder_feed_gets_keys_and_keeps_its_ids(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    day1 = tmp_path / "d1"
    day1.mkdir()
    (day1 / "ff.csv").write_text(
        FF_HEADER + "a9f0,2025-02-28 10:00:00,C001,T 07,12.30,0\n"
        "0042,2025-02-28 10:05:00,C002,T 07,99.99,1\n"
        "0043,2025-02-28 10:06:00,C001,T 08,5.00,0\n"
    )
    report = ingest_transactions(spark, config, str(day1), now=NOW, mapping="fraudfinder")
    assert counts(report) == (3, 3, 0, 0)
    keys = dictionary(spark, config)
    # Sorted source ids per kind: "0042" < "0043" < "a9f0"; "C001" < "C002"; "T 07" < "T 08".
    assert keys == {
        ("tx", "0042"): K, ("tx", "0043"): K + 1, ("tx", "a9f0"): K + 2,
        ("customer", "C001"): K, ("customer", "C002"): K + 1,
        ("terminal", "T 07"): K, ("terminal", "T 08"): K + 1,
    }  # fmt: skip
    stored = {
        r["source_tx_id"]: (r["tx_id"], r["customer_id"], r["source_customer_id"],
                            r["terminal_id"], r["source_terminal_id"])
        for r in read_table(spark, config, TRANSACTIONS).collect()
    }  # fmt: skip
    assert stored == {
        "a9f0": (K + 2, K, "C001", K, "T 07"),
        "0042": (K, K + 1, "C002", K, "T 07"),
        "0043": (K + 1, K, "C001", K + 1, "T 08"),
    }
    # The same file again: every row recognised by its source id, no new key.
    again = ingest_transactions(spark, config, str(day1), now=NOW, mapping="fraudfinder")
    assert counts(again) == (3, 0, 0, 3)
    assert dictionary(spark, config) == keys
    # A later file: one known tx (present), one new tx by a known customer and a new one, and
    # a row with a missing customer (quarantined: its ids get no key).
    day2 = tmp_path / "d2"
    day2.mkdir()
    (day2 / "ff.csv").write_text(
        FF_HEADER + "0042,2025-02-28 10:05:00,C002,T 07,99.99,1\n"
        "0001,2025-03-01 09:00:00,C001,T 09,7.00,0\n"
        "ffff,2025-03-01 09:30:00,,T 10,7.00,0\n"
    )
    report = ingest_transactions(spark, config, str(day2), now=NOW, mapping="fraudfinder")
    assert counts(report) == (3, 1, 1, 1)
    assert dictionary(spark, config) == {
        **keys, ("tx", "0001"): K + 3, ("terminal", "T 09"): K + 2,
    }  # fmt: skip
    new = read_table(spark, config, TRANSACTIONS).where("source_tx_id = '0001'").first()
    assert new is not None and (new["tx_id"], new["customer_id"]) == (K + 3, K)
    reasons = [r["reason"] for r in read_table(spark, config, QUARANTINE).collect()]
    assert reasons == ["missing_customer_id"]

    # Labels by source id: 0043 turns out fraud; an unknown source id is quarantined.
    (tmp_path / "labels.csv").write_text("TX_ID,TX_FRAUD\n0043,1\nzzzz,1\n")
    report = ingest_labels(
        spark, config, str(tmp_path / "labels.csv"), now=NOW, mapping="fraudfinder"
    )
    assert (report.updated, report.quarantined) == (1, 1)
    labelled = read_table(spark, config, TRANSACTIONS).where(f"tx_id = {K + 1}").first()
    assert labelled is not None and labelled["is_fraud"] == 1


def test_integer_ids_keep_their_values_below_2_62(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    (tmp_path / "in.csv").write_text(
        "tx_id,tx_ts,customer_id,terminal_id,tx_amount\n"
        f"14.0,2025-02-28 10:00:00,{K - 1},20,1.5\n"
        f"{K},2025-02-28 10:00:00,10,20,1.5\n"
        f"15,2025-02-28 10:00:00,10,{K + 5},1.5\n"
    )
    report = ingest_transactions(spark, config, str(tmp_path / "in.csv"), "csv", NOW)
    assert counts(report) == (3, 1, 2, 0)
    row = read_table(spark, config, TRANSACTIONS).first()
    assert row is not None
    assert (row["tx_id"], row["customer_id"], row["source_tx_id"]) == (14, K - 1, None)
    reasons = sorted(r["reason"] for r in read_table(spark, config, QUARANTINE).collect())
    assert reasons == ["terminal_id_out_of_range", "tx_id_out_of_range"]


SPARKOV_HEADER = (
    "cc_num|acct_num|profile|trans_num|trans_date|trans_time|unix_time|category|amt|is_fraud|"
    "merchant|merch_lat|merch_long|city_pop|state"
)


def test_sparkov_card_number_reaches_the_table_as_its_token(
    spark: SparkSession, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "another-test-key-of-32-bytes-----"
    monkeypatch.setenv("FRAUDSPARK_TOKEN_KEY", key)
    card = "4532015112830366"
    (tmp_path / "sparkov.csv").write_text(
        SPARKOV_HEADER + "\n"
        f"{card}|888|adults.json|0b3c|2023-01-01|08:30:00|1672561800|grocery_pos|54.20|0|"
        "fraud_Kirlin and Sons|40.1|-75.2|1000|PA\n"
        f"{card}|888|adults.json|0b3d|2023-01-01|09:30:00|1672565400|misc_net|4.20|1|"
        "fraud_Abbott|40.1|-75.2|1000|PA\n"
    )
    report = ingest_transactions(
        spark, config, str(tmp_path / "sparkov.csv"), now=NOW, mapping="sparkov"
    )
    assert counts(report) == (2, 2, 0, 0)
    token = hmac.new(key.encode(), card.encode(), hashlib.sha256).hexdigest()
    rows = read_table(spark, config, TRANSACTIONS).orderBy("source_tx_id").collect()
    assert [(r["source_customer_id"], r["customer_id"]) for r in rows] == [(token, K)] * 2
    assert [r["source_terminal_id"] for r in rows] == ["fraud_Kirlin and Sons", "fraud_Abbott"]
    assert all(card not in str(r.asDict()) for r in rows)
    assert dictionary(spark, config)[("customer", token)] == K


def test_empty_string_id_feed_reads_nothing(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    (tmp_path / "ff.csv").write_text(FF_HEADER)
    report = ingest_transactions(
        spark, config, str(tmp_path / "ff.csv"), now=NOW, mapping="fraudfinder"
    )
    assert counts(report) == (0, 0, 0, 0)
    assert dictionary(spark, config) == {}
