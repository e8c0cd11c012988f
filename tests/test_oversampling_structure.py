"""Exact identities between feature columns: found in real rows, imposed on generated ones
(issue 14: synthetic rows that break them are told apart from real ones)."""

from __future__ import annotations

import numpy as np
import pytest

from fraudspark.oversampling import (
    FeatureSchema,
    TabularTransform,
    load_generator,
    make_oversampler,
)
from fraudspark.oversampling.modes import ModeSpecificTransform
from fraudspark.oversampling.structure import Identity, candidates, find_identities, impose

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAMES = [
    "tx_amount",
    "cust_nb_tx_15m",
    "cust_avg_amount_15m",
    "cust_nb_tx_30m",
    "cust_avg_amount_30m",
    "term_nb_tx_1d",
    "term_risk_1d",
    "tx_during_night",
]
SCHEMA = FeatureSchema.from_names(NAMES)
MEAN_15M = Identity("mean_of_one", (1, 2, 0))  # cust_avg_amount_15m == tx_amount when count 1
MEAN_30M = Identity("mean_of_one", (3, 4, 0))
EQUAL_MEANS = Identity("equal_means", (1, 3, 2, 4))  # 30m mean == 15m mean when counts equal
RISK = Identity("fraction", (6, 5))  # term_risk_1d == k / term_nb_tx_1d
EXPECTED = (MEAN_15M, MEAN_30M, EQUAL_MEANS, RISK)


