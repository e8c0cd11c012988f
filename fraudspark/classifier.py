"""The supervised fraud classifier: an MLP trained on an augmented training set.

The classifier is exported like the scorers, as files, not pickles: ``model.pt`` is the
TorchScript graph from raw float64 feature rows (in ``feature_names`` order, missing values
imputed as :func:`~fraudspark.scoring.spark.model_inputs` does) to a fraud probability, input
transform included; ``metadata.json`` holds the feature names, the transform, the training
settings and metrics and the augmented set's Delta version. It is registered as
``fraud-classifier``.

The input transform follows the oversamplers' column kinds: amounts and counts are heavy-tailed
and enter as ``log1p``; then every column is standardised.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from torch import nn

from fraudspark.config import Config
from fraudspark.features.store import model_feature_columns
from fraudspark.oversampling.tabular import column_kind
from fraudspark.registry import download_registered_files, register_files
from fraudspark.scoring.base import FeatureData, aligned_feature_matrix
from fraudspark.scoring.export import ScorerArtifact
from fraudspark.scoring.spark import MISSING_FEATURE_VALUE, model_inputs
from fraudspark.tables import AUGMENTED_TRAINING_SETS, read_table_as_of, table_version

log = logging.getLogger(__name__)

CLASSIFIER_MODEL_NAME = "fraud-classifier"
CLASSIFIER_FORMAT = "fraudspark.classifier/1"
CLASSIFIER_KINDS = ("mlp",)


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


class MLPClassifier:
    """A multi-layer perceptron trained with binary cross-entropy, no class weights: the
    oversampling method alone decides the balance it sees."""

    model_type = "mlp"

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        self.config = config or ClassifierConfig()

    def fit(self, data: pd.DataFrame, labels: np.ndarray) -> MLPClassifier:
        """Fit on a DataFrame of features (its columns name them) and 0/1 labels."""
        config = self.config
        self.feature_names_ = [str(column) for column in data.columns]
        rows = data.to_numpy(np.float64)
        y = np.asarray(labels, dtype=np.float32)
        if len(np.unique(y)) != 2:
            raise ValueError("the classifier needs fraud and normal rows to learn from")
        log_columns = np.array(
            [column_kind(name) in ("amount", "count") for name in self.feature_names_]
        )
        logged = np.where(log_columns, np.log1p(np.maximum(rows, 0.0)), rows)
        center, scale = logged.mean(axis=0), logged.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        torch.manual_seed(config.seed)
        network = _network(rows.shape[1], config.hidden_dims, float(y.mean()))
        module = FraudProbability(log_columns, center, scale, network)
        inputs = module.standardise(torch.from_numpy(rows))
        targets = torch.from_numpy(y)
        optimizer = torch.optim.Adam(
            module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        rng = torch.Generator().manual_seed(config.seed)
        module.train()
        self.loss_history_: list[float] = []
        for epoch in range(1, config.epochs + 1):
            order = torch.randperm(len(inputs), generator=rng)
            total = 0.0
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                logits = module.network(inputs[batch]).squeeze(1)
                loss = nn.functional.binary_cross_entropy_with_logits(logits, targets[batch])
                optimizer.zero_grad()
                torch.autograd.backward(loss)
                optimizer.step()
                total += loss.item() * len(batch)
            self.loss_history_.append(total / len(inputs))
            log.info("classifier epoch %d/%d loss=%.5f", epoch, config.epochs, total / len(inputs))
        module.eval()
        self.module_ = module
        return self

    def predict_proba(self, data: FeatureData) -> np.ndarray:
        """Fraud probability per row; columns matched by name."""
        matrix = aligned_feature_matrix(data, self.feature_names_)
        with torch.no_grad():
            probabilities: np.ndarray = self.module_(torch.from_numpy(matrix)).numpy()
        return probabilities

    def export(self, extra: dict[str, Any] | None = None) -> ScorerArtifact:
        """TorchScript bytes + JSON metadata (``ScorerArtifact`` is the generic container)."""
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.script(self.module_), buffer)  # type: ignore[no-untyped-call]
        metadata = {
            "format": CLASSIFIER_FORMAT,
            "model_type": self.model_type,
            "feature_names": self.feature_names_,
            "log_columns": self.module_.log_columns.tolist(),
            "center": self.module_.center.tolist(),
            "scale": self.module_.scale.tolist(),
            "missing_feature_value": MISSING_FEATURE_VALUE,
            "training_config": dataclasses.asdict(self.config),
            "final_loss": self.loss_history_[-1],
            "torch_version": torch.__version__,
            "extra": dict(extra or {}),
        }
        return ScorerArtifact(buffer.getvalue(), metadata)


class LoadedClassifier:
    """An exported classifier loaded for scoring, with no fraudspark class needed to run it."""

    def __init__(self, artifact: ScorerArtifact) -> None:
        if artifact.metadata.get("format") != CLASSIFIER_FORMAT:
            raise ValueError(
                f"not a {CLASSIFIER_FORMAT} artifact: format {artifact.metadata.get('format')!r}"
            )
        self.metadata = artifact.metadata
        self.feature_names: list[str] = list(artifact.metadata["feature_names"])
        self.module = torch.jit.load(  # type: ignore[no-untyped-call]
            io.BytesIO(artifact.model_bytes), map_location="cpu"
        )

    def predict_proba(self, data: FeatureData) -> np.ndarray:
        """Fraud probability per row; columns matched by name."""
        matrix = aligned_feature_matrix(data, self.feature_names)
        with torch.no_grad():
            probabilities: np.ndarray = self.module(torch.from_numpy(matrix)).numpy()
        return probabilities


@dataclass(frozen=True)
class TrainedClassifier:
    classifier: MLPClassifier
    artifact: ScorerArtifact
    params: dict[str, str]

    def summary(self) -> str:
        extra = self.artifact.metadata["extra"]
        return (
            f"classifier on {extra['training_set']!r} / {extra['method']}: "
            f"{extra['training_rows']} rows ({extra['fraud_rows']} fraud, "
            f"{extra['synthetic_rows']} synthetic), final loss "
            f"{self.artifact.metadata['final_loss']:.5f}"
        )


def augmented_frame(
    spark: SparkSession, config: Config, training_set: str, method: str
) -> tuple[pd.DataFrame, int]:
    """The labelled rows of an augmented training set as model inputs, ``is_fraud`` and
    ``is_synthetic``; and the table's Delta version they were read at."""
    version = table_version(spark, config, AUGMENTED_TRAINING_SETS)
    rows = read_table_as_of(spark, config, AUGMENTED_TRAINING_SETS, version).where(
        (F.col("training_set") == training_set)
        & (F.col("method") == method)
        & F.col("is_fraud").isNotNull()
    )
    features = model_feature_columns(config)
    frame: pd.DataFrame = (
        model_inputs(rows, features).select(*features, "is_fraud", "is_synthetic").toPandas()
    )
    if frame.empty:
        raise ValueError(
            f"no augmented rows for training set {training_set!r} and method {method!r}: "
            f"run `fraudspark oversample --training-set {training_set} --method {method}` first"
        )
    return frame, version


