"""CTGAN's data representation: mode-specific normalisation and training-by-sampling.

Xu et al., "Modeling Tabular Data using Conditional GAN" (NeurIPS 2019), section 4:

* **Mode-specific normalisation.** A variational Gaussian mixture (scikit-learn's
  ``BayesianGaussianMixture`` with a Dirichlet-process prior, CTGAN's settings: 10 components,
  weight concentration 0.001, modes with weight below 0.005 dropped) is fitted per continuous
  column. A value ``x`` is encoded as the one-hot of a mode ``k`` and the scalar offset
  ``alpha = (x - mu_k) / (4 sigma_k)``. CTGAN *samples* ``k`` from the posterior; we take its
  argmax, so encoding is deterministic (the decoded value is the same either way).
  **Clipped tails:** ``alpha`` is clipped to [-0.99, 0.99], as in CTGAN, so a value more than
  ``3.96 sigma_k`` from its mode's mean decodes to ``mu_k +- 3.96 sigma_k``; inside that range
  (the mode's range) decode(encode(x)) = x up to float rounding.
* **Conditional vector, training-by-sampling.** For discrete columns (our flags), a training
  step picks a discrete column uniformly, then one of its categories with probability
  proportional to the log of its frequency (``log(1 + count)``), then a real row with that
  category; the generator gets the one-hot of (column, category) and is penalised when its row
  does not carry that category. Rare categories are thereby seen more often than their
  frequency, without changing what the generator learns to output (it sees the real row
  distribution conditioned on the category).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.mixture import BayesianGaussianMixture

from fraudspark.oversampling.tabular import FeatureSchema, TabularTransform

N_MODES = 10
WEIGHT_CONCENTRATION = 1e-3
MIN_MODE_WEIGHT = 5e-3
ALPHA_BOUND = 0.99


@dataclass(frozen=True)
class ModeNormalizer:
    """One continuous column's modes: ``means`` and ``stds`` (k,), float64, of the kept modes,
    and ``components`` (k,), their indices among the mixture's components."""

    means: np.ndarray
    stds: np.ndarray
    components: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, seed: int) -> tuple[ModeNormalizer, BayesianGaussianMixture]:
        """Fit the mixture on ``values`` (n,); returns the modes kept and the fitted mixture
        (needed to encode, not to decode)."""
        values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
        mixture = BayesianGaussianMixture(
            n_components=min(N_MODES, len(np.unique(values))),
            weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=WEIGHT_CONCENTRATION,
            n_init=1,
            max_iter=200,
            random_state=seed,
        ).fit(values)
        kept = mixture.weights_ > MIN_MODE_WEIGHT
        if not kept.any():  # cannot happen for weights summing to 1 over <= 10 modes; be safe
            kept = mixture.weights_ == mixture.weights_.max()
        means = mixture.means_[kept, 0]
        stds = np.sqrt(mixture.covariances_[kept].reshape(-1))
        return cls(means, stds, np.flatnonzero(kept)), mixture

    @property
    def n_modes(self) -> int:
        return len(self.means)

    def encode(
        self, values: np.ndarray, mixture: BayesianGaussianMixture
    ) -> tuple[np.ndarray, np.ndarray]:
        """``values`` (n,) -> (``alpha`` (n,) in [-0.99, 0.99], mode codes (n,) in [0, k))."""
        values = np.asarray(values, dtype=np.float64)
        posterior = mixture.predict_proba(values.reshape(-1, 1))[:, self.components]
        modes = posterior.argmax(axis=1)
        alpha = (values - self.means[modes]) / (4 * self.stds[modes])
        return np.clip(alpha, -ALPHA_BOUND, ALPHA_BOUND), modes

    def decode(self, alpha: np.ndarray, modes: np.ndarray) -> np.ndarray:
        """(``alpha`` (n,), mode codes (n,)) -> values (n,); ``alpha`` clipped to [-1, 1]."""
        values: np.ndarray = np.clip(alpha, -1.0, 1.0) * 4 * self.stds[modes] + self.means[modes]
        return values

    def to_json(self) -> dict[str, Any]:
        return {
            "means": self.means.tolist(),
            "stds": self.stds.tolist(),
            "components": self.components.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModeNormalizer:
        return cls(
            np.asarray(data["means"], np.float64),
            np.asarray(data["stds"], np.float64),
            np.asarray(data["components"], np.int64),
        )


class ConditionalVectorSampler:
    """CTGAN's training-by-sampling over discrete columns (see the module docstring).

    ``categories`` (n, c) holds each row's category code per discrete column. Draw probability
    of (column j, category v): ``1/c * log(1 + count_jv) / sum_u log(1 + count_ju)``.
    """

    def __init__(self, categories: np.ndarray, n_categories: list[int], seed: int) -> None:
        self.categories = np.asarray(categories, dtype=np.int64)
        self.n_categories = list(n_categories)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_categories)[:-1]]).astype(np.int64)
        self.rng = np.random.default_rng(seed)
        self.probabilities: list[np.ndarray] = []
        self.rows: list[list[np.ndarray]] = []
        for column, size in enumerate(self.n_categories):
            counts = np.bincount(self.categories[:, column], minlength=size)
            weights = np.log1p(counts)
            self.probabilities.append(weights / weights.sum())
            self.rows.append([np.flatnonzero(self.categories[:, column] == v) for v in range(size)])

    @property
    def dim(self) -> int:
        """Length of the conditional vector: all categories of all discrete columns."""
        return int(sum(self.n_categories))

    def draw(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return (vectors (n, dim) float32 one-hot, columns (n,), categories (n,), rows (n,)):
        the conditional vector of each draw and a real row index carrying its category."""
        columns = self.rng.integers(len(self.n_categories), size=n)
        categories = np.empty(n, dtype=np.int64)
        rows = np.empty(n, dtype=np.int64)
        for i, column in enumerate(columns):
            category = self.rng.choice(self.n_categories[column], p=self.probabilities[column])
            categories[i] = category
            rows[i] = self.rng.choice(self.rows[column][category])
        vectors = np.zeros((n, self.dim), dtype=np.float32)
        vectors[np.arange(n), self.offsets[columns] + categories] = 1.0
        return vectors, columns, categories, rows


GUMBEL_TEMPERATURE = 0.2  # CTGAN's


@dataclass(frozen=True)
class ModeSpecificTransform:
    """Feature rows <-> CTGAN's encoding, for the GAN family's ``representation="mode-specific"``.

    Rows first go through :class:`~fraudspark.oversampling.tabular.TabularTransform` (log amounts,
    log count increments, standardised). Then each non-flag column becomes ``[alpha, one-hot of
    its mode]`` (:class:`ModeNormalizer`) and each flag the one-hot of its two values. ``spans``
    lists ``(start, width, kind)`` of every column's block in the encoded row, ``kind`` being
    ``"alpha"``, ``"modes"`` or ``"flag"``.

    A generator's raw output is turned into an encoded row by :meth:`activate` (tanh on
    ``alpha``, Gumbel-softmax on one-hot blocks, as in CTGAN) while training;
    :meth:`inverse_transform` decodes raw output (tanh, argmax of each block) into valid rows.
    """

    tabular: TabularTransform
    normalizers: tuple[ModeNormalizer | None, ...]  # None for a flag

    @classmethod
    def fit_encode(
        cls, rows: np.ndarray, schema: FeatureSchema, seed: int, *, identities: bool = False
    ) -> tuple[ModeSpecificTransform, np.ndarray]:
        """Fit on valid ``rows`` (n, d); return the transform and the rows encoded
        (n, n_outputs): alphas in [-0.99, 0.99] and exact one-hots. Encoding needs the fitted
        mixtures' posteriors, so it happens here; decoding needs only the modes kept.
        ``identities``: see :meth:`TabularTransform.fit`."""
        tabular = TabularTransform.fit(rows, schema, identities=identities)
        standard = tabular.transform(rows)
        flags = set(schema.indices("flag"))
        normalizers: list[ModeNormalizer | None] = []
        blocks: list[np.ndarray] = []
        for index in range(standard.shape[1]):
            if index in flags:
                normalizers.append(None)
                blocks.append(np.eye(2)[(np.asarray(rows)[:, index] >= 0.5).astype(int)])
                continue
            normalizer, mixture = ModeNormalizer.fit(standard[:, index], seed)
            alpha, modes = normalizer.encode(standard[:, index], mixture)
            normalizers.append(normalizer)
            blocks += [alpha[:, None], np.eye(normalizer.n_modes)[modes]]
        return cls(tabular, tuple(normalizers)), np.hstack(blocks)

    @property
    def schema(self) -> FeatureSchema:
        return self.tabular.schema

    @property
    def spans(self) -> list[tuple[int, int, str]]:
        spans, start = [], 0
        for normalizer in self.normalizers:
            if normalizer is None:
                spans.append((start, 2, "flag"))
                start += 2
            else:
                spans += [(start, 1, "alpha"), (start + 1, normalizer.n_modes, "modes")]
                start += 1 + normalizer.n_modes
        return spans

    @property
    def n_outputs(self) -> int:
        return sum(width for _, width, _ in self.spans)

    def inverse_transform(self, raw: np.ndarray) -> np.ndarray:
        """Raw generator output (n, n_outputs) -> valid feature rows (n, d)."""
        raw = np.asarray(raw, dtype=np.float64)
        standard = np.empty((len(raw), len(self.normalizers)))
        position = 0
        tabular = self.tabular
        for index, normalizer in enumerate(self.normalizers):
            if normalizer is None:
                flag = raw[:, position : position + 2].argmax(axis=1).astype(np.float64)
                standard[:, index] = (flag - tabular.center[index]) / tabular.scale[index]
                position += 2
                continue
            alpha = np.tanh(raw[:, position])
            modes = raw[:, position + 1 : position + 1 + normalizer.n_modes].argmax(axis=1)
            standard[:, index] = normalizer.decode(alpha, modes)
            position += 1 + normalizer.n_modes
        return tabular.inverse_transform(standard)

    def activate(self, raw: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Training-time output layer: tanh on alphas, Gumbel-softmax (temperature 0.2) on
        one-hot blocks, with Gumbel noise from ``generator`` (reproducible)."""
        parts = []
        for start, width, kind in self.spans:
            block = raw[:, start : start + width]
            if kind == "alpha":
                parts.append(torch.tanh(block))
            else:
                uniform = torch.rand(block.shape, generator=generator).clamp(1e-10, 1 - 1e-10)
                gumbel = -torch.log(-torch.log(uniform))
                parts.append(torch.softmax((block + gumbel) / GUMBEL_TEMPERATURE, dim=1))
        return torch.cat(parts, dim=1)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "mode-specific",
            "tabular": self.tabular.to_json(),
            "normalizers": [None if n is None else n.to_json() for n in self.normalizers],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModeSpecificTransform:
        return cls(
            TabularTransform.from_json(data["tabular"]),
            tuple(None if n is None else ModeNormalizer.from_json(n) for n in data["normalizers"]),
        )
