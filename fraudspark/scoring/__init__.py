"""Unsupervised anomaly scorers (autoencoder, VAE, RaPP) and their TorchScript + JSON export.

Every scorer follows PyOD's contract: ``fit(X)`` returns self and ``decision_function(X)`` gives
one score per row, higher = more anomalous.
"""

from __future__ import annotations

from fraudspark.scoring.autoencoder import AutoencoderScorer
from fraudspark.scoring.base import FeatureMismatchError, ReconstructionScorer, TrainingConfig
from fraudspark.scoring.export import (
    LoadedScorer,
    ScorerArtifact,
    export_artifact,
    export_scorer,
    load_scorer,
)
from fraudspark.scoring.rapp import RappScorer
from fraudspark.scoring.vae import VaeScorer

__all__ = [
    "AutoencoderScorer",
    "FeatureMismatchError",
    "LoadedScorer",
    "RappScorer",
    "ReconstructionScorer",
    "ScorerArtifact",
    "TrainingConfig",
    "VaeScorer",
    "export_artifact",
    "export_scorer",
    "load_scorer",
]
