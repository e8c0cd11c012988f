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

from fraudspark.models.inputs import FeatureData, aligned_feature_matrix, training_matrix
from fraudspark.models.training import alert_threshold

Estimator = Literal["ledoit_wolf", "mcd", "empirical"]
MAHALANOBIS_FORMAT = "fraudspark.mahalanobis/1"


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
        centred = matrix - self.location_
        scores: np.ndarray = np.einsum("ij,jk,ik->i", centred, self.precision_, centred)
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
