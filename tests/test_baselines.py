"""The Mahalanobis baseline: distances by hand, the contract, the JSON export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudspark.models.anomaly.baselines import MahalanobisScorer
from fraudspark.models.inputs import FeatureMismatchError

# Four training rows: mean (0, 0), empirical covariance diag(2, 0.5) (divided by n).
TRAIN = pd.DataFrame({"a": [2.0, -2.0, 0.0, 0.0], "b": [0.0, 0.0, 1.0, -1.0]})


def test_empirical_distance_by_hand() -> None:
    scorer = MahalanobisScorer(estimator="empirical").fit(TRAIN)
    np.testing.assert_allclose(scorer.location_, [0.0, 0.0])
    np.testing.assert_allclose(scorer.precision_, [[0.5, 0.0], [0.0, 2.0]], atol=1e-12)
    rows = pd.DataFrame({"b": [0.0, 1.0, 1.0], "a": [0.0, 0.0, 2.0]})  # columns by name
    # (a²/2 + 2 b²): 0, 2, 2 + 2
    np.testing.assert_allclose(scorer.decision_function(rows), [0.0, 2.0, 4.0], atol=1e-12)


def test_contract_threshold_labels_and_predict() -> None:
    rng = np.random.default_rng(1)
    train = pd.DataFrame(rng.normal(size=(2_000, 3)), columns=["x", "y", "z"])
    scorer = MahalanobisScorer(estimator="ledoit_wolf", target_alert_rate=0.05).fit(train)
    scores = scorer.decision_function(train)
    assert scorer.threshold_ == pytest.approx(np.quantile(scores, 0.95))
    assert scorer.labels_.mean() == pytest.approx(0.05, abs=0.002)
    far = pd.DataFrame({"x": [0.0, 8.0], "y": [0.0, 0.0], "z": [0.0, 0.0]})
    assert scorer.predict(far).tolist() == [0, 1]
    with pytest.raises(FeatureMismatchError, match="z"):
        scorer.decision_function(far[["x", "y"]])


def test_mcd_resists_outliers_in_training() -> None:
    rng = np.random.default_rng(2)
    clean = rng.normal(size=(500, 2))
    dirty = np.vstack([clean, np.full((25, 2), 30.0)])
    robust = MahalanobisScorer(estimator="mcd").fit(dirty, ["p", "q"])
    plain = MahalanobisScorer(estimator="empirical").fit(dirty, ["p", "q"])
    # MCD's location stays near the clean centre; the empirical one moves towards the outliers.
    assert np.abs(robust.location_).max() < 0.3 < np.abs(plain.location_).max()


def test_json_export_scores_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    train = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    scorer = MahalanobisScorer(estimator="ledoit_wolf").fit(train)
    reloaded = MahalanobisScorer.from_json(scorer.to_json())
    assert reloaded.feature_names_ == list("abcd")
    assert reloaded.threshold_ == scorer.threshold_
    assert scorer.decision_function(train).tobytes() == reloaded.decision_function(train).tobytes()
