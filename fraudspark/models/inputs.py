"""Feature matrices for the models: names matched by column, float64, standardised.

Every model (anomaly scorers and classifiers) takes a DataFrame whose columns name the features,
or an array with ``feature_names``; these helpers turn either into the model's column order and
raise :class:`FeatureMismatchError` with the missing and extra names otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    pass

FeatureData: TypeAlias = pd.DataFrame | np.ndarray


class FeatureMismatchError(ValueError):
    """The input's feature columns are not the ones the model was trained on."""

    def __init__(self, missing: Sequence[str], extra: Sequence[str]) -> None:
        self.missing = list(missing)
        self.extra = list(extra)
        super().__init__(
            f"input features do not match the model's: missing {self.missing}, extra {self.extra}"
        )


def training_matrix(
    data: FeatureData, feature_names: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Feature names and a float64 matrix from a DataFrame (names = its columns) or an array.

    An array without ``feature_names`` gets ``feature_0``, ``feature_1``, ...
    """
    if isinstance(data, pd.DataFrame):
        names = [str(column) for column in data.columns]
        if feature_names is not None and list(feature_names) != names:
            raise ValueError(
                f"feature_names {list(feature_names)} differ from the DataFrame's columns {names}"
            )
    else:
        if data.ndim != 2:
            raise ValueError(f"expected a 2-D feature matrix, got shape {data.shape}")
        names = (
            [f"feature_{i}" for i in range(data.shape[1])]
            if feature_names is None
            else list(feature_names)
        )
        if len(names) != data.shape[1]:
            raise ValueError(f"{len(names)} feature names for {data.shape[1]} columns")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate feature names: {names}")
    matrix: np.ndarray = np.asarray(data, dtype=np.float64)
    if not np.isfinite(matrix).all():
        raise ValueError("training features contain NaN or infinite values")
    return names, matrix


def check_feature_names(names: Sequence[str], expected: Sequence[str]) -> None:
    """Raise :class:`FeatureMismatchError` unless ``names`` are ``expected`` in some order."""
    if sorted(names) != sorted(expected):
        missing = [name for name in expected if name not in names]
        extra = [name for name in names if name not in expected]
        if not missing and not extra:
            raise ValueError(f"duplicate feature names: {list(names)}")
        raise FeatureMismatchError(missing, extra)


def aligned_feature_matrix(
    data: FeatureData,
    expected: Sequence[str],
    feature_names: Sequence[str] | None = None,
) -> np.ndarray:
    """The input as a float64 matrix with columns in the model's order ``expected``.

    Columns are matched by name: a DataFrame by its columns, an array by ``feature_names`` (or,
    without names, by position if the width matches). Any difference in the set of names raises
    :class:`FeatureMismatchError` naming the missing and extra features.
    """
    if isinstance(data, pd.DataFrame):
        if feature_names is not None:
            raise TypeError("feature_names is only for arrays; a DataFrame's columns name it")
        check_feature_names([str(column) for column in data.columns], expected)
        matrix: np.ndarray = data[list(expected)].to_numpy(dtype=np.float64)
        return matrix
    matrix = np.asarray(data, dtype=np.float64)
    if feature_names is None:
        if matrix.ndim != 2 or matrix.shape[1] != len(expected):
            raise ValueError(
                f"expected {len(expected)} feature columns {list(expected)}, got shape "
                f"{matrix.shape}; pass feature_names to match columns by name"
            )
        return matrix
    names = list(feature_names)
    check_feature_names(names, expected)
    return matrix[:, [names.index(name) for name in expected]]


@dataclass(frozen=True)
class Standardiser:
    """Per-feature mean and scale fitted on training data; a constant feature gets scale 1."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, matrix: np.ndarray) -> Standardiser:
        scale = matrix.std(axis=0)
        return cls(mean=matrix.mean(axis=0), scale=np.where(scale > 0, scale, 1.0))

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        standardised: np.ndarray = (matrix - self.mean) / self.scale
        return standardised

    def to_metadata(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}


class StandardisedInput(nn.Module):
    """First step of every scoring graph: raw features to float64 standardised features."""

    if TYPE_CHECKING:  # buffers, typed for mypy; TorchScript cannot read these annotations
        mean: Tensor
        scale: Tensor

    def __init__(self, standardiser: Standardiser) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(standardiser.mean.astype(np.float64)))
        self.register_buffer("scale", torch.from_numpy(standardiser.scale.astype(np.float64)))

    def forward(self, features: Tensor) -> Tensor:
        return (features.to(torch.float64) - self.mean) / self.scale
