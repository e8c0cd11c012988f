"""Variational autoencoder scorer: the score is the negative ELBO evaluated at the posterior mean.

With a unit-variance Gaussian decoder on standardised features and a N(0, I) prior,

    score(x) = ½‖x - f(μ(x))‖² + KL(N(μ(x), σ²(x)) ‖ N(0, I))

(the constant F/2·log 2π dropped). The reconstruction term uses z = μ(x) instead of an average
over sampled z: the score is then a deterministic function of the row alone. A sampled score, or
An & Cho's reconstruction probability (a Monte Carlo average by definition), would depend on the
random draws, hence on how Spark happens to batch and partition the rows, and a re-run of a night
would not reproduce its scores. Training still samples z (the reparameterisation trick).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from fraudspark.models.anomaly.autoencoder import dense_stack
from fraudspark.models.anomaly.base import ReconstructionScorer
from fraudspark.models.attribution import reconstruction_error_shares
from fraudspark.models.inputs import StandardisedInput, Standardiser


class VariationalAutoencoderNetwork(nn.Module):
    """Gaussian encoder q(z|x) = N(μ(x), exp(log_var(x))) and a deterministic decoder f(z)."""

    def __init__(self, n_features: int, hidden_dims: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        widths = [n_features, *hidden_dims]
        self.trunk = nn.Sequential(*dense_stack(widths, activate_last=True))
        self.posterior_mean = nn.Linear(widths[-1], latent_dim)
        self.posterior_log_var = nn.Linear(widths[-1], latent_dim)
        self.decoder = nn.Sequential(*dense_stack([latent_dim, *widths[::-1]], activate_last=False))

    def encode(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.trunk(inputs)
        return self.posterior_mean(hidden), self.posterior_log_var(hidden)


def gaussian_kl_divergence(mean: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mean, exp(log_var)) ‖ N(0, I)) per row."""
    return 0.5 * (mean**2 + log_var.exp() - log_var - 1.0).sum(dim=1)


class VaeScoring(nn.Module):
    """Scoring graph: raw features → {score, reconstruction_error, kl_divergence,
    feature_error_share}, with score = ½ reconstruction_error + kl_divergence and
    reconstruction_error = ‖x - f(μ(x))‖² on standardised features."""

    def __init__(self, network: VariationalAutoencoderNetwork, standardiser: Standardiser) -> None:
        super().__init__()
        self.standardise = StandardisedInput(standardiser)
        self.network = network

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        inputs = self.standardise(features)
        mean, log_var = self.network.encode(inputs)
        error, shares = reconstruction_error_shares(inputs, self.network.decoder(mean))
        kl_divergence = gaussian_kl_divergence(mean, log_var)
        return {
            "score": 0.5 * error + kl_divergence,
            "reconstruction_error": error,
            "kl_divergence": kl_divergence,
            "feature_error_share": shares,
        }


class VaeScorer(ReconstructionScorer[VariationalAutoencoderNetwork]):
    """VAE trained by maximising the ELBO; score = negative ELBO at the posterior mean."""

    model_type = "vae"
    score_name = "negative_elbo_at_posterior_mean"

    def _build_network(self, n_features: int) -> VariationalAutoencoderNetwork:
        return VariationalAutoencoderNetwork(
            n_features, self.training.hidden_dims, self.training.latent_dim
        )

    def _training_loss(
        self, network: VariationalAutoencoderNetwork, batch: Tensor, generator: torch.Generator
    ) -> Tensor:
        mean, log_var = network.encode(batch)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        reconstruction: Tensor = network.decoder(mean + (0.5 * log_var).exp() * noise)
        error = ((reconstruction - batch) ** 2).sum(dim=1)
        return (0.5 * error + gaussian_kl_divergence(mean, log_var)).mean()

    def _build_scoring_module(
        self, network: VariationalAutoencoderNetwork, standardised_training: Tensor
    ) -> nn.Module:
        return VaeScoring(network, self.standardiser_)
