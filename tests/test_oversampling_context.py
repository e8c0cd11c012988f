"""The diffusion oversampler conditioned on real profiles (``context``, issue 14): which columns a
preset names, copied contexts, the export, the nesting repair and a toy relation it must keep."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from sklearn.base import clone

from fraudspark.oversampling import (
    DiffusionOversampler,
    DiffusionRowGenerator,
    FeatureSchema,
    count_violations,
    load_generator,
)
from fraudspark.oversampling.diffusion import CONTEXT_TENSOR, context_columns, repair_nesting
from tests.test_oversampling import FEATURES, NO_VIOLATIONS, fraud_training_set

BRIEF = {"steps": 20, "batch_size": 32, "n_timesteps": 10, "hidden_dims": (16,), "embedding_dim": 8}
# Day windows 7d and 30d are copied, 1d generated (a chain across the groups); 15m copied, 30m
# and 60m generated (another); a risk and the flags' neighbours stay generated.
CONTEXT = ["cust_nb_tx_7d", "cust_nb_tx_30d", "term_risk_30d", "cust_nb_tx_15m"]


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def trained(**params: object) -> DiffusionOversampler:
    X, y = fraud_training_set()
    sampler = DiffusionOversampler(random_state=0, feature_names=FEATURES, **{**BRIEF, **params})
    sampler.fit_resample(X, y)
    return sampler


# --- which columns are context -------------------------------------------------------------------

# A store-like column list: a payment, two windows of each length class, monthly profiles, and an
# undeclared column a preset must not pick.
NAMES = [
    "tx_amount",  # 0
    "cust_nb_tx_1d",  # 1
    "cust_nb_tx_7d",  # 2
    "term_risk_30d",  # 3
    "cust_nb_tx_60m",  # 4
    "cust_month_nb_tx",  # 5
    "term_month_fraud_rate",  # 6
    "cust_month_missing",  # 7
    "other_month_thing",  # 8: undeclared
]


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("monthly", [5, 6, 7]),
        ("monthly-and-7d", [2, 3, 5, 6, 7]),
        ("monthly-and-1d", [1, 2, 3, 5, 6, 7]),  # 60 minutes < 1 day: generated
    ],
)
def test_presets_pick_columns_by_name_and_window_length(preset: str, expected: list[int]) -> None:
    assert context_columns(preset, NAMES) == expected


def test_named_context_columns_resolve_in_feature_order() -> None:
    assert context_columns(["term_risk_30d", "tx_amount"], NAMES) == [0, 3]
    assert context_columns(None, NAMES) == []


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (["cust_nb_tx_7d", "cust_nb_tx_99d"], "cust_nb_tx_99d"),
        ("weekly", "weekly"),
        (["tx_amount", "tx_amount"], "twice"),
        (NAMES, "nothing left to generate"),
    ],
)
def test_a_bad_context_raises_naming_it(context: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        context_columns(context, NAMES)  # type: ignore[arg-type]


def test_a_bad_column_name_fails_the_fit() -> None:
    with pytest.raises(ValueError, match="cust_month_nb_tx"):
        trained(context=["cust_nb_tx_7d", "cust_month_nb_tx"])  # not among FEATURES


def test_a_preset_matching_no_column_fails_the_fit() -> None:
    with pytest.raises(ValueError, match="monthly"):
        trained(context="monthly")  # FEATURES has no monthly columns


# --- the nesting repair --------------------------------------------------------------------------


def test_repair_nests_generated_counts_around_fixed_ones() -> None:
    names = ["cust_nb_tx_1d", "cust_nb_tx_7d", "cust_nb_tx_30d"]
    schema = FeatureSchema.from_names(names)
    rows = np.array(
        [
            [9.0, 5.0, 20.0],  # 7d fixed at 5: 1d lowered to 5
            [2.0, 5.0, 3.0],  # 30d generated below 7d: raised to 5
            [1.0, 5.0, 20.0],  # already nested: unchanged
        ]
    )

    repaired = repair_nesting(rows, schema, fixed=[1])

    np.testing.assert_array_equal(repaired, [[5, 5, 20], [2, 5, 5], [1, 5, 20]])
    # Fixed 1d and 30d, generated 7d outside them: clamped into [1d, 30d].
    both = repair_nesting(np.array([[3.0, 1.0, 8.0], [3.0, 50.0, 8.0]]), schema, fixed=[0, 2])
    np.testing.assert_array_equal(both, [[3, 3, 8], [3, 8, 8]])


# --- sampling and export -------------------------------------------------------------------------


@pytest.mark.parametrize("condition", ["class", None])
def test_sampled_contexts_are_training_fraud_contexts(condition: str | None) -> None:
    X, y = fraud_training_set()
    sampler = trained(condition=condition, context=CONTEXT)
    columns = [FEATURES.index(name) for name in CONTEXT]

    rows = sampler.generator_.sample(500, seed=3)

    real = X[y == 1][:, columns]
    genuine = X[y == 0][:, columns]
    copied = rows[:, columns]
    # Each row's context equals some real fraud row's context, exactly; none is a genuine one's
    # alone (the genuine rows' contexts only train a class-conditional model).
    matches = (copied[:, None, :] == real[None, :, :]).all(axis=2)
    assert matches.any(axis=1).all()
    assert not (copied[:, None, :] == genuine[None, :, :]).all(axis=2).any(axis=1).all()
    # Uniform draws with replacement: 500 draws from 60 rows reach nearly all of them.
    assert matches.any(axis=0).sum() >= 55
    assert count_violations(rows, FeatureSchema.from_names(FEATURES)) == NO_VIOLATIONS
    # The generated columns are generated, not copied along with the context.
    amount = FEATURES.index("tx_amount")
    assert not np.isin(rows[:, amount], X[y == 1][:, amount]).any()


@pytest.mark.parametrize("condition", ["class", None])
def test_export_samples_like_the_trained_model(condition: str | None) -> None:
    sampler = trained(condition=condition, context=CONTEXT)
    data = sampler.generator_bytes()

    loaded = load_generator(data)

    assert isinstance(loaded, DiffusionRowGenerator)
    np.testing.assert_array_equal(loaded.sample(300, seed=9), sampler.generator_.sample(300, 9))
    assert not np.array_equal(loaded.sample(300, seed=9), loaded.sample(300, seed=10))
    assert loaded.feature_names == FEATURES
    assert loaded.sample(0, seed=9).shape == (0, len(FEATURES))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        metadata = json.loads(archive.read("generator.json"))
        stored = np.load(
            io.BytesIO(archive.read(f"weights/{CONTEXT_TENSOR}.npy")), allow_pickle=False
        )
    X, y = fraud_training_set()
    expected = X[y == 1][:, [FEATURES.index(name) for name in CONTEXT]]
    np.testing.assert_array_equal(stored, expected)  # the minority contexts, float64, in order
    assert metadata["context"]["columns"] == sorted(FEATURES.index(name) for name in CONTEXT)


def test_a_context_model_samples_the_minority_class_only() -> None:
    generator = trained(condition="class", context=CONTEXT).generator_

    assert generator.sample(5, seed=0, label=1).shape == (5, len(FEATURES))
    with pytest.raises(ValueError, match="class 1 only"):
        generator.sample(5, seed=0, label=0)


def test_no_context_is_tabddpm_as_before() -> None:
    default, explicit = trained(), trained(context=None)

    np.testing.assert_array_equal(
        default.generator_.sample(200, seed=1), explicit.generator_.sample(200, seed=1)
    )
    assert default.generator_.context is None
    assert default.generator_.network.project.in_features == len(FEATURES)
    with zipfile.ZipFile(io.BytesIO(default.generator_bytes())) as archive:
        names = archive.namelist()
        metadata = json.loads(archive.read("generator.json"))
    assert "context" not in metadata and f"weights/{CONTEXT_TENSOR}.npy" not in names


def test_context_is_an_estimator_parameter() -> None:
    sampler = DiffusionOversampler(context="monthly-and-7d", steps=3)

    assert clone(sampler).get_params()["context"] == "monthly-and-7d"


# --- learning ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_keeps_a_linear_relation_to_the_context() -> None:
    # Fraud rows: target = 2 * context + N(0, 0.1^2), the context bimodal. Ignoring the context,
    # target - 2 * context would spread about 2 * std(context) ~ 3.8; a model of the relation
    # leaves the noise. Tolerances: mean within 0.1, std under 0.3 (3x the noise; measured 0.14
    # at these settings), 99% of rows within 1.0.
    rng = np.random.default_rng(0)
    context = np.r_[rng.normal(-2, 0.5, 300), rng.normal(1.5, 1.0, 300)]
    fraud = np.column_stack([context, 2 * context + rng.normal(0, 0.1, 600)])
    genuine = rng.normal(8, 1, (1200, 2))
    X, y = np.vstack([genuine, fraud]), np.repeat([0, 1], [1200, 600])
    sampler = DiffusionOversampler(
        random_state=0,
        feature_names=["x_context", "x_target"],
        condition=None,
        steps=1500,
        batch_size=256,
        hidden_dims=(128, 128),
        context=["x_context"],
    )

    sampler.fit_resample(X, y)

    rows = sampler.generator_.sample(2000, seed=0)
    residual = rows[:, 1] - 2 * rows[:, 0]
    assert abs(residual.mean()) < 0.1
    assert residual.std() < 0.3
    assert np.quantile(np.abs(residual), 0.99) < 1.0
    assert np.isin(rows[:, 0], fraud[:, 0]).all()