def train_classifier(
    spark: SparkSession,
    config: Config,
    training_set: str,
    method: str,
    *,
    kind: str = "mlp",
    training: ClassifierConfig | None = None,
) -> TrainedClassifier:
    """Fit the classifier on the (``training_set``, ``method``) rows of
    ``fraud.augmented_training_sets`` and export it with the table version it read."""
    if kind not in CLASSIFIER_KINDS:
        raise ValueError(f"unknown classifier kind {kind!r}: one of {list(CLASSIFIER_KINDS)}")
    training = training or ClassifierConfig()
    frame, version = augmented_frame(spark, config, training_set, method)
    features = model_feature_columns(config)
    classifier = MLPClassifier(training).fit(frame[features], frame["is_fraud"].to_numpy())
    params = {
        "kind": kind,
        "training_set": training_set,
        "method": method,
        "seed": str(training.seed),
        "epochs": str(training.epochs),
    }
    extra = {
        **params,
        "data_versions": {AUGMENTED_TRAINING_SETS.name: version},
        "training_rows": len(frame),
        "fraud_rows": int(frame["is_fraud"].sum()),
        "synthetic_rows": int(frame["is_synthetic"].sum()),
    }
    trained = TrainedClassifier(classifier, classifier.export(extra), params)
    log.info(trained.summary())
    return trained


def register_classifier(config: Config, trained: TrainedClassifier) -> int:
    """Register the export as a new version of ``fraud-classifier``; returns the version."""
    with tempfile.TemporaryDirectory() as directory:
        trained.artifact.write(directory)
        return register_files(
            config,
            CLASSIFIER_MODEL_NAME,
            directory,
            trained.params,
            description="fraudspark supervised fraud classifier",
        )


def load_registered_classifier(
    config: Config, spec: str = CLASSIFIER_MODEL_NAME
) -> tuple[LoadedClassifier, int]:
    """The classifier a model spec names (default: the champion) and its version."""
    with tempfile.TemporaryDirectory() as directory:
        version, path = download_registered_files(config, spec, Path(directory))
        return LoadedClassifier(ScorerArtifact.read(path)), version
