"""The anomaly scorer kinds, as the command line names them, and their exports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from fraudspark.features.transforms import InputTransform
from fraudspark.models.anomaly.autoencoder import AutoencoderScorer
from fraudspark.models.anomaly.base import ReconstructionScorer, export_artifact
from fraudspark.models.anomaly.baselines import MahalanobisScorer, export_mahalanobis
from fraudspark.models.anomaly.rapp import RappScorer
from fraudspark.models.anomaly.vae import VaeScorer
from fraudspark.models.artifact import ModelArtifact
from fraudspark.models.training import TrainingConfig

AnomalyScorer: TypeAlias = ReconstructionScorer[Any] | MahalanobisScorer

# Scorer kind (as on the command line) -> scorer class.
NETWORK_SCORER_KINDS: dict[str, type[ReconstructionScorer[Any]]] = {
    "ae": AutoencoderScorer,
    "vae": VaeScorer,
    "rapp": RappScorer,
}
SCORER_KINDS: dict[str, type[ReconstructionScorer[Any]] | type[MahalanobisScorer]] = {
    **NETWORK_SCORER_KINDS,
    "mahalanobis": MahalanobisScorer,
}


def new_scorer(kind: str, training: TrainingConfig, target_alert_rate: float) -> AnomalyScorer:
    """An unfitted scorer of a kind: ``ae``, ``vae``, ``rapp`` (NAP; its graph gives SAP too)
    or ``mahalanobis`` (Ledoit-Wolf covariance; of ``training`` only the seed counts)."""
    if kind not in SCORER_KINDS:
        raise ValueError(f"unknown scorer kind {kind!r}: expected one of {sorted(SCORER_KINDS)}")
    if kind == "mahalanobis":
        return MahalanobisScorer(target_alert_rate=target_alert_rate, seed=training.seed)
    return NETWORK_SCORER_KINDS[kind](training=training, target_alert_rate=target_alert_rate)


def export_anomaly_scorer(
    scorer: AnomalyScorer,
    extra_metadata: Mapping[str, Any] | None = None,
    input_transform: InputTransform | None = None,
) -> ModelArtifact:
    """The artifact of a fitted scorer of any kind (TorchScript or, for Mahalanobis, JSON)."""
    if isinstance(scorer, MahalanobisScorer):
        return export_mahalanobis(scorer, extra_metadata, input_transform)
    return export_artifact(scorer, extra_metadata, input_transform)
