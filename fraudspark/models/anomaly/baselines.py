"""Classical anomaly baselines behind the scorers' PyOD-like contract, exported as JSON.

:class:`MahalanobisScorer`: the squared Mahalanobis distance (x - μ)ᵀ Σ⁻¹ (x - μ) of each row to
the training rows' location μ and covariance Σ (Mahalanobis, 1936), with Σ from one of
scikit-learn's covariance estimators: ``ledoit_wolf`` (shrinkage, Ledoit & Wolf 2004; the
default: measured best on the Handbook-like and Sparkov data), ``mcd`` (the robust Minimum
Covariance Determinant, Rousseeuw & Van Driessen 1999, on at most ``max_mcd_rows`` rows) or
``empirical``. Fitted state is μ and the precision Σ⁻¹ only: the JSON export holds them and the
threshold, and scoring needs nothing but numpy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from fraudspark.features.transforms import InputTransform
from fraudspark.models.artifact import LoadedModel, ModelArtifact, input_transform_metadata
from fraudspark.models.inputs import FeatureData, aligned_feature_matrix, training_matrix
from fraudspark.models.training import alert_threshold

Estimator = Literal["ledoit_wolf", "mcd", "empirical"]
MAHALANOBIS_FORMAT = "fraudspark.mahalanobis/1"
# The artifact (ModelArtifact) format; its bytes are the scorer's JSON (MAHALANOBIS_FORMAT).
MAHALANOBIS_ARTIFACT_FORMAT = "fraudspark.mahalanobis.artifact/1"


def mahalanobis_terms(
    matrix: np.ndarray, location: np.ndarray, precision: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Squared Mahalanobis distances (rows,) and each feature's share of them (rows, features).

    With c = x - μ, the distance is Σ_i c_i (Σ⁻¹ c)_i; feature i's share is
    |c_i (Σ⁻¹ c)_i| / Σ_j |c_j (Σ⁻¹ c)_j| (a term can be negative when features correlate, so
    shares are of absolute terms; 0 for a row at μ).
    """
    centred = matrix - location
    terms = centred * (centred @ precision)
    distances: np.ndarray = terms.sum(axis=1)
    magnitude = np.abs(terms)
    total = magnitude.sum(axis=1, keepdims=True)
    shares = np.divide(magnitude, total, out=np.zeros_like(magnitude), where=total > 0)
    return distances, shares


