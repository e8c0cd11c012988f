"""What every anomaly scorer shares: the PyOD-style contract, standardisation, seeded training.

A scorer is trained in float32 but scores through an ``nn.Module`` in float64 (its *scoring
graph*) that maps raw feature rows to a dict of per-row tensors: ``score`` (higher = more
anomalous), ``feature_error_share`` (each feature's share of the input-space squared
reconstruction error) and model-specific extras. The same graph is what :mod:`.export` writes as
TorchScript, so in-memory and exported scores come from one piece of code.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from typing import Self

FeatureData: TypeAlias = pd.DataFrame | np.ndarray
NetworkT = TypeVar("NetworkT", bound=nn.Module)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Train on one intra-op thread: on minibatches of these small networks, extra threads cost
    more in synchronisation than they save (several times slower on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


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


def reconstruction_error_shares(inputs: Tensor, reconstruction: Tensor) -> tuple[Tensor, Tensor]:
    """Per-row squared reconstruction error and each feature's share of it (rows sum to 1).

    A perfectly reconstructed row has all shares 0 rather than 0/0.
    """
    squared = (reconstruction - inputs) ** 2
    total = squared.sum(dim=1)
    shares = squared / total.clamp_min(1e-300).unsqueeze(1)
    return total, shares


def alert_threshold(training_scores: np.ndarray, target_alert_rate: float) -> float:
    """The (1 - target_alert_rate) quantile of training scores: about that share alerts."""
    if not 0.0 < target_alert_rate < 1.0:
        raise ValueError(f"target_alert_rate must be in (0, 1), got {target_alert_rate}")
    return float(np.quantile(training_scores, 1.0 - target_alert_rate))


@dataclass(frozen=True)
class TrainingConfig:
    """Network shape and optimisation; ``seed`` fixes initialisation, shuffling and sampling.

    ``hidden_dims`` are the encoder's hidden widths (the decoder mirrors them) and ``latent_dim``
    the bottleneck. With ``early_stopping_patience`` set, ``validation_fraction`` of the rows is
    held out and the weights of the best validation epoch are kept.
    """

    hidden_dims: tuple[int, ...] = (32, 16)
    latent_dim: int = 4
    epochs: int = 50
    batch_size: int = 256
    learning_rate: float = 1e-3
    early_stopping_patience: int | None = None
    validation_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latent_dim < 1 or any(width < 1 for width in self.hidden_dims):
            raise ValueError(
                f"layer widths must be positive: {self.hidden_dims}, {self.latent_dim}"
            )
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("epochs, batch_size and learning_rate must be positive")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1): {self.validation_fraction}")


@contextmanager
def reproducible(seed: int) -> Iterator[None]:
    """Seed torch's global RNG and require deterministic kernels, restoring both afterwards."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic)


def train_network(
    network: NetworkT,
    inputs: Tensor,
    loss: Callable[[NetworkT, Tensor, torch.Generator], Tensor],
    config: TrainingConfig,
) -> dict[str, float]:
    """Adam on shuffled minibatches; returns training metrics.

    Shuffling, the validation split and any sampling inside ``loss`` draw from one generator
    seeded with ``config.seed``, so a seed gives the same weights on the same machine.
    """
    generator = torch.Generator().manual_seed(config.seed)
    training, validation = inputs, None
    if config.early_stopping_patience is not None:
        order = torch.randperm(len(inputs), generator=generator)
        n_validation = max(1, round(len(inputs) * config.validation_fraction))
        validation, training = inputs[order[:n_validation]], inputs[order[n_validation:]]
    optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    best_loss, best_state, stale_epochs = math.inf, None, 0
    metrics: dict[str, float] = {}
    for epoch in range(1, config.epochs + 1):
        network.train()
        epoch_loss = 0.0
        shuffled = torch.randperm(len(training), generator=generator)
        for batch_rows in torch.split(shuffled, config.batch_size):
            batch_loss = loss(network, training[batch_rows], generator)
            optimiser.zero_grad()
            batch_loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            epoch_loss += batch_loss.item() * len(batch_rows)
        metrics.update(epochs_run=epoch, last_epoch_training_loss=epoch_loss / len(training))
        if validation is None or config.early_stopping_patience is None:
            continue
        network.eval()
        with torch.no_grad():
            validation_loss = loss(network, validation, generator).item()
        if validation_loss < best_loss:
            best_loss, best_state = validation_loss, copy.deepcopy(network.state_dict())
            stale_epochs = 0
            metrics.update(best_epoch=epoch, best_validation_loss=validation_loss)
        else:
            stale_epochs += 1
            if stale_epochs >= config.early_stopping_patience:
                break
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return metrics


