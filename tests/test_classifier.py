"""The supervised classifier: it learns, and the registered export scores like the original."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import numpy as np
import pandas as pd
import pytest
import torch
from pyspark.sql import SparkSession
from sklearn.metrics import average_precision_score

from fraudspark.classifier import (
    CLASSIFIER_MODEL_NAME,
    ClassifierConfig,
    LoadedClassifier,
    MLPClassifier,
    load_registered_classifier,
    register_classifier,
    train_classifier,
)
from fraudspark.config import Config
from fraudspark.features.store import build_training_set, feature_rows, model_feature_columns
from fraudspark.oversampling.job import oversample_training_set
from fraudspark.scoring import ScorerArtifact
from fraudspark.scoring.spark import model_inputs
from tests.synthetic_store import write_feature_store

START = date(2025, 2, 1)
TINY = ClassifierConfig(hidden_dims=(16,), epochs=15, batch_size=64, seed=3)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
    loaded, loaded_version = load_registered_classifier(store, CLASSIFIER_MODEL_NAME)
    assert loaded_version == version == 1
    np.testing.assert_array_equal(loaded.predict_proba(test[features]), scores)
    # Columns are matched by name, not position.
    np.testing.assert_array_equal(loaded.predict_proba(test[features[::-1]]), scores)


def test_only_classifier_artifacts_load_as_classifiers() -> None:
    with pytest.raises(ValueError, match=r"not a fraudspark\.classifier/1 artifact"):
        LoadedClassifier(ScorerArtifact(b"", {"format": "fraudspark.scorer/1"}))
