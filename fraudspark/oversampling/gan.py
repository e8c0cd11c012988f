"""The GAN family of oversamplers: GAN, CGAN, WGAN, WGAN-GP, WCGAN and ACGAN.

All train in the space of :class:`TabularTransform` and sample through its inverse, so every
synthetic row is valid. Unconditional GANs learn the minority rows only. Conditional ones learn
either both classes (``condition="class"``: the generator is then asked for the minority class)
or the minority rows split into ``n_subtypes`` fraud sub-types by k-means
(``condition="subtype"``: sub-types are generated in their observed proportions).

Training length is ``steps`` generator updates whatever the variant (the same unit as the
diffusion model's ``steps``, so one ``--steps`` option sets every generative method); Wasserstein
GANs update the critic ``n_critic`` times before each. Every minibatch is drawn afresh
(:class:`MinibatchSampler`). Learning rates fall linearly to zero over training.
Progress goes to the ``fraudspark.oversampling.gan`` logger every ``log_every`` steps; the mean
losses of each such window are kept in ``loss_history_``.

Every constructor parameter is an explicit keyword argument stored as is, so scikit-learn's
``get_params`` / ``set_params`` / ``clone`` see them all (``BaseOversampler`` is a
``BaseEstimator``).

Two options bring CTGAN's recipe (Xu et al., 2019; :mod:`~fraudspark.oversampling.modes`) to
every variant without changing its loss: ``representation="mode-specific"`` (each continuous
column as a Gaussian-mixture mode + offset, flags as one-hot pairs; generator outputs pass
through tanh / Gumbel-softmax while training) and ``pac`` > 1 (PacGAN: the discriminator scores
packs of ``pac`` rows; not for ACGAN, whose per-row class head has no meaning for a pack).
Defaults keep the original representation and no packing.

``identities=True`` imposes on decoded rows the exact identities between columns that the training
rows obey (:mod:`~fraudspark.oversampling.structure`; the diffusion model has the same option).
Off by default: on the Handbook-like benchmark it left the two-sample AUC at 0.99+ and lowered
the augmented and train-on-synthetic average precision (bench/oversampling_quality.py, issue 14).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import nn
from torch.nn import functional as F

from fraudspark.oversampling.base import BaseOversampler
from fraudspark.oversampling.export import SyntheticRowGenerator
from fraudspark.oversampling.modes import ModeSpecificTransform
from fraudspark.oversampling.networks import (
    AuxiliaryDiscriminator,
    Discriminator,
    Generator,
    MinibatchSampler,
    PackedDiscriminator,
    gradient_penalty,
    one_hot,
)
from fraudspark.oversampling.tabular import TabularTransform

logger = logging.getLogger(__name__)

Condition = Literal["class", "subtype"]

# Generator updates when none are given (config's ``oversampling.steps`` overrides it in jobs).
DEFAULT_STEPS = 3000
Representation = Literal["standard", "mode-specific"]


@dataclass
class _TrainingLabels:
    """The rows a GAN learns and the label (condition) of each, as codes into ``labels``."""

    rows: np.ndarray
    codes: np.ndarray
    labels: list[int]
    weights: list[float]  # how often each label is generated when none is asked for


@dataclass
class _Training:
    """Everything one training step touches."""

    generator: Generator
    discriminator: nn.Module
    generator_optimizer: torch.optim.Optimizer
    discriminator_optimizer: torch.optim.Optimizer
    data: torch.Tensor
    sampler: MinibatchSampler
    rng: torch.Generator
    batch_size: int
    condition_dim: int
    activate: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    pac: int = 1

    def real_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh minibatch of training rows and their label codes."""
        indices, codes = self.sampler.draw(self.batch_size)
        return self.data[indices], codes

    def label_batch(self) -> torch.Tensor:
        """Label codes for a generator update, drawn like the training rows' labels."""
        return self.sampler.draw(self.batch_size)[1]

    def condition(self, codes: torch.Tensor) -> torch.Tensor:
        return one_hot(codes, self.condition_dim)

    def fake_rows(self, codes: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(len(codes), self.generator.noise_dim, generator=self.rng)
        rows: torch.Tensor = self.generator(noise, self.condition(codes))
        return rows if self.activate is None else self.activate(rows, self.rng)


class GANOversampler(BaseOversampler):
    """GAN (Goodfellow et al., 2014) trained on the minority rows.

    The discriminator maximises the minimax value ``log D(x) + log(1 - D(G(z)))``; the generator
    takes the same paper's non-saturating step, maximising ``log D(G(z))`` (same fixed point,
    usable gradients early on).
    """

    method = "gan"
    conditional = False

    def __init__(
        self,
        *,
        sampling_ratio: float = 1.0,
        random_state: int | None = None,
        feature_names: Sequence[str] | None = None,
        steps: int = DEFAULT_STEPS,
        batch_size: int = 128,
        noise_dim: int = 32,
        hidden_dims: Sequence[int] = (128, 128),
        generator_learning_rate: float = 2e-4,
        discriminator_learning_rate: float = 2e-4,
        log_every: int = 500,
        representation: Representation = "standard",
        pac: int = 1,
        identities: bool = False,
    ) -> None:
        super().__init__(
            sampling_ratio=sampling_ratio,
            random_state=random_state,
            feature_names=feature_names,
        )
        self.representation = representation
        self.pac = pac
        self.identities = identities
        self.steps = steps
        self.batch_size = batch_size
        self.noise_dim = noise_dim
        self.hidden_dims = hidden_dims
        self.generator_learning_rate = generator_learning_rate
        self.discriminator_learning_rate = discriminator_learning_rate
        self.log_every = log_every

    def generator_bytes(self) -> bytes:
        """The trained generator for :func:`load_generator` (weights + JSON, no pickle)."""
        return self.generator_.to_bytes()

    def _fit_resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_synthetic = self.synthetic_count(y)
        init_seed, train_seed, sample_seed = (
            int(seed) for seed in np.random.SeedSequence(self.random_state).generate_state(3)
        )
        self.generator_ = self._train(X, y, init_seed, train_seed)
        synthetic = self.generator_.sample(n_synthetic, seed=sample_seed)
        return (
            np.vstack([X, synthetic]),
            np.concatenate([y, np.full(n_synthetic, self.minority_class_, dtype=y.dtype)]),
        )

    def _train(
        self, X: np.ndarray, y: np.ndarray, init_seed: int, train_seed: int
    ) -> SyntheticRowGenerator:
        if min(self.steps, self.batch_size, self.log_every, self.pac) < 1:
            raise ValueError("steps, batch_size, log_every and pac must be positive")
        if self.batch_size % self.pac:
            raise ValueError(f"batch_size {self.batch_size} must be a multiple of pac {self.pac}")
        labelled = self._training_labels(X, y, train_seed)
        transform: TabularTransform | ModeSpecificTransform
        if self.representation == "standard":
            transform = TabularTransform.fit(
                labelled.rows, self.schema_, identities=self.identities
            )
            encoded = transform.transform(labelled.rows)
            activate = None
        elif self.representation == "mode-specific":
            transform, encoded = ModeSpecificTransform.fit_encode(
                labelled.rows, self.schema_, train_seed, identities=self.identities
            )
            activate = transform.activate
        else:
            raise ValueError(
                f"representation must be 'standard' or 'mode-specific', got {self.representation!r}"
            )
        n_features = transform.n_outputs
        condition_dim = len(labelled.labels) if self.conditional else 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            generator = Generator(self.noise_dim, condition_dim, self.hidden_dims, n_features)
            discriminator = self._discriminator(n_features, len(labelled.labels))
        generator_optimizer, discriminator_optimizer = self._optimizers(generator, discriminator)
        rng = torch.Generator().manual_seed(train_seed)
        training = _Training(
            generator,
            discriminator,
            generator_optimizer,
            discriminator_optimizer,
            torch.as_tensor(encoded, dtype=torch.float32),
            MinibatchSampler(labelled.codes, rng),
            rng,
            self.batch_size,
            condition_dim,
            activate,
            self.pac,
        )
        generator.train()
        discriminator.train()
        # Learning rates fall linearly to zero: GAN iterates circle the equilibrium, and a
        # shrinking step lets the last generator settle near it instead of wherever it was.
        total_steps = self.steps
        schedules = [
            torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / total_steps)
            for optimizer in (generator_optimizer, discriminator_optimizer)
        ]
        self.loss_history_: list[dict[str, float]] = []
        window: list[dict[str, float]] = []
        for step in range(1, self.steps + 1):
            window.append(self._train_step(training))
            for schedule in schedules:
                schedule.step()
            if step % self.log_every and step != self.steps:
                continue
            losses = {name: float(np.mean([s[name] for s in window])) for name in window[0]}
            window = []
            if not all(math.isfinite(value) for value in losses.values()):
                raise RuntimeError(f"{self.method} training diverged by step {step}: {losses}")
            self.loss_history_.append(losses)
            shown = " ".join(f"{name}={value:.4f}" for name, value in losses.items())
            logger.info("%s step %d/%d %s", self.method, step, self.steps, shown)
        generator.eval()
        return SyntheticRowGenerator(
            generator,
            transform,
            labelled.labels,
            labelled.weights,
            method=self.method,
            conditional=self.conditional,
            hidden_dims=self.hidden_dims,
        )

    def _training_labels(self, X: np.ndarray, y: np.ndarray, seed: int) -> _TrainingLabels:
        """Unconditional: the minority rows, all with the one label ``minority_class_``."""
        rows = X[y == self.minority_class_]
        return _TrainingLabels(
            rows, np.zeros(len(rows), dtype=np.int64), [self.minority_class_], [1.0]
        )

    def _discriminator(self, n_features: int, n_labels: int) -> nn.Module:
        condition_dim = n_labels if self.conditional else 0
        if self.pac > 1:
            return PackedDiscriminator(n_features, condition_dim, self.hidden_dims, self.pac)
        return Discriminator(n_features, condition_dim, self.hidden_dims)

    def _optimizers(
        self, generator: nn.Module, discriminator: nn.Module
    ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return (
            torch.optim.Adam(
                generator.parameters(), lr=self.generator_learning_rate, betas=(0.5, 0.999)
            ),
            torch.optim.Adam(
                discriminator.parameters(), lr=self.discriminator_learning_rate, betas=(0.5, 0.999)
            ),
        )

    def _train_step(self, training: _Training) -> dict[str, float]:
        real, codes = training.real_batch()
        condition = training.condition(codes)
        fake = training.fake_rows(codes).detach()
        real_logits = training.discriminator(real, condition)
        fake_logits = training.discriminator(fake, condition)
        discriminator_loss = F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        _step(training.discriminator_optimizer, discriminator_loss)

        codes = training.label_batch()
        fake_logits = training.discriminator(training.fake_rows(codes), training.condition(codes))
        generator_loss = F.binary_cross_entropy_with_logits(
            fake_logits, torch.ones_like(fake_logits)
        )
        _step(training.generator_optimizer, generator_loss)
        return {
            "discriminator_loss": discriminator_loss.item(),
            "generator_loss": generator_loss.item(),
        }


class _ConditionalGAN(GANOversampler):
    """Generator and discriminator see a one-hot label: the class, or a k-means fraud sub-type."""

    conditional = True

    def __init__(
        self,
        *,
        sampling_ratio: float = 1.0,
        random_state: int | None = None,
        feature_names: Sequence[str] | None = None,
        steps: int = DEFAULT_STEPS,
        batch_size: int = 128,
        noise_dim: int = 32,
        hidden_dims: Sequence[int] = (128, 128),
        generator_learning_rate: float = 2e-4,
        discriminator_learning_rate: float = 2e-4,
        log_every: int = 500,
        representation: Representation = "standard",
        pac: int = 1,
        identities: bool = False,
        condition: Condition = "class",
        n_subtypes: int = 4,
    ) -> None:
        GANOversampler.__init__(
            self,
            sampling_ratio=sampling_ratio,
            random_state=random_state,
            feature_names=feature_names,
            steps=steps,
            batch_size=batch_size,
            noise_dim=noise_dim,
            hidden_dims=hidden_dims,
            generator_learning_rate=generator_learning_rate,
            discriminator_learning_rate=discriminator_learning_rate,
            log_every=log_every,
            representation=representation,
            pac=pac,
            identities=identities,
        )
        self.condition = condition
        self.n_subtypes = n_subtypes

    def _training_labels(self, X: np.ndarray, y: np.ndarray, seed: int) -> _TrainingLabels:
        if self.condition == "class":
            classes = np.unique(y)
            minority = classes.tolist().index(self.minority_class_)
            weights = [float(code == minority) for code in range(len(classes))]
            return _TrainingLabels(X, np.searchsorted(classes, y), classes.tolist(), weights)
        if self.condition != "subtype":
            raise ValueError(f"condition must be 'class' or 'subtype', got {self.condition!r}")
        rows = X[y == self.minority_class_]
        if not 1 <= self.n_subtypes <= len(rows):
            raise ValueError(f"n_subtypes must lie in [1, {len(rows)} minority rows]")
        kmeans = KMeans(n_clusters=self.n_subtypes, n_init=10, random_state=seed)
        standard = TabularTransform.fit(rows, self.schema_).transform(rows)
        codes = kmeans.fit_predict(standard).astype(np.int64)
        shares = np.bincount(codes, minlength=self.n_subtypes) / len(codes)
        return _TrainingLabels(rows, codes, list(range(self.n_subtypes)), shares.tolist())


class CGANOversampler(_ConditionalGAN):
    """Conditional GAN (Mirza & Osindero, 2014): the GAN with a label given to both networks."""

    method = "cgan"


class WGANOversampler(GANOversampler):
    """WGAN (Arjovsky et al., 2017): a Wasserstein critic kept Lipschitz by weight clipping.

    The paper's RMSprop and ``n_critic = 5``; the generator minimises ``-E[D(G(z))]``, never a
    cross-entropy.
    """

    method = "wgan"

    def __init__(
        self,
        *,
        sampling_ratio: float = 1.0,
        random_state: int | None = None,
        feature_names: Sequence[str] | None = None,
        steps: int = DEFAULT_STEPS,
        batch_size: int = 128,
        noise_dim: int = 32,
        hidden_dims: Sequence[int] = (128, 128),
        generator_learning_rate: float = 5e-5,
        discriminator_learning_rate: float = 5e-5,
        log_every: int = 500,
        representation: Representation = "standard",
        pac: int = 1,
        identities: bool = False,
        n_critic: int = 5,
        clip_value: float = 0.01,
    ) -> None:
        GANOversampler.__init__(
            self,
            sampling_ratio=sampling_ratio,
            random_state=random_state,
            feature_names=feature_names,
            steps=steps,
            batch_size=batch_size,
            noise_dim=noise_dim,
            hidden_dims=hidden_dims,
            generator_learning_rate=generator_learning_rate,
            discriminator_learning_rate=discriminator_learning_rate,
            log_every=log_every,
            representation=representation,
            pac=pac,
            identities=identities,
        )
        self.n_critic = n_critic
        self.clip_value = clip_value

    def _optimizers(
        self, generator: nn.Module, discriminator: nn.Module
    ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return (
            torch.optim.RMSprop(generator.parameters(), lr=self.generator_learning_rate),
            torch.optim.RMSprop(discriminator.parameters(), lr=self.discriminator_learning_rate),
        )

    def _train_step(self, training: _Training) -> dict[str, float]:
        for _ in range(self.n_critic):
            critic_loss, losses = self._critic_loss(training)
            _step(training.discriminator_optimizer, critic_loss)
            self._constrain_critic(training.discriminator)
        codes = training.label_batch()
        fake = training.fake_rows(codes)
        generator_loss = -training.discriminator(fake, training.condition(codes)).mean()
        _step(training.generator_optimizer, generator_loss)
        return {**losses, "generator_loss": generator_loss.item()}

    def _critic_loss(self, training: _Training) -> tuple[torch.Tensor, dict[str, float]]:
        """``E[D(fake)] - E[D(real)]``: minus the critic's Wasserstein-distance estimate."""
        real, codes = training.real_batch()
        condition = training.condition(codes)
        fake = training.fake_rows(codes).detach()
        critic_loss = (
            training.discriminator(fake, condition).mean()
            - training.discriminator(real, condition).mean()
        )
        return critic_loss, {"wasserstein": -critic_loss.item()}

    def _constrain_critic(self, critic: nn.Module) -> None:
        with torch.no_grad():
            for parameter in critic.parameters():
                parameter.clamp_(-self.clip_value, self.clip_value)


class WGANGPOversampler(WGANOversampler):
    """WGAN-GP (Gulrajani et al., 2017): the Lipschitz constraint as a per-sample gradient
    penalty on interpolates instead of clipping, with the paper's ``gp_weight`` 10, learning
    rate 1e-4 and Adam betas (0, 0.9). (The authors' own 2-D toy script uses weight 0.1.)"""

    method = "wgan-gp"

    def __init__(
        self,
        *,
        sampling_ratio: float = 1.0,
        random_state: int | None = None,
        feature_names: Sequence[str] | None = None,
        steps: int = DEFAULT_STEPS,
        batch_size: int = 128,
        noise_dim: int = 32,
        hidden_dims: Sequence[int] = (128, 128),
        generator_learning_rate: float = 1e-4,
        discriminator_learning_rate: float = 1e-4,
        log_every: int = 500,
        representation: Representation = "standard",
        pac: int = 1,
        identities: bool = False,
        n_critic: int = 5,
        gp_weight: float = 10.0,
    ) -> None:
        GANOversampler.__init__(
            self,
            sampling_ratio=sampling_ratio,
            random_state=random_state,
            feature_names=feature_names,
            steps=steps,
            batch_size=batch_size,
            noise_dim=noise_dim,
            hidden_dims=hidden_dims,
            generator_learning_rate=generator_learning_rate,
            discriminator_learning_rate=discriminator_learning_rate,
            log_every=log_every,
            representation=representation,
            pac=pac,
            identities=identities,
        )
        self.n_critic = n_critic
        self.gp_weight = gp_weight

    def _optimizers(
        self, generator: nn.Module, discriminator: nn.Module
    ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return (
            torch.optim.Adam(
                generator.parameters(), lr=self.generator_learning_rate, betas=(0.0, 0.9)
            ),
            torch.optim.Adam(
                discriminator.parameters(), lr=self.discriminator_learning_rate, betas=(0.0, 0.9)
            ),
        )

    def _critic_loss(self, training: _Training) -> tuple[torch.Tensor, dict[str, float]]:
        real, codes = training.real_batch()
        condition = training.condition(codes)
        fake = training.fake_rows(codes).detach()
        wasserstein = (
            training.discriminator(real, condition).mean()
            - training.discriminator(fake, condition).mean()
        )
        penalty = gradient_penalty(
            lambda rows: training.discriminator(rows, condition),
            real,
            fake,
            weight=self.gp_weight,
            generator=training.rng,
            pac=training.pac,
        )
        return penalty - wasserstein, {
            "wasserstein": wasserstein.item(),
            "gradient_penalty": penalty.item(),
        }

    def _constrain_critic(self, critic: nn.Module) -> None:
        """Nothing to do: the gradient penalty already constrains the critic."""


class WCGANOversampler(_ConditionalGAN, WGANGPOversampler):
    """Conditional WGAN-GP: the label goes to generator and critic, penalty per (row, label)."""

    method = "wcgan"

    def __init__(
        self,
        *,
        sampling_ratio: float = 1.0,
        random_state: int | None = None,
        feature_names: Sequence[str] | None = None,
        steps: int = DEFAULT_STEPS,
        batch_size: int = 128,
        noise_dim: int = 32,
        hidden_dims: Sequence[int] = (128, 128),
        generator_learning_rate: float = 1e-4,
        discriminator_learning_rate: float = 1e-4,
        log_every: int = 500,
        representation: Representation = "standard",
        pac: int = 1,
        identities: bool = False,
        n_critic: int = 5,
        gp_weight: float = 10.0,
        condition: Condition = "class",
        n_subtypes: int = 4,
    ) -> None:
        GANOversampler.__init__(
            self,
            sampling_ratio=sampling_ratio,
            random_state=random_state,
            feature_names=feature_names,
            steps=steps,
            batch_size=batch_size,
            noise_dim=noise_dim,
            hidden_dims=hidden_dims,
            generator_learning_rate=generator_learning_rate,
            discriminator_learning_rate=discriminator_learning_rate,
            log_every=log_every,
            representation=representation,
            pac=pac,
            identities=identities,
        )
        self.n_critic = n_critic
        self.gp_weight = gp_weight
        self.condition = condition
        self.n_subtypes = n_subtypes


class ACGANOversampler(_ConditionalGAN):
    """ACGAN (Odena et al., 2017): the generator is conditioned on a label; the discriminator
    sees rows only and also predicts their label, so generated rows must carry the label they
    were asked for."""

    method = "acgan"

    def _discriminator(self, n_features: int, n_labels: int) -> nn.Module:
        if self.pac > 1:
            raise ValueError("ACGAN classifies single rows: pac must be 1")
        return AuxiliaryDiscriminator(n_features, n_labels, self.hidden_dims)

    def _train_step(self, training: _Training) -> dict[str, float]:
        real, codes = training.real_batch()
        fake = training.fake_rows(codes).detach()
        real_logits, real_class_logits = training.discriminator(real)
        fake_logits, fake_class_logits = training.discriminator(fake)
        source_loss = F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        class_loss = F.cross_entropy(real_class_logits, codes) + F.cross_entropy(
            fake_class_logits, codes
        )
        _step(training.discriminator_optimizer, source_loss + class_loss)

        codes = training.label_batch()
        fake_logits, fake_class_logits = training.discriminator(training.fake_rows(codes))
        generator_loss = F.binary_cross_entropy_with_logits(
            fake_logits, torch.ones_like(fake_logits)
        ) + F.cross_entropy(fake_class_logits, codes)
        _step(training.generator_optimizer, generator_loss)
        return {
            "discriminator_loss": source_loss.item(),
            "class_loss": class_loss.item(),
            "generator_loss": generator_loss.item(),
        }


def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad()
    torch.autograd.backward(loss)
    optimizer.step()
