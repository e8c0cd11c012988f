"""The supervised classifier: it learns, the registered export scores like the original, and
its integrated-gradients attributions name the feature that carries the signal."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import torch
from pyspark.sql import SparkSession
from sklearn.metrics import average_precision_score
from torch import nn

from fraudspark.config import Config
from fraudspark.features.model_inputs import model_inputs
from fraudspark.features.store import feature_rows, model_feature_columns
from fraudspark.models.artifact import ModelArtifact
from fraudspark.models.attribution import attribution_shares, integrated_gradients
from fraudspark.models.classifiers.mlp import (
    ClassifierConfig,
    FraudProbability,
    LoadedClassifier,
    MLPClassifier,
)
from fraudspark.pipelines.oversample import oversample_training_set
from fraudspark.pipelines.train import register_classifier, train_classifier
from fraudspark.pipelines.training_sets import build_training_set
from fraudspark.registry import CLASSIFIER_MODEL_NAME, load_registered
from tests.synthetic_store import write_feature_store

START = date(2025, 2, 1)
TINY = ClassifierConfig(hidden_dims=(16,), epochs=15, batch_size=64, seed=3)
TOY_FEATURES = ["tx_amount", "cust_nb_tx_1d", "term_risk_7d", "tx_during_night"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_mlp_ranks_toy_fraud_above_normal_rows() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    is_fraud = rng.random(n) < 0.03
    rows = pd.DataFrame(
        {
            "tx_amount": rng.lognormal(3.5, 0.5, n) * np.where(is_fraud, 8, 1),
            "cust_nb_tx_1d": rng.integers(0, 5, n),
            "tx_during_night": (rng.random(n) < np.where(is_fraud, 0.7, 0.1)).astype(int),
        }
    )
    train, test = slice(0, 1000), slice(1000, n)

    model = MLPClassifier(TINY).fit(rows[train], is_fraud[train].astype(int))

    probabilities = model.predict_proba(rows[test])
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert average_precision_score(is_fraud[test], probabilities) > 10 * is_fraud[test].mean()


def toy_rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Payments where only the amount tells fraud (x10); the other columns are label-free noise."""
    rng = np.random.default_rng(seed)
    is_fraud = rng.random(n) < 0.05
    rows = pd.DataFrame(
        {
            "tx_amount": rng.lognormal(3.5, 0.5, n) * np.where(is_fraud, 10, 1),
            "cust_nb_tx_1d": rng.integers(0, 5, n).astype(float),
            "term_risk_7d": rng.normal(size=n),
            "tx_during_night": rng.integers(0, 2, n).astype(float),
        }
    )
    return rows, is_fraud


def test_integrated_gradients_of_a_logistic_function_of_one_feature_are_all_on_it() -> None:
    rows, _ = toy_rows(500, seed=1)
    log_columns = np.array([True, True, False, False])
    logged = np.where(log_columns, np.log1p(np.maximum(rows.to_numpy(), 0)), rows.to_numpy())
    network = nn.Linear(len(TOY_FEATURES), 1)
    with torch.no_grad():
        network.weight.zero_()
        network.weight[0, 2] = 3.0  # the standardised terminal risk, nothing else
        network.bias.fill_(-1.0)
    module = torch.jit.script(  # type: ignore[no-untyped-call]
        FraudProbability(log_columns, logged.mean(axis=0), logged.std(axis=0), network)
    )
    x = torch.from_numpy(rows.to_numpy())
    baseline = x.mean(dim=0)

    attributions = integrated_gradients(module, x, baseline)

    with torch.no_grad():
        gained = (module(x) - module(baseline[None])).numpy()
    # Completeness; and a function of one feature owes all of its change to that feature.
    np.testing.assert_allclose(attributions.sum(dim=1).numpy(), gained, rtol=0, atol=1e-3)
    np.testing.assert_allclose(attributions[:, 2].numpy(), gained, rtol=0, atol=1e-3)
    assert (attributions[:, [0, 1, 3]] == 0).all()
    shares = attribution_shares(attributions)
    assert (shares[:, 2] == 1).all() and (shares[:, [0, 1, 3]] == 0).all()
    assert (attribution_shares(torch.zeros(2, 3)) == 0).all()


