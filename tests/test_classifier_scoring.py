"""The registered classifiers in the nightly path: Spark scoring into fraud.scores with
integrated-gradients (MLP) or TreeSHAP (GBT) attributions, the champion list, and monitoring
against their training rows."""

from __future__ import annotations

import contextlib
import io
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudspark.cli import score as score_job
from fraudspark.cli import train_classifier as train_classifier_job
from fraudspark.config import Config
from fraudspark.features.model_inputs import model_inputs
from fraudspark.features.store import feature_rows, model_feature_columns
from fraudspark.features.training_data import classifier_training_rows
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import AUGMENTED_TRAINING_SETS, DRIFT, SCORES, TRAINING_SETS
from fraudspark.models.classifiers.gbt import LoadedGbt
from fraudspark.models.classifiers.mlp import ClassifierConfig, LoadedClassifier
from fraudspark.monitoring.drift import feature_drift
from fraudspark.monitoring.reference import (
    DAY_OF_WEEK_FEATURES,
    binary_columns,
    thresholds_from,
    training_rows,
)
from fraudspark.pipelines.monitor import monitor_model
from fraudspark.pipelines.nightly import NightInputs, run_night
from fraudspark.pipelines.oversample import oversample_training_set
from fraudspark.pipelines.score import ScoringReport, score_days
from fraudspark.pipelines.train import register_classifier, train_classifier
from fraudspark.pipelines.training_sets import build_training_set
from fraudspark.registry import (
    CLASSIFIER_MODEL_NAME,
    CLASSIFIER_MODEL_NAMES,
    RegisteredModel,
    champions,
    registered_artifact,
)
from tests.frames import assert_frames_equal
from tests.synthetic_store import write_feature_store

START = date(2025, 2, 1)
SCORED_DAY = date(2025, 2, 4)
TINY = ClassifierConfig(hidden_dims=(16,), epochs=15, batch_size=64, seed=3)
ALERT_RATE = 0.05


# Spark end to end with trained models: tens of seconds a test (make test runs them).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def store(spark: SparkSession, module_config: Config) -> Config:
    """Four days of 20 customers' payments, some defrauded daily; SMOTE on the first three."""
    config = module_config
    write_feature_store(
        spark, config, START, 4, customers=20, frauds_from={0: 0, 7: 0, 11: 1, 15: 3}, seed=4
    )
    build_training_set(spark, config, "train", START, date(2025, 2, 3))
    oversample_training_set(spark, config, "train", "smote", ratio=0.2, seed=0)
    return config


@pytest.fixture(scope="module")
def registered(spark: SparkSession, store: Config) -> RegisteredModel:
    trained = train_classifier(
        spark, store, "train", "smote", training=TINY, target_alert_rate=ALERT_RATE
    )
    version = register_classifier(store, trained)
    return registered_artifact(store, f"{CLASSIFIER_MODEL_NAME}/{version}")


@pytest.fixture(scope="module")
def registered_gbt(
    store: Config, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RegisteredModel, str]:
    """The GBT classifier trained and registered by ``train-classifier --kind gbt``, and the
    command's output."""
    conf = tmp_path_factory.mktemp("gbt-conf") / "test.yaml"
    conf.write_text(
        "spark: {master: 'local[2]', shuffle_partitions: 4}\n"
        f"scoring: {{target_alert_rate: {ALERT_RATE}}}\n"
    )
    command = ["--conf", str(conf), "--lakehouse", store.lakehouse_root, "--kind", "gbt"]
    command += ["--training-set", "train", "--method", "smote", "--trees", "30", "--seed", "1"]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert train_classifier_job.main(command) == 0
    name = CLASSIFIER_MODEL_NAMES["gbt"]
    return registered_artifact(store, f"{name}@champion"), output.getvalue()


@pytest.fixture(scope="module")
def first_scoring(spark: SparkSession, store: Config, registered: RegisteredModel) -> ScoringReport:
    """The day scored by the champion (the registered version), once for the module."""
    return score_days(spark, store, CLASSIFIER_MODEL_NAME, SCORED_DAY, SCORED_DAY)


def _classifier_scores(spark: SparkSession, store: Config) -> pd.DataFrame:
    scores = read_table(spark, store, SCORES).where(F.col("model_name") == CLASSIFIER_MODEL_NAME)
    return scores.toPandas().sort_values("tx_id", ignore_index=True)


