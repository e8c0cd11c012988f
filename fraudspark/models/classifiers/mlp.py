"""The supervised fraud classifier: an MLP trained on an augmented training set.

The classifier is exported like the scorers, as files, not pickles: ``model.pt`` is the
TorchScript graph from raw float64 feature rows (in ``feature_names`` order, missing values
imputed as :func:`~fraudspark.features.model_inputs.model_inputs` does) to a fraud probability,
input transform included; ``metadata.json`` holds the feature names, the transform, the alert
threshold, the integrated-gradients baseline, the training settings and metrics and the
augmented set's Delta version. It is registered as ``fraud-classifier`` and scored by the same
Spark job as the scorers (score = fraud probability, attributions = integrated gradients).

The input transform follows the oversamplers' column kinds: amounts and counts are heavy-tailed
and enter as ``log1p``; then every column is standardised.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from fraudspark.config import DEFAULT_TARGET_ALERT_RATE
from fraudspark.features.definitions import declared_kind
from fraudspark.features.model_inputs import MISSING_FEATURE_VALUE
from fraudspark.models.artifact import LoadedModel, ModelArtifact
from fraudspark.models.attribution import IG_STEPS, attribution_shares, integrated_gradients
from fraudspark.models.classifiers import CLASSIFIER_KINDS as CLASSIFIER_KINDS
from fraudspark.models.inputs import FeatureData, Standardiser, aligned_feature_matrix
from fraudspark.models.training import TrainingConfig, alert_threshold, reproducible, train_network

log = logging.getLogger(__name__)


# /2 added the alert threshold, score columns and integrated-gradients baseline scoring needs.
CLASSIFIER_FORMAT = "fraudspark.classifier/2"


@dataclass(frozen=True)
class ClassifierConfig:
    """Training settings of the MLP classifier."""

    hidden_dims: tuple[int, ...] = (64, 32)
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    seed: int = 0


class FraudProbability(nn.Module):
    """Raw feature rows (float64) to fraud probabilities: log1p, standardise, MLP, sigmoid."""

    if TYPE_CHECKING:  # buffers, typed for mypy; TorchScript cannot read these annotations
        log_columns: torch.Tensor
        center: torch.Tensor
        scale: torch.Tensor

    def __init__(
        self, log_columns: np.ndarray, center: np.ndarray, scale: np.ndarray, network: nn.Module
    ) -> None:
        super().__init__()
        self.register_buffer("log_columns", torch.as_tensor(log_columns, dtype=torch.bool))
        self.register_buffer("center", torch.as_tensor(center, dtype=torch.float64))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float64))
        self.network = network

    def standardise(self, rows: torch.Tensor) -> torch.Tensor:
        logged = torch.where(self.log_columns, torch.log1p(torch.clamp(rows, min=0.0)), rows)
        return ((logged - self.center) / self.scale).float()

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.network(self.standardise(rows)).squeeze(1)
        return torch.sigmoid(logits.double())


def _network(n_features: int, hidden_dims: Sequence[int], fraud_rate: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_features
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    output = nn.Linear(width, 1)
    # Start at the base rate: otherwise the first epochs only learn that fraud is rare.
    with torch.no_grad():
        output.bias.fill_(float(np.log(fraud_rate / (1 - fraud_rate))))
    return nn.Sequential(*layers, output)


def _bce_loss(network: nn.Module, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Binary cross-entropy of a minibatch whose last column is the 0/1 label."""
    logits = network(batch[:, :-1]).squeeze(1)
    return nn.functional.binary_cross_entropy_with_logits(logits, batch[:, -1])


