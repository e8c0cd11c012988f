"""The GAN building blocks: generator, discriminators, gradient penalty, minibatch sampler."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn


class Generator(nn.Module):
    """Noise, with a one-hot label for conditional GANs, to a row in the transformed space.

    Hidden layers are Linear -> BatchNorm -> ReLU; sampling must run in eval mode so that a row
    depends on its own noise only, not on the rest of the batch.
    """

    def __init__(
        self,
        noise_dim: int,
        condition_dim: int,
        hidden_dims: Sequence[int],
        n_features: int,
    ) -> None:
        super().__init__()
        self.noise_dim, self.condition_dim = noise_dim, condition_dim
        layers: list[nn.Module] = []
        width = noise_dim + condition_dim
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, n_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        rows: torch.Tensor = self.layers(torch.cat([noise, condition], dim=1))
        return rows


def _leaky_mlp(width: int, hidden_dims: Sequence[int]) -> tuple[nn.Sequential, int]:
    """Linear -> LeakyReLU layers without normalisation: a row's score must depend on that row
    alone, or the per-sample gradient penalty would mix rows."""
    layers: list[nn.Module] = []
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    return nn.Sequential(*layers), width


def _flat_output(width: int) -> nn.Linear:
    """A zero-initialised score layer: the discriminator starts flat, so its first slope follows
    the real-fake difference. A random initial slope pointing the wrong way would be locked in
    by the gradient penalty, whose cost peaks where the slope passes through zero."""
    layer = nn.Linear(width, 1)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Discriminator(nn.Module):
    """A row (with a one-hot label for conditional GANs) to one unbounded score per row.

    The score is a logit for the minimax GAN and a critic value for Wasserstein GANs.
    """

    def __init__(self, n_features: int, condition_dim: int, hidden_dims: Sequence[int]) -> None:
        super().__init__()
        self.body, width = _leaky_mlp(n_features + condition_dim, hidden_dims)
        self.score = _flat_output(width)

    def forward(self, rows: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        scores: torch.Tensor = self.score(self.body(torch.cat([rows, condition], dim=1)))
        return scores.squeeze(1)


class PackedDiscriminator(nn.Module):
    """PacGAN (Lin et al., NeurIPS 2018): the discriminator scores packs of ``pac`` rows.

    Consecutive rows of a batch (and their conditions) are concatenated, ``(n, d) -> (n / pac,
    pac d)``, and scored jointly, so a generator that collapses to a few modes produces packs
    visibly less diverse than real ones. ``n`` must be a multiple of ``pac``. One score per pack.
    """

    def __init__(
        self, n_features: int, condition_dim: int, hidden_dims: Sequence[int], pac: int
    ) -> None:
        super().__init__()
        self.pac = pac
        self.inner = Discriminator(n_features * pac, condition_dim * pac, hidden_dims)

    def pack(self, rows: torch.Tensor) -> torch.Tensor:
        if rows.shape[0] % self.pac:
            raise ValueError(f"a batch of {rows.shape[0]} rows is not a multiple of pac {self.pac}")
        return rows.reshape(rows.shape[0] // self.pac, rows.shape[1] * self.pac)

    def forward(self, rows: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        scores: torch.Tensor = self.inner(self.pack(rows), self.pack(condition))
        return scores


class AuxiliaryDiscriminator(nn.Module):
    """ACGAN's discriminator: a real/fake logit and class logits from one shared body."""

    def __init__(self, n_features: int, n_labels: int, hidden_dims: Sequence[int]) -> None:
        super().__init__()
        self.body, width = _leaky_mlp(n_features, hidden_dims)
        self.score = _flat_output(width)
        self.classify = nn.Linear(width, n_labels)

    def forward(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(rows)
        return self.score(hidden).squeeze(1), self.classify(hidden)


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    weight: float = 10.0,
    generator: torch.Generator | None = None,
    pac: int = 1,
) -> torch.Tensor:
    """WGAN-GP's ``weight * mean_i (||grad D(x_i)||_2 - 1)^2`` on interpolates ``x_i``.

    Each interpolate ``x_i = e_i real_i + (1 - e_i) fake_i`` has its own ``e_i ~ U(0, 1)`` and its
    own gradient norm: the penalty is per sample, not one norm over the whole batch's gradient.
    ``critic`` maps rows to one score per row; the graph is kept so the penalty trains the critic.
    With PacGAN packs (``pac`` > 1, ``critic`` scoring packs of ``pac`` consecutive rows) the
    sample is the pack: one ``e`` and one gradient norm per pack, as in CTGAN.
    """
    mix = torch.rand(real.shape[0] // pac, 1, generator=generator, dtype=real.dtype)
    mix = mix.repeat_interleave(pac, dim=0)
    interpolates = (mix * real + (1 - mix) * fake).requires_grad_(True)
    # Scores of different samples are independent, so the gradient of their sum is per-sample.
    (gradients,) = torch.autograd.grad(critic(interpolates).sum(), interpolates, create_graph=True)
    per_sample = gradients.reshape(real.shape[0] // pac, real.shape[1] * pac)
    penalty: torch.Tensor = weight * ((per_sample.norm(2, dim=1) - 1) ** 2).mean()
    return penalty


class MinibatchSampler:
    """Draws fresh minibatch row indices every step: a label uniformly, then one of its rows.

    Drawing the label first shows a rare label (a small fraud sub-type, or the fraud class in a
    class-conditional GAN) as often as a common one.
    """

    def __init__(self, codes: np.ndarray, generator: torch.Generator) -> None:
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes)
        self._rows = torch.as_tensor(order)
        self._sizes = torch.as_tensor(sizes)
        self._starts = torch.as_tensor(np.concatenate([[0], np.cumsum(sizes)[:-1]]))
        self._generator = generator

    def draw(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(row indices, label codes)``, both of length ``batch_size``."""
        codes = torch.randint(len(self._sizes), (batch_size,), generator=self._generator)
        uniform = torch.rand(batch_size, generator=self._generator, dtype=torch.float64)
        offsets = uniform * self._sizes[codes]
        return self._rows[self._starts[codes] + offsets.long()], codes


def one_hot(codes: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Float one-hot rows; ``n_labels`` 0 gives the empty condition of an unconditional GAN."""
    if n_labels == 0:
        return torch.zeros(len(codes), 0)
    return nn.functional.one_hot(codes, n_labels).float()
