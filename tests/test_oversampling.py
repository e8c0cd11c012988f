"""The oversampler contract, the validity rules, the GAN building blocks and the export format."""

from __future__ import annotations

import io
import itertools
import json
import logging
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from imblearn.over_sampling import SMOTE

from fraudspark.oversampling import (
    OVERSAMPLERS,
    CGANOversampler,
    FeatureSchema,
    GANOversampler,
    TabularTransform,
    column_kind,
    count_violations,
    gradient_penalty,
    load_generator,
    make_oversampler,
    make_valid,
)
from fraudspark.oversampling.networks import MinibatchSampler
from fraudspark.oversampling.tabular import validity_kind

GAN_METHODS = ["gan", "cgan", "wgan", "wgan-gp", "wcgan", "acgan"]
# Enough to run every code path, far too little to learn: validity must not depend on training.
BRIEF = {"steps": 3, "batch_size": 32, "noise_dim": 4, "hidden_dims": (16,)}
BRIEF_DIFFUSION = {"steps": 20, "batch_size": 32, "n_timesteps": 10, "hidden_dims": (16,)}


def brief(method: str) -> dict[str, object]:
    """Training parameters that run every code path of ``method`` in about a second."""
    if method in GAN_METHODS:
        return BRIEF
    return BRIEF_DIFFUSION if method.startswith("diffusion") else {}