class MahalanobisScorer:
    """PyOD-like: ``fit(X)`` returns self; ``decision_function(X)`` higher = more anomalous;
    ``predict(X)`` 1 above ``threshold_`` (the training scores' 1 - ``target_alert_rate``
    quantile), else 0; ``labels_`` are ``predict`` on the training rows.

    Fitted: ``feature_names_``, ``location_`` (n_features,), ``precision_`` (n_features,
    n_features), ``threshold_``, ``labels_``, ``training_metrics_``.
    """

    model_type = "mahalanobis"
    score_name = "mahalanobis_distance"

    def __init__(
        self,
        *,
        estimator: Estimator = "ledoit_wolf",
        target_alert_rate: float = 0.01,
        max_mcd_rows: int = 20_000,
        seed: int = 0,
    ) -> None:
        if estimator not in ("ledoit_wolf", "mcd", "empirical"):
            raise ValueError(f"unknown covariance estimator {estimator!r}")
        self.estimator = estimator
        self.target_alert_rate = target_alert_rate
        self.max_mcd_rows = max_mcd_rows
        self.seed = seed

    def fit(self, X: FeatureData, feature_names: Sequence[str] | None = None) -> MahalanobisScorer:
        """Fit μ and Σ⁻¹ on ``X`` (rows x features; pass genuine rows). Raises ValueError on
        non-finite values or fewer than two rows."""
        from sklearn.covariance import EmpiricalCovariance, LedoitWolf, MinCovDet

        names, matrix = training_matrix(X, feature_names)
        if len(matrix) < 2:
            raise ValueError("Mahalanobis needs at least two training rows")
        rows = matrix
        if self.estimator == "mcd":
            if len(rows) > self.max_mcd_rows:
                # MCD's cost grows fast with the rows; a uniform sample keeps its robustness.
                pick = np.random.default_rng(self.seed).choice(len(rows), self.max_mcd_rows, False)
                rows = rows[np.sort(pick)]
            fitted: Any = MinCovDet(random_state=self.seed).fit(rows)
        elif self.estimator == "ledoit_wolf":
            fitted = LedoitWolf().fit(rows)
        else:
            fitted = EmpiricalCovariance().fit(rows)
        self.feature_names_ = names
        self.location_ = np.asarray(fitted.location_, dtype=np.float64)
        # pinvh in sklearn: a singular empirical covariance still gives a usable precision.
        self.precision_ = np.asarray(fitted.get_precision(), dtype=np.float64)
        training_scores = self.decision_function(matrix)
        self.threshold_ = alert_threshold(training_scores, self.target_alert_rate)
        self.labels_ = (training_scores > self.threshold_).astype(np.int64)
        self.training_metrics_ = {
            "n_training_rows": float(len(matrix)),
            "training_score_mean": float(training_scores.mean()),
            "training_alert_rate": float(self.labels_.mean()),
        }
        return self

    def decision_function(
        self, X: FeatureData, feature_names: Sequence[str] | None = None
    ) -> np.ndarray:
        """Squared Mahalanobis distance per row (shape (rows,)); columns matched by name."""
        matrix = aligned_feature_matrix(X, self.feature_names_, feature_names)
        scores, _ = mahalanobis_terms(matrix, self.location_, self.precision_)
        return scores

    def predict(self, X: FeatureData) -> np.ndarray:
        """1 where the score is above ``threshold_``, else 0."""
        return (self.decision_function(X) > self.threshold_).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MAHALANOBIS_FORMAT,
            "estimator": self.estimator,
            "target_alert_rate": self.target_alert_rate,
            "feature_names": self.feature_names_,
            "location": self.location_.tolist(),
            "precision": self.precision_.tolist(),
            "threshold": self.threshold_,
        }

    def to_json(self) -> str:
        """The fitted scorer as JSON (floats round-trip exactly); no pickle."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MahalanobisScorer:
        if data.get("format") != MAHALANOBIS_FORMAT:
            raise ValueError(
                f"not a Mahalanobis scorer ({MAHALANOBIS_FORMAT}): {data.get('format')}"
            )
        scorer = cls(estimator=data["estimator"], target_alert_rate=data["target_alert_rate"])
        scorer.feature_names_ = list(data["feature_names"])
        scorer.location_ = np.asarray(data["location"], dtype=np.float64)
        scorer.precision_ = np.asarray(data["precision"], dtype=np.float64)
        scorer.threshold_ = float(data["threshold"])
        return scorer

    @classmethod
    def from_json(cls, text: str) -> MahalanobisScorer:
        return cls.from_dict(json.loads(text))

    def score_frame(self, frame: pd.DataFrame) -> pd.Series:
        """Scores of a DataFrame's rows as a Series on its index."""
        return pd.Series(self.decision_function(frame[self.feature_names_]), index=frame.index)


def export_mahalanobis(
    scorer: MahalanobisScorer,
    extra_metadata: Mapping[str, Any] | None = None,
    input_transform: InputTransform | None = None,
) -> ModelArtifact:
    """A fitted Mahalanobis scorer as a :class:`ModelArtifact`: its JSON (:meth:`to_json`, no
    pickle) as the model bytes, metadata as the other scorers' (``input_transform`` as in
    :func:`fraudspark.models.anomaly.base.export_artifact`)."""
    if input_transform is not None and input_transform.columns != scorer.feature_names_:
        raise ValueError(
            f"the input transform's columns {input_transform.columns} are not the scorer's "
            f"features {scorer.feature_names_}"
        )
    metadata = {
        "format": MAHALANOBIS_ARTIFACT_FORMAT,
        "model_type": scorer.model_type,
        "score_name": scorer.score_name,
        "score_columns": ["score"],
        "feature_names": (
            scorer.feature_names_ if input_transform is None else input_transform.raw_columns
        ),
        **input_transform_metadata(input_transform),
        "threshold": scorer.threshold_,
        "target_alert_rate": scorer.target_alert_rate,
        "estimator": scorer.estimator,
        "training_metrics": scorer.training_metrics_,
        "extra": dict(extra_metadata or {}),
    }
    return ModelArtifact(scorer.to_json().encode(), json.loads(json.dumps(metadata)))


class LoadedMahalanobis(LoadedModel):
    """An exported Mahalanobis scorer; its shares are those of the distance's absolute terms
    (see :func:`mahalanobis_terms`). Scoring needs numpy only."""

    artifact_format = MAHALANOBIS_ARTIFACT_FORMAT

    def load_payload(self, model_bytes: bytes) -> MahalanobisScorer:
        return MahalanobisScorer.from_json(model_bytes.decode())

    def score_matrix(self, matrix: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        scorer: MahalanobisScorer = self.module
        distances, shares = mahalanobis_terms(matrix, scorer.location_, scorer.precision_)
        return {"score": distances}, shares
