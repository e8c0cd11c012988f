"""Drift metrics between a model's training data (the reference) and newly scored data.

Numeric columns are compared on the reference's quantile bins with the population stability
index (PSI) and the Jensen–Shannon distance, and on their raw values with the Kolmogorov–Smirnov
statistic. Binary (and categorical) columns are compared with the L∞ distance between value
shares. The model's score is monitored as a numeric column and its alert flag as a binary one,
so the alert-rate change is the alert column's L∞ distance. Missing values are dropped before the
distribution metrics, and every column also gets ``missing_share``: the absolute change in its
share of missing values (a monthly feature going null for everyone is drift too).

Default thresholds are the usual rules of thumb, meant to be overridden from configuration:

- PSI 0.2: the credit-scoring convention reads < 0.1 as stable, 0.1–0.2 as moderate and > 0.2
  (some say 0.25) as a significant shift; 0.2 is e.g. CapyMOA's PSI detector default.
- Jensen–Shannon distance 0.1: the default of Evidently's and CapyMOA's JS drift tests.
- KS statistic 0.1: a 10-point gap between the two CDFs. The statistic, not the p-value, is
  thresholded because on tens of thousands of rows every negligible shift is significant.
- L∞ 0.1 and missing share 0.05: a 10-point (5-point) move of one value's share. Vertex AI Model
  Monitoring (FraudFinder's monitor) also uses L∞ for categorical features; it lets a feature
  override the default, as :class:`DriftThresholds` ``per_feature`` does (a 1% alert rate needs
  a far smaller L∞ threshold than 0.1).

The metrics are noisy on small samples: an unchanged feature scores PSI ≈ (bins − 1)(1/n + 1/m)
on n reference and m current rows, about 0.004 for 10 bins and 5000 rows each, but 0.2 for 100;
a 1% alert rate on a day of 300 rows moves by ±0.6 points from chance alone. So a metric flags
drift only when its value is past its threshold **and** the difference is significant at level
``significance`` (default 0.01) by a two-sample test on the same data: the chi-square test of
homogeneity of the binned counts for PSI and JS, of the value counts for L∞ and of the
missing/present counts for ``missing_share`` (``scipy.stats.chi2_contingency``, Yates'
correction on 2×2 tables), and the KS test's own p-value (``scipy.stats.ks_2samp``). On tens of
thousands of rows every shift past a threshold is significant and the thresholds decide; on a
small day the test keeps sampling noise from raising alarms. (Evidently makes the same split by
sample size: a statistical test on small samples, a distance on large ones.) The p-value is kept
beside each value.

Those tests take rows as independent, and a day's rows are not: the payments of one customer
share its spending level and its 30-day counts, and those of one terminal its risk, so a day of
1,000 payments from 300 customers holds less evidence than 1,000 independent rows. Given the
entity columns of each row (``clusters``, e.g. the customer and terminal ids), each side's
sample size is divided by its **design effect** (Kish, *Survey Sampling*, 1965):
deff = 1 + (m − 1) ρ, with m = Σ n_i² / Σ n_i the size-weighted mean number of rows per entity
and ρ the intra-class correlation of the column's ranks within entities, by the one-way ANOVA
estimator (Donner, *Int. Stat. Rev.* 54, 1986). The chi-square tests then run on the effective
counts, count / deff per side (the first-order Rao–Scott correction, *JASA* 76, 1981), and the
KS test on the effective sizes, by the asymptotic Kolmogorov distribution that ``ks_2samp``
uses for large samples (``scipy.stats.kstwo``). A column gets the largest design effect over
the entity columns; rows with no entity id count as entities of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, kstwo

# Share given to an empty bin in the PSI, whose ln(c / r) is infinite otherwise.
EMPTY_BIN_SHARE = 1e-4
METRICS = ("psi", "js", "ks", "linf", "missing_share")
DRIFT_COLUMNS = ("feature", "metric", "value", "threshold", "p_value", "drifted")


@dataclass(frozen=True)
class DriftThresholds:
    """A drift alarm per metric: a value strictly above its threshold is drift, when the
    difference's p-value is at most ``significance`` (1.0 turns that test off).

    ``per_feature`` overrides a metric's threshold for one column, as in
    ``{"alert": {"linf": 0.005}}``.
    """

    psi: float = 0.2
    js: float = 0.1
    ks: float = 0.1
    linf: float = 0.1
    missing_share: float = 0.05
    per_feature: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    significance: float = 0.01

    def __post_init__(self) -> None:
        checks = [(metric, getattr(self, metric)) for metric in METRICS]
        for feature, by_metric in self.per_feature.items():
            unknown = sorted(set(by_metric) - set(METRICS))
            if unknown:
                raise ValueError(f"per_feature[{feature!r}]: unknown drift metrics {unknown}")
            checks += [(f"{feature}.{metric}", value) for metric, value in by_metric.items()]
        for name, value in checks:
            if not value > 0:
                raise ValueError(f"drift threshold {name} must be positive, got {value}")
        if not 0 < self.significance <= 1:
            raise ValueError(f"drift significance must be in (0, 1], got {self.significance}")

    def threshold(self, feature: str, metric: str) -> float:
        """The threshold of ``metric`` for ``feature``: its override, else the default."""
        override = self.per_feature.get(feature, {}).get(metric)
        return float(getattr(self, metric) if override is None else override)


@dataclass(frozen=True)
class RetrainHint:
    """The columns that drifted, worst first, and how far past their thresholds they are.

    ``severity`` is the largest value / threshold ratio (1 is at the threshold);
    ``max_by_metric`` the largest drifted value of each metric.
    """

    features: tuple[str, ...]
    severity: float
    max_by_metric: dict[str, float]

    def as_drift_row(self) -> dict[str, object]:
        """The hint as a ``fraud.drift`` row: features comma-joined, value = severity."""
        return {
            "feature": ",".join(self.features),
            "metric": "retrain_hint",
            "value": self.severity,
            "threshold": 1.0,
            "p_value": float("nan"),
            "drifted": True,
        }


def quantile_bin_edges(reference: ArrayLike, bins: int = 10) -> np.ndarray:
    """Edges of ``bins`` quantile bins of ``reference``, from -inf to +inf.

    Bins are right-closed, ``(edge[i], edge[i + 1]]``, and outer edges are infinite so that
    current values outside the reference range still land in a bin. Tied quantiles are merged,
    so a reference with a point mass (say 60% zeros) gets fewer, wider bins, the mass in one.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    values = _finite(reference, "reference")
    inner = np.unique(np.quantile(values, np.arange(1, bins) / bins))
    return np.concatenate(([-np.inf], inner, [np.inf]))


