"""The diffusion oversampler: its schedule against the closed forms, its transform, its export,
sampling inside Spark, and a toy set it must learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pyspark.sql import SparkSession
from sklearn.base import clone

from fraudspark.oversampling import (
    DiffusionOversampler,
    FeatureSchema,
    TabularTransform,
    count_violations,
    load_generator,
    make_oversampler,
)
from fraudspark.oversampling.diffusion import (
    DiffusionRowGenerator,
    DiffusionSchedule,
    DiffusionTransform,
    cosine_alpha_bars,
    timestep_embedding,
)
from fraudspark.pipelines.oversample import chunk_seed, generated_rows
from tests.test_oversampling import FEATURES, NO_VIOLATIONS, feature_rows, fraud_training_set

BRIEF = {"steps": 20, "batch_size": 32, "n_timesteps": 10, "hidden_dims": (16,), "embedding_dim": 8}


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


# --- the noise schedule --------------------------------------------------------------------------


def test_cosine_schedule_is_the_papers_ratio_of_cosines() -> None:
    # Nichol & Dhariwal (2021), eq. 17: alpha_bar_t = f(t) / f(0),
    # f(t) = cos^2((t/T + s) / (1 + s) pi/2), s = 0.008
    def f(t: float, T: int) -> float:
        return math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2

    alpha_bars = cosine_alpha_bars(10)

    expected = [f(t, 10) / f(0, 10) for t in range(1, 10)]
    np.testing.assert_allclose(alpha_bars[:9], expected, rtol=1e-12)
    # f(T) = 0: the last beta is clipped at 0.999, so alpha_bar_T = 0.001 alpha_bar_{T-1}.
    assert alpha_bars[9] == pytest.approx(0.001 * expected[8], rel=1e-12)


def test_posterior_is_gaussian_conditioning_of_the_forward_process() -> None:
    schedule = DiffusionSchedule(10)
    for t in (1, 5, 9):
        alpha_bar, previous = schedule.alpha_bar[t].item(), schedule.alpha_bar[t - 1].item()
        beta = 1 - alpha_bar / previous
        # Given x_0 = 0: x_{t-1} ~ N(0, 1 - previous), x_t = sqrt(1 - beta) x_{t-1} + noise.
        cov_11 = 1 - previous
        cov_12 = math.sqrt(1 - beta) * (1 - previous)
        cov_22 = 1 - alpha_bar
        assert schedule.coef_xt[t].item() == pytest.approx(cov_12 / cov_22, rel=1e-10)
        assert schedule.posterior_variance[t].item() == pytest.approx(
            cov_11 - cov_12**2 / cov_22, rel=1e-10
        )
        # The x_0 coefficient of the same conditional mean: E[x_{t-1}] - cov_12 / cov_22 E[x_t]
        # per unit x_0 (Ho et al., 2020, eq. 7 in closed form).
        mean_11, mean_22 = math.sqrt(previous), math.sqrt(alpha_bar)
        assert schedule.coef_x0[t].item() == pytest.approx(
            mean_11 - cov_12 / cov_22 * mean_22, rel=1e-10
        )


def test_noising_follows_the_forward_marginal() -> None:
    schedule = DiffusionSchedule(10)
    x0 = torch.tensor([[2.0], [2.0]])
    noise = torch.tensor([[0.0], [1.0]])

    noised = schedule.noised(x0, torch.tensor([3, 3]), noise)

    alpha_bar = schedule.alpha_bar[3].item()
    expected = [2 * math.sqrt(alpha_bar), 2 * math.sqrt(alpha_bar) + math.sqrt(1 - alpha_bar)]
    np.testing.assert_allclose(noised[:, 0].numpy(), expected, rtol=1e-6)


def test_timestep_embedding_by_hand() -> None:
    embedding = timestep_embedding(torch.tensor([0, 1]), 4, max_period=100.0)

    # Frequencies 100^(-0/2) = 1 and 100^(-1/2) = 0.1: cosines, then sines.
    expected = [[1.0, 1.0, 0.0, 0.0], [math.cos(1), math.cos(0.1), math.sin(1), math.sin(0.1)]]
    np.testing.assert_allclose(embedding.numpy(), expected, rtol=1e-6)


# --- the representation --------------------------------------------------------------------------


def fitted_transform(rows: np.ndarray) -> DiffusionTransform:
    schema = FeatureSchema.from_names(FEATURES)
    return DiffusionTransform.fit(rows, TabularTransform.fit(rows, schema), seed=0)


def test_transform_inverts_on_valid_rows() -> None:
    rows = feature_rows(600, seed=5)
    transform = fitted_transform(rows)

    model = transform.transform(rows)

    np.testing.assert_allclose(transform.inverse_transform(model), rows, atol=1e-6, rtol=1e-9)
    flags = [FEATURES.index("tx_during_weekend"), FEATURES.index("tx_during_night")]
    assert set(np.unique(model[:, flags])) == {-1.0, 1.0}


def test_continuous_columns_become_standard_normal() -> None:
    rows = feature_rows(3000, seed=6)
    model = fitted_transform(rows).transform(rows)

    amount = model[:, FEATURES.index("tx_amount")]  # continuous: no ties
    assert amount.mean() == pytest.approx(0.0, abs=0.02)
    assert amount.std() == pytest.approx(1.0, abs=0.05)


def test_transform_survives_json_and_maps_any_output_to_valid_rows() -> None:
    rows = feature_rows(600, seed=7)
    transform = fitted_transform(rows)
    restored = DiffusionTransform.from_json(transform.to_json())
    wild = np.random.default_rng(8).normal(0, 5, (1000, len(FEATURES)))

    np.testing.assert_array_equal(restored.transform(rows), transform.transform(rows))
    np.testing.assert_array_equal(
        restored.inverse_transform(wild), transform.inverse_transform(wild)
    )
    schema = FeatureSchema.from_names(FEATURES)
    assert count_violations(restored.inverse_transform(wild), schema) == NO_VIOLATIONS


# --- the sampler contract and export -------------------------------------------------------------


def trained(**params: object) -> DiffusionOversampler:
    X, y = fraud_training_set()
    sampler = DiffusionOversampler(random_state=0, feature_names=FEATURES, **{**BRIEF, **params})
    sampler.fit_resample(X, y)
    return sampler


def test_parameters_are_sklearn_estimator_parameters() -> None:
    sampler = DiffusionOversampler(steps=7, hidden_dims=(8,), condition=None)

    copy = clone(sampler)

    assert copy.get_params() == sampler.get_params()
    assert copy.get_params()["steps"] == 7 and copy.get_params()["condition"] is None


@pytest.mark.parametrize("condition", ["class", None])
def test_export_samples_like_the_trained_model(condition: str | None) -> None:
    sampler = trained(condition=condition)

    loaded = load_generator(sampler.generator_bytes())

    assert isinstance(loaded, DiffusionRowGenerator)
    np.testing.assert_array_equal(
        loaded.sample(300, seed=9), sampler.generator_.sample(300, seed=9)
    )
    assert not np.array_equal(loaded.sample(300, seed=9), loaded.sample(300, seed=10))
    assert loaded.feature_names == FEATURES
    assert loaded.sample(0, seed=9).shape == (0, len(FEATURES))
    schema = FeatureSchema.from_names(FEATURES)
    assert count_violations(loaded.sample(2000, seed=1), schema) == NO_VIOLATIONS


def test_a_class_conditional_model_generates_the_minority_class() -> None:
    sampler = trained(condition="class")

    assert sampler.generator_.labels == [0, 1]
    assert sampler.generator_.label_weights == [0.0, 1.0]


def test_a_seed_reproduces_training() -> None:
    first, second = trained(), trained()

    np.testing.assert_array_equal(first.generator_.sample(50, 0), second.generator_.sample(50, 0))


def test_registered_as_diffusion() -> None:
    sampler = make_oversampler("diffusion", steps=5)

    assert isinstance(sampler, DiffusionOversampler) and sampler.steps == 5


@pytest.mark.slow
def test_spark_sampling_equals_in_process_sampling(spark: SparkSession) -> None:
    sampler = trained()
    generator = sampler.generator_
    chunk_rows, seed = 70, 4

    rows = generated_rows(spark, sampler.generator_bytes(), 200, seed, chunk_rows=chunk_rows)

    in_spark = rows.orderBy("synthetic_id").toPandas()
    expected = np.vstack(
        [
            generator.sample(min(chunk_rows, 200 - chunk * chunk_rows), chunk_seed(seed, chunk))
            for chunk in range(3)
        ]
    )
    np.testing.assert_array_equal(in_spark["synthetic_id"].to_numpy(), np.arange(200))
    np.testing.assert_array_equal(in_spark[FEATURES].to_numpy(), expected)


# --- learning ------------------------------------------------------------------------------------

# A toy fraud class: two Gaussian blobs six units apart (the GAN toy test's) and a flag set on 30%
# of rows, next to a majority class elsewhere. Tolerances as the GAN toy test: means within 0.35,
# covariance within 35% (relative Frobenius); blob shares and the flag's frequency within 0.05
# (four standard errors of a 600-row frequency is 0.075; sampled from 4,000 rows).
BLOB_A = (np.array([-3.0, 0.0]), np.array([[1.0, 0.6], [0.6, 0.8]]))
BLOB_B = (np.array([3.0, 2.0]), np.array([[0.5, -0.3], [-0.3, 1.0]]))


@pytest.mark.slow
@pytest.mark.parametrize("condition", ["class", None])
def test_learns_two_blobs_and_a_flag_frequency(condition: str | None) -> None:
    rng = np.random.default_rng(0)
    blobs = np.vstack(
        [rng.multivariate_normal(*BLOB_A, size=300), rng.multivariate_normal(*BLOB_B, size=300)]
    )
    fraud = np.column_stack([blobs, rng.random(600) < 0.3])
    genuine = np.column_stack([rng.normal(10, 1, (1200, 2)), rng.random(1200) < 0.8])
    X, y = np.vstack([genuine, fraud]), np.repeat([0, 1], [1200, 600])
    sampler = DiffusionOversampler(
        random_state=0,
        feature_names=["x_a", "x_b", "is_flagged"],
        condition=condition,
        steps=1500,
        batch_size=256,
        hidden_dims=(128, 128),
    )

    sampler.fit_resample(X, y)

    synthetic = sampler.generator_.sample(4000, seed=0)
    left = synthetic[:, 0] < 0
    assert left.mean() == pytest.approx(0.5, abs=0.05)
    assert synthetic[:, 2].mean() == pytest.approx(fraud[:, 2].mean(), abs=0.05)
    assert np.linalg.norm(synthetic[:, :2].mean(axis=0) - blobs.mean(axis=0)) < 0.35
    target = np.cov(blobs, rowvar=False)
    error = np.linalg.norm(np.cov(synthetic[:, :2], rowvar=False) - target) / np.linalg.norm(target)
    assert error < 0.35
    assert np.linalg.norm(synthetic[left, :2].mean(axis=0) - BLOB_A[0]) < 0.35
    assert np.linalg.norm(synthetic[~left, :2].mean(axis=0) - BLOB_B[0]) < 0.35
