"""The oversampler contract, after imbalanced-learn's ``BaseSampler``.

A keyword-only constructor only stores parameters; :meth:`BaseOversampler.fit_resample`
validates ``X`` and ``y`` and hands them to the method's own ``_fit_resample``. Fitted state ends
in ``_``.

The sampling ratio ``R`` is imbalanced-learn's float ``sampling_strategy``: after resampling,
minority count / majority count = ``R`` (up to rounding down), i.e. ``int(R * n_majority) -
n_minority`` synthetic minority rows are appended after the original rows. ``R`` lies in (0, 1];
asking for a ratio the data already reaches is an error, as in imbalanced-learn. That rule is
written once, in :func:`check_sampling_ratio` and :func:`synthetic_row_count`; the Spark job
(``pipelines/oversample.py``) and the CLI use the same two functions.

Samplers are scikit-learn estimators (``BaseEstimator``): every constructor parameter is an
explicit keyword argument stored under its own name, so ``get_params`` / ``set_params`` /
``sklearn.base.clone`` work for every method of ``OVERSAMPLERS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from fraudspark.oversampling.tabular import FeatureSchema


def check_sampling_ratio(ratio: float) -> float:
    """``ratio`` (minority / majority rows after resampling) if it lies in (0, 1].

    Raises ValueError otherwise.
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"the sampling ratio must lie in (0, 1], got {ratio!r}")
    return ratio


def synthetic_row_count(ratio: float, minority: int, majority: int) -> int:
    """Minority rows to add so that minority / majority reaches ``ratio``:
    ``int(ratio * majority) - minority`` (imbalanced-learn's float ``sampling_strategy``).

    Raises ValueError for a ratio outside (0, 1] or one the counts already reach.
    """
    check_sampling_ratio(ratio)
    wanted = int(ratio * majority) - minority
    if wanted <= 0:
        raise ValueError(
            f"sampling ratio {ratio} is already reached ({minority} minority / {majority} "
            "majority rows): increase it"
        )
    return wanted


class BaseOversampler(ABC, BaseEstimator):  # type: ignore[misc]
    """Appends synthetic minority-class rows to a binary training set."""

    def __init__(
        self,
        *,
        sampling_ratio: float = 1.0,
        random_state: int | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        self.sampling_ratio = sampling_ratio
        self.random_state = random_state
        self.feature_names = feature_names

    def fit_resample(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(X_res, y_res)``: the input rows, then the synthetic minority rows.

        ``X`` is a 2-D array-like of finite numbers (a DataFrame's columns name the features when
        ``feature_names`` is not given); ``y`` holds exactly two integer class labels.
        """
        check_sampling_ratio(self.sampling_ratio)
        names = self.feature_names
        if names is None and hasattr(X, "columns"):
            names = [str(column) for column in X.columns]
        rows, labels = _check_rows(X, y)
        if names is not None and len(names) != rows.shape[1]:
            raise ValueError(f"{len(names)} feature names for {rows.shape[1]} columns of X")
        self.schema_ = (
            FeatureSchema.from_names(names)
            if names is not None
            else FeatureSchema.unnamed(rows.shape[1])
        )
        classes, counts = np.unique(labels, return_counts=True)
        self.minority_class_ = int(classes[np.argmin(counts)])
        return self._fit_resample(rows, labels)

    def synthetic_count(self, labels: np.ndarray) -> int:
        """Minority rows to add so that minority / majority reaches ``sampling_ratio``."""
        _, counts = np.unique(labels, return_counts=True)
        return synthetic_row_count(self.sampling_ratio, int(counts.min()), int(counts.max()))

    @abstractmethod
    def _fit_resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Resample validated rows: ``X`` float64 (n, d), ``y`` int64 (n,) with two classes."""


def _check_rows(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        rows = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"X must hold numbers only: {error}") from error
    labels = np.asarray(y)
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {rows.shape}")
    if labels.ndim != 1 or labels.shape[0] != rows.shape[0]:
        raise ValueError(f"y must be 1-D with one label per row of X, got shape {labels.shape}")
    if not np.all(np.isfinite(rows)):
        raise ValueError("X holds NaN or infinite values: impute them before oversampling")
    if labels.dtype.kind not in "biuf" or np.any(labels != np.round(labels)):
        raise TypeError(f"y must hold integer class labels, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if len(np.unique(labels)) != 2:
        raise ValueError(f"y must hold exactly two classes, got {np.unique(labels).tolist()}")
    return rows, labels


class NoOversampler(BaseOversampler):
    """The baseline that adds nothing: returns the validated rows unchanged (ignores the ratio)."""

    def _fit_resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return X, y
