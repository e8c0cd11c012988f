"""Model monitoring: drift of inputs, scores and alert rate against the training data, and the
HTML report of a monitor run.

>>> drift = feature_drift(training, scored_day, features, binary_features)  # doctest: +SKIP
>>> hint = retrain_hint(drift)  # None when nothing drifted               # doctest: +SKIP
"""

from __future__ import annotations

from fraudspark.monitoring.drift import (
    DRIFT_COLUMNS,
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
from fraudspark.monitoring.report import format_summary, write_report

__all__ = [
    "DRIFT_COLUMNS",
    "EMPTY_BIN_SHARE",
    "DriftThresholds",
    "RetrainHint",
    "drift_summary",
    "feature_drift",
    "format_summary",
    "jensen_shannon_distance",
    "kolmogorov_smirnov",
    "linf_distance",
    "population_stability_index",
    "quantile_bin_edges",
    "retrain_hint",
    "write_report",
]
