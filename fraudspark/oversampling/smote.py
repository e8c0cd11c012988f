"""SMOTE, the classical baseline: imbalanced-learn's implementation behind our interface."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from imblearn.over_sampling import SMOTE

from fraudspark.oversampling.base import BaseOversampler
from fraudspark.oversampling.tabular import make_valid

log = logging.getLogger(__name__)


class TooFewMinorityRowsError(ValueError):
    """SMOTE needs at least two minority rows: it interpolates between a row and a neighbour."""


class SMOTEOversampler(BaseOversampler):
    """imbalanced-learn's SMOTE; its interpolated rows are then made valid (see ``make_valid``).

    Interpolation keeps bounds and nested windows but not integers or flags, so synthetic counts
    are rounded and flags thresholded; the original rows are returned untouched.

    With m minority rows and m <= ``k_neighbors``, k is lowered to m - 1 with a warning (each
    row then interpolates towards every other one; Chawla et al. 2002 pick among the k nearest).
    Fewer than two minority rows raise :class:`TooFewMinorityRowsError` naming the rows.
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
        minority = np.flatnonzero(y == self.minority_class_)
        k = self.k_neighbors
        if len(minority) < 2:
            raise TooFewMinorityRowsError(
                f"SMOTE needs at least 2 minority rows (k_neighbors >= 1 needs k + 1 rows); "
                f"the training set has {len(minority)}: row(s) {minority.tolist()}"
            )
        if len(minority) <= k:
            k = len(minority) - 1
            log.warning(
                "SMOTE: %d minority rows (rows %s) cannot have %d neighbours each; using "
                "k_neighbors=%d",
                len(minority),
                minority.tolist()[:20],
                self.k_neighbors,
                k,
            )
        self.k_neighbors_ = k
        smote = SMOTE(
            sampling_strategy=self.sampling_ratio,
            k_neighbors=k,
            random_state=self.random_state,
        )
        X_res, y_res = smote.fit_resample(X, y)
        X_res[len(X) :] = make_valid(X_res[len(X) :], self.schema_)
        return X_res, y_res
