"""Gradient-boosted trees for fraud classification (XGBoost), exported in XGBoost's own JSON.

XGBoost (Chen & Guestrin, 2016) was chosen over LightGBM by measurement on the Handbook-like
and Sparkov data (``bench/detection_research.py``, see docs/benchmarks.md): equal or better AP,
and on this shared 2-core machine it trained 10-100x faster than LightGBM at the same size.

The model is a plain ``xgboost.Booster``; its export is XGBoost's JSON model format
(``Booster.save_raw("json")``) inside a small JSON envelope that names the features in order:
no pickle, loadable by any XGBoost >= 2 without fraudspark. Explanations are TreeSHAP
contributions (Lundberg et al., 2020) from XGBoost's ``pred_contribs``: one value per feature
plus a bias, summing to the margin (log-odds) of the row.

As a registered model (``fraud-classifier-gbt``) it is a :class:`~fraudspark.models.artifact.
ModelArtifact` of format :data:`GBT_ARTIFACT_FORMAT` whose bytes are XGBoost's own JSON model
(``Booster.save_raw("json")``) and whose metadata holds the feature names, the alert threshold
and the training settings; :class:`LoadedGbt` scores it, in process or in the Spark job, with the
fraud probability as score and the TreeSHAP shares ``|contribution_i| / sum_j |contribution_j|``
(bias excluded) as the per-feature shares of the top-3 attribution columns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fraudspark.config import DEFAULT_TARGET_ALERT_RATE
from fraudspark.features.model_inputs import MISSING_FEATURE_VALUE
from fraudspark.models.artifact import LoadedModel, ModelArtifact
from fraudspark.models.inputs import FeatureData, aligned_feature_matrix, training_matrix
from fraudspark.models.training import alert_threshold

GBT_FORMAT = "fraudspark.gbt.xgboost/1"
# The registered model: ModelArtifact bytes = XGBoost's JSON model, metadata = the rest.
GBT_ARTIFACT_FORMAT = "fraudspark.gbt/1"
BIAS = "bias"


@dataclass(frozen=True)
class GbtParams:
    """XGBoost's booster parameters (names as XGBoost's) and the number of trees.

    Defaults: the best of the settings measured on the Handbook-like data with the ratio inputs
    (depth 4, 500 trees at eta 0.03, rows 0.8, columns 0.6, min_child_weight 5: AP 0.711,
    CP@100 0.326 over 3 seeds, against 0.705 / 0.323 for depth 3 x 100; docs/benchmarks.md).
    """

    n_estimators: int = 500
    max_depth: int = 4
    learning_rate: float = 0.03
    subsample: float = 0.8
    colsample_bytree: float = 0.6
    min_child_weight: float = 5.0
    n_threads: int = 2
    seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def booster_params(self) -> dict[str, Any]:
        return {
            "objective": "binary:logistic",
            "eval_metric": "aucpr",
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "nthread": self.n_threads,
            "seed": self.seed,
            **self.extra,
        }


class GbtClassifier:
    """Binary fraud classifier: ``fit(X, y)``, ``predict_proba(X)`` (fraud probability per row),
    ``decision_function(X)`` (margin, log-odds), ``contributions(X)`` (TreeSHAP).

    ``X`` is a DataFrame (columns name the features) or an array with ``feature_names``; at
    prediction columns are matched by name. Fitted: ``feature_names_``, ``booster_``.
    """

    model_type = "gbt"

    def __init__(
        self,
        params: GbtParams | None = None,
        target_alert_rate: float = DEFAULT_TARGET_ALERT_RATE,
    ) -> None:
        self.params = params or GbtParams()
        self.target_alert_rate = target_alert_rate

    def fit(
        self,
        X: FeatureData,
        y: Sequence[int] | np.ndarray,
        feature_names: Sequence[str] | None = None,
        is_synthetic: Sequence[bool] | np.ndarray | None = None,
    ) -> GbtClassifier:
        """Train on rows ``X`` with labels ``y`` (0 genuine, 1 fraud). Raises ValueError when the
        labels are not 0/1 of the same length or hold a single class.

        ``is_synthetic`` flags oversampled rows: they are learnt from, but the alert threshold
        (``threshold_``: ``target_alert_rate`` of the real rows' probabilities above it, by
        :func:`~fraudspark.models.training.alert_threshold`) describes real traffic only.
        """
        import xgboost as xgb

        names, matrix = training_matrix(X, feature_names)
        labels = np.asarray(y, dtype=np.float64)
        if labels.shape != (len(matrix),) or not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError("y must hold one 0/1 label per row")
        if len(np.unique(labels)) != 2:
            raise ValueError("training rows must contain both genuine and fraud labels")
        data = xgb.DMatrix(matrix, label=labels, feature_names=names)
        self.booster_ = xgb.train(
            self.params.booster_params(), data, num_boost_round=self.params.n_estimators
        )
        self.feature_names_ = names
        real = (
            np.ones(len(labels), bool)
            if is_synthetic is None
            else ~np.asarray(is_synthetic, dtype=bool)
        )
        if real.shape != labels.shape or not real.any():
            raise ValueError("is_synthetic must flag one row each and leave some rows real")
        real_probabilities = self.predict_proba(matrix[real], names)
        self.threshold_ = alert_threshold(real_probabilities, self.target_alert_rate)
        self.training_alert_rate_ = float((real_probabilities > self.threshold_).mean())
        self.training_rows_ = len(labels)
        return self

    def _dmatrix(self, X: FeatureData, feature_names: Sequence[str] | None) -> Any:
        import xgboost as xgb

        matrix = aligned_feature_matrix(X, self.feature_names_, feature_names)
        return xgb.DMatrix(matrix, feature_names=self.feature_names_)

    def predict_proba(
        self, X: FeatureData, feature_names: Sequence[str] | None = None
    ) -> np.ndarray:
        """Fraud probability per row, shape (rows,)."""
        return np.asarray(self.booster_.predict(self._dmatrix(X, feature_names)), np.float64)

    def decision_function(
        self, X: FeatureData, feature_names: Sequence[str] | None = None
    ) -> np.ndarray:
        """The margin (log-odds of fraud) per row, shape (rows,)."""
        margin = self.booster_.predict(self._dmatrix(X, feature_names), output_margin=True)
        return np.asarray(margin, np.float64)

    def contributions(
        self, X: FeatureData, feature_names: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """TreeSHAP contributions: one column per feature plus ``bias``; each row sums to the
        row's margin (up to float32 rounding)."""
        values = self.booster_.predict(self._dmatrix(X, feature_names), pred_contribs=True)
        return pd.DataFrame(np.asarray(values, np.float64), columns=[*self.feature_names_, BIAS])

    def top_reasons(self, X: FeatureData, k: int = 3) -> list[list[str]]:
        """Per row, the ``k`` features that push the score up most (largest contributions)."""
        contributions = self.contributions(X).drop(columns=BIAS).to_numpy()
        order = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
        return [[self.feature_names_[i] for i in row] for row in order]

    def to_json(self) -> str:
        """The model as JSON: the feature names and XGBoost's own JSON model (no pickle)."""
        booster = json.loads(bytes(self.booster_.save_raw("json")).decode())
        return json.dumps(
            {"format": GBT_FORMAT, "feature_names": self.feature_names_, "booster": booster}
        )

    def export(self, extra: Mapping[str, Any] | None = None) -> ModelArtifact:
        """The fitted model as a :class:`ModelArtifact`: bytes = XGBoost's own JSON model,
        metadata = format :data:`GBT_ARTIFACT_FORMAT`, feature names, alert threshold, the
        booster parameters and ``extra`` (training set, data versions...)."""
        import xgboost as xgb

        metadata = {
            "format": GBT_ARTIFACT_FORMAT,
            "model_type": self.model_type,
            "feature_names": self.feature_names_,
            "score_columns": ["score"],
            "missing_feature_value": MISSING_FEATURE_VALUE,
            "threshold": self.threshold_,
            "target_alert_rate": self.target_alert_rate,
            "training_alert_rate": self.training_alert_rate_,
            "training_config": {
                "n_estimators": self.params.n_estimators,
                **self.params.booster_params(),
            },
            "xgboost_version": xgb.__version__,
            "extra": dict(extra or {}),
        }
        return ModelArtifact(bytes(self.booster_.save_raw("json")), metadata)

    @classmethod
    def from_json(cls, text: str) -> GbtClassifier:
        """Rebuild a fitted classifier from :meth:`to_json`'s text (ValueError if not one)."""
        import xgboost as xgb

        data = json.loads(text)
        if data.get("format") != GBT_FORMAT:
            raise ValueError(f"not a GBT model ({GBT_FORMAT}): {data.get('format')}")
        booster = xgb.Booster()
        booster.load_model(bytearray(json.dumps(data["booster"]).encode()))
        classifier = cls()
        classifier.booster_ = booster
        classifier.feature_names_ = list(data["feature_names"])
        return classifier


