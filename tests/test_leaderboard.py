"""The paired comparison over seeds, on a hand-made table with figures worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fraudspark.evaluation.leaderboard import paired_comparison

# Per seed, diffusion minus none: 0.05, 0.03, 0.07 (seed 3 only diffusion ran: left out).
TABLE = pd.DataFrame(
    {
        "method": ["none"] * 3 + ["diffusion"] * 4 + ["smote"] * 3,
        "seed": [0, 1, 2, 0, 1, 2, 3, 0, 1, 2],
        "average_precision": [0.45, 0.52, 0.53, 0.50, 0.55, 0.60, 0.99, 0.40, 0.41, 0.42],
    }
)


def test_paired_difference_spread_interval_and_test_by_hand() -> None:
    comparison = paired_comparison(TABLE, "diffusion", "none", "average_precision")

    # Differences 0.05, 0.03, 0.07: mean 0.05, sd sqrt((0 + 0.02^2 + 0.02^2) / 2) = 0.02.
    assert comparison.seeds == (0, 1, 2)
    assert comparison.mean_difference == pytest.approx(0.05, abs=1e-12)
    assert comparison.std_difference == pytest.approx(0.02, abs=1e-12)
    # t = 0.05 / (0.02 / sqrt 3); with 2 degrees of freedom the t CDF is closed-form,
    # F(t) = 1/2 + t / (2 sqrt(2 + t^2)), so the two-sided p = 1 - t / sqrt(2 + t^2), and the
    # 97.5% quantile is (2p - 1) / sqrt(2 p (1 - p)) at p = 0.975.
    t = 0.05 / (0.02 / math.sqrt(3))
    assert comparison.t_statistic == pytest.approx(t, rel=1e-9)
    assert comparison.p_value == pytest.approx(1 - t / math.sqrt(2 + t**2), rel=1e-9)
    quantile = 0.95 / math.sqrt(2 * 0.975 * 0.025)
    half_width = quantile * 0.02 / math.sqrt(3)
    assert comparison.ci_low == pytest.approx(0.05 - half_width, rel=1e-9)
    assert comparison.ci_high == pytest.approx(0.05 + half_width, rel=1e-9)
    assert "+0.0500 ± 0.0200" in comparison.summary()


def test_the_comparison_is_antisymmetric() -> None:
    forward = paired_comparison(TABLE, "diffusion", "smote", "average_precision")
    backward = paired_comparison(TABLE, "smote", "diffusion", "average_precision")

    assert backward.mean_difference == pytest.approx(-forward.mean_difference)
    assert backward.p_value == pytest.approx(forward.p_value)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (TABLE[TABLE["seed"] < 1], "share 1 seed"),
        (pd.concat([TABLE, TABLE.head(1)]), "more than one row for a seed"),
        (TABLE.drop(columns="seed"), "no column 'seed'"),
    ],
)
def test_tables_that_cannot_be_paired_are_refused(table: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        paired_comparison(table, "diffusion", "none", "average_precision")
