"""Drift metrics against hand-computed values, and the drift alarm on shifted vs unchanged data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from fraudspark.monitoring.drift import (
    EMPTY_BIN_SHARE,
    DriftThresholds,
    RetrainHint,
    design_effects,
    drift_summary,
    feature_drift,
    homogeneity_p_value,
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


def yates_p_value(a: int, b: int, c: int, d: int) -> float:
    """The chi-square test's p-value on the 2 x 2 table [[a, b], [c, d]] with Yates' correction,
    by the textbook formula: chi2 = N (max(0, |ad - bc| - N/2))^2 / (row and column sums),
    and P(chi2 with 1 degree of freedom > x) = erfc(sqrt(x / 2))."""
    n = a + b + c + d
    chi2 = n * max(0.0, abs(a * d - b * c) - n / 2) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    return math.erfc(math.sqrt(chi2 / 2))


def test_feature_drift_rows_on_a_small_frame() -> None:
    reference = pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0], "night": [0, 0, 0, 1]})
    current = pd.DataFrame({"amount": [1.0, 2.0, 1.0, np.nan], "night": [0, 1, 1, np.nan]})
    # The significance test off (1.0): every value past its threshold is drift.
    ungated = DriftThresholds(significance=1.0)
    drift = feature_drift(reference, current, ["amount", "night"], ["night"], ungated, bins=2)
    # amount without its NaN is 1, 2, 1: shares 1.0, 0 on bins split at 2.5.
    # PSI = (1 - 0.5) ln 2 + (1e-4 - 0.5) ln(1e-4 / 0.5); KS: CDF gap 1 - 0.5 at x = 2.
    psi = 0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    js = math.sqrt((0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(2) + math.log2(4 / 3)) / 2)
    # Counts per bin 2, 2 vs 3, 0; night's values 0, 1: 3, 1 vs 1, 2; missing vs present 0, 4
    # vs 1, 3 (its Yates-corrected statistic is 0).
    binned, night = yates_p_value(2, 2, 3, 0), yates_p_value(3, 1, 1, 2)
    ks = ks_2samp([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 1.0]).pvalue  # scipy's KS test, as documented
    expected = pd.DataFrame(
        {
            "feature": ["amount"] * 4 + ["night"] * 2,
            "metric": ["psi", "js", "ks", "missing_share", "linf", "missing_share"],
            # night without its NaN is 0, 1, 1: share of 1 is 2/3 vs 1/4.
            "value": [psi, js, 0.5, 0.25, 2 / 3 - 1 / 4, 0.25],
            "threshold": [0.2, 0.1, 0.1, 0.05, 0.1, 0.05],
            "p_value": [binned, binned, ks, 1.0, night, 1.0],
            "drifted": [True] * 6,
        }
    )
    pd.testing.assert_frame_equal(drift, expected)
    # With the default significance (0.01) four rows and three rows differ by chance alone.
    gated = feature_drift(reference, current, ["amount", "night"], ["night"], bins=2)
    pd.testing.assert_frame_equal(gated, expected.assign(drifted=False))


def test_homogeneity_p_value_matches_the_textbook_test() -> None:
    # 50 of 100 vs 65 of 100: chi2 = 200 (1500 - 100)^2 / (100 * 100 * 115 * 85) = 4.0102.
    assert homogeneity_p_value([50, 50], [65, 35]) == pytest.approx(yates_p_value(50, 50, 65, 35))
    assert yates_p_value(50, 50, 65, 35) == pytest.approx(0.0452, abs=1e-4)
    # Without correction (k > 2): chi2 = sum (O - E)^2 / E over the 2 x 3 table, 2 degrees of
    # freedom, whose survival function is exp(-x / 2).
    observed = np.array([[10, 20, 30], [20, 20, 20]])
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0) / observed.sum()
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert homogeneity_p_value(*observed) == pytest.approx(math.exp(-chi2 / 2))
    # A category empty on both sides is dropped; one category left: nothing can differ.
    assert homogeneity_p_value([10, 0, 30], [20, 0, 20]) == pytest.approx(
        yates_p_value(10, 30, 20, 20)
    )
    assert homogeneity_p_value([5, 0], [7, 0]) == 1.0


def test_a_shift_past_its_threshold_on_too_few_rows_is_not_drift() -> None:
    # The weekend share moves 50% -> 65% (L-inf 0.15 > 0.1) on 100 rows each: p = 0.045.
    reference = pd.DataFrame({"weekend": [1] * 50 + [0] * 50})
    current = pd.DataFrame({"weekend": [1] * 65 + [0] * 35})
    drift = feature_drift(reference, current, ["weekend"], ["weekend"])
    linf = drift.set_index("metric").loc["linf"]
    assert linf["value"] == pytest.approx(0.15) and linf["p_value"] == pytest.approx(0.0452, 1e-3)
    assert not linf["drifted"]  # at the default significance, 0.01
    at_five_percent = DriftThresholds(significance=0.05)
    drift = feature_drift(reference, current, ["weekend"], ["weekend"], at_five_percent)
    assert drift.set_index("metric").loc["linf", "drifted"]


def test_sampling_noise_of_small_days_raises_no_alarm_where_thresholds_alone_do() -> None:
    # Thirty days of 300 payments from the training distribution, a 1% alert rate held to an
    # L-inf threshold of 0.005: chance alone moves a small day's metrics past the thresholds.
    def payments(seed: int, rows: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        frame = _payments(seed).head(rows)
        return frame.assign(alert=(rng.random(rows) < 0.01).astype(int))

    reference = payments(0, 5000)
    columns, binary = [*FEATURES, "alert"], [*BINARY, "alert"]
    per_feature = {"alert": {"linf": 0.005}}
    days = [payments(seed, 300) for seed in range(1, 31)]
    alarms = {
        significance: sum(
            feature_drift(reference, day, columns, binary, thresholds)["drifted"].any()
            for day in days
        )
        for significance, thresholds in [
            (1.0, DriftThresholds(per_feature=per_feature, significance=1.0)),
            (0.01, DriftThresholds(per_feature=per_feature)),
        ]
    }
    assert alarms[1.0] >= 10  # thresholds alone: a false alarm on a third of the days or more
    assert alarms[0.01] == 0
    # ... and a real shift on a small day is still caught: amounts up by one standard deviation.
    shifted = days[0].assign(amount=days[0]["amount"] + 1.0)
    drift = feature_drift(
        reference, shifted, columns, binary, DriftThresholds(per_feature=per_feature)
    )
    assert _drifted_features(drift) == {"amount": {"psi", "js", "ks"}}


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
        "p_value": pytest.approx(float("nan"), nan_ok=True),
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
    # 1 alert in 100 vs 2 in 100 is no evidence of change: the significance test is off here.
    ungated = DriftThresholds(per_feature={"alert": {"linf": 0.005}}, significance=1.0)
    drift = feature_drift(reference, current, ["alert"], ["alert"], ungated)
    assert drift["drifted"].tolist() == [True, False]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"psi": 0.0}, "psi must be positive"),
        ({"per_feature": {"x": {"p": 1.0}}}, "unknown"),
        ({"significance": 0.0}, r"significance must be in \(0, 1\]"),
    ],
)
def test_bad_thresholds_are_rejected(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DriftThresholds(**arguments)  # type: ignore[arg-type]


def test_a_missing_column_is_named() -> None:
    frame = pd.DataFrame({"amount": [1.0]})
    with pytest.raises(ValueError, match=r"current lacks the monitored columns \['night'\]"):
        feature_drift(frame.assign(night=0), frame, ["amount", "night"], ["night"])


def test_design_effect_by_hand() -> None:
    # Customers a (rows 1, 2) and b (rows 3, 4); x's ranks are its values. By hand, ANOVA:
    # sums 3 and 7, within SS = 30 - (9 + 49) / 2 = 1, between SS = 29 - 100 / 4 = 4,
    # MSW = 1 / (4 - 2) = 0.5, MSB = 4 / 1 = 4, n0 = (4 - 8 / 4) / 1 = 2,
    # rho = (4 - 0.5) / (4 + (2 - 1) 0.5) = 7 / 9; m = (2^2 + 2^2) / 4 = 2; deff = 1 + 7 / 9.
    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0],
            "constant_per_customer": [5.0, 5.0, 9.0, 9.0],
            "customer": ["a", "a", "b", "b"],
            "terminal": [1, 2, 3, 4],
        }
    )
    columns = ["x", "constant_per_customer"]
    effects = design_effects(frame, columns, ["customer"])
    assert effects["x"] == pytest.approx(16 / 9)
    assert effects["constant_per_customer"] == pytest.approx(2.0)  # rho = 1: m rows are 1
    # Every row its own terminal: no clustering; the largest effect over the two is kept.
    assert design_effects(frame, columns, ["terminal"]).tolist() == [1.0, 1.0]
    assert design_effects(frame, columns, ["terminal", "customer"]).equals(effects)
    # Missing ids are entities of their own; no entity column at all: independent rows.
    alone = frame.assign(customer=["a", None, None, "b"])
    assert design_effects(alone, columns, ["customer"]).tolist() == [1.0, 1.0]
    assert design_effects(frame, columns, ["no_such_column"]).tolist() == [1.0, 1.0]
    # One entity holds every row: the sample is worth one row.
    one = frame.assign(customer="a")
    assert design_effects(one, columns, ["customer"]).tolist() == [4.0, 4.0]


def test_rows_copied_per_entity_weigh_as_the_rows_once() -> None:
    # Each of 300 customers pays k = 5 identical payments: the tests must see 300 rows' worth of
    # evidence, and give the p-values of the 300 single rows.
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"amount": rng.normal(0, 1, 2000), "night": rng.random(2000) < 0.3})
    single = pd.DataFrame({"amount": rng.normal(0.15, 1, 300), "night": rng.random(300) < 0.36})
    single = single.assign(customer_id=np.arange(300), night=single["night"].astype(int))
    reference = reference.assign(customer_id=np.arange(2000), night=reference["night"].astype(int))
    copied = single.loc[single.index.repeat(5)].reset_index(drop=True)
    columns, binary = ["amount", "night"], ["night"]
    off = DriftThresholds(significance=1.0)
    once = feature_drift(reference, single, columns, binary, off, clusters=["customer_id"])
    naive = feature_drift(reference, copied, columns, binary, off)
    clustered = feature_drift(reference, copied, columns, binary, off, clusters=["customer_id"])
    assert design_effects(copied, columns, ["customer_id"]).tolist() == [5.0, 5.0]
    chi2_rows = clustered["metric"].isin(["psi", "js", "linf"])
    np.testing.assert_allclose(clustered["value"], naive["value"])  # values are not affected
    np.testing.assert_allclose(
        clustered.loc[chi2_rows, "p_value"], once.loc[chi2_rows, "p_value"], rtol=1e-9
    )
    # KS on the effective sizes is the asymptotic test of the single rows.
    ks = clustered.set_index("metric").loc["ks"]
    single_asymp = ks_2samp(reference["amount"], single["amount"], method="asymp").pvalue
    assert ks["p_value"] == pytest.approx(single_asymp, rel=1e-6)
    # Without the clusters, the copies overstate the evidence by orders of magnitude.
    assert (naive.loc[chi2_rows, "p_value"] < once.loc[chi2_rows, "p_value"] / 10).all()
