"""RaPP: novelty detection with reconstruction along the projection pathway (Kim et al., 2020).

On a trained autoencoder x̂ = f(g(x)), the reconstruction is fed back through the same encoder
and compared layer by layer: h_i = g_{:i}(x), ĥ_i = g_{:i}(x̂), i = 0 being the input space.
d(x) concatenates ĥ_i - h_i over the chosen layers.

- SAP = ‖d(x)‖².
- NAP = ‖(d(x) - μ)ᵀ V Σ⁻¹‖² with μ and (D - μ) = U Σ Vᵀ from the training rows' D only, so a
  row's score never depends on the batch it is scored in. Σ are the singular values of the
  centred training matrix itself (not divided by √(N - 1)), as in the paper: NAP's scale shrinks
  with the training size, which the alert threshold absorbs.

Singular-value guard: directions whose singular value is below ``singular_value_rtol`` × the
largest are *dropped* (a pseudo-inverse), not floored. The default 1e-2 keeps the directions
that carry real training variance: NAP whitens every kept direction, so near-empty ones (a
column that barely varies, an uninformative indicator) otherwise weigh as much as the fraud
signal (measured with 1e-6 against 1e-2 in bench/detection_research.py, docs/benchmarks.md).
Dropped directions carry (almost) no training variance (a dead unit, a constant layer output,
fewer rows than dimensions); a floor would weight them by ~1/rtol, letting them swamp every
other direction. Deviations along them still count in
SAP, which the scoring graph returns beside NAP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from fraudspark.config import DEFAULT_TARGET_ALERT_RATE
from fraudspark.models.anomaly.autoencoder import AutoencoderNetwork, AutoencoderScorer
from fraudspark.models.attribution import reconstruction_error_shares
from fraudspark.models.inputs import StandardisedInput, Standardiser
from fraudspark.models.training import TrainingConfig

# Singular values below this share of the largest are dropped from NAP (see the module text).
DEFAULT_SINGULAR_VALUE_RTOL = 1e-2


def rapp_pathway_differences(
    activations: list[Tensor], reconstructed_activations: list[Tensor], layers: list[int]
) -> Tensor:
    """d(x): ĥ_i - h_i for each pathway layer i in ``layers``, concatenated per row."""
    return torch.cat([reconstructed_activations[i] - activations[i] for i in layers], dim=1)


def rapp_differences(network: AutoencoderNetwork, inputs: Tensor, layers: Sequence[int]) -> Tensor:
    """d(x) for standardised ``inputs`` on ``network`` (same dtype as the network)."""
    with torch.no_grad():
        return rapp_pathway_differences(
            network.pathway(inputs), network.pathway(network(inputs)), list(layers)
        )


def rapp_sap_score(differences: Tensor) -> Tensor:
    """SAP = ‖d(x)‖² per row."""
    return (differences**2).sum(dim=1)


def rapp_nap_score(
    differences: Tensor, mean: Tensor, components: Tensor, singular_values: Tensor
) -> Tensor:
    """NAP = ‖(d(x) - μ)ᵀ V Σ⁻¹‖² per row, V and Σ restricted to the kept directions."""
    return (((differences - mean) @ components / singular_values) ** 2).sum(dim=1)


@dataclass(frozen=True)
class NapBasis:
    """μ, V (columns = kept right singular vectors) and Σ of the training differences D."""

    mean: np.ndarray
    components: np.ndarray
    singular_values: np.ndarray

    @classmethod
    def fit(
        cls, differences: np.ndarray, singular_value_rtol: float = DEFAULT_SINGULAR_VALUE_RTOL
    ) -> NapBasis:
        """SVD of the centred training differences, dropping singular values below
        ``singular_value_rtol`` × the largest (see the module docstring)."""
        mean = differences.mean(axis=0)
        _, singular_values, v_transposed = np.linalg.svd(differences - mean, full_matrices=False)
        if singular_values.size == 0 or singular_values[0] <= 0:
            raise ValueError("RaPP differences do not vary over the training rows: NAP undefined")
        kept = singular_values >= singular_value_rtol * singular_values[0]
        return cls(mean, v_transposed[kept].T.copy(), singular_values[kept])

    def to_metadata(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "components": self.components.tolist(),
            "singular_values": self.singular_values.tolist(),
        }


class RappScoring(nn.Module):
    """Scoring graph: raw features → {score, sap, nap, feature_error_share}.

    ``score`` is NAP or SAP as chosen; ``feature_error_share`` comes from the input space (i = 0).
    """

    if TYPE_CHECKING:  # buffers, typed for mypy; TorchScript cannot read these annotations
        nap_mean: Tensor
        nap_components: Tensor
        nap_singular_values: Tensor

    def __init__(
        self,
        network: AutoencoderNetwork,
        standardiser: Standardiser,
        layers: Sequence[int],
        nap_basis: NapBasis,
        score: Literal["nap", "sap"],
    ) -> None:
        super().__init__()
        self.standardise = StandardisedInput(standardiser)
        self.network = network
        self.layers = list(layers)
        self.score_is_nap = score == "nap"
        self.register_buffer("nap_mean", torch.from_numpy(nap_basis.mean))
        self.register_buffer("nap_components", torch.from_numpy(nap_basis.components))
        self.register_buffer("nap_singular_values", torch.from_numpy(nap_basis.singular_values))

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        inputs = self.standardise(features)
        reconstruction = self.network(inputs)
        differences = rapp_pathway_differences(
            self.network.pathway(inputs), self.network.pathway(reconstruction), self.layers
        )
        sap = rapp_sap_score(differences)
        nap = rapp_nap_score(
            differences, self.nap_mean, self.nap_components, self.nap_singular_values
        )
        _, shares = reconstruction_error_shares(inputs, reconstruction)
        score = nap if self.score_is_nap else sap
        return {"score": score, "sap": sap, "nap": nap, "feature_error_share": shares}


class RappScorer(AutoencoderScorer):
    """An autoencoder scored by RaPP's NAP (default) or SAP instead of its reconstruction error.

    ``layers`` picks pathway layers by index, 0 = input space … len(hidden_dims) + 1 = bottleneck;
    None takes all of them. NAP's μ, V and Σ are fitted on the training rows at ``fit``.
    """

    model_type = "rapp"

    def __init__(
        self,
        *,
        training: TrainingConfig | None = None,
        target_alert_rate: float = DEFAULT_TARGET_ALERT_RATE,
        layers: Sequence[int] | None = None,
        score: Literal["nap", "sap"] = "nap",
        singular_value_rtol: float = DEFAULT_SINGULAR_VALUE_RTOL,
    ) -> None:
        super().__init__(training=training, target_alert_rate=target_alert_rate)
        if score not in ("nap", "sap"):
            raise ValueError(f"score must be 'nap' or 'sap', got {score!r}")
        n_pathway_layers = len(self.training.hidden_dims) + 2
        if layers is not None and (
            not layers or any(not 0 <= layer < n_pathway_layers for layer in layers)
        ):
            raise ValueError(f"layers must be indices in [0, {n_pathway_layers}), got {layers}")
        self.layers = list(range(n_pathway_layers)) if layers is None else list(layers)
        self.score = score
        self.score_name = f"rapp_{score}"
        self.singular_value_rtol = singular_value_rtol

    def _build_scoring_module(
        self, network: AutoencoderNetwork, standardised_training: Tensor
    ) -> nn.Module:
        training_differences = rapp_differences(network, standardised_training, self.layers)
        self.nap_basis_ = NapBasis.fit(training_differences.numpy(), self.singular_value_rtol)
        return RappScoring(network, self.standardiser_, self.layers, self.nap_basis_, self.score)

    def model_metadata(self) -> dict[str, Any]:
        return {
            "rapp": {
                "layers": self.layers,
                "score": self.score,
                "singular_value_rtol": self.singular_value_rtol,
                "nap": self.nap_basis_.to_metadata(),
            }
        }