def population_stability_index(
    reference: ArrayLike, current: ArrayLike, bins: int = 10, epsilon: float = EMPTY_BIN_SHARE
) -> float:
    """PSI = Σ (c_i − r_i) ln(c_i / r_i) over the reference's quantile bins.

    A bin share below ``epsilon`` counts as ``epsilon`` on either side, so a bin empty on one
    side adds a large but finite term (shares are not renormalised afterwards).
    """
    return _psi_of_shares(*_binned_shares(reference, current, bins), epsilon)


def _psi_of_shares(
    ref_shares: np.ndarray, cur_shares: np.ndarray, epsilon: float = EMPTY_BIN_SHARE
) -> float:
    ref_shares, cur_shares = np.maximum(ref_shares, epsilon), np.maximum(cur_shares, epsilon)
    return float(np.sum((cur_shares - ref_shares) * np.log(cur_shares / ref_shares)))


def jensen_shannon_distance(reference: ArrayLike, current: ArrayLike, bins: int = 10) -> float:
    """Jensen–Shannon distance (square root of the divergence, base 2, so in [0, 1]).

    Computed on the reference's quantile bins by ``scipy.spatial.distance.jensenshannon``;
    empty bins need no floor.
    """
    ref_shares, cur_shares = _binned_shares(reference, current, bins)
    return float(jensenshannon(ref_shares, cur_shares, base=2))


