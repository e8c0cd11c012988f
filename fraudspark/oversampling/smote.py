"""SMOTE, the classical baseline: imbalanced-learn's implementation behind our interface."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from imblearn.over_sampling import SMOTE

from fraudspark.oversampling.base import BaseOversampler
from fraudspark.oversampling.tabular import make_valid


class SMOTEOversampler(BaseOversampler):
    """imbalanced-learn's SMOTE; its interpolated rows are then made valid (see ``make_valid``).

    Interpolation keeps bounds and nested windows but not integers or flags, so synthetic counts
    are rounded and flags thresholded; the original rows are returned untouched.
    """

    def __init__(
        self,
        *,
        sampling_ratio: float = 1.0,
        random_state: int | None = None,
        feature_names: Sequence[str] | None = None,
        k_neighbors: int = 5,
    ) -> None:
        super().__init__(
            sampling_ratio=sampling_ratio,
            random_state=random_state,
            feature_names=feature_names,
        )
        self.k_neighbors = k_neighbors

    def _fit_resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.synthetic_count(y)  # our error for an already-reached ratio, before imblearn's
        smote = SMOTE(
            sampling_strategy=self.sampling_ratio,
            k_neighbors=self.k_neighbors,
            random_state=self.random_state,
        )
        X_res, y_res = smote.fit_resample(X, y)
        X_res[len(X) :] = make_valid(X_res[len(X) :], self.schema_)
        return X_res, y_res