class MLPClassifier:
    """A multi-layer perceptron trained with binary cross-entropy, no class weights: the
    oversampling method alone decides the balance it sees."""

    model_type = "mlp"

    def __init__(
        self,
        config: ClassifierConfig | None = None,
        target_alert_rate: float = DEFAULT_TARGET_ALERT_RATE,
    ) -> None:
        self.config = config or ClassifierConfig()
        self.target_alert_rate = target_alert_rate

    def fit(
        self, data: pd.DataFrame, labels: np.ndarray, is_synthetic: np.ndarray | None = None
    ) -> MLPClassifier:
        """Fit on a DataFrame of features (its columns name them) and 0/1 labels.

        ``is_synthetic`` flags oversampled rows: they are learnt from, but the alert threshold
        (``target_alert_rate`` of the real rows above it) and the attribution baseline (the
        mean real normal row) describe real traffic only.
        """
        config = self.config
        self.feature_names_ = [str(column) for column in data.columns]
        rows = data.to_numpy(np.float64)
        y = np.asarray(labels, dtype=np.float32)
        if len(np.unique(y)) != 2:
            raise ValueError("the classifier needs fraud and normal rows to learn from")
        real = np.ones(len(y), bool) if is_synthetic is None else ~np.asarray(is_synthetic, bool)
        if not (real & (y == 0)).any():
            raise ValueError("the classifier needs real normal rows for its attribution baseline")
        log_columns = np.array(
            [declared_kind(name) in ("amount", "count") for name in self.feature_names_]
        )
        logged = np.where(log_columns, np.log1p(np.maximum(rows, 0.0)), rows)
        standardiser = Standardiser.fit(logged)
        settings = TrainingConfig(
            epochs=config.epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            # The classifier trains every epoch on every row (its own settings, unchanged).
            early_stopping_patience=None,
            seed=config.seed,
        )
        with reproducible(config.seed):
            network = _network(rows.shape[1], config.hidden_dims, float(y.mean()))
            module = FraudProbability(log_columns, standardiser.mean, standardiser.scale, network)
            # The label rides along as the last column, so one shuffle draws rows and labels.
            inputs = torch.cat(
                [module.standardise(torch.from_numpy(rows)), torch.from_numpy(y).unsqueeze(1)], 1
            )
            history = train_network(module.network, inputs, _bce_loss, settings)
        self.loss_history_ = history.epoch_losses
        module.eval()
        self.module_ = module
        with torch.no_grad():
            real_probabilities = module(torch.from_numpy(rows[real])).numpy()
        self.threshold_ = alert_threshold(real_probabilities, self.target_alert_rate)
        self.training_alert_rate_ = float((real_probabilities > self.threshold_).mean())
        self.baseline_ = rows[real & (y == 0)].mean(axis=0)
        return self

    def predict_proba(self, data: FeatureData) -> np.ndarray:
        """Fraud probability per row; columns matched by name."""
        matrix = aligned_feature_matrix(data, self.feature_names_)
        with torch.no_grad():
            probabilities: np.ndarray = self.module_(torch.from_numpy(matrix)).numpy()
        return probabilities

    def export(self, extra: dict[str, Any] | None = None) -> ModelArtifact:
        """TorchScript bytes + JSON metadata (``ModelArtifact`` is the generic container)."""
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.script(self.module_), buffer)  # type: ignore[no-untyped-call]
        metadata = {
            "format": CLASSIFIER_FORMAT,
            "model_type": self.model_type,
            "feature_names": self.feature_names_,
            "score_columns": ["score"],
            "log_columns": self.module_.log_columns.tolist(),
            "center": self.module_.center.tolist(),
            "scale": self.module_.scale.tolist(),
            "missing_feature_value": MISSING_FEATURE_VALUE,
            "threshold": self.threshold_,
            "target_alert_rate": self.target_alert_rate,
            "training_alert_rate": self.training_alert_rate_,
            "integrated_gradients": {"steps": IG_STEPS, "baseline": self.baseline_.tolist()},
            "training_config": dataclasses.asdict(self.config),
            "final_loss": self.loss_history_[-1],
            "torch_version": torch.__version__,
            "extra": dict(extra or {}),
        }
        return ModelArtifact(buffer.getvalue(), metadata)


class LoadedClassifier(LoadedModel):
    """An exported classifier loaded for scoring, with no fraudspark class needed to run it.

    Its score is the fraud probability and its shares are the integrated-gradients attribution
    shares, so :meth:`score` and the Spark job treat it like a scorer.
    """

    artifact_format = CLASSIFIER_FORMAT

    def __init__(self, artifact: ModelArtifact) -> None:
        super().__init__(artifact)
        settings = artifact.metadata["integrated_gradients"]
        self.baseline = torch.tensor(settings["baseline"], dtype=torch.float64)
        self.steps = int(settings["steps"])
        # Attributions need gradients with respect to the inputs only.
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    def predict_proba(self, data: FeatureData) -> np.ndarray:
        """Fraud probability per row; columns matched by name."""
        matrix = aligned_feature_matrix(data, self.feature_names)
        with torch.no_grad():
            probabilities: np.ndarray = self.module(torch.tensor(matrix)).numpy()
        return probabilities

    def attributions(self, matrix: np.ndarray) -> np.ndarray:
        """Integrated-gradients attributions of raw rows in ``feature_names`` order."""
        rows = torch.tensor(matrix, dtype=torch.float64)
        attributions: np.ndarray = integrated_gradients(
            self.module, rows, self.baseline, self.steps
        ).numpy()
        return attributions

    def score_matrix(self, matrix: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        rows = torch.tensor(matrix, dtype=torch.float64)
        with torch.no_grad():
            probabilities = self.module(rows)
        attributions = integrated_gradients(self.module, rows, self.baseline, self.steps)
        return {"score": probabilities.numpy()}, attribution_shares(attributions).numpy()
