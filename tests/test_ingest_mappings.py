"""Source mappings (contract, FraudFinder, Sparkov), card tokens and the business day."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from fraudspark.config import (
    Config,
    ConfigError,
    SourceMapping,
    TimestampMapping,
    load_config,
    load_mapping,
)
from fraudspark.ingest.tokens import TokenKeyError
from fraudspark.ingest.transactions import validated_source
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import QUARANTINE, TRANSACTIONS
from fraudspark.pipelines.ingest import ingest_labels, ingest_transactions

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
KEY = "a-test-key-of-32-bytes-----------"


def rows_by_id(frame: object) -> dict[str, dict[str, object]]:
    return {str(r["tx_id"]): r.asDict() for r in frame.collect()}  # type: ignore[attr-defined]


def test_mapping_files_are_found_next_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "bank.yaml").write_text("format: json\ncolumns: {tx_id: ID}\n")
    (tmp_path / "conf.yaml").write_text("sources:\n  inline: {format: parquet}\n")
    config = load_config(tmp_path / "conf.yaml")
    assert load_mapping(config, "bank") == SourceMapping(format="json", columns={"tx_id": "ID"})
    assert load_mapping(config, "inline").format == "parquet"
    with pytest.raises(ConfigError, match=r"unknown source mapping 'nope'.*known: bank, inline"):
        load_mapping(config, "nope")


def test_shipped_mappings_load(base_config: Config) -> None:
    assert load_mapping(base_config, "contract").columns == {}
    assert load_mapping(base_config, "fraudfinder").columns["tx_id"] == "TX_ID"
    sparkov = load_mapping(base_config, "sparkov")
    assert (sparkov.options["sep"], sparkov.card_number_columns) == ("|", ["cc_num"])


@pytest.mark.slow
def test_contract_mapping_and_format_together_is_an_error(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    (tmp_path / "in.csv").write_text(
        "tx_id,tx_ts,customer_id,terminal_id,tx_amount\n1,2025-02-28 10:00:00,10,20,1.5\n"
    )
    with pytest.raises(ConfigError, match="--mapping contract decides the reader"):
        ingest_transactions(spark, config, str(tmp_path / "in.csv"), "csv", NOW, "contract")
    report = ingest_transactions(
        spark, config, str(tmp_path / "in.csv"), now=NOW, mapping="contract"
    )
    assert (report.read, report.accepted, report.quarantined, report.present) == (1, 1, 0, 0)


@pytest.mark.slow
def test_fraudfinder_mapping_keeps_string_ids_exactly(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    # Header case differs from the mapping's (TX_ID): names match case-insensitively.
    (tmp_path / "ff.csv").write_text(
        "tx_id,Tx_Ts,customer_id,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,TX_FRAUD_SCENARIO\n"
        "a9f0c1,2025-02-28 10:00:00,C001,T 07,12.30,0,0\n"
        "0042,2025-02-28 10:05:00,C002,T 07,99.99,1,2\n"
    )
    mapping = load_mapping(config, "fraudfinder")
    rows = rows_by_id(validated_source(spark, config, str(tmp_path / "ff.csv"), mapping, NOW))
    assert rows["a9f0c1"]["customer_id"] == "C001" and rows["a9f0c1"]["terminal_id"] == "T 07"
    assert rows["0042"]["tx_amount"] == 99.99 and rows["0042"]["is_fraud"] == 1
    assert rows["0042"]["extra"] == {"TX_FRAUD_SCENARIO": "2"}
    assert str(rows["0042"]["tx_ts"]) == "2025-02-28 10:05:00"
    assert [r["reject_reason"] for r in rows.values()] == [None, None]
    # String ids reach the table as surrogate keys beside the source ids (tests/test_string_ids).
    report = ingest_transactions(
        spark, config, str(tmp_path / "ff.csv"), now=NOW, mapping="fraudfinder"
    )
    assert (report.read, report.accepted, report.quarantined, report.present) == (2, 2, 0, 0)


SPARKOV_HEADER = (
    "cc_num|acct_num|profile|trans_num|trans_date|trans_time|unix_time|category|amt|is_fraud|"
    "merchant|merch_lat|merch_long|city_pop|state"
)


def test_sparkov_mapping_tokenizes_the_card_everywhere(
    spark: SparkSession, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSPARK_TOKEN_KEY", KEY)
    card, other_card = "4532015112830366", "6011000990139424"
    lines = [
        SPARKOV_HEADER,
        f"{card}|888|adults_2550_female_urban.json|0b3c8e0f5a5d4f4e9c1d2e3f4a5b6c7d|2023-01-01|"
        "08:30:00|1672561800|grocery_pos|54.20|0|fraud_Kirlin and Sons|40.1|-75.2|1000|PA",
        # The same trans_num on another card (Sparkov draws it per profile file): a different
        # payment, kept apart by the mapping's tx_id_scope (the card).
        f"{other_card}|999|adults_50up_male_urban.json|0b3c8e0f5a5d4f4e9c1d2e3f4a5b6c7d|2023-02-03|"
        "10:00:00|1675418400|home|7.10|0|fraud_Kub PLC|42.8|-82.8|96825|MI",
        # One field short: malformed, and its card number must not reach the quarantine.
        f"{card}|888|adults_2550_female_urban.json|ffff|2023-01-01|09:00:00|1672563600|misc|1.00|0",
    ]
    (tmp_path / "sparkov.csv").write_text("\n".join(lines) + "\n")
    mapping = load_mapping(config, "sparkov")
    rows = validated_source(spark, config, str(tmp_path / "sparkov.csv"), mapping, NOW).collect()
    token = hmac.new(KEY.encode(), card.encode(), hashlib.sha256).hexdigest()
    other = hmac.new(KEY.encode(), other_card.encode(), hashlib.sha256).hexdigest()
    accepted = [r for r in rows if r["reject_reason"] is None]
    good = next(r for r in accepted if r["customer_id"] == token)
    bad = next(r for r in rows if r["reject_reason"] is not None)
    assert sorted(r["tx_id"] for r in accepted) == sorted(
        f"0b3c8e0f5a5d4f4e9c1d2e3f4a5b6c7d|{t}" for t in (token, other)
    )
    assert good["customer_id"] == token
    assert good["terminal_id"] == "fraud_Kirlin and Sons"
    assert str(good["tx_ts"]) == "2023-01-01 08:30:00"  # unix_time 1672561800 in UTC
    assert good["tx_amount"] == 54.2
    assert good["extra"]["category"] == "grocery_pos" and "profile" not in good["extra"]
    assert card not in json.dumps(good["extra"]) and card not in good["raw"]
    assert bad["reject_reason"] == "malformed_record"
    assert card not in bad["raw"] and token in bad["raw"]


def test_sparkov_labels_name_a_payment_by_its_id_and_card(
    spark: SparkSession, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSPARK_TOKEN_KEY", KEY)
    card, other_card = "4532015112830366", "6011000990139424"
    shared = "0b3c8e0f5a5d4f4e9c1d2e3f4a5b6c7d"
    lines = [
        SPARKOV_HEADER,
        f"{card}|888|adults_2550_female_urban.json|{shared}|2023-01-01|"
        "08:30:00|1672561800|grocery_pos|54.20|0|fraud_Kirlin and Sons|40.1|-75.2|1000|PA",
        f"{other_card}|999|adults_50up_male_urban.json|{shared}|2023-02-03|"
        "10:00:00|1675418400|home|7.10|0|fraud_Kub PLC|42.8|-82.8|96825|MI",
    ]
    (tmp_path / "tx.csv").write_text("\n".join(lines) + "\n")
    ingest_transactions(spark, config, str(tmp_path / "tx.csv"), now=NOW, mapping="sparkov")
    # A late label for the second card's payment only, a label for a card never seen, and a
    # row one field short; the label feed is pipe-delimited like the mapping's.
    (tmp_path / "labels.csv").write_text(
        "trans_num|cc_num|is_fraud\n"
        f"{shared}|{other_card}|1\n"
        f"{shared}|4000000000000002|1\n"
        f"{shared}|{card}\n"
    )
    report = ingest_labels(spark, config, str(tmp_path / "labels.csv"), now=NOW, mapping="sparkov")
    assert (report.read, report.updated, report.unchanged, report.quarantined) == (3, 1, 0, 2)
    other = hmac.new(KEY.encode(), other_card.encode(), hashlib.sha256).hexdigest()
    stored = read_table(spark, config, TRANSACTIONS).select("source_tx_id", "is_fraud")
    labels = {r[0]: r[1] for r in stored.collect()}
    token = hmac.new(KEY.encode(), card.encode(), hashlib.sha256).hexdigest()
    assert labels == {f"{shared}|{token}": 0, f"{shared}|{other}": 1}
    quarantined = read_table(spark, config, QUARANTINE).select("reason", "raw").collect()
    assert sorted(r[0] for r in quarantined) == ["malformed_record", "unknown_tx_id"]
    # No card number in clear: the unknown card as its token, the short row's masked.
    assert not any(c in r[1] for r in quarantined for c in (card, "4000000000000002"))


def test_card_columns_without_a_key_is_a_clear_error(
    spark: SparkSession, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRAUDSPARK_TOKEN_KEY", raising=False)
    row = (
        "4532015112830366|888|adults_2550_female_urban.json|0b3c8e0f5a5d4f4e9c1d2e3f4a5b6c7d|"
        "2023-01-01|08:30:00|1672561800|grocery_pos|54.20|0|fraud_Kirlin and Sons|40.1|-75.2|"
        "1000|PA"
    )
    (tmp_path / "s.csv").write_text(f"{SPARKOV_HEADER}\n{row}\n")
    with pytest.raises(TokenKeyError, match="export FRAUDSPARK_TOKEN_KEY"):
        validated_source(
            spark, config, str(tmp_path / "s.csv"), load_mapping(config, "sparkov"), NOW
        ).collect()


@pytest.mark.slow
def test_business_day_in_a_zone_far_from_utc(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    (tmp_path / "in.csv").write_text(
        "tx_id,tx_ts,customer_id,terminal_id,tx_amount\n"
        "1,2025-02-28 10:30:00Z,10,20,1.5\n"
        "2,2025-02-28 09:59:59Z,10,20,1.5\n"
    )
    # Kiritimati is UTC+14: 10:30 UTC is 00:30 the next day there; 09:59:59 is 23:59:59.
    zoned = config.model_copy(
        update={
            "ingest": config.ingest.model_copy(update={"business_time_zone": "Pacific/Kiritimati"})
        }
    )
    ingest_transactions(spark, zoned, str(tmp_path / "in.csv"), "csv", NOW)
    days = {
        r[0]: r[1]
        for r in spark.sql(
            "SELECT tx_id, CAST(tx_date AS STRING) FROM fraud.transactions"
        ).collect()
    }
    assert days == {1: "2025-03-01", 2: "2025-02-28"}


def test_date_and_time_columns_in_a_named_zone(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    (tmp_path / "in.csv").write_text(
        "id;day;time;cust;term;amount\n7;2025-02-28;23:15:00;10;20;3,5\n8;2025-02-28;23:15:00;10;20;3.5\n"
    )
    mapping = SourceMapping(
        format="csv",
        options={"sep": ";", "header": "true"},
        columns={
            "tx_id": "ID",
            "customer_id": "cust",
            "terminal_id": "term",
            "tx_amount": "amount",
        },
        timestamp=TimestampMapping(
            date_column="day", time_column="time", time_zone="America/New_York"
        ),
    )
    rows = rows_by_id(validated_source(spark, config, str(tmp_path / "in.csv"), mapping, NOW))
    # 23:15 in New York (UTC-5 in February) is 04:15 UTC the next day.
    assert str(rows["8"]["tx_ts"]) == "2025-03-01 04:15:00"
    assert rows["8"]["reject_reason"] is None
    assert rows["7"]["reject_reason"] == "invalid_tx_amount"  # a decimal comma is not 3.5