FEATURES = [
    "tx_amount",
    "tx_during_weekend",
    "tx_during_night",
    *(f"cust_nb_tx_{days}d" for days in (1, 7, 30)),
    *(f"cust_avg_amount_{days}d" for days in (1, 7, 30)),
    *(f"term_nb_tx_{days}d" for days in (1, 7, 30)),
    *(f"term_avg_amount_{days}d" for days in (1, 7, 30)),
    *(f"term_risk_{days}d" for days in (1, 7, 30)),
    *(f"cust_nb_tx_{minutes}m" for minutes in (15, 30, 60)),
    *(f"term_nb_tx_{minutes}m" for minutes in (15, 30, 60)),
]
NO_VIOLATIONS = {
    "non_finite": 0,
    "flag_not_binary": 0,
    "count_not_natural": 0,
    "ratio_outside_unit": 0,
    "amount_negative": 0,
    "window_not_nested": 0,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def feature_rows(n: int, seed: int) -> np.ndarray:
    """Valid rows shaped like the feature store's: skewed amounts, nested counts, risks, flags."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {
        "tx_amount": rng.lognormal(3.5, 1.0, n),
        "tx_during_weekend": rng.integers(0, 2, n),
        "tx_during_night": (rng.random(n) < 0.2).astype(int),
    }
    for stem, windows, rates in [
        ("cust_nb_tx", ("1d", "7d", "30d"), (1.5, 8.0, 25.0)),
        ("term_nb_tx", ("1d", "7d", "30d"), (3.0, 20.0, 70.0)),
        ("cust_nb_tx", ("15m", "30m", "60m"), (0.1, 0.2, 0.3)),
        ("term_nb_tx", ("15m", "30m", "60m"), (0.3, 0.3, 0.5)),
    ]:
        total = np.zeros(n)
        for window, rate in zip(windows, rates, strict=True):
            total = total + rng.poisson(rate, n)  # a longer window counts at least as many
            columns[f"{stem}_{window}"] = total
    for days in (1, 7, 30):
        for entity in ("cust", "term"):  # zero: no payment in the window
            amounts = rng.lognormal(3.5, 0.5, n) * (rng.random(n) < 0.9)
            columns[f"{entity}_avg_amount_{days}d"] = amounts
        columns[f"term_risk_{days}d"] = rng.beta(0.3, 3.0, n) * (rng.random(n) < 0.5)
    return np.column_stack([columns[name] for name in FEATURES]).astype(np.float64)


def fraud_training_set(n_genuine: int = 300, n_fraud: int = 60) -> tuple[np.ndarray, np.ndarray]:
    X = np.vstack([feature_rows(n_genuine, seed=1), feature_rows(n_fraud, seed=2)])
    X[n_genuine:, 0] *= 4  # fraud: larger amounts
    return X, np.repeat([0, 1], [n_genuine, n_fraud])


# --- validity rules ------------------------------------------------------------------------------


def test_validity_kinds_follow_the_declared_feature_kinds() -> None:
    kinds = {name: validity_kind(name) for name in FEATURES}

    assert kinds["tx_during_weekend"] == kinds["tx_during_night"] == "flag"
    assert kinds["cust_nb_tx_7d"] == kinds["term_nb_tx_60m"] == "count"
    assert kinds["term_risk_30d"] == "ratio"
    assert (
        kinds["tx_amount"]
        == kinds["cust_avg_amount_7d"]
        == kinds["term_avg_amount_1d"]
        == ("amount")
    )
    # Monthly store columns.
    assert validity_kind("cust_month_missing") == "flag"
    assert validity_kind("cust_month_nb_counterparties") == "count"
    assert validity_kind("term_month_fraud_rate") == "ratio"
    assert validity_kind("cust_month_std_amount") == "amount"
    # Not a store column: no rule beyond being finite.
    assert validity_kind("distance_to_home") == "real"
    with pytest.raises(ValueError, match="distance_to_home"):
        column_kind("distance_to_home")


def test_nested_windows_are_parsed_from_the_suffix_whatever_the_window_list() -> None:
    names = ["term_nb_tx_14d", "cust_nb_tx_45m", "term_nb_tx_2d", "cust_nb_tx_5m", "tx_amount"]

    pairs = FeatureSchema.from_names(names).nested_pairs()

    named = {(names[small], names[large]) for small, large in pairs}
    assert named == {("term_nb_tx_2d", "term_nb_tx_14d"), ("cust_nb_tx_5m", "cust_nb_tx_45m")}


def test_count_violations_counts_each_broken_rule() -> None:
    schema = FeatureSchema.from_names(
        ["tx_during_night", "cust_nb_tx_1d", "cust_nb_tx_7d", "term_risk_7d", "tx_amount"]
    )
    rows = np.array(
        [
            [1.0, 2.0, 3.0, 0.5, 10.0],  # valid
            [0.5, 2.5, 3.0, 1.5, -1.0],  # flag, count, ratio, amount
            [0.0, 4.0, 3.0, 0.0, np.nan],  # 1-day count above 7-day, NaN amount
        ]
    )

    assert count_violations(rows, schema) == {
        "non_finite": 1,
        "flag_not_binary": 1,
        "count_not_natural": 1,
        "ratio_outside_unit": 1,
        "amount_negative": 1,
        "window_not_nested": 1,
    }


def test_make_valid_repairs_every_rule() -> None:
    schema = FeatureSchema.from_names(FEATURES)
    noisy = feature_rows(200, seed=3) + np.random.default_rng(4).normal(0, 3, (200, len(FEATURES)))

    assert count_violations(make_valid(noisy, schema), schema) == NO_VIOLATIONS


def test_transform_inverts_on_valid_rows() -> None:
    rows = feature_rows(500, seed=5)
    transform = TabularTransform.fit(rows, FeatureSchema.from_names(FEATURES))

    standard = transform.transform(rows)

    np.testing.assert_allclose(standard.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(transform.inverse_transform(standard), rows, atol=1e-9)


def test_transform_maps_any_model_output_to_valid_rows() -> None:
    schema = FeatureSchema.from_names(FEATURES)
    transform = TabularTransform.fit(feature_rows(500, seed=6), schema)
    wild = np.random.default_rng(7).normal(0, 50, (1000, len(FEATURES)))

    assert count_violations(transform.inverse_transform(wild), schema) == NO_VIOLATIONS


# --- the sampler contract ------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(set(OVERSAMPLERS) - {"none"}))
@pytest.mark.parametrize("ratio", [0.5, 1.0])
def test_fit_resample_reaches_the_asked_class_ratio(method: str, ratio: float) -> None:
    X, y = fraud_training_set()
    sampler = make_oversampler(
        method, sampling_ratio=ratio, random_state=0, feature_names=FEATURES, **brief(method)
    )

    X_res, y_res = sampler.fit_resample(X, y)

    assert np.sum(y_res == 1) == int(ratio * 300)  # imblearn's float sampling_strategy
    assert np.sum(y_res == 0) == 300
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(y_res[: len(y)], y)


@pytest.mark.parametrize("method", sorted(set(OVERSAMPLERS) - {"none"}))
def test_every_synthetic_row_is_valid(method: str) -> None:
    X, y = fraud_training_set()
    sampler = make_oversampler(method, random_state=0, feature_names=FEATURES, **brief(method))

    X_res, _ = sampler.fit_resample(X, y)

    schema = FeatureSchema.from_names(FEATURES)
    assert count_violations(X_res[len(X) :], schema) == NO_VIOLATIONS
    if method in [*GAN_METHODS, "diffusion", "diffusion-profile"]:
        assert count_violations(sampler.generator_.sample(5000, seed=1), schema) == NO_VIOLATIONS


def test_none_returns_the_rows_unchanged() -> None:
    X, y = fraud_training_set()

    X_res, y_res = make_oversampler("none").fit_resample(X, y)

    np.testing.assert_array_equal(X_res, X)
    np.testing.assert_array_equal(y_res, y)


def test_smote_is_imbalanced_learns() -> None:
    rng = np.random.default_rng(8)
    X = rng.normal(size=(120, 3))
    y = np.repeat([0, 1], [100, 20])

    ours = make_oversampler("smote", sampling_ratio=0.6, random_state=3).fit_resample(X, y)
    theirs = SMOTE(sampling_strategy=0.6, random_state=3).fit_resample(X, y)

    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_a_dataframe_names_the_features() -> None:
    X, y = fraud_training_set()
    sampler = make_oversampler("smote", random_state=0)

    sampler.fit_resample(pd.DataFrame(X, columns=FEATURES), y)

    assert sampler.schema_ == FeatureSchema.from_names(FEATURES)


@pytest.mark.parametrize(
    ("X", "y", "params", "message"),
    [
        (np.array([[np.nan, 1.0], [2.0, 3.0]]), [0, 1], {}, "NaN or infinite"),
        (np.ones((3, 2)), [0, 1, 2], {}, "exactly two classes"),
        (np.ones((3, 2)), [0, 1], {}, "one label per row"),
        (np.ones((4, 2)), [0, 0, 1, 1], {}, "already reached"),
        (np.ones((4, 2)), [0, 0, 0, 1], {"sampling_ratio": 1.5}, r"\(0, 1\]"),
        (np.ones((4, 2)), [0, 0, 0, 1], {"feature_names": ["tx_amount"]}, "1 feature names"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    X: np.ndarray, y: list[int], params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_oversampler("gan", **params).fit_resample(X, y)


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown oversampling method 'vae'"):
        make_oversampler("vae")


# --- GAN training --------------------------------------------------------------------------------


def test_a_seed_reproduces_training_and_sampling() -> None:
    X, y = fraud_training_set()

    def resampled(seed: int) -> np.ndarray:
        sampler = make_oversampler("wgan-gp", random_state=seed, feature_names=FEATURES, **BRIEF)
        return sampler.fit_resample(X, y)[0]

    np.testing.assert_array_equal(resampled(11), resampled(11))
    assert not np.array_equal(resampled(11), resampled(12))


def test_sample_is_a_function_of_its_seed() -> None:
    X, y = fraud_training_set()
    sampler = make_oversampler("cgan", random_state=0, feature_names=FEATURES, **BRIEF)
    sampler.fit_resample(X, y)

    generator = sampler.generator_
    np.testing.assert_array_equal(generator.sample(50, seed=4), generator.sample(50, seed=4))
    assert not np.array_equal(generator.sample(50, seed=4), generator.sample(50, seed=5))


def test_minibatch_sampler_draws_different_rows_every_step() -> None:
    codes = np.repeat([0, 1], [900, 100])
    sampler = MinibatchSampler(codes, torch.Generator().manual_seed(0))

    batches = [sampler.draw(64) for _ in range(200)]

    rows = [set(indices.tolist()) for indices, _ in batches]
    assert all(first != second for first, second in itertools.pairwise(rows))
    assert len(set().union(*rows)) > 0.9 * len(codes)  # every row gets its turn
    for indices, drawn_codes in batches[:5]:
        np.testing.assert_array_equal(codes[indices.numpy()], drawn_codes.numpy())
    label_share = np.mean([drawn_codes.float().mean().item() for _, drawn_codes in batches])
    assert label_share == pytest.approx(0.5, abs=0.03)  # the rare label as often as the common


def test_batchnorm_is_in_eval_mode_while_sampling() -> None:
    X, y = fraud_training_set()
    sampler = make_oversampler("gan", random_state=0, **BRIEF)
    sampler.fit_resample(X, y)
    network = sampler.generator_.network
    norms = [module for module in network.modules() if isinstance(module, torch.nn.BatchNorm1d)]
    modes: list[bool] = []
    for norm in norms:
        norm.register_forward_hook(lambda module, inputs, output: modes.append(module.training))
    network.train()  # as if left in training mode

    sampler.generator_.sample(10, seed=0)

    assert norms and modes == [False] * len(norms)


def test_training_logs_progress_and_keeps_the_losses(caplog: pytest.LogCaptureFixture) -> None:
    X, y = fraud_training_set()
    sampler = GANOversampler(random_state=0, log_every=1, **BRIEF)

    with caplog.at_level(logging.INFO, logger="fraudspark.oversampling.gan"):
        sampler.fit_resample(X, y)

    assert [record.getMessage().split()[:3] for record in caplog.records] == [
        ["gan", "step", f"{step}/3"] for step in (1, 2, 3)
    ]
    assert "discriminator_loss=" in caplog.records[-1].getMessage()
    assert len(sampler.loss_history_) == 3
    assert set(sampler.loss_history_[0]) == {"discriminator_loss", "generator_loss"}


def test_fraud_subtypes_found_by_clustering_condition_the_generator() -> None:
    X, y = fraud_training_set(n_fraud=80)
    # A quarter of the frauds: huge night payments at risky terminals, a sub-type of their own.
    for name, value in [("tx_amount", 5000.0), ("tx_during_night", 1.0)] + [
        (f"term_risk_{days}d", 0.9) for days in (1, 7, 30)
    ]:
        X[300:320, FEATURES.index(name)] = value
    sampler = CGANOversampler(
        condition="subtype", n_subtypes=2, random_state=0, feature_names=FEATURES, **BRIEF
    )

    sampler.fit_resample(X, y)

    generator = sampler.generator_
    assert generator.labels == [0, 1]
    assert sorted(generator.label_weights) == [0.25, 0.75]


# --- gradient penalty ----------------------------------------------------------------------------


def test_gradient_penalty_of_a_linear_critic_is_known() -> None:
    weights = torch.tensor([3.0, 4.0])  # |grad f| = |w| = 5 at every row
    rows = torch.randn(16, 2)

    penalty = gradient_penalty(lambda x: x @ weights, rows, torch.randn(16, 2))

    assert penalty.item() == pytest.approx(10.0 * (5.0 - 1.0) ** 2)


def test_gradient_penalty_is_taken_per_sample() -> None:
    rows = torch.tensor([[0.0, 0.5], [3.0, 4.0], [1.0, 0.0]])  # grad of |x|^2 / 2 is x itself

    # Real and fake rows equal: every interpolate is the row itself.
    penalty = gradient_penalty(lambda x: 0.5 * (x**2).sum(dim=1), rows, rows.clone())

    per_sample = 10.0 * np.mean([(0.5 - 1) ** 2, (5.0 - 1) ** 2, (1.0 - 1) ** 2])
    whole_batch = 10.0 * (np.sqrt(0.25 + 25.0 + 1.0) - 1) ** 2
    assert penalty.item() == pytest.approx(per_sample)
    assert penalty.item() != pytest.approx(whole_batch)


def test_gradient_penalty_trains_the_critic() -> None:
    weights = torch.tensor([3.0, 4.0], requires_grad=True)

    gradient_penalty(lambda x: x @ weights, torch.randn(8, 2), torch.randn(8, 2)).backward()

    # d/dw 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w|
    np.testing.assert_allclose(weights.grad.numpy(), 20 * 4 * np.array([3.0, 4.0]) / 5, rtol=1e-6)


# --- export --------------------------------------------------------------------------------------


def test_exported_generator_samples_like_the_trained_one() -> None:
    X, y = fraud_training_set()
    sampler = make_oversampler(
        "wcgan", condition="subtype", n_subtypes=3, random_state=0, feature_names=FEATURES, **BRIEF
    )
    sampler.fit_resample(X, y)

    loaded = load_generator(sampler.generator_bytes())

    np.testing.assert_array_equal(
        loaded.sample(200, seed=9), sampler.generator_.sample(200, seed=9)
    )
    np.testing.assert_array_equal(
        loaded.sample(200, seed=9, label=2), sampler.generator_.sample(200, seed=9, label=2)
    )
    assert loaded.feature_names == FEATURES
    assert loaded.sample(0, seed=9).shape == (0, len(FEATURES))  # an empty Spark partition


def test_export_is_json_and_numpy_arrays_without_pickle() -> None:
    X, y = fraud_training_set()
    sampler = make_oversampler("gan", random_state=0, feature_names=FEATURES, **BRIEF)
    sampler.fit_resample(X, y)

    with zipfile.ZipFile(io.BytesIO(sampler.generator_bytes())) as archive:
        names = archive.namelist()
        metadata = json.loads(archive.read("generator.json"))
        arrays = [np.load(io.BytesIO(archive.read(name)), allow_pickle=False) for name in names[1:]]

    assert names[0] == "generator.json"
    assert all(name.startswith("weights/") and name.endswith(".npy") for name in names[1:])
    assert len(arrays) == len(metadata["weights"])
    assert metadata["method"] == "gan"
    assert [column["name"] for column in metadata["transform"]["schema"]] == FEATURES


def test_loading_refuses_other_archives() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("generator.json", json.dumps({"format": "something-else"}))

    with pytest.raises(ValueError, match="not a fraudspark-generator archive"):
        load_generator(buffer.getvalue())


@pytest.mark.parametrize("method", list(OVERSAMPLERS))
def test_every_sampler_is_a_scikit_learn_estimator_that_clones(method: str) -> None:
    """Explicit keyword arguments: get_params names every constructor parameter, and a clone
    (fresh, unfitted, same parameters) resamples exactly as the original does."""
    import inspect

    from sklearn.base import clone

    sampler = make_oversampler(
        method, sampling_ratio=0.4, random_state=3, feature_names=FEATURES, **brief(method)
    )
    signature = inspect.signature(type(sampler).__init__).parameters
    assert set(sampler.get_params()) == set(signature) - {"self"}
    assert all(p.kind is p.KEYWORD_ONLY for name, p in signature.items() if name != "self")

    copy = clone(sampler)

    assert copy is not sampler and copy.get_params() == sampler.get_params()
    X, y = fraud_training_set()
    X_res, y_res = sampler.fit_resample(X, y)
    X_copy, y_copy = copy.fit_resample(X, y)
    np.testing.assert_array_equal(X_copy, X_res)
    np.testing.assert_array_equal(y_copy, y_res)


def test_set_params_reaches_the_subclass_parameters() -> None:
    sampler = make_oversampler("wcgan", **BRIEF).set_params(gp_weight=0.5, condition="subtype")

    assert sampler.get_params()["gp_weight"] == 0.5
    assert sampler.get_params()["condition"] == "subtype"
    assert make_oversampler("wgan").get_params()["generator_learning_rate"] == 5e-5