def structured_rows(n: int, seed: int) -> np.ndarray:
    """Rows that obey the identities as the feature store's do: a window's mean is the payment's
    amount when the payment is alone in it, equal counts mean equal means, a risk is frauds over
    payments (exactly 0 for most rows)."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(3.5, 1.0, n), 2)
    n15 = 1 + rng.poisson(0.4, n)
    n30 = n15 + rng.poisson(0.3, n)
    others = rng.lognormal(3.5, 0.5, n)
    mean15 = np.where(n15 == 1, amount, (amount + (n15 - 1) * others) / n15)
    mean30 = np.where(n30 == n15, mean15, (mean15 * n15 + (n30 - n15) * others) / n30)
    payments = rng.poisson(2.0, n)
    frauds = rng.binomial(payments, 0.15)
    risk = np.divide(frauds, payments, out=np.zeros(n), where=payments > 0)
    night = (rng.random(n) < 0.3).astype(float)
    return np.column_stack([amount, n15, mean15, n30, mean30, payments, risk, night])


def holds_everywhere(rows: np.ndarray, identities: tuple[Identity, ...]) -> bool:
    return all(bool(identity.holds(rows).all()) for identity in identities)


# --- the rules, by hand ---------------------------------------------------------------------------


def test_the_identities_of_the_store_columns_are_found_from_names_and_rows() -> None:
    found = find_identities(structured_rows(500, seed=0), SCHEMA)

    assert found == EXPECTED
    assert [identity.describe(NAMES) for identity in found] == [
        "cust_avg_amount_15m == tx_amount when cust_nb_tx_15m == 1",
        "cust_avg_amount_30m == tx_amount when cust_nb_tx_30m == 1",
        "cust_avg_amount_30m == cust_avg_amount_15m when cust_nb_tx_30m == cust_nb_tx_15m",
        "term_risk_1d * term_nb_tx_1d whole (0 when term_nb_tx_1d == 0)",
    ]


def test_candidates_follow_the_configured_windows_across_units() -> None:
    names = ["tx_amount", "cust_nb_tx_2d", "cust_avg_amount_2d", "cust_nb_tx_45m",
             "cust_avg_amount_45m", "term_nb_tx_14d", "term_risk_14d"]  # fmt: skip

    described = [
        identity.describe(names) for identity in candidates(FeatureSchema.from_names(names))
    ]

    assert described == [
        "cust_avg_amount_45m == tx_amount when cust_nb_tx_45m == 1",
        "cust_avg_amount_2d == tx_amount when cust_nb_tx_2d == 1",
        # 45 minutes lie inside 2 days: equal counts, equal means.
        "cust_avg_amount_2d == cust_avg_amount_45m when cust_nb_tx_2d == cust_nb_tx_45m",
        "term_risk_14d * term_nb_tx_14d whole (0 when term_nb_tx_14d == 0)",
    ]


def test_an_identity_the_real_rows_break_is_not_kept() -> None:
    rows = structured_rows(500, seed=1)
    alone = rows[:, 1] == 1
    rows[alone, 2] += 1.0  # a mean is never the amount (but equal counts still equal means)
    rows[alone & (rows[:, 3] == 1), 4] += 1.0

    found = find_identities(rows, SCHEMA)

    assert found == (EQUAL_MEANS, RISK)


def test_imposing_sets_each_dependent_column_by_hand() -> None:
    # amount, n15, mean15, n30, mean30, term count, risk, night
    rows = np.array(
        [
            # alone in both windows: amount and both means equal, (12.5 + 30 + 40) / 3 = 27.5;
            # 0.4 * 3 = 1.2 frauds -> 1 of 3
            [12.5, 1, 30.0, 1, 40.0, 3, 0.4, 1],
            # equal counts: the two means equal, (30 + 40) / 2 = 35; 0.1 * 3 = 0.3 -> 0
            [12.5, 2, 30.0, 2, 40.0, 3, 0.1, 0],
            # alone in 15 minutes only: amount and 15m mean (12.5 + 30) / 2; empty risk window
            [12.5, 1, 30.0, 3, 40.0, 0, 0.7, 0],
            # nothing to equal; 0.9 * 4 = 3.6 frauds -> 4 of 4
            [12.5, 2, 30.0, 3, 40.0, 4, 0.9, 0],
        ]
    )

    imposed = impose(rows, EXPECTED)

    expected = np.array(
        [
            [27.5, 1, 27.5, 1, 27.5, 3, 1 / 3, 1],
            [12.5, 2, 35.0, 2, 35.0, 3, 0.0, 0],
            [21.25, 1, 21.25, 3, 40.0, 0, 0.0, 0],
            [12.5, 2, 30.0, 3, 40.0, 4, 1.0, 0],
        ]
    )
    np.testing.assert_allclose(imposed, expected, rtol=1e-15)
    assert rows[0, 2] == 30.0  # the input is left alone


def test_rows_that_obey_the_identities_are_left_as_they_are() -> None:
    rows = structured_rows(500, seed=8)

    np.testing.assert_allclose(impose(rows, EXPECTED), rows, rtol=1e-12)


def test_identities_round_trip_through_json() -> None:
    assert [Identity.from_json(identity.to_json()) for identity in EXPECTED] == list(EXPECTED)
    assert RISK.to_json() == {"kind": "fraction", "columns": [6, 5]}


# --- the shared decode path -----------------------------------------------------------------------


def test_decoding_imposes_the_identities_and_keeps_the_risk_spike_at_zero() -> None:
    rows = structured_rows(2000, seed=2)
    transform = TabularTransform.fit(rows, SCHEMA, identities=True)
    wild = np.random.default_rng(3).normal(0, 1.5, (3000, len(NAMES)))

    decoded = transform.inverse_transform(wild)

    assert transform.identities == EXPECTED
    assert holds_everywhere(decoded, EXPECTED)
    assert np.mean(decoded[:, 6] == 0.0) > 0.3  # exact zeros, not 1e-3 offsets
    np.testing.assert_allclose(transform.inverse_transform(transform.transform(rows)), rows)


def test_a_transform_written_before_identities_decodes_as_then() -> None:
    transform = TabularTransform.fit(structured_rows(500, seed=4), SCHEMA, identities=True)
    data = transform.to_json()
    assert data["identities"] == [identity.to_json() for identity in EXPECTED]
    del data["identities"]

    old = TabularTransform.from_json(data)

    assert old.identities == ()
    assert TabularTransform.from_json(transform.to_json()).identities == EXPECTED


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("wgan-gp", {"steps": 3, "batch_size": 32, "noise_dim": 4, "hidden_dims": (16,)}),
        ("acgan", {"steps": 3, "batch_size": 32, "noise_dim": 4, "hidden_dims": (16,),
                   "representation": "mode-specific"}),
        ("diffusion", {"steps": 20, "batch_size": 32, "n_timesteps": 10, "hidden_dims": (16,)}),
    ],
)  # fmt: skip
def test_every_generator_obeys_the_identities_also_after_export(
    method: str, params: dict[str, object]
) -> None:
    X = np.vstack([structured_rows(300, seed=5), structured_rows(60, seed=6)])
    y = np.repeat([0, 1], [300, 60])
    sampler = make_oversampler(
        method, random_state=0, feature_names=NAMES, identities=True, **params
    )
    resampled, _ = sampler.fit_resample(X, y)
    generator = sampler.generator_

    loaded = load_generator(sampler.generator_bytes())

    assert holds_everywhere(resampled[len(X) :], EXPECTED)
    np.testing.assert_array_equal(loaded.sample(200, seed=7), generator.sample(200, seed=7))
    assert holds_everywhere(loaded.sample(200, seed=7), EXPECTED)
    if method == "acgan":
        assert isinstance(generator.transform, ModeSpecificTransform)


def test_identities_are_off_by_default() -> None:
    rows = structured_rows(500, seed=9)
    X, y = np.vstack([rows, structured_rows(60, seed=10)]), np.repeat([0, 1], [500, 60])
    sampler = make_oversampler(
        "wgan-gp", random_state=0, feature_names=NAMES, steps=3, batch_size=32, hidden_dims=(16,)
    )
    sampler.fit_resample(X, y)

    assert TabularTransform.fit(rows, SCHEMA).identities == ()
    assert sampler.generator_.transform.identities == ()
