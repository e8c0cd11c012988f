"""CTGAN's representation: mode-specific normalisation round-trips, training-by-sampling draws
with its documented distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fraudspark.oversampling import (
    FeatureSchema,
    count_violations,
    gradient_penalty,
    load_generator,
    make_oversampler,
)
from fraudspark.oversampling.modes import (
    ConditionalVectorSampler,
    ModeNormalizer,
    ModeSpecificTransform,
)
from fraudspark.oversampling.networks import PackedDiscriminator
from tests.test_oversampling import (
    BRIEF,
    FEATURES,
    NO_VIOLATIONS,
    feature_rows,
    fraud_training_set,
)


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def two_modes() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.r_[rng.normal(-5.0, 0.5, 700), rng.normal(10.0, 2.0, 300)]


def test_the_mixture_finds_the_two_modes() -> None:
    normalizer, _ = ModeNormalizer.fit(two_modes(), seed=0)

    order = np.argsort(normalizer.means)
    np.testing.assert_allclose(normalizer.means[order], [-5.0, 10.0], atol=0.3)
    # The variational posterior's covariance prior (the whole column's variance) widens the
    # narrow mode a little: 0.59 for 0.5 here.
    np.testing.assert_allclose(normalizer.stds[order], [0.5, 2.0], rtol=0.25)


def test_encode_then_decode_is_the_identity_inside_each_modes_range() -> None:
    values = two_modes()
    normalizer, mixture = ModeNormalizer.fit(values, seed=0)

    alpha, modes = normalizer.encode(values, mixture)

    decoded = normalizer.decode(alpha, modes)
    inside = np.abs(values - normalizer.means[modes]) <= 0.99 * 4 * normalizer.stds[modes]
    assert inside.mean() > 0.99  # nearly every value lies within 3.96 sd of its mode
    np.testing.assert_allclose(decoded[inside], values[inside], rtol=0, atol=1e-9)
    assert np.all(np.abs(alpha) <= 0.99)
    assert set(np.unique(modes)) == set(range(normalizer.n_modes))


def test_tails_beyond_the_range_are_clipped_to_its_edge() -> None:
    values = two_modes()
    normalizer, mixture = ModeNormalizer.fit(values, seed=0)
    wide = int(np.argmax(normalizer.stds))
    mean, std = normalizer.means[wide], normalizer.stds[wide]
    far = np.array([mean + 30 * std])  # far out in the wider mode's tail

    alpha, modes = normalizer.encode(far, mixture)

    assert modes[0] == wide and alpha[0] == 0.99
    assert normalizer.decode(alpha, modes)[0] == pytest.approx(mean + 3.96 * std, abs=1e-9)


def test_modes_survive_json() -> None:
    normalizer, _ = ModeNormalizer.fit(two_modes(), seed=0)

    restored = ModeNormalizer.from_json(normalizer.to_json())

    alpha, modes = np.array([-0.5, 0.0, 0.7]), np.array([0, 1, 0])
    np.testing.assert_array_equal(restored.decode(alpha, modes), normalizer.decode(alpha, modes))


def test_training_by_sampling_draws_columns_uniformly_and_categories_by_log_frequency() -> None:
    # Column 0: 900 zeros, 100 ones; column 1: 990 zeros, 10 ones.
    categories = np.column_stack(
        [np.repeat([0, 1], [900, 100]), np.r_[np.zeros(990, int), np.ones(10, int)]]
    )
    sampler = ConditionalVectorSampler(categories, [2, 2], seed=0)

    vectors, columns, drawn, rows = sampler.draw(40_000)

    # By hand: P(column 0, 1) = 1/2 * log 101 / (log 901 + log 101), and so on.
    expected = {
        (0, 0): 0.5 * np.log(901) / (np.log(901) + np.log(101)),
        (0, 1): 0.5 * np.log(101) / (np.log(901) + np.log(101)),
        (1, 0): 0.5 * np.log(991) / (np.log(991) + np.log(11)),
        (1, 1): 0.5 * np.log(11) / (np.log(991) + np.log(11)),
    }
    for (column, category), probability in expected.items():
        share = np.mean((columns == column) & (drawn == category))
        # Four binomial standard errors of 40,000 draws (at most 0.01).
        assert share == pytest.approx(probability, abs=4 * np.sqrt(0.25 / 40_000))
    # Each vector is the one-hot of (column, category) and its row carries that category.
    np.testing.assert_array_equal(vectors.argmax(axis=1), 2 * columns + drawn)
    np.testing.assert_array_equal(vectors.sum(axis=1), 1.0)
    np.testing.assert_array_equal(categories[rows, columns], drawn)


def test_rows_are_drawn_uniformly_within_a_category() -> None:
    categories = np.repeat([0, 1], [50, 50]).reshape(-1, 1)
    sampler = ConditionalVectorSampler(categories, [2], seed=1)

    _, _, drawn, rows = sampler.draw(20_000)

    counts = np.bincount(rows[drawn == 1], minlength=100)[50:]
    assert counts.min() > 0.6 * counts.mean() and counts.max() < 1.4 * counts.mean()


# --- the GAN family with CTGAN's representation and PacGAN ---------------------------------------


def test_mode_specific_transform_decodes_its_encoding() -> None:
    rows = feature_rows(400, seed=5)
    schema = FeatureSchema.from_names(FEATURES)
    transform, encoded = ModeSpecificTransform.fit_encode(rows, schema, seed=0)
    raw = encoded.copy()
    alphas = [start for start, _, kind in transform.spans if kind == "alpha"]
    # The generator's raw alpha goes through tanh: feed its inverse.
    raw[:, alphas] = np.arctanh(encoded[:, alphas])

    decoded = transform.inverse_transform(raw)

    assert encoded.shape == (400, transform.n_outputs)
    inside = np.all(np.abs(encoded[:, alphas]) < 0.99, axis=1)  # no clipped tail in the row
    assert inside.mean() > 0.9
    np.testing.assert_allclose(decoded[inside], rows[inside], rtol=1e-6, atol=1e-6)
    restored = ModeSpecificTransform.from_json(transform.to_json())
    np.testing.assert_array_equal(restored.inverse_transform(raw), decoded)


@pytest.mark.parametrize("method", ["gan", "cgan", "wgan", "wgan-gp", "wcgan", "acgan"])
def test_every_gan_trains_with_ctgans_representation_and_packing(method: str) -> None:
    X, y = fraud_training_set()
    pac = 1 if method == "acgan" else 4
    params = {**BRIEF, "representation": "mode-specific", "pac": pac}
    sampler = make_oversampler(method, random_state=0, feature_names=FEATURES, **params)

    X_res, _ = sampler.fit_resample(X, y)

    schema = FeatureSchema.from_names(FEATURES)
    assert count_violations(X_res[len(X) :], schema) == NO_VIOLATIONS
    loaded = load_generator(sampler.generator_bytes())
    np.testing.assert_array_equal(
        loaded.sample(100, seed=3), sampler.generator_.sample(100, seed=3)
    )


def test_acgan_refuses_packing() -> None:
    X, y = fraud_training_set()
    sampler = make_oversampler("acgan", random_state=0, pac=4, **BRIEF)

    with pytest.raises(ValueError, match="pac must be 1"):
        sampler.fit_resample(X, y)


def test_gradient_penalty_of_packs_takes_one_norm_per_pack() -> None:
    weights = torch.tensor([3.0, 4.0])  # a pack of two 1-column rows: |grad| = 5 per pack

    penalty = gradient_penalty(
        lambda x: x.reshape(-1, 2) @ weights, torch.randn(8, 1), torch.randn(8, 1), pac=2
    )

    assert penalty.item() == pytest.approx(10.0 * (5.0 - 1.0) ** 2)
    # Per row it would be 10 * ((3 - 1)^2 + (4 - 1)^2) / 2 = 65.


def test_packed_discriminator_scores_one_value_per_pack() -> None:
    discriminator = PackedDiscriminator(3, 0, (8,), pac=4)

    assert discriminator(torch.randn(12, 3), torch.zeros(12, 0)).shape == (3,)
    with pytest.raises(ValueError, match="multiple of pac 4"):
        discriminator(torch.randn(10, 3), torch.zeros(10, 0))