class LoadedGbt(LoadedModel):
    """An exported GBT classifier loaded for scoring (XGBoost only, no fraudspark class needed).

    :meth:`score_matrix` gives the fraud probability as ``score`` and, per row, the TreeSHAP
    shares ``|phi_i| / sum_j |phi_j|`` over the features (bias excluded; 0 where every
    contribution is 0), so :meth:`score` and the Spark job treat it like the other models.
    """

    artifact_format = GBT_ARTIFACT_FORMAT

    def load_payload(self, model_bytes: bytes) -> Any:
        """XGBoost's own JSON model (no pickle), predicting on one thread."""
        import xgboost as xgb

        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(model_bytes))
        # One thread: the Spark job runs one task per core already.
        self.booster.set_param("nthread", "1")
        return self.booster

    def _dmatrix(self, matrix: np.ndarray) -> Any:
        import xgboost as xgb

        return xgb.DMatrix(np.asarray(matrix, np.float64), feature_names=self.feature_names)

    def predict_proba(self, data: FeatureData) -> np.ndarray:
        """Fraud probability per row, shape (rows,); columns matched by name."""
        matrix = aligned_feature_matrix(data, self.feature_names)
        return np.asarray(self.booster.predict(self._dmatrix(matrix)), np.float64)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions of rows in ``feature_names`` order: shape (rows, features + 1),
        the last column the bias; each row sums to its margin (log-odds)."""
        values = self.booster.predict(self._dmatrix(matrix), pred_contribs=True)
        return np.asarray(values, np.float64)

    def score_matrix(self, matrix: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        data = self._dmatrix(matrix)
        probabilities = np.asarray(self.booster.predict(data), np.float64)
        contributions = np.asarray(self.booster.predict(data, pred_contribs=True), np.float64)
        magnitudes = np.abs(contributions[:, :-1])
        totals = magnitudes.sum(axis=1, keepdims=True)
        shares = np.divide(
            magnitudes, totals, out=np.zeros_like(magnitudes, np.float64), where=totals > 0
        )
        return {"score": probabilities}, shares
