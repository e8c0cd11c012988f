"""What every anomaly scorer shares: the PyOD-style contract, standardisation, seeded training.

A scorer is trained in float32 but scores through an ``nn.Module`` in float64 (its *scoring
graph*) that maps raw feature rows to a dict of per-row tensors: ``score`` (higher = more
anomalous), ``feature_error_share`` (each feature's share of the input-space squared
reconstruction error) and model-specific extras. The same graph is what :mod:`.export` writes as
TorchScript, so in-memory and exported scores come from one piece of code.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from fraudspark.config import DEFAULT_TARGET_ALERT_RATE

if TYPE_CHECKING:
    from typing import Self
import dataclasses
import io
import json
from collections.abc import Mapping
from pathlib import Path

from fraudspark.features.transforms import InputTransform
from fraudspark.models.artifact import LoadedModel, ModelArtifact, input_transform_metadata
from fraudspark.models.inputs import (
    FeatureData,
    Standardiser,
    aligned_feature_matrix,
    training_matrix,
)
from fraudspark.models.training import TrainingConfig, alert_threshold, reproducible, train_network

NetworkT = TypeVar("NetworkT", bound=nn.Module)


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
        self,
        *,
        training: TrainingConfig | None = None,
        target_alert_rate: float = DEFAULT_TARGET_ALERT_RATE,
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
            ).metrics
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


ARTIFACT_FORMAT = "fraudspark.scorer/1"


def export_artifact(
    scorer: ReconstructionScorer[Any],
    extra_metadata: Mapping[str, Any] | None = None,
    input_transform: InputTransform | None = None,
) -> ModelArtifact:
    """Script a fitted scorer's scoring graph and gather its metadata.

    ``extra_metadata`` must be JSON-serialisable (e.g. ``{"training_table_versions": {...}}``).
    With ``input_transform`` (fitted on the raw rows the scorer's inputs were made from; its
    ``columns`` must be the scorer's ``feature_names_``), ``feature_names`` are the transform's
    raw columns and the metadata carries ``input_transform`` and ``input_names``: the loaded
    model applies the transform in numpy before the TorchScript graph.
    """
    if input_transform is not None and input_transform.columns != scorer.feature_names_:
        raise ValueError(
            f"the input transform's columns {input_transform.columns} are not the scorer's "
            f"features {scorer.feature_names_}"
        )
    scripted = torch.jit.script(scorer.scoring_module_)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        probe = scripted(torch.zeros(1, len(scorer.feature_names_), dtype=torch.float64))
    metadata = {
        "format": ARTIFACT_FORMAT,
        "model_type": scorer.model_type,
        "score_name": scorer.score_name,
        "score_columns": [name for name in probe if name != "feature_error_share"],
        "feature_names": (
            scorer.feature_names_ if input_transform is None else input_transform.raw_columns
        ),
        **input_transform_metadata(input_transform),
        "standardiser": scorer.standardiser_.to_metadata(),
        "threshold": scorer.threshold_,
        "target_alert_rate": scorer.target_alert_rate,
        "training_config": dataclasses.asdict(scorer.training),
        "training_metrics": scorer.training_metrics_,
        **scorer.model_metadata(),
        "torch_version": torch.__version__,
        "extra": dict(extra_metadata or {}),
    }
    # The JSON round trip turns tuples into lists and fails here, not at write time.
    return ModelArtifact(buffer.getvalue(), json.loads(json.dumps(metadata)))


def export_scorer(
    scorer: ReconstructionScorer[Any],
    directory: str | Path,
    extra_metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a fitted scorer as ``directory/model.pt`` + ``directory/metadata.json``."""
    return export_artifact(scorer, extra_metadata).write(directory)


class LoadedScorer(LoadedModel):
    """An exported anomaly scorer; its shares are those of the input-space squared
    reconstruction error."""

    artifact_format = ARTIFACT_FORMAT

    def score_matrix(self, matrix: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        with torch.no_grad():
            outputs = self.module(torch.tensor(matrix))
        scores = {name: outputs[name].numpy() for name in self.score_columns}
        return scores, outputs["feature_error_share"].numpy()


def load_scorer(source: str | Path | ModelArtifact) -> LoadedScorer:
    """A :class:`LoadedScorer` from an export directory or an in-memory artifact."""
    artifact = source if isinstance(source, ModelArtifact) else ModelArtifact.read(source)
    return LoadedScorer(artifact)
