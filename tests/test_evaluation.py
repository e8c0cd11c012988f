"""The evaluation protocol: its dates, the known-compromised exclusion, the metrics, the job."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudspark.cli import evaluate as evaluate_job
from fraudspark.config import Config
from fraudspark.evaluation.leaderboard import evaluation_rows, leaderboard
from fraudspark.evaluation.protocol import (
    ProtocolWindow,
    artifact_fingerprint,
    card_precision_at_k,
    detection_metrics,
    exclude_known_compromised,
)
from fraudspark.features.model_inputs import model_inputs
from fraudspark.features.store import feature_rows, model_feature_columns
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import EVALUATIONS
from fraudspark.models.anomaly.base import load_scorer
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.train import train_scorer
from tests.synthetic_store import write_feature_store


def d(day: int, month: int = 3) -> date:
    return date(2025, month, day)


def test_the_test_days_start_after_training_and_delay() -> None:
    window = ProtocolWindow(d(1), train_days=7, delay_days=7, test_days=7)

    assert (window.train_end, window.test_start, window.test_end) == (d(7), d(15), d(21))
    with pytest.raises(ValueError, match="must be positive"):
        ProtocolWindow(d(1), train_days=0)


def test_customers_known_compromised_leave_the_test_days() -> None:
    # Training 1-2 March, delay 2 days, test 5-7 March: a fraud on day F is known from F + 3.
    window = ProtocolWindow(d(1), train_days=2, delay_days=2, test_days=3)
    frauds = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            # 1: before training, ignored; 2: in training, known on every test day;
            # 3: in the delay, known from 6 March; 4: on a test day, known only from 8 March.
            "tx_date": [d(27, 2), d(2), d(3), d(5)],
        }
    )
    test = pd.DataFrame(
        [(customer, day) for day in (d(5), d(6), d(7)) for customer in (1, 2, 3, 4, 5)],
        columns=["customer_id", "tx_date"],
    )

    kept = exclude_known_compromised(test, frauds, window)

    assert sorted(kept.itertuples(index=False, name=None)) == [
        (1, d(5)), (1, d(6)), (1, d(7)),
        (3, d(5)),
        (4, d(5)), (4, d(6)), (4, d(7)),
        (5, d(5)), (5, d(6)), (5, d(7)),
    ]  # fmt: skip


def test_card_precision_removes_detected_cards_from_later_days() -> None:
    rows = [  # (day, customer, score, is_fraud)
        # Day 1: cards by max score: 1 (0.9, fraud), 2 (0.8), 3 (0.7, fraud). Top 2: 1 of 2.
        (d(1), 1, 0.9, 1), (d(1), 1, 0.1, 0), (d(1), 2, 0.8, 0), (d(1), 3, 0.7, 1),
        # Day 2: card 1 was detected and is left out; top 2 = 3 (fraud), 4: 1 of 2.
        # Without the removal it would be 1 and 3: 2 of 2.
        (d(2), 1, 0.95, 1), (d(2), 3, 0.6, 1), (d(2), 4, 0.5, 0), (d(2), 2, 0.4, 0),
        # Day 3: card 3 detected on day 2, left out; top 2 = 6, 2: none. (Without: 3 and 6.)
        (d(3), 3, 0.99, 1), (d(3), 6, 0.8, 0), (d(3), 2, 0.7, 0), (d(3), 5, 0.1, 1),
    ]  # fmt: skip
    test = pd.DataFrame(rows, columns=["tx_date", "customer_id", "score", "is_fraud"])

    mean, per_day = card_precision_at_k(test, "score", k=2)

    assert per_day == [0.5, 0.5, 0.0]
    assert mean == pytest.approx(1 / 3)


def test_card_precision_breaks_ties_by_customer_id() -> None:
    test = pd.DataFrame(
        {"tx_date": [d(1)] * 3, "customer_id": [9, 4, 7], "score": 0.5, "is_fraud": [0, 1, 0]}
    )

    assert card_precision_at_k(test, "score", k=1) == (1.0, [1.0])


def test_auc_and_average_precision_over_all_test_rows() -> None:
    test = pd.DataFrame(
        {
            "tx_date": [d(1)] * 4,
            "customer_id": [1, 2, 3, 4],
            "score": [0.1, 0.4, 0.35, 0.8],
            "is_fraud": [0, 0, 1, 1],
        }
    )

    metrics = detection_metrics(test, "score")

    # 3 of the 4 (fraud, genuine) pairs are ordered right.
    assert metrics.auc_roc == pytest.approx(0.75)
    # Frauds at ranks 1 and 3: precision 1 at recall 0.5, 2/3 at recall 1.
    assert metrics.average_precision == pytest.approx((1 + 2 / 3) / 2)
    assert metrics.cp_at_100 == pytest.approx(2 / 100)
    assert detection_metrics(test.assign(is_fraud=0), "score").auc_roc is None


@pytest.mark.slow
def test_evaluate_command_writes_one_row_per_model_and_seed(
    spark: SparkSession, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Customer 3 defrauded from day 2 (training): left out of the test days. 7, 8 and 9 from
    # the test days on: what the models must find.
    tx = write_feature_store(
        spark, config, d(1, 2), 6, customers=24, frauds_from={3: 1, 7: 4, 8: 4, 9: 5}
    )
    test_days = tx[(tx["tx_date"] >= d(5, 2)) & (tx["customer_id"] != 3)]
    conf = tmp_path / "test.yaml"
    conf.write_text("spark: {master: 'local[2]', shuffle_partitions: 4}\n")
    protocol = ["--train-start", "2025-02-01", "--train-days", "3", "--delay-days", "1"]
    command = ["--conf", str(conf), "--lakehouse", config.lakehouse_root, *protocol]
    command += ["--test-days", "2", "--models", "ae,rapp", "--epochs", "3", "--seeds", "1"]

    assert evaluate_job.main(command) == 0

    table = read_table(spark, config, EVALUATIONS).toPandas().sort_values("model_name")
    assert table["model_name"].tolist() == ["ae", "rapp-nap", "rapp-sap"]
    assert set(table["oversampling"]) == {"none"} and set(table["seed"]) == {0}
    assert table["evaluation_id"].nunique() == 1
    assert (table["test_start"] == d(5, 2)).all() and (table["test_end"] == d(6, 2)).all()
    assert (table["test_rows"] == len(test_days)).all()
    assert (table["test_frauds"] == 5).all()  # 7 and 8 on 5 and 6 Feb, 9 on 6 Feb
    # Card precision@100 by hand: every card fits in the top 100. 5 Feb: cards 7 and 8;
    # 6 Feb: 7 and 8 already detected, 9 new. Mean of 2/100 and 1/100.
    assert table["cp_at_100"].tolist() == pytest.approx([0.015] * 3)
    # AUC and average precision, computed apart: the same models trained again (same data
    # versions, seed 0, 3 epochs), the test rows scored in process, scikit-learn's metrics on
    # them with customer 3 (known compromised from 2 Feb) left out by hand.
    versions = {name: int(v) for name, v in table["data_versions"].iloc[0].items()}
    features = model_feature_columns(config)
    test = model_inputs(feature_rows(spark, config, d(5, 2), d(6, 2), versions), features)
    test = test.where("customer_id != 3").toPandas()
    assert len(test) == len(test_days) and int(test["is_fraud"].sum()) == 5
    by_model = table.set_index("model_name")
    for kind, columns in (
        ("ae", {"ae": "score"}),
        ("rapp", {"rapp-sap": "sap", "rapp-nap": "nap"}),
    ):
        trained = train_scorer(
            spark, config, kind, d(1, 2), d(3, 2), training=TrainingConfig(epochs=3, seed=0),
            target_alert_rate=config.scoring.target_alert_rate, versions=versions,
        )  # fmt: skip
        scores = load_scorer(trained.artifact).score(test[features])
        for model, column in columns.items():
            row = by_model.loc[model]
            auc = roc_auc_score(test["is_fraud"], scores[column])
            ap = average_precision_score(test["is_fraud"], scores[column])
            assert (row["auc_roc"], row["average_precision"]) == pytest.approx((auc, ap), rel=1e-9)
            assert row["model_fingerprint"] == artifact_fingerprint(trained.artifact)
    assert table["model_fingerprint"].str.startswith("sha256:").all()
    assert set(table["data_versions"].iloc[0]) == {
        "transactions",
        "features_windowed",
        "features_monthly",
    }
    printed = capsys.readouterr().out
    assert "rapp-nap" in printed and "train 2025-02-01 .. 2025-02-03" in printed


def test_seeds_are_a_count_or_a_list() -> None:
    assert evaluate_job.seed_list("3") == [0, 1, 2]
    assert evaluate_job.seed_list("4,7") == [4, 7]
    with pytest.raises(argparse.ArgumentTypeError, match="positive"):
        evaluate_job.seed_list("0")


@pytest.mark.slow
def test_evaluate_oversampling_compares_methods_on_the_same_days(
    spark: SparkSession, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Frauds in training (customers 1-4, labelled) and on the test days (7, 8 and 9).
    tx = write_feature_store(
        spark, config, d(1, 2), 6, customers=24,
        frauds_from={1: 0, 2: 0, 3: 1, 4: 1, 7: 4, 8: 4, 9: 5},
    )  # fmt: skip
    test_days = tx[(tx["tx_date"] >= d(5, 2)) & (~tx["customer_id"].isin([1, 2, 3, 4]))]
    conf = tmp_path / "test.yaml"
    conf.write_text("spark: {master: 'local[2]', shuffle_partitions: 4}\n")
    command = ["--conf", str(conf), "--lakehouse", config.lakehouse_root]
    command += ["--train-start", "2025-02-01", "--train-days", "3", "--delay-days", "1"]
    command += ["--test-days", "2", "--oversampling", "none,smote,diffusion", "--seeds", "2"]
    command += ["--ratios", "0.5,0.6", "--classifiers", "mlp,gbt", "--classifier-epochs", "3"]
    command += ["--steps", "3"]

    assert evaluate_job.main(command) == 0

    table = read_table(spark, config, EVALUATIONS).toPandas()
    # none once per (classifier, seed), ratio null; each other method per ratio too.
    runs = sorted(
        (m, o, -1.0 if pd.isna(r) else r, s)
        for m, o, r, s in zip(
            table["model_name"], table["oversampling"], table["ratio"], table["seed"], strict=True
        )
    )
    assert runs == sorted(
        [(f"classifier-{k}", "none", -1.0, s) for k in ("mlp", "gbt") for s in (0, 1)]
        + [
            (f"classifier-{k}", o, r, s)
            for k in ("mlp", "gbt")
            for o in ("smote", "diffusion")
            for r in (0.5, 0.6)
            for s in (0, 1)
        ]
    )
    assert table["evaluation_id"].nunique() == 1
    assert (table["test_rows"] == len(test_days)).all() and (table["test_frauds"] == 5).all()
    assert (table["train_seconds"] > 0).all()
    # SMOTE adds rows up to 1 fraud for 2 normal rows; none trains on the training set as it is.
    mlp = table[table["model_name"] == "classifier-mlp"]
    assert set(mlp.loc[mlp["oversampling"] == "none", "train_rows"]) == {
        len(tx[tx["tx_date"] <= d(3, 2)])
    }
    by_ratio = mlp.dropna(subset=["ratio"]).groupby(["oversampling", "ratio"])
    train_rows = by_ratio["train_rows"].first()
    assert train_rows[("smote", 0.5)] < train_rows[("smote", 0.6)]
    assert train_rows[("smote", 0.5)] == train_rows[("diffusion", 0.5)]
    # Synthetic-row quality only where rows were added; none has none.
    synthetic = table["oversampling"] != "none"
    assert table.loc[synthetic, "two_sample_auc"].between(0, 1).all()
    assert (table.loc[synthetic, "invalid_rows"] == 0).all()
    assert table.loc[~synthetic, ["two_sample_auc", "invalid_rows"]].isna().all().all()
    # The same table read back gives one leaderboard row per setting, over both seeds.
    board = leaderboard(evaluation_rows(spark, config))
    assert len(board) == 2 * (1 + 2 * 2) and (board["seeds"] == 2).all()
    printed = capsys.readouterr().out
    assert "mean ± std over seeds" in printed and "two_sample_auc" in printed
    assert "best: diffusion x classifier-" in printed and "diffusion - none" in printed
