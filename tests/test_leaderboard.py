"""The paired comparison over seeds and the one leaderboard, on hand-made tables with figures
worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fraudspark.evaluation.leaderboard import (
    compare_best,
    format_leaderboard,
    leaderboard,
    paired_comparison,
)

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


# --- the one leaderboard ---------------------------------------------------------------------

# Two classifiers, none (no ratio) and two methods at ratio 0.05, two seeds; figures chosen so
# that means and population standard deviations are exact by hand.
ROWS = pd.DataFrame(
    {
        "model_name": ["classifier-mlp"] * 6 + ["classifier-gbt"] * 6,
        "oversampling": ["none", "none", "smote", "smote", "diffusion", "diffusion"] * 2,
        "ratio": [None, None, 0.05, 0.05, 0.05, 0.05] * 2,
        "seed": [0, 1] * 6,
        "auc_roc": [0.80, 0.90, 0.70, 0.80, 0.85, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9],
        "average_precision": [0.40, 0.50, 0.30, 0.40, 0.50, 0.60,
                              0.60, 0.70, 0.50, 0.50, 0.62, 0.64],
        "cp_at_100": [0.2] * 12,
        "two_sample_auc": [None, None, 0.7, 0.8, 0.6, 0.7, None, None, 0.7, 0.8, 0.6, 0.7],
        "tstr_average_precision": [None] * 12,
        "invalid_rows": [None, None, 0, 0, 2, 4, None, None, 0, 0, 2, 4],
        "train_seconds": [1.0, 3.0] * 6,
    }
)  # fmt: skip


def test_leaderboard_means_and_population_spread_per_setting() -> None:
    board = leaderboard(ROWS)

    assert list(zip(board["model_name"], board["oversampling"], strict=True)) == [
        ("classifier-mlp", "none"), ("classifier-mlp", "smote"), ("classifier-mlp", "diffusion"),
        ("classifier-gbt", "none"), ("classifier-gbt", "smote"), ("classifier-gbt", "diffusion"),
    ]  # fmt: skip
    assert board["ratio"].isna().tolist() == [True, False, False, True, False, False]
    mlp_diffusion = board.iloc[2]
    assert mlp_diffusion["average_precision_mean"] == pytest.approx(0.55)
    assert mlp_diffusion["average_precision_std"] == pytest.approx(0.05)  # ddof 0
    assert mlp_diffusion["invalid_rows_mean"] == pytest.approx(3.0)
    assert mlp_diffusion["two_sample_auc_std"] == pytest.approx(0.05)
    assert math.isnan(board.iloc[0]["two_sample_auc_mean"])  # none: no synthetic rows
    assert math.isnan(mlp_diffusion["tstr_average_precision_mean"])
    assert board["seeds"].tolist() == [2] * 6
    shown = format_leaderboard(board)
    assert list(shown.columns) == [
        "model_name", "oversampling", "ratio", "auc_roc", "average_precision", "cp_at_100",
        "two_sample_auc", "invalid_rows", "train_seconds", "seeds",
    ]  # fmt: skip
    assert shown.iloc[2]["average_precision"] == "0.550 ± 0.050"
    assert shown.iloc[0]["two_sample_auc"] == "–" and shown.iloc[0]["ratio"] == "–"
    assert shown.iloc[2]["ratio"] == "0.05"


def test_the_best_generative_setting_is_compared_with_none_and_smote_seed_by_seed() -> None:
    best = compare_best(ROWS)

    # diffusion: mlp mean AP 0.55, gbt 0.63 -> gbt at 0.05 is best.
    assert (best.model_name, best.oversampling, best.ratio) == ("classifier-gbt", "diffusion", 0.05)
    assert best.mean == pytest.approx(0.63)
    against_none, against_smote = best.comparisons
    # Per seed vs none (gbt): 0.62 - 0.60, 0.64 - 0.70 -> +0.02, -0.06: mean -0.02, sd 0.0566.
    assert against_none.baseline == "none"
    assert against_none.mean_difference == pytest.approx(-0.02)
    assert against_none.std_difference == pytest.approx(math.sqrt(2 * 0.04**2))
    # vs SMOTE (gbt, 0.05): +0.12, +0.14 -> mean 0.13, sd sqrt(2 * 0.01^2).
    assert against_smote.baseline == "smote"
    assert against_smote.mean_difference == pytest.approx(0.13)
    assert against_smote.std_difference == pytest.approx(math.sqrt(2) * 0.01)
    assert "best: diffusion x classifier-gbt at ratio 0.05" in best.summary()


def test_no_generative_rows_cannot_be_ranked() -> None:
    with pytest.raises(ValueError, match="no generative oversampling rows"):
        compare_best(ROWS[ROWS["oversampling"] != "diffusion"])
