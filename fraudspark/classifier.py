"""The supervised fraud classifier: an MLP trained on an augmented training set.

The classifier is exported like the scorers, as files, not pickles: ``model.pt`` is the
TorchScript graph from raw float64 feature rows (in ``feature_names`` order, missing values
imputed as :func:`~fraudspark.scoring.spark.model_inputs` does) to a fraud probability, input
transform included; ``metadata.json`` holds the feature names, the transform, the alert
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
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from torch import nn

from fraudspark.config import Config
from fraudspark.features.store import model_feature_columns
from fraudspark.lakehouse.io import read_table_as_of, table_version
from fraudspark.lakehouse.tables import AUGMENTED_TRAINING_SETS
from fraudspark.oversampling.tabular import column_kind
from fraudspark.registry import download_registered_files, register_files
from fraudspark.scoring.base import (
    FeatureData,
    alert_threshold,
    aligned_feature_matrix,
    one_torch_thread,
)
from fraudspark.scoring.export import LoadedModel, ScorerArtifact
from fraudspark.scoring.spark import DEFAULT_TARGET_ALERT_RATE, MISSING_FEATURE_VALUE, model_inputs

log = logging.getLogger(__name__)

CLASSIFIER_MODEL_NAME = "fraud-classifier"
# /2 added the alert threshold, score columns and integrated-gradients baseline scoring needs.
CLASSIFIER_FORMAT = "fraudspark.classifier/2"
CLASSIFIER_KINDS = ("mlp",)
# Riemann midpoints along each integrated-gradients path. The completeness error (sum of
# attributions against p(x) - p(baseline)) shrinks as 1/steps² for a smooth probability, but
# the MLP's ReLUs make the gradient jump at their kinks (error ~ 1/steps), and a log1p column's
# gradient varies along the raw-space path as 1/(1 + x). On toy data at 32 steps the median row
# is off by ~1e-4 of probability and the worst, whose path climbs a steep rise, by a few 1e-2:
# enough to rank features, which is what the scores table keeps.
IG_STEPS = 32
# Path points per backward pass (rows x steps): bounds a Spark task's memory, whatever the
# Arrow batch size.
IG_POINTS_PER_PASS = 32_768


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


def integrated_gradients(
    module: Callable[[torch.Tensor], torch.Tensor],
    rows: torch.Tensor,
    baseline: torch.Tensor,
    steps: int = IG_STEPS,
) -> torch.Tensor:
    """Integrated-gradients attributions of a raw-input probability module, one row per row.

    attribution_i = (x_i - b_i) * mean over the midpoints a_k = (k + 1/2) / ``steps`` of
    dp/dx_i at b + a_k (x - b) (Sundararajan et al., 2017): the gradient of the whole graph,
    input transform included, so attributions are in raw feature units and sum to
    p(x) - p(b) up to the midpoint rule's error (completeness; see ``IG_STEPS``). The paths
    of a chunk of rows go through one batched forward and backward pass.

    Computed by Captum (``riemann_middle``), the maintained IG library; it runs the TorchScript
    module from the registry as it is.
    """
    from captum.attr import IntegratedGradients

    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    if len(rows) == 0:
        return torch.zeros_like(rows)
    explainer = IntegratedGradients(module)
    per_pass = max(1, IG_POINTS_PER_PASS // steps)  # rows whose whole paths fit in one pass
    chunks = [
        explainer.attribute(
            chunk,
            baselines=baseline.reshape(1, -1),
            n_steps=steps,
            method="riemann_middle",
            internal_batch_size=len(chunk) * steps,
        ).detach()
        for chunk in torch.split(rows, per_pass)
    ]
    return torch.cat(chunks)


def attribution_shares(attributions: torch.Tensor) -> torch.Tensor:
    """|attribution_i| / sum_j |attribution_j| per row; 0 where every attribution is 0."""
    magnitude = attributions.abs()
    total = magnitude.sum(dim=1, keepdim=True)
    return torch.where(total > 0, magnitude / total.clamp_min(1e-300), 0.0)


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

    def export(self, extra: dict[str, Any] | None = None) -> ScorerArtifact:
        """TorchScript bytes + JSON metadata (``ScorerArtifact`` is the generic container)."""
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
        return ScorerArtifact(buffer.getvalue(), metadata)


class LoadedClassifier(LoadedModel):
    """An exported classifier loaded for scoring, with no fraudspark class needed to run it.

    Its score is the fraud probability and its shares are the integrated-gradients attribution
    shares, so :meth:`score` and the Spark job treat it like a scorer.
    """

    artifact_format = CLASSIFIER_FORMAT

    def __init__(self, artifact: ScorerArtifact) -> None:
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


def augmented_rows(
    spark: SparkSession, config: Config, training_set: str, method: str, version: int
) -> DataFrame:
    """The labelled rows of an augmented training set at a Delta version of the table: what a
    classifier learns from, and (its real rows) what the monitor compares new traffic with."""
    return read_table_as_of(spark, config, AUGMENTED_TRAINING_SETS, version).where(
        (F.col("training_set") == training_set)
        & (F.col("method") == method)
        & F.col("is_fraud").isNotNull()
    )


def classifier_training_rows(
    spark: SparkSession, config: Config, metadata: dict[str, Any]
) -> DataFrame:
    """The real (not synthetic) rows a classifier version was trained on, exactly as it read
    them: at the Delta version recorded in its metadata (``extra.data_versions``)."""
    extra = metadata["extra"]
    version = int(extra["data_versions"][AUGMENTED_TRAINING_SETS.name])
    rows = augmented_rows(spark, config, extra["training_set"], extra["method"], version)
    return rows.where(~F.col("is_synthetic"))


def augmented_frame(
    spark: SparkSession, config: Config, training_set: str, method: str
) -> tuple[pd.DataFrame, int]:
    """The labelled rows of an augmented training set as model inputs, ``is_fraud`` and
    ``is_synthetic``; and the table's Delta version they were read at."""
    version = table_version(spark, config, AUGMENTED_TRAINING_SETS)
    rows = augmented_rows(spark, config, training_set, method, version)
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
    target_alert_rate: float | None = None,
) -> TrainedClassifier:
    """Fit the classifier on the (``training_set``, ``method``) rows of
    ``fraud.augmented_training_sets`` and export it with the table version it read.

    The alert threshold lets ``target_alert_rate`` (default: ``scoring.target_alert_rate``)
    of the real training rows alert, as the scorers' thresholds do.
    """
    if kind not in CLASSIFIER_KINDS:
        raise ValueError(f"unknown classifier kind {kind!r}: one of {list(CLASSIFIER_KINDS)}")
    training = training or ClassifierConfig()
    rate = config.scoring.target_alert_rate if target_alert_rate is None else target_alert_rate
    frame, version = augmented_frame(spark, config, training_set, method)
    features = model_feature_columns(config)
    with one_torch_thread():
        classifier = MLPClassifier(training, rate).fit(
            frame[features], frame["is_fraud"].to_numpy(), frame["is_synthetic"].to_numpy()
        )
    params = {
        "kind": kind,
        "training_set": training_set,
        "method": method,
        "seed": str(training.seed),
        "epochs": str(training.epochs),
        "target_alert_rate": str(rate),
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