def kolmogorov_smirnov(reference: ArrayLike, current: ArrayLike) -> float:
    """Two-sample Kolmogorov–Smirnov statistic: the largest gap between the empirical CDFs."""
    result = ks_2samp(_finite(reference, "reference"), _finite(current, "current"))
    return float(result.statistic)


def linf_distance(reference: ArrayLike, current: ArrayLike) -> float:
    """L∞ distance max_v |p_ref(v) − p_cur(v)| between value shares, for discrete columns.

    A value seen on one side only counts with share 0 on the other.
    """
    ref_counts, cur_counts = _value_counts(reference, current)
    return float(np.max(np.abs(ref_counts / ref_counts.sum() - cur_counts / cur_counts.sum())))


def homogeneity_p_value(
    reference_counts: ArrayLike, current_counts: ArrayLike, deffs: tuple[float, float] = (1, 1)
) -> float:
    """p-value of the chi-square test that two samples' counts over the same categories (bins,
    values) come from one distribution (``scipy.stats.chi2_contingency`` on the 2 × k table,
    Yates' correction when k = 2). Categories empty on both sides are dropped; with fewer than
    two left the samples cannot differ and the p-value is 1.

    ``deffs`` are the two samples' design effects (:func:`design_effects`): each row of the
    table is divided by its own before the test (effective counts, the first-order Rao–Scott
    correction), so rows copied k times give the p-value of the rows once.
    """
    table = np.vstack([np.asarray(reference_counts), np.asarray(current_counts)]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    table /= np.asarray(deffs, dtype=float)[:, None]
    return float(chi2_contingency(table).pvalue)


def _ks_test(
    reference: np.ndarray, current: np.ndarray, deffs: tuple[float, float]
) -> tuple[float, float]:
    """The two-sample KS statistic and p-value. With design effects other than 1, the p-value
    is the asymptotic Kolmogorov distribution on the effective sizes n / deff, as
    ``scipy.stats.ks_2samp(method="asymp")`` computes it (``kstwo.sf(D, round(n m / (n + m)))``);
    without, ``ks_2samp``'s own (exact on small samples)."""
    result = ks_2samp(reference, current)
    if deffs == (1, 1):
        return float(result.statistic), float(result.pvalue)
    n, m = reference.size / deffs[0], current.size / deffs[1]
    return float(result.statistic), float(
        kstwo.sf(result.statistic, max(1, round(n * m / (n + m))))
    )


def design_effects(
    frame: pd.DataFrame,
    columns: Sequence[str],
    clusters: Sequence[str],
    ids: pd.DataFrame | None = None,
) -> pd.Series:
    """Kish's design effect of each column of ``frame`` (a float per column, ≥ 1): by how much
    rows that share an entity (``clusters``, columns of ``ids``, by default of ``frame``)
    shrink the sample's information, deff = 1 + (m − 1) ρ (module docstring).

    m = Σ n_i² / Σ n_i over the entities' row counts n_i; ρ is the ANOVA intra-class
    correlation of the column's ranks (missing values left out), clipped to [0, 1]; ρ is 0 when
    every row is its own entity and 1 when every entity is constant, or when one entity holds
    every row. Rows with a missing id are entities of their own. A column gets the largest
    effect over ``clusters``; cluster columns absent from ``ids`` are skipped, so with none the
    effect is 1.
    """
    ids = frame if ids is None else ids
    effects = pd.Series(1.0, index=list(columns))
    ranks = frame[list(columns)].rank()
    for cluster in clusters:
        if cluster not in ids.columns or ranks.empty:
            continue
        codes, _ = pd.factorize(ids[cluster])
        alone = codes < 0
        codes[alone] = codes.max() + 1 + np.arange(alone.sum())
        effects = effects.combine(_kish_design_effects(ranks, codes), max)
    return effects


def _kish_design_effects(values: pd.DataFrame, codes: np.ndarray) -> pd.Series:
    """deff = 1 + (m − 1) ρ per column, entities given by integer ``codes`` (see above)."""
    grouped = values.groupby(codes)
    sizes, sums = grouped.count(), grouped.sum()
    squares = (values**2).groupby(codes).sum()
    total = sizes.sum()
    entities = (sizes > 0).sum()
    mean_size = (sizes**2).sum() / total  # m
    within = squares.sum() - (sums**2 / sizes.where(sizes > 0)).sum()
    between = (sums**2 / sizes.where(sizes > 0)).sum() - sums.sum() ** 2 / total
    ms_within = within / (total - entities)
    ms_between = between / (entities - 1)
    n0 = (total - (sizes**2).sum() / total) / (entities - 1)
    rho = (ms_between - ms_within) / (ms_between + (n0 - 1) * ms_within)
    rho = rho.where(ms_within > 0, np.where(ms_between > 0, 1.0, 0.0))  # constant entities
    rho = rho.where(total > entities, 0.0)  # every row its own entity
    rho = rho.where(entities > 1, 1.0)  # one entity: one row's worth of evidence
    rho = rho.clip(0.0, 1.0).fillna(0.0)
    return (1 + (mean_size - 1) * rho).where(total > 0, 1.0).astype(float)


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str],
    binary_features: Sequence[str] = (),
    thresholds: DriftThresholds | None = None,
    bins: int = 10,
    clusters: Sequence[str] = (),
) -> pd.DataFrame:
    """Drift rows ``feature, metric, value, threshold, p_value, drifted`` for every column in
    ``features``.

    Columns in ``binary_features`` (a subset of ``features``) get ``linf`` and
    ``missing_share``; the others ``psi``, ``js``, ``ks`` and ``missing_share``, in that order.
    ``drifted`` is ``value > threshold and p_value <= thresholds.significance`` (module
    docstring: the tests behind the p-values). A metric with no values to compare (a side all
    missing or empty) is NaN and not drifted. ``clusters`` names entity-id columns (customer,
    terminal) whose rows are not independent: the p-values then use effective sample sizes
    (:func:`design_effects`); a side without such a column counts its rows as independent.
    """
    thresholds = thresholds or DriftThresholds()
    features = list(features)
    _check_columns(reference, current, features, binary_features)
    binary = set(binary_features)
    effects = {
        side: (
            design_effects(frame, features, clusters),
            design_effects(frame[features].isna().astype(float), features, clusters, frame),
        )
        for side, frame in (("reference", reference), ("current", current))
    }
    rows = []
    for feature in features:
        ref_column, cur_column = reference[feature], current[feature]
        ref_deff, ref_missing_deff = (e[feature] for e in effects["reference"])
        cur_deff, cur_missing_deff = (e[feature] for e in effects["current"])
        values = _distribution_metrics(
            ref_column.dropna(),
            cur_column.dropna(),
            binary=feature in binary,
            bins=bins,
            deffs=(ref_deff, cur_deff),
        )
        values["missing_share"] = _missing_share(
            ref_column, cur_column, (ref_missing_deff, cur_missing_deff)
        )
        for metric, (value, p_value) in values.items():
            threshold = thresholds.threshold(feature, metric)
            drifted = value > threshold and p_value <= thresholds.significance
            rows.append((feature, metric, float(value), threshold, float(p_value), bool(drifted)))
    return pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))


