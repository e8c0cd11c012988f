"""Every GAN variant learns a 2-D toy distribution: proof that it learns, not only that it runs.

Two Gaussian blobs six units apart, each of unit-order spread. Unconditional GANs learn their
mixture as the minority class; conditional ones learn the blobs as the two class labels and
must produce the blob they are asked for. Training is brief (about 300 generator updates).

Tolerances: sample means within 0.35 of the target's (a third of a blob's standard deviation;
missing a blob moves the mixture mean by 3), covariances within 35% (relative Frobenius
distance; a collapsed generator is 100% off, the other blob's covariance 115%). Targets are the
training rows' own moments, which is what a generator can learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fraudspark.oversampling import BaseOversampler, make_oversampler

MEAN_TOLERANCE = 0.35
COVARIANCE_TOLERANCE = 0.35

BLOB_A = (np.array([-3.0, 0.0]), np.array([[1.0, 0.6], [0.6, 0.8]]))
BLOB_B = (np.array([3.0, 2.0]), np.array([[0.5, -0.3], [-0.3, 1.0]]))

SMALL_NETWORKS = {"batch_size": 256, "noise_dim": 8, "hidden_dims": (64, 64), "log_every": 50}
# Per variant: a few hundred generator updates, with the learning rates that get there.
# Conditional GANs use two time-scales (a faster discriminator); Wasserstein-GP variants use
# the WGAN-GP authors' own 2-D toy penalty weight, 0.1 (10 is tuned for real data).
TRAINING: dict[str, dict[str, Any]] = {
    "gan": {"steps": 300, "generator_learning_rate": 1e-3, "discriminator_learning_rate": 1e-3},
    "wgan": {"steps": 300, "generator_learning_rate": 1e-3, "discriminator_learning_rate": 1e-3},
    "wgan-gp": {
        "steps": 300,
        "generator_learning_rate": 1e-3,
        "discriminator_learning_rate": 1e-3,
        "gp_weight": 0.1,
    },
    "cgan": {"steps": 300, "generator_learning_rate": 5e-4, "discriminator_learning_rate": 2e-3},
    "acgan": {"steps": 300, "generator_learning_rate": 5e-4, "discriminator_learning_rate": 2e-3},
    "wcgan": {
        "steps": 300,
        "generator_learning_rate": 5e-4,
        "discriminator_learning_rate": 2e-3,
        "gp_weight": 0.1,
    },
}


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def blob(n: int, seed: int, mean_cov: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.random.default_rng(seed).multivariate_normal(*mean_cov, size=n)


def assert_moments_match(samples: np.ndarray, target: np.ndarray) -> None:
    mean_error = np.linalg.norm(samples.mean(axis=0) - target.mean(axis=0))
    target_cov = np.cov(target, rowvar=False)
    cov_error = np.linalg.norm(np.cov(samples, rowvar=False) - target_cov) / np.linalg.norm(
        target_cov
    )
    assert mean_error < MEAN_TOLERANCE, f"means {mean_error:.3f} apart"
    assert cov_error < COVARIANCE_TOLERANCE, f"covariances {cov_error:.0%} apart"


def fit_resample(method: str, X: np.ndarray, y: np.ndarray) -> tuple[BaseOversampler, np.ndarray]:
    """The trained sampler and its synthetic rows (sampling_ratio 1: classes end balanced)."""
    sampler = make_oversampler(method, random_state=0, **SMALL_NETWORKS, **TRAINING[method])
    X_res, y_res = sampler.fit_resample(X, y)
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(y_res[len(y) :], 1)
    assert np.sum(y_res == 1) == np.sum(y_res == 0)
    return sampler, X_res[len(X) :]


@pytest.mark.parametrize("method", ["gan", "wgan", "wgan-gp"])
def test_unconditional_gan_learns_a_two_blob_mixture(method: str) -> None:
    mixture = np.vstack([blob(256, 1, BLOB_A), blob(256, 2, BLOB_B)])
    majority = blob(1024, 3, (np.array([10.0, 10.0]), np.eye(2)))
    X = np.vstack([majority, mixture])
    y = np.repeat([0, 1], [len(majority), len(mixture)])

    sampler, _ = fit_resample(method, X, y)

    assert_moments_match(sampler.generator_.sample(4000, seed=0), mixture)


@pytest.mark.parametrize("method", ["cgan", "acgan", "wcgan"])
def test_conditional_gan_generates_the_blob_of_the_label_asked_for(method: str) -> None:
    blob_a, blob_b = blob(384, 1, BLOB_A), blob(256, 2, BLOB_B)
    X = np.vstack([blob_a, blob_b])
    y = np.repeat([0, 1], [len(blob_a), len(blob_b)])

    sampler, synthetic = fit_resample(method, X, y)

    assert_moments_match(sampler.generator_.sample(4000, seed=0, label=0), blob_a)
    assert_moments_match(sampler.generator_.sample(4000, seed=0, label=1), blob_b)
    # The rows fit_resample adds are minority rows: blob B's.
    assert np.linalg.norm(synthetic.mean(axis=0) - blob_b.mean(axis=0)) < 1.0
