"""The anomaly scorer kinds, as the command line names them."""

from __future__ import annotations

from typing import Any

from fraudspark.models.anomaly.autoencoder import AutoencoderScorer
from fraudspark.models.anomaly.base import ReconstructionScorer
from fraudspark.models.anomaly.rapp import RappScorer
from fraudspark.models.anomaly.vae import VaeScorer
from fraudspark.models.training import TrainingConfig

# Scorer kind (as on the command line) -> scorer class.
SCORER_KINDS: dict[str, type[ReconstructionScorer[Any]]] = {
    "ae": AutoencoderScorer,
    "vae": VaeScorer,
    "rapp": RappScorer,
}


def new_scorer(
    kind: str, training: TrainingConfig, target_alert_rate: float
) -> ReconstructionScorer[Any]:
    """An unfitted scorer of a kind: ``ae``, ``vae`` or ``rapp`` (NAP; its graph gives SAP too)."""
    if kind not in SCORER_KINDS:
        raise ValueError(f"unknown scorer kind {kind!r}: expected one of {sorted(SCORER_KINDS)}")
    return SCORER_KINDS[kind](training=training, target_alert_rate=target_alert_rate)