class ReconstructionScorer(ABC, Generic[NetworkT]):
    """PyOD-style contract: ``fit(X)`` returns self, ``decision_function(X)`` higher = anomalous.

    ``fit(X, feature_names=None)`` takes a DataFrame (its columns name the features) or an array
    (named by ``feature_names``, else ``feature_0``...). Fitted state ends in ``_``:
    ``feature_names_``, ``standardiser_``, ``network_`` (float32, trained), ``scoring_module_``
    (float64 scoring graph), ``threshold_`` and ``training_metrics_``.
    """

    model_type: str
    score_name: str

    def __init__(
        self, *, training: TrainingConfig | None = None, target_alert_rate: float = 0.01
    ) -> None:
        self.training = training or TrainingConfig()
        self.target_alert_rate = target_alert_rate

    def fit(self, X: FeatureData, feature_names: Sequence[str] | None = None) -> Self:
        names, matrix = training_matrix(X, feature_names)
        standardiser = Standardiser.fit(matrix)
        standardised = torch.from_numpy(standardiser.transform(matrix))
        with reproducible(self.training.seed):
            network = self._build_network(len(names))
            metrics = train_network(
                network, standardised.to(torch.float32), self._training_loss, self.training
            )
        self.feature_names_ = names
        self.standardiser_ = standardiser
        self.network_ = network
        self.scoring_module_ = self._build_scoring_module(
            copy.deepcopy(network).double().eval().requires_grad_(False), standardised
        )
        training_scores = self.decision_function(matrix)
        self.threshold_ = alert_threshold(training_scores, self.target_alert_rate)
        self.training_metrics_ = {
            **metrics,
            "n_training_rows": float(len(matrix)),
            "training_score_mean": float(training_scores.mean()),
            "training_alert_rate": float((training_scores > self.threshold_).mean()),
        }
        return self

    def decision_function(self, X: FeatureData) -> np.ndarray:
        """One anomaly score per row (higher = more anomalous); columns are matched by name."""
        return self.score_outputs(X)["score"]

    def score_outputs(self, X: FeatureData) -> dict[str, np.ndarray]:
        """Every output of the scoring graph: ``score``, ``feature_error_share`` and extras."""
        matrix = aligned_feature_matrix(X, self.feature_names_)
        with torch.no_grad():
            outputs = self.scoring_module_(torch.tensor(matrix))
        return {name: value.numpy() for name, value in outputs.items()}

    def model_metadata(self) -> dict[str, Any]:
        """Model-specific fitted state for the exported metadata (none by default)."""
        return {}

    @abstractmethod
    def _build_network(self, n_features: int) -> NetworkT:
        """A freshly initialised network (called under the training seed)."""

    @abstractmethod
    def _training_loss(
        self, network: NetworkT, batch: Tensor, generator: torch.Generator
    ) -> Tensor:
        """Mean loss of a minibatch of standardised float32 rows."""

    @abstractmethod
    def _build_scoring_module(self, network: NetworkT, standardised_training: Tensor) -> nn.Module:
        """The float64 scoring graph around a trained ``network`` (already a float64 copy)."""
