"""Drift metrics against hand-computed values, and the drift alarm on shifted vs unchanged data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fraudspark.monitoring.drift import (
    EMPTY_BIN_SHARE,
    DriftThresholds,
    RetrainHint,
    drift_summary,
    feature_drift,
    jensen_shannon_distance,
    kolmogorov_smirnov,
    linf_distance,
    population_stability_index,
    quantile_bin_edges,
    retrain_hint,
)

# Quartile bins of 1..8 are (-inf, 2.75], (2.75, 4.5], (4.5, 6.25], (6.25, inf]: 25% each.
REFERENCE_1_TO_8 = np.arange(1, 9)


def test_quantile_bin_edges_are_open_ended_quantiles() -> None:
    # Linear-interpolated quartiles of 1..8: 2.75, 4.5, 6.25.
    assert quantile_bin_edges(REFERENCE_1_TO_8, bins=4).tolist() == [
        -np.inf,
        2.75,
        4.5,
        6.25,
        np.inf,
    ]


def test_quantile_bin_edges_merge_tied_quantiles() -> None:
    # 60% zeros: the 20%, 40% quantiles are 0 and the 60% one is 0.4, the 80% one 2.2.
    reference = [0, 0, 0, 0, 0, 0, 1, 2, 3, 4]
    assert quantile_bin_edges(reference, bins=5).tolist() == pytest.approx(
        [-np.inf, 0.0, 0.4, 2.2, np.inf]
    )


def test_psi_on_quartile_bins_matches_hand_computation() -> None:
    # Current shares per quartile bin: 0 → bin 1 (below the reference range, still counted);
    # 3, 4 → bin 2; 5, 5, 6 → bin 3; 7, 8, 9, 100 → bin 4 (above the range): 0.1, 0.2, 0.3, 0.4.
    current = [0, 3, 4, 5, 5, 6, 7, 8, 9, 100]
    # (0.1-0.25) ln(0.1/0.25) = 0.137444; (0.2-0.25) ln(0.8) = 0.011157;
    # (0.3-0.25) ln(1.2) = 0.009116;       (0.4-0.25) ln(1.6) = 0.070501.
    assert population_stability_index(REFERENCE_1_TO_8, current, bins=4) == pytest.approx(
        0.228218, abs=1e-6
    )


def test_psi_floors_an_empty_bin_at_epsilon() -> None:
    # Two bins of 1..4, split at 2.5: reference 0.5, 0.5; current 1, 2, 1, 2 → 1.0, 0 → 1e-4.
    # (1 - 0.5) ln(1 / 0.5) + (1e-4 - 0.5) ln(1e-4 / 0.5) = 0.346574 + 4.257745.
    assert EMPTY_BIN_SHARE == 1e-4
    assert population_stability_index([1, 2, 3, 4], [1, 2, 1, 2], bins=2) == pytest.approx(
        4.604318, abs=1e-6
    )


def test_js_distance_matches_hand_computation() -> None:
    # Same bins and shares as above: r = (0.5, 0.5), c = (1, 0), m = (0.75, 0.25).
    # KL(r||m) = 0.5 log2(0.5/0.75) + 0.5 log2(0.5/0.25) = 0.207519; KL(c||m) = log2(4/3) = 0.415037
    # JS divergence = (0.207519 + 0.415037) / 2 = 0.311278; distance = sqrt = 0.557923.
    assert jensen_shannon_distance([1, 2, 3, 4], [1, 2, 1, 2], bins=2) == pytest.approx(
        0.557923, abs=1e-6
    )


def test_js_distance_is_zero_on_equal_samples_and_counts_values_beyond_the_range() -> None:
    assert jensen_shannon_distance(REFERENCE_1_TO_8, REFERENCE_1_TO_8, bins=4) == 0.0
    # Every current value is above the reference, so in the top bin: c = (0, 0, 0, 1) against
    # r = (1/4, 1/4, 1/4, 1/4); m = (1/8, 1/8, 1/8, 5/8). KL(r||m) = 3/4 + 1/4 log2(2/5) = 0.419518,
    # KL(c||m) = log2(8/5) = 0.678072; distance = sqrt((0.419518 + 0.678072) / 2) = 0.740807.
    # (Never 1 on the reference's quantile bins: every bin holds some of the reference.)
    assert jensen_shannon_distance(REFERENCE_1_TO_8, [50, 60], bins=4) == pytest.approx(
        0.740807, abs=1e-6
    )


def test_ks_is_the_largest_cdf_gap() -> None:
    # At x = 2 the reference CDF is 0.5 and the current one 0 (and never more apart).
    assert kolmogorov_smirnov([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5


def test_linf_on_binary_and_categorical_values() -> None:
    # Share of 1: 0.25 vs 0.8 (and of 0: 0.75 vs 0.2).
    assert linf_distance([0, 0, 0, 1], [0, 1, 1, 1, 1]) == pytest.approx(0.55)
    # a: 2/3 vs 0 (absent from current), b: 1/3 vs 1/2, c: 0 vs 1/2.
    assert linf_distance(["a", "a", "b"], ["b", "c"]) == pytest.approx(2 / 3)


def test_metrics_reject_missing_values() -> None:
    with pytest.raises(ValueError, match="NaN"):
        population_stability_index([1.0, np.nan], [1.0, 2.0])


def test_feature_drift_rows_on_a_small_frame() -> None:
    reference = pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0], "night": [0, 0, 0, 1]})
    current = pd.DataFrame({"amount": [1.0, 2.0, 1.0, np.nan], "night": [0, 1, 1, np.nan]})
    drift = feature_drift(reference, current, ["amount", "night"], ["night"], bins=2)
    # amount without its NaN is 1, 2, 1: shares 1.0, 0 on bins split at 2.5.
    # PSI = (1 - 0.5) ln 2 + (1e-4 - 0.5) ln(1e-4 / 0.5); KS: CDF gap 1 - 0.5 at x = 2.
    psi = 0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    js = math.sqrt((0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(2) + math.log2(4 / 3)) / 2)
    expected = pd.DataFrame(
        {
            "feature": ["amount"] * 4 + ["night"] * 2,
            "metric": ["psi", "js", "ks", "missing_share", "linf", "missing_share"],
            # night without its NaN is 0, 1, 1: share of 1 is 2/3 vs 1/4.
            "value": [psi, js, 0.5, 0.25, 2 / 3 - 1 / 4, 0.25],
            "threshold": [0.2, 0.1, 0.1, 0.05, 0.1, 0.05],
            "drifted": [True] * 6,
        }
    )
    pd.testing.assert_frame_equal(drift, expected)


def _payments(seed: int, amount_mean: float = 0.0, weekend_share: float = 0.3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = 5000
    return pd.DataFrame(
        {
            "amount": rng.normal(amount_mean, 1.0, rows),
            "distance": rng.normal(0.0, 1.0, rows),
            "weekend": (rng.random(rows) < weekend_share).astype(int),
            "night": (rng.random(rows) < 0.3).astype(int),
        }
    )


def _drifted_features(drift: pd.DataFrame) -> dict[str, set[str]]:
    flagged = drift[drift["drifted"]]
    return {str(f): set(flagged.loc[flagged["feature"] == f, "metric"]) for f in flagged["feature"]}


FEATURES = ["amount", "distance", "weekend", "night"]
BINARY = ["weekend", "night"]


def test_injected_shift_is_flagged_on_the_shifted_features_only() -> None:
    # amount moves by one standard deviation; the weekend share goes from 30% to 60%.
    drift = feature_drift(
        _payments(seed=1), _payments(seed=2, amount_mean=1.0, weekend_share=0.6), FEATURES, BINARY
    )
    assert _drifted_features(drift) == {"amount": {"psi", "js", "ks"}, "weekend": {"linf"}}


def test_an_unchanged_sample_raises_no_alarm() -> None:
    drift = feature_drift(_payments(seed=1), _payments(seed=2), FEATURES, BINARY)
    assert not drift["drifted"].any()
    assert retrain_hint(drift) is None


def test_retrain_hint_names_drifted_features_worst_first() -> None:
    drift = pd.DataFrame(
        {
            "feature": ["amount", "amount", "weekend", "distance"],
            "metric": ["psi", "ks", "linf", "psi"],
            "value": [0.3, 0.4, 0.5, 0.1],
            "threshold": [0.2, 0.1, 0.1, 0.2],
            "drifted": [True, True, True, False],
        }
    )
    # Severities (value / threshold): amount 1.5 and 4.0, weekend 5.0, distance 0.5.
    hint = retrain_hint(drift)
    assert hint == RetrainHint(
        features=("weekend", "amount"),
        severity=5.0,
        max_by_metric={"ks": 0.4, "linf": 0.5, "psi": 0.3},
    )
    assert hint.as_drift_row() == {
        "feature": "weekend,amount",
        "metric": "retrain_hint",
        "value": 5.0,
        "threshold": 1.0,
        "drifted": True,
    }
    assert drift_summary(drift)[["feature", "metric"]].values.tolist() == [
        ["weekend", "linf"],
        ["amount", "ks"],
        ["distance", "psi"],
    ]


def test_per_feature_threshold_overrides_the_default() -> None:
    thresholds = DriftThresholds(per_feature={"alert": {"linf": 0.005}})
    assert thresholds.threshold("alert", "linf") == 0.005
    assert thresholds.threshold("weekend", "linf") == 0.1
    reference = pd.DataFrame({"alert": [1] + [0] * 99})
    current = pd.DataFrame({"alert": [1, 1] + [0] * 98})
    drift = feature_drift(reference, current, ["alert"], ["alert"], thresholds)
    assert drift["drifted"].tolist() == [True, False]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"psi": 0.0}, "psi must be positive"), ({"per_feature": {"x": {"p": 1.0}}}, "unknown")],
)
def test_bad_thresholds_are_rejected(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DriftThresholds(**arguments)  # type: ignore[arg-type]


def test_a_missing_column_is_named() -> None:
    frame = pd.DataFrame({"amount": [1.0]})
    with pytest.raises(ValueError, match=r"current lacks the monitored columns \['night'\]"):
        feature_drift(frame.assign(night=0), frame, ["amount", "night"], ["night"])