def drift_summary(drift: pd.DataFrame) -> pd.DataFrame:
    """One row per feature: its worst metric by ``severity`` = value / threshold.

    Drifted features come first, then by decreasing severity; the short table of a report.
    """
    ranked = drift.assign(severity=drift["value"] / drift["threshold"]).sort_values(
        ["drifted", "severity"], ascending=False, na_position="last", kind="stable"
    )
    return ranked.drop_duplicates("feature").reset_index(drop=True)


def retrain_hint(drift: pd.DataFrame) -> RetrainHint | None:
    """What a retraining should look at, from :func:`feature_drift` rows; None if nothing drifted.

    The score and alert columns, when monitored, count like features.
    """
    summary = drift_summary(drift)
    drifted = summary[summary["drifted"]]
    if drifted.empty:
        return None
    flagged = drift[drift["drifted"]]
    return RetrainHint(
        features=tuple(drifted["feature"]),
        severity=float(drifted["severity"].iloc[0]),
        max_by_metric={
            str(metric): float(value)
            for metric, value in flagged.groupby("metric")["value"].max().items()
        },
    )


def _finite(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f"{name} holds no values")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values; drop them first")
    return array


def _binned_counts(
    reference: ArrayLike, current: ArrayLike, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of reference and current rows in each of the reference's quantile bins."""
    ref_values, cur_values = _finite(reference, "reference"), _finite(current, "current")
    inner = quantile_bin_edges(ref_values, bins)[1:-1]
    # searchsorted(side="left") counts the edges strictly below a value: its right-closed bin.
    ref_counts = np.bincount(np.searchsorted(inner, ref_values), minlength=inner.size + 1)
    cur_counts = np.bincount(np.searchsorted(inner, cur_values), minlength=inner.size + 1)
    return ref_counts, cur_counts


def _binned_shares(
    reference: ArrayLike, current: ArrayLike, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shares of reference and current rows in each of the reference's quantile bins."""
    ref_counts, cur_counts = _binned_counts(reference, current, bins)
    return ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()


def _value_counts(reference: ArrayLike, current: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Counts of each value seen on either side (0 where a side lacks it), in one order."""
    ref_values, cur_values = np.asarray(reference).ravel(), np.asarray(current).ravel()
    if ref_values.size == 0 or cur_values.size == 0:
        raise ValueError("reference and current must both hold values")
    values, codes = np.unique(np.concatenate([ref_values, cur_values]), return_inverse=True)
    ref_counts = np.bincount(codes[: ref_values.size], minlength=values.size)
    return ref_counts, np.bincount(codes[ref_values.size :], minlength=values.size)


def _missing_share(
    reference: pd.Series, current: pd.Series, deffs: tuple[float, float]
) -> tuple[float, float]:
    """The change in the share of missing values, and its p-value."""
    ref_missing, cur_missing = int(reference.isna().sum()), int(current.isna().sum())
    if reference.empty or current.empty:
        return np.nan, np.nan
    value = abs(cur_missing / current.size - ref_missing / reference.size)
    counts = [ref_missing, reference.size - ref_missing], [cur_missing, current.size - cur_missing]
    return value, homogeneity_p_value(*counts, deffs)


def _distribution_metrics(
    reference: pd.Series,
    current: pd.Series,
    *,
    binary: bool,
    bins: int,
    deffs: tuple[float, float],
) -> dict[str, tuple[float, float]]:
    """Each metric's (value, p-value) on the non-missing values."""
    if reference.empty or current.empty:
        return dict.fromkeys(("linf",) if binary else ("psi", "js", "ks"), (np.nan, np.nan))
    if binary:
        ref_values, cur_values = reference.to_numpy(), current.to_numpy()
        p_value = homogeneity_p_value(*_value_counts(ref_values, cur_values), deffs)
        return {"linf": (linf_distance(ref_values, cur_values), p_value)}
    ref_values = reference.to_numpy(dtype=np.float64)
    cur_values = current.to_numpy(dtype=np.float64)
    ref_counts, cur_counts = _binned_counts(ref_values, cur_values, bins)
    binned = homogeneity_p_value(ref_counts, cur_counts, deffs)
    ref_shares, cur_shares = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    return {
        "psi": (_psi_of_shares(ref_shares, cur_shares), binned),
        "js": (float(jensenshannon(ref_shares, cur_shares, base=2)), binned),
        "ks": _ks_test(ref_values, cur_values, deffs),
    }


def _check_columns(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Sequence[str],
    binary_features: Sequence[str],
) -> None:
    not_monitored = sorted(set(binary_features) - set(features))
    if not_monitored:
        raise ValueError(f"binary_features {not_monitored} are not in features")
    for name, frame in (("reference", reference), ("current", current)):
        missing = [feature for feature in features if feature not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks the monitored columns {missing}")
