"""The XGBoost classifier: learns a planted rule, TreeSHAP sums to the margin, JSON round-trip,
and its registered export (XGBoost's JSON as the artifact's bytes) scores like the original."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudspark.models.artifact import ModelArtifact
from fraudspark.models.classifiers.gbt import (
    BIAS,
    GBT_ARTIFACT_FORMAT,
    GbtClassifier,
    GbtParams,
    LoadedGbt,
)
from fraudspark.models.inputs import FeatureMismatchError
from fraudspark.models.loader import load_model


def _rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"amount": rng.gamma(2.0, 30.0, n), "night": rng.integers(0, 2, n), "noise": rng.random(n)}
    )
    # Fraud: large amounts at night (a rule trees can learn exactly).
    labels = ((frame["amount"] > 120) & (frame["night"] == 1)).to_numpy().astype(int)
    return frame, labels


@pytest.fixture(scope="module")
def fitted() -> GbtClassifier:
    frame, labels = _rows(3_000, 0)
    return GbtClassifier(
        GbtParams(n_estimators=60, max_depth=3, learning_rate=0.3, n_threads=1)
    ).fit(frame, labels)


def test_learns_the_planted_rule(fitted: GbtClassifier) -> None:
    frame = pd.DataFrame(
        {"noise": [0.5, 0.5, 0.5], "amount": [200.0, 200.0, 20.0], "night": [1, 0, 1]}
    )
    probability = fitted.predict_proba(frame)
    assert probability[0] > 0.9 and probability[1] < 0.1 and probability[2] < 0.1
    with pytest.raises(FeatureMismatchError, match="night"):
        fitted.predict_proba(frame[["noise", "amount"]])


def test_treeshap_contributions_sum_to_the_margin(fitted: GbtClassifier) -> None:
    frame, _ = _rows(200, 1)
    contributions = fitted.contributions(frame)
    assert list(contributions.columns) == ["amount", "night", "noise", BIAS]
    np.testing.assert_allclose(
        contributions.sum(axis=1).to_numpy(), fitted.decision_function(frame), atol=1e-4
    )
    # The margin is the log-odds of the probability.
    margin = fitted.decision_function(frame)
    np.testing.assert_allclose(fitted.predict_proba(frame), 1 / (1 + np.exp(-margin)), rtol=1e-5)
    # A large night payment is flagged for its amount and the night, not the noise.
    fraud = pd.DataFrame({"amount": [300.0], "night": [1], "noise": [0.3]})
    assert sorted(fitted.top_reasons(fraud, k=2)[0]) == ["amount", "night"]


def test_json_export_predicts_identically(fitted: GbtClassifier) -> None:
    frame, _ = _rows(500, 2)
    text = fitted.to_json()
    assert "pickle" not in text
    reloaded = GbtClassifier.from_json(text)
    assert reloaded.feature_names_ == fitted.feature_names_
    assert fitted.predict_proba(frame).tobytes() == reloaded.predict_proba(frame).tobytes()
    with pytest.raises(ValueError, match="not a GBT model"):
        GbtClassifier.from_json('{"format": "x"}')


def test_bad_labels_fail() -> None:
    frame, labels = _rows(50, 3)
    with pytest.raises(ValueError, match="both genuine and fraud"):
        GbtClassifier().fit(frame, np.zeros(50, int))
    with pytest.raises(ValueError, match="0/1"):
        GbtClassifier().fit(frame, labels[:10])


def test_the_export_is_xgboosts_json_and_loads_to_the_same_scores_and_treeshap_shares(
    fitted: GbtClassifier, tmp_path: Path
) -> None:
    frame, _ = _rows(400, 4)
    artifact = ModelArtifact.read(fitted.export({"training_set": "t"}).write(tmp_path))
    booster_json = json.loads(artifact.model_bytes)  # XGBoost's own model JSON, not a pickle
    assert booster_json["learner"]["feature_names"] == ["amount", "night", "noise"]
    assert artifact.metadata["format"] == GBT_ARTIFACT_FORMAT
    assert artifact.metadata["extra"] == {"training_set": "t"}

    loaded = load_model(artifact)  # the one loader picks the GBT class by format
    scored = loaded.score(frame[["noise", "night", "amount"]])  # matched by name

    assert isinstance(loaded, LoadedGbt)
    assert scored["score"].to_numpy().tobytes() == fitted.predict_proba(frame).tobytes()
    assert (scored["is_alert"] == (scored["score"] > fitted.threshold_)).all()
    # Shares: |TreeSHAP contribution| over the features' total, bias left out, largest first.
    magnitudes = fitted.contributions(frame).drop(columns=BIAS).abs()
    shares = magnitudes.div(magnitudes.sum(axis=1), axis=0)
    tops = zip(scored["top_features"], scored["top_feature_shares"], strict=True)
    for row, (names, top) in enumerate(tops):
        expected = shares.iloc[row].sort_values(ascending=False, kind="stable")
        assert list(names) == list(expected.index)
        np.testing.assert_allclose(top, expected.to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"not a fraudspark\.gbt/1 artifact"):
        LoadedGbt(ModelArtifact(b"", {"format": "fraudspark.classifier/2"}))


def test_the_threshold_lets_the_target_share_of_real_rows_alert() -> None:
    frame, labels = _rows(2_000, 5)
    synthetic = np.zeros(len(labels), bool)
    synthetic[:500] = True  # e.g. oversampled rows: learnt from, not in the threshold
    synthetic_frame = frame.copy()
    synthetic_frame.loc[:499, "amount"] = 500.0  # would all alert if they counted
    model = GbtClassifier(
        GbtParams(n_estimators=20, max_depth=3, learning_rate=0.3, n_threads=1), 0.1
    ).fit(synthetic_frame, labels, is_synthetic=synthetic)
    real = model.predict_proba(synthetic_frame[~synthetic])
    assert np.quantile(real, 0.9) == model.threshold_
    assert model.training_alert_rate_ == pytest.approx(0.1, abs=0.02)
