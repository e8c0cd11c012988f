"""Gradient-boosted trees for fraud classification (XGBoost), exported in XGBoost's own JSON.

XGBoost (Chen & Guestrin, 2016) was chosen over LightGBM by measurement on the Handbook-like
and Sparkov data (``bench/detection_research.py``, see docs/benchmarks.md): equal or better AP,
and on this shared 2-core machine it trained 10-100x faster than LightGBM at the same size.

The model is a plain ``xgboost.Booster``; its export is XGBoost's JSON model format
(``Booster.save_raw("json")``) inside a small JSON envelope that names the features in order:
no pickle, loadable by any XGBoost >= 2 without fraudspark. Explanations are TreeSHAP
contributions (Lundberg et al., 2020) from XGBoost's ``pred_contribs``: one value per feature
plus a bias, summing to the margin (log-odds) of the row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fraudspark.models.inputs import FeatureData, aligned_feature_matrix, training_matrix

GBT_FORMAT = "fraudspark.gbt.xgboost/1"
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

    def __init__(self, params: GbtParams | None = None) -> None:
        self.params = params or GbtParams()

    def fit(
        self,
        X: FeatureData,
        y: Sequence[int] | np.ndarray,
        feature_names: Sequence[str] | None = None,
    ) -> GbtClassifier:
        """Train on rows ``X`` with labels ``y`` (0 genuine, 1 fraud). Raises ValueError when the
        labels are not 0/1 of the same length or hold a single class."""
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
