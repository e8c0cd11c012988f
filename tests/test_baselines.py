"""The Mahalanobis baseline: distances by hand, the contract, the JSON export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudspark.features.definitions import column_kind
from fraudspark.features.transforms import InputTransform, Ratio
from fraudspark.models.anomaly.baselines import (
    MahalanobisScorer,
    export_mahalanobis,
    mahalanobis_terms,
)
from fraudspark.models.inputs import FeatureMismatchError
from fraudspark.models.loader import load_model

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


def test_artifact_with_an_input_transform_scores_bit_for_bit(tmp_path: Path) -> None:
    # Raw store-like rows: amounts, counts, a flag; the model reads their transform.
    rng = np.random.default_rng(5)
    raw = pd.DataFrame(
        {
            "tx_amount": rng.lognormal(3, 1, 200),
            "cust_nb_tx_1d": rng.integers(0, 5, 200).astype(float),
            "cust_avg_amount_7d": rng.lognormal(3, 0.5, 200),
            "tx_during_night": rng.integers(0, 2, 200).astype(float),
        }
    )
    kinds = {name: column_kind(name) for name in raw.columns}
    ratio = Ratio("amount_over_cust_avg_7d", "tx_amount", "cust_avg_amount_7d")
    inputs = ["tx_amount", "cust_nb_tx_1d", "tx_during_night"]
    transform = InputTransform.fit(raw, kinds, inputs, [ratio])
    scorer = MahalanobisScorer().fit(transform.transform_frame(raw))

    artifact = export_mahalanobis(scorer, {"note": 1}, transform)
    artifact.write(tmp_path)
    loaded = load_model(tmp_path)

    assert artifact.metadata["format"] == "fraudspark.mahalanobis.artifact/1"
    assert loaded.feature_names == ["tx_amount", "cust_nb_tx_1d", "tx_during_night",
                                    "cust_avg_amount_7d"]  # fmt: skip
    assert loaded.input_names == [*inputs, "amount_over_cust_avg_7d"]
    scored = loaded.score(raw.assign(unused=1.0))  # wider rows: the model picks its columns
    expected = scorer.decision_function(transform.transform_frame(raw))
    assert scored["score"].to_numpy().tobytes() == expected.tobytes()
    assert (scored["is_alert"] == (expected > scorer.threshold_)).all()
    assert {n for names in scored["top_features"] for n in names} <= set(loaded.input_names)
    with pytest.raises(FeatureMismatchError, match=r"missing \['cust_avg_amount_7d'\]"):
        loaded.score(raw.drop(columns="cust_avg_amount_7d"))


def test_shares_are_the_absolute_terms_of_the_distance() -> None:
    # Diagonal precision diag(1, 4): row (1, -1) has terms 1 and 4, distance 5.
    distances, shares = mahalanobis_terms(
        np.array([[1.0, -1.0], [0.0, 0.0]]), np.zeros(2), np.diag([1.0, 4.0])
    )
    np.testing.assert_array_equal(distances, [5.0, 0.0])
    np.testing.assert_array_equal(shares, [[0.2, 0.8], [0.0, 0.0]])
