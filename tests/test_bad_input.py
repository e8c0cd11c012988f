"""Bad input beyond ingest: each class is a clear one-line error (or a quarantine with the
original bytes and a reason) that leaves every table as it was."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from fraudspark.cli import main
from fraudspark.config import Config
from fraudspark.errors import EmptyRangeError, FraudsparkError, MissingTableError, ModelFilesError
from fraudspark.lakehouse.io import read_table, table_version
from fraudspark.lakehouse.tables import QUARANTINE, TRAINING_SETS, TRANSACTIONS
from fraudspark.models.anomaly.autoencoder import AutoencoderScorer
from fraudspark.models.anomaly.base import export_artifact
from fraudspark.models.artifact import METADATA_FILE, MODEL_FILE
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.ingest import ingest_labels, ingest_transactions
from fraudspark.pipelines.training_sets import build_training_set
from fraudspark.registry import champions, register_model, registered_artifact

HEADER = "tx_id,tx_ts,customer_id,terminal_id,tx_amount,is_fraud"
DAY = date(2025, 3, 3)


def transactions_csv(path: Path) -> str:
    """Four transactions of one day, none labelled fraud."""
    rows = [f"{tx},{DAY} 1{tx}:00:00,{tx},7,1{tx}.00,0" for tx in (1, 2, 3, 4)]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return str(path)


@pytest.mark.slow
def test_unknown_duplicated_and_contradictory_labels_are_quarantined_with_their_bytes(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    ingest_transactions(spark, config, transactions_csv(tmp_path / "tx.csv"), "csv")
    labels = tmp_path / "labels.csv"
    # tx 1 labelled twice alike (one copy applies), tx 2 labelled both ways (neither applies),
    # tx 999 never ingested, tx 3 labelled once.
    labels.write_text("tx_id,is_fraud\n1,1\n1,1\n2,1\n2,0\n999,1\n3,1\n")
    report = ingest_labels(spark, config, str(labels))
    assert (report.read, report.updated, report.unchanged, report.quarantined) == (6, 2, 0, 4)
    quarantined = sorted(
        (r["reason"], r["raw"]) for r in read_table(spark, config, QUARANTINE).collect()
    )
    assert quarantined == [
        ("conflicting_label_in_source", '{"tx_id":"2","is_fraud":"0"}'),
        ("conflicting_label_in_source", '{"tx_id":"2","is_fraud":"1"}'),
        ("duplicate_label_in_source", '{"tx_id":"1","is_fraud":"1"}'),
        ("unknown_tx_id", '{"tx_id":"999","is_fraud":"1"}'),
    ]
    stored = read_table(spark, config, TRANSACTIONS).orderBy("tx_id").collect()
    assert [(r.tx_id, r.is_fraud) for r in stored] == [(1, 1), (2, 0), (3, 1), (4, 0)]
    # The same file again changes nothing: the applied labels are unchanged, the quarantine
    # keeps one row per rejected line.
    again = ingest_labels(spark, config, str(labels))
    assert (again.updated, again.unchanged, again.quarantined) == (0, 2, 4)
    assert read_table(spark, config, QUARANTINE).count() == 4


def test_a_missing_table_is_one_line_naming_it_and_the_lakehouse(
    spark: SparkSession, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(MissingTableError) as raised:
        read_table(spark, config, TRANSACTIONS)
    path = f"{config.lakehouse_root}/transactions"
    assert str(raised.value) == (
        f"table fraud.transactions does not exist at {path} (is lakehouse.root "
        f"'{config.lakehouse_root}' right, and has the step that writes it run?)"
    )
    # Through the CLI: a features run on a lakehouse root holding nothing.
    conf = tmp_path / "conf.yaml"
    conf.write_text("spark: {master: 'local[2]', shuffle_partitions: 4}\n")
    argv = ["features", "--conf", str(conf), "--lakehouse", config.lakehouse_root]
    assert main([*argv, "--start", str(DAY), "--end", str(DAY)]) == 1
    err = capsys.readouterr().err
    assert err == f"fraudspark features: error: {raised.value}\n"


@pytest.mark.slow
def test_a_training_set_for_a_range_without_rows_writes_nothing(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    ingest_transactions(spark, config, transactions_csv(tmp_path / "tx.csv"), "csv")
    compute_features(spark, config, DAY, DAY)
    built = build_training_set(spark, config, "march", DAY, DAY)
    assert built.rows == 4
    version = table_version(spark, config, TRAINING_SETS)

    empty = date(2025, 4, 1)
    with pytest.raises(EmptyRangeError, match="no rows between 2025-04-01 and 2025-04-01"):
        build_training_set(spark, config, "march", empty, empty)
    # The set of that name is as it was (before the fix, its partition was replaced by nothing).
    assert table_version(spark, config, TRAINING_SETS) == version
    assert read_table(spark, config, TRAINING_SETS).where("training_set = 'march'").count() == 4


FEATURES = ["tx_amount", "cust_nb_tx_1d"]


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["missing", "corrupted"])
def test_a_model_whose_files_are_missing_or_corrupted_fails_before_scoring(
    base_config: Config, tmp_path: Path, damage: str
) -> None:
    config = base_config.with_lakehouse(str(tmp_path / "lakehouse"))
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(64, 2)), columns=FEATURES)
    training = TrainingConfig(hidden_dims=(2,), latent_dim=1, epochs=1, seed=1)
    artifact = export_artifact(AutoencoderScorer(training=training).fit(rows), {})
    register_model(config, "fraud-ae", artifact)
    [model_file] = (Path(config.lakehouse_root) / "_mlflow" / "artifacts").rglob(MODEL_FILE)
    assert (model_file.parent / METADATA_FILE).exists()
    if damage == "missing":
        shutil.rmtree(model_file.parent)
    else:
        model_file.write_bytes(model_file.read_bytes()[:100])  # a truncated copy

    with pytest.raises(ModelFilesError) as raised:
        registered_artifact(config, "fraud-ae@champion")
    message = str(raised.value)
    assert message.startswith("model fraud-ae/1: its registered files at ")
    assert message.endswith("register it again or promote another version "
                            "(fraudspark promote fraud-ae VERSION)")  # fmt: skip
    assert "\n" not in message
    # The night's score step does not skip a damaged champion as if none were registered.
    with pytest.raises(ModelFilesError):
        champions(config)
    assert isinstance(raised.value, FraudsparkError) and raised.value.exit_code == 1
