"""Autoencoder scorer: the anomaly score is the squared reconstruction error of a row."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from fraudspark.models.anomaly.base import ReconstructionScorer
from fraudspark.models.attribution import reconstruction_error_shares
from fraudspark.models.inputs import StandardisedInput, Standardiser


class AutoencoderNetwork(nn.Module):
    """x̂ = f(g(x)) with the encoder g = g_l ∘ … ∘ g_1 kept as a list of layers.

    Keeping the layers separate is what lets RaPP read every hidden activation (:meth:`pathway`).
    """

    def __init__(self, encoder_layers: Sequence[nn.Module], decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = nn.ModuleList(encoder_layers)
        self.decoder = decoder

    def pathway(self, inputs: Tensor) -> list[Tensor]:
        """[h_0 = x, h_1 = g_1(x), …, h_l = g(x)]: the input and every encoder layer's output."""
        activations = [inputs]
        for layer in self.encoder:
            activations.append(layer(activations[-1]))
        return activations

    def forward(self, inputs: Tensor) -> Tensor:
        reconstruction: Tensor = self.decoder(self.pathway(inputs)[-1])
        return reconstruction


def dense_stack(widths: Sequence[int], activate_last: bool) -> list[nn.Module]:
    """Linear layers between consecutive ``widths``, each followed by a LeakyReLU except,
    unless ``activate_last``, the last (a linear bottleneck or output)."""
    layers: list[nn.Module] = []
    for index, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        if index < len(widths) - 2 or activate_last:
            layers.append(nn.Sequential(nn.Linear(n_in, n_out), nn.LeakyReLU(0.1)))
        else:
            layers.append(nn.Linear(n_in, n_out))
    return layers


def build_autoencoder(
    n_features: int, hidden_dims: Sequence[int], latent_dim: int
) -> AutoencoderNetwork:
    """Encoder n_features → hidden_dims → latent_dim (linear bottleneck); mirrored decoder."""
    widths = [n_features, *hidden_dims, latent_dim]
    return AutoencoderNetwork(
        dense_stack(widths, activate_last=False),
        nn.Sequential(*dense_stack(widths[::-1], activate_last=False)),
    )


class AutoencoderScoring(nn.Module):
    """Scoring graph: raw features → {score = ‖x - x̂‖² (standardised), feature_error_share}."""

    def __init__(self, network: AutoencoderNetwork, standardiser: Standardiser) -> None:
        super().__init__()
        self.standardise = StandardisedInput(standardiser)
        self.network = network

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        inputs = self.standardise(features)
        error, shares = reconstruction_error_shares(inputs, self.network(inputs))
        return {"score": error, "feature_error_share": shares}


class AutoencoderScorer(ReconstructionScorer[AutoencoderNetwork]):
    """Autoencoder trained on (mostly normal) rows; score = squared reconstruction error.

    Example::

        scorer = AutoencoderScorer(training=TrainingConfig(epochs=20, seed=7)).fit(train_df)
        scores = scorer.decision_function(new_df)
    """

    model_type = "autoencoder"
    score_name = "reconstruction_error"

    def _build_network(self, n_features: int) -> AutoencoderNetwork:
        return build_autoencoder(n_features, self.training.hidden_dims, self.training.latent_dim)

    def _training_loss(
        self, network: AutoencoderNetwork, batch: Tensor, generator: torch.Generator
    ) -> Tensor:
        reconstruction: Tensor = network(batch)
        return ((reconstruction - batch) ** 2).sum(dim=1).mean()

    def _build_scoring_module(
        self, network: AutoencoderNetwork, standardised_training: Tensor
    ) -> nn.Module:
        return AutoencoderScoring(network, self.standardiser_)