def test_the_threshold_lets_the_target_share_of_real_training_rows_alert(
    spark: SparkSession, store: Config, registered: RegisteredModel
) -> None:
    features = model_feature_columns(store)
    rows = classifier_training_rows(spark, store, registered.artifact.metadata)
    real = model_inputs(rows, features).select(*features).toPandas()

    scored = LoadedClassifier(registered.artifact).score(real)

    labelled = read_table(spark, store, TRAINING_SETS).where("is_fraud IS NOT NULL").count()
    assert len(real) == labelled  # every real labelled row, no synthetic one
    assert scored["is_alert"].mean() == pytest.approx(ALERT_RATE, abs=1 / len(real))


def test_the_classifier_scores_a_day_into_fraud_scores_once(
    spark: SparkSession,
    store: Config,
    registered: RegisteredModel,
    first_scoring: ScoringReport,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    features = model_feature_columns(store)
    day = model_inputs(feature_rows(spark, store, SCORED_DAY, SCORED_DAY), features).toPandas()
    day = day.sort_values("tx_id", ignore_index=True)
    table = _classifier_scores(spark, store)

    assert first_scoring.model == str(registered)
    assert (first_scoring.rows_scored, first_scoring.rows_inserted) == (len(day), len(day))
    assert table["tx_id"].tolist() == day["tx_id"].tolist()
    expected = LoadedClassifier(registered.artifact).score(day[features])
    np.testing.assert_allclose(table["score"], expected["score"], rtol=1e-12, atol=0)
    assert table["is_alert"].tolist() == expected["is_alert"].tolist()
    assert (table["is_alert"] == (table["score"] > registered.artifact.metadata["threshold"])).all()
    assert first_scoring.alerts == int(table["is_alert"].sum()) > 0
    assert table["top_features"].map(len).eq(3).all()
    np.testing.assert_allclose(
        np.stack(table["top_feature_shares"]), np.stack(expected["top_feature_shares"]), atol=1e-9
    )
    assert table[["sap", "nap", "reconstruction_error", "kl_divergence"]].isna().all().all()

    conf = tmp_path / "test.yaml"
    conf.write_text("spark: {master: 'local[2]', shuffle_partitions: 4}\n")
    command = ["--conf", str(conf), "--lakehouse", store.lakehouse_root]
    command += ["--model", CLASSIFIER_MODEL_NAME, "--date", SCORED_DAY.isoformat()]
    assert score_job.main(command) == 0

    summary = f"{registered} on {SCORED_DAY} .. {SCORED_DAY}: {len(day)} rows in fraud.scores"
    assert f"{summary} (0 new)" in capsys.readouterr().out
    pd.testing.assert_frame_equal(_classifier_scores(spark, store), table)


def test_train_classifier_kind_gbt_registers_fraud_classifier_gbt(
    spark: SparkSession, store: Config, registered_gbt: tuple[RegisteredModel, str]
) -> None:
    registered, output = registered_gbt
    metadata = registered.artifact.metadata
    assert (registered.name, registered.version) == ("fraud-classifier-gbt", 1)
    assert output.startswith("registered fraud-classifier-gbt/1: gbt classifier on 'train'")
    assert metadata["format"] == "fraudspark.gbt/1"
    assert metadata["training_config"]["n_estimators"] == 30
    assert metadata["extra"]["kind"] == "gbt" and metadata["extra"]["synthetic_rows"] > 0
    # The threshold lets the target share of the real training rows alert.
    features = model_feature_columns(store)
    real = model_inputs(classifier_training_rows(spark, store, metadata), features).toPandas()
    scored = LoadedGbt(registered.artifact).score(real[features])
    assert scored["is_alert"].mean() == pytest.approx(ALERT_RATE, abs=2 / len(real))


def test_the_nightly_champions_include_both_classifier_kinds(
    store: Config, registered: RegisteredModel, registered_gbt: tuple[RegisteredModel, str]
) -> None:
    assert [str(champion) for champion in champions(store)] == [
        str(registered),
        str(registered_gbt[0]),
    ]


def test_the_night_scores_both_classifier_kinds_and_spark_equals_in_process_gbt(
    spark: SparkSession,
    store: Config,
    registered: RegisteredModel,
    registered_gbt: tuple[RegisteredModel, str],
    first_scoring: ScoringReport,
) -> None:
    gbt = registered_gbt[0]
    features = model_feature_columns(store)
    day = model_inputs(feature_rows(spark, store, SCORED_DAY, SCORED_DAY), features).toPandas()
    day = day.sort_values("tx_id", ignore_index=True)

    assert run_night(spark, store, NightInputs(SCORED_DAY), only="score") == ["score"]

    scores = read_table(spark, store, SCORES).where(F.col("tx_date") == F.lit(SCORED_DAY))
    counts = scores.groupBy("model_name", "model_version").count().toPandas()
    assert sorted(map(tuple, counts.to_numpy().tolist())) == [
        (registered.name, registered.version, len(day)),
        (gbt.name, gbt.version, len(day)),
    ]
    table = scores.where(F.col("model_name") == gbt.name).toPandas()
    table = table.sort_values("tx_id", ignore_index=True)
    assert table["tx_id"].tolist() == day["tx_id"].tolist()
    expected = LoadedGbt(gbt.artifact).score(day[features])
    np.testing.assert_array_equal(table["score"], expected["score"])
    assert table["is_alert"].tolist() == expected["is_alert"].tolist()
    assert table["top_features"].map(list).tolist() == expected["top_features"].tolist()
    np.testing.assert_array_equal(
        np.stack(table["top_feature_shares"]), np.stack(expected["top_feature_shares"])
    )
    assert 0 < table["is_alert"].sum() < len(table)


@pytest.mark.parametrize("kind", ["mlp", "gbt"])
def test_the_monitoring_reference_is_the_real_training_rows_without_synthetic_ones(
    spark: SparkSession,
    store: Config,
    registered: RegisteredModel,
    registered_gbt: tuple[RegisteredModel, str],
    kind: str,
) -> None:
    model = registered if kind == "mlp" else registered_gbt[0]
    augmented = read_table(spark, store, AUGMENTED_TRAINING_SETS).where(
        "training_set = 'train' AND method = 'smote'"
    )
    real = augmented.where("NOT is_synthetic AND is_fraud IS NOT NULL")
    assert augmented.where("is_synthetic").count() > 0  # something to leave out

    reference = training_rows(spark, store, model.artifact.metadata)

    assert reference.count() == real.count()
    assert_frames_equal(reference.select("tx_id"), real.select("tx_id"))


@pytest.mark.slow
def test_the_classifier_is_monitored_against_its_real_training_rows(
    spark: SparkSession,
    store: Config,
    registered: RegisteredModel,
    first_scoring: ScoringReport,
) -> None:
    features = model_feature_columns(store)
    augmented = read_table(spark, store, AUGMENTED_TRAINING_SETS).where(
        "training_set = 'train' AND method = 'smote'"
    )
    current = model_inputs(feature_rows(spark, store, SCORED_DAY, SCORED_DAY), features)
    current_rows = current.select(*features).toPandas()
    compared = [f for f in features if f not in DAY_OF_WEEK_FEATURES]  # one day: no weekend mix
    binary = [f for f in binary_columns(features) if f in compared]

    def drift_against(reference: DataFrame) -> pd.Series:
        rows = model_inputs(reference, features).select(*features).toPandas()
        drift = feature_drift(
            rows, current_rows, compared, binary, thresholds_from(store), store.monitoring.bins
        )
        return drift.set_index(["feature", "metric"])["value"]

    real_only = drift_against(augmented.where("NOT is_synthetic AND is_fraud IS NOT NULL"))
    with_synthetic = drift_against(augmented)

    result = monitor_model(spark, store, registered, SCORED_DAY, report=False)

    measured = result.drift.set_index(["feature", "metric"])["value"]
    assert (result.model, result.version) == (registered.name, registered.version)
    # The feature drift of the day is the drift against the real rows, computed here apart...
    np.testing.assert_allclose(measured.loc[real_only.index], real_only, rtol=1e-9)
    # ...which the synthetic rows would have changed: the check can fail.
    assert not np.allclose(with_synthetic, real_only, rtol=1e-3, equal_nan=True)
    drift = read_table(spark, store, DRIFT).where(F.col("model_name") == CLASSIFIER_MODEL_NAME)
    measured_features = {row["feature"] for row in drift.select("feature").distinct().collect()}
    assert {"score", "is_alert", *features} <= measured_features