@pytest.mark.slow
def test_the_mlp_attributes_toy_fraud_to_the_amount_and_alerts_at_its_threshold() -> None:
    rows, is_fraud = toy_rows(2000, seed=0)
    # A tenth of the frauds stand in for oversampled rows: not real traffic.
    is_synthetic = is_fraud & (np.arange(len(rows)) % 10 == 0)

    model = MLPClassifier(TINY, target_alert_rate=0.05).fit(
        rows, is_fraud.astype(int), is_synthetic
    )
    loaded = LoadedClassifier(model.export())
    scored = loaded.score(rows)

    real = ~is_synthetic
    threshold = loaded.threshold
    assert (scored["score"][real] > threshold).mean() == pytest.approx(0.05, abs=1 / real.sum())
    assert (scored["is_alert"] == (scored["score"] > threshold)).all()
    np.testing.assert_allclose(loaded.baseline, rows[real & ~is_fraud].mean(), rtol=1e-12)
    assert scored["top_features"][is_fraud].map(lambda names: names[0]).eq("tx_amount").all()
    shares = attribution_shares(torch.from_numpy(loaded.attributions(rows.to_numpy())))
    np.testing.assert_allclose(shares.sum(dim=1).numpy(), 1.0, rtol=1e-12)
    top = np.sort(shares.numpy(), axis=1)[:, ::-1][:, :3]
    np.testing.assert_array_equal(np.stack(scored["top_feature_shares"]), top)
    # Completeness: the gradient jumps at ReLU kinks, so the midpoint rule converges as 1/steps:
    # most rows are within 1e-3 at the default 32 steps, and every row once the steps are many.
    matrix = rows.to_numpy()
    gained = scored["score"].to_numpy() - loaded.predict_proba(loaded.baseline.numpy()[None])
    error = np.abs(loaded.attributions(matrix).sum(axis=1) - gained)
    assert np.median(error) < 1e-3
    fine = integrated_gradients(
        loaded.module, torch.from_numpy(matrix[:200]), loaded.baseline, 2048
    )
    np.testing.assert_allclose(fine.sum(dim=1).numpy(), gained[:200], rtol=0, atol=1e-3)


@pytest.fixture(scope="module")
def store(
    spark: SparkSession, base_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> Config:
    """Eight days of 30 customers' payments, some defrauded daily; SMOTE on the first five."""
    config = base_config.with_lakehouse(str(tmp_path_factory.mktemp("classifier") / "lakehouse"))
    write_feature_store(spark, config, START, 8, frauds_from={0: 0, 7: 2, 11: 4, 20: 5}, seed=2)
    build_training_set(spark, config, "train", START, date(2025, 2, 5))
    oversample_training_set(spark, config, "train", "smote", ratio=0.2, seed=0)
    return config


@pytest.mark.slow
def test_the_classifier_learns_from_an_augmented_set_and_scores_the_same_once_registered(
    spark: SparkSession, store: Config
) -> None:
    trained = train_classifier(spark, store, "train", "smote", training=TINY)
    features = model_feature_columns(store)
    later = model_inputs(feature_rows(spark, store, date(2025, 2, 6), date(2025, 2, 8)), features)
    test = later.toPandas()

    scores = trained.classifier.predict_proba(test[features])
    assert average_precision_score(test["is_fraud"], scores) > 3 * test["is_fraud"].mean()
    extra = trained.artifact.metadata["extra"]
    assert extra["method"] == "smote" and extra["synthetic_rows"] > 0
    assert set(extra["data_versions"]) == {"augmented_training_sets"}

    version = register_classifier(store, trained)
    loaded, loaded_version = load_registered(store, CLASSIFIER_MODEL_NAME)
    assert isinstance(loaded, LoadedClassifier)
    assert loaded_version == version == 1
    np.testing.assert_array_equal(loaded.predict_proba(test[features]), scores)
    # Columns are matched by name, not position.
    np.testing.assert_array_equal(loaded.predict_proba(test[features[::-1]]), scores)


def test_only_classifier_artifacts_load_as_classifiers() -> None:
    with pytest.raises(ValueError, match=r"not a fraudspark\.classifier/2 artifact"):
        LoadedClassifier(ModelArtifact(b"", {"format": "fraudspark.scorer/1"}))
    # A /1 export predates the alert threshold and attribution baseline that scoring needs.
    with pytest.raises(ValueError, match=r"format 'fraudspark\.classifier/1'"):
        LoadedClassifier(ModelArtifact(b"", {"format": "fraudspark.classifier/1"}))
