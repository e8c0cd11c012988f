"""The one leaderboard: evaluation rows (``fraud.evaluations`` or an in-memory
:class:`~fraudspark.evaluation.protocol.Evaluation`) as mean ± std over seeds, and the paired
comparison of the best oversampling setting against ``none`` and SMOTE.

One column list, :data:`LEADERBOARD_COLUMNS`, is what every leaderboard shows: the CLI's
``evaluate``, ``Evaluation.leaderboard()``, the table-reading path
(:func:`evaluation_rows` + :func:`leaderboard`), ``bench/oversampling.py`` and notebook 03.
The rows are the table's own columns, so both paths give the same board for the same rows.

Paired comparison: runs with the same seed share their data split and classifier
initialisation, so the per-seed difference removes that shared noise; the comparison is of
differences (their mean and spread), not of two means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from scipy import stats

from fraudspark.config import Config
from fraudspark.lakehouse.io import read_table, table_exists
from fraudspark.lakehouse.tables import EVALUATIONS, OVERSAMPLING_QUALITY
from fraudspark.oversampling.quality import ALL_FEATURES

# What a leaderboard row is a setting of: the model (``classifier-mlp``, ``rapp-nap``...), the
# oversampling method and its ratio (null for ``none`` and for the anomaly scorers).
SETTING_COLUMNS = ("model_name", "oversampling", "ratio")

# Synthetic-row quality (QualityReport.summary(); ``fraud.evaluations`` columns): the
# two-sample AUC of synthetic vs real fraud (0.5 ideal), train-on-synthetic-test-on-real AP,
# rows breaking a validity rule.
QUALITY_COLUMNS = ("two_sample_auc", "tstr_average_precision", "invalid_rows")

# THE column list: detection metrics, synthetic-row quality, cost. Every board shows these.
LEADERBOARD_COLUMNS = (
    "auc_roc",
    "average_precision",
    "cp_at_100",
    *QUALITY_COLUMNS,
    "train_seconds",
)

# Methods the best generative setting is compared with (same model and ratio).
BASELINES = ("none", "smote")


def leaderboard(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of :data:`LEADERBOARD_COLUMNS` per setting.

    ``rows``: one row per (model_name, oversampling, ratio, seed), with those columns and any
    of :data:`LEADERBOARD_COLUMNS` (missing ones, or nulls, count as absent). Returns one row per
    setting, in order of first appearance: the setting columns, ``<metric>_mean`` and
    ``<metric>_std`` (population std, ddof 0; NaN when absent) for each metric, and ``seeds``.
    Raises ValueError if a setting column or ``seed`` is missing.
    """
    missing = [c for c in (*SETTING_COLUMNS, "seed") if c not in rows.columns]
    if missing:
        raise ValueError(f"the rows have no column(s) {missing}")
    records = []
    # dropna=False: a null ratio (none, scorers) is a setting of its own.
    for setting, group in rows.groupby(list(SETTING_COLUMNS), sort=False, dropna=False):
        record: dict[str, object] = dict(zip(SETTING_COLUMNS, setting, strict=True))
        for metric in LEADERBOARD_COLUMNS:
            values = (
                pd.to_numeric(group[metric], errors="coerce").dropna().astype(np.float64)
                if metric in group
                else pd.Series(dtype=np.float64)
            )
            record[f"{metric}_mean"] = float(values.mean()) if len(values) else math.nan
            record[f"{metric}_std"] = float(values.std(ddof=0)) if len(values) else math.nan
        record["seeds"] = int(group["seed"].nunique())
        records.append(record)
    return pd.DataFrame(records)


def format_leaderboard(board: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """:func:`leaderboard`'s output as text cells: ``mean ± std`` per metric (``–`` when absent);
    metrics absent from every row are left out."""
    shown = board[list(SETTING_COLUMNS)].copy()
    shown["ratio"] = [("–" if pd.isna(r) else f"{r:g}") for r in shown["ratio"]]
    for metric in LEADERBOARD_COLUMNS:
        means, stds = board[f"{metric}_mean"], board[f"{metric}_std"]
        if means.isna().all():
            continue
        shown[metric] = [
            "–" if pd.isna(m) else f"{m:.{digits}f} ± {s:.{digits}f}"
            for m, s in zip(means, stds, strict=True)
        ]
    shown["seeds"] = board["seeds"]
    return shown


def evaluation_rows(
    spark: SparkSession, config: Config, evaluation_id: str | None = None
) -> pd.DataFrame:
    """The rows of ``fraud.evaluations`` (of one evaluation when ``evaluation_id`` is given), as
    pandas, in (evaluation, model, oversampling, ratio, seed) order; empty if no table."""
    if not table_exists(spark, config, EVALUATIONS):
        return pd.DataFrame(columns=["evaluation_id", *SETTING_COLUMNS, "seed"])
    rows = read_table(spark, config, EVALUATIONS)
    if evaluation_id is not None:
        rows = rows.where(F.col("evaluation_id") == evaluation_id)
    frame: pd.DataFrame = (
        rows.select("evaluation_id", *SETTING_COLUMNS, "seed", *LEADERBOARD_COLUMNS)
        .orderBy("evaluation_id", *SETTING_COLUMNS, "seed")
        .toPandas()
    )
    return frame


def oversampling_leaderboard(
    spark: SparkSession, config: Config, training_set: str
) -> pd.DataFrame:
    """Synthetic-row quality per method of ``fraud.oversampling_quality`` for ``training_set``
    (the :data:`QUALITY_COLUMNS` of the one list), two-sample AUC closest to 0.5 first."""
    if not table_exists(spark, config, OVERSAMPLING_QUALITY):
        return pd.DataFrame()
    rows: pd.DataFrame = (
        read_table(spark, config, OVERSAMPLING_QUALITY)
        .where((F.col("training_set") == training_set) & (F.col("feature") == ALL_FEATURES))
        .select("method", "generator_version", "metric", "value")
        .toPandas()
    )
    if rows.empty:
        return rows
    board = rows.pivot_table(index="method", columns="metric", values="value", aggfunc="first")
    board = board[list(QUALITY_COLUMNS)]
    return board.sort_values("two_sample_auc", key=lambda auc: (auc - 0.5).abs())


@dataclass(frozen=True)
class PairedComparison:
    """``method`` minus ``baseline`` on ``metric`` over the seeds both ran.

    ``mean_difference`` and ``std_difference`` (sample standard deviation, ddof 1) are over the
    per-seed differences; ``ci_low``/``ci_high`` the Student-t confidence interval of the mean
    difference; ``t_statistic``/``p_value`` scipy's two-sided paired t-test (``ttest_rel``).
    """

    method: str
    baseline: str
    metric: str
    seeds: tuple[int, ...]
    mean_difference: float
    std_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    t_statistic: float
    p_value: float

    def summary(self) -> str:
        return (
            f"{self.method} - {self.baseline} {self.metric}: {self.mean_difference:+.4f} "
            f"± {self.std_difference:.4f} (sd over {len(self.seeds)} seeds), "
            f"{self.confidence:.0%} CI [{self.ci_low:+.4f}, {self.ci_high:+.4f}], "
            f"paired t p = {self.p_value:.3f}"
        )


def paired_comparison(
    table: pd.DataFrame,
    method: str,
    baseline: str,
    metric: str,
    *,
    method_column: str = "method",
    seed_column: str = "seed",
    confidence: float = 0.95,
) -> PairedComparison:
    """Compare ``method`` with ``baseline`` on ``metric`` from a per-seed table.

    ``table`` has one row per (method, seed) with the metric as a column (other columns, such
    as a classifier, must already be filtered to one value). Seeds run by only one of the two
    are left out. Raises ValueError for a missing column, a duplicated (method, seed) or fewer
    than two common seeds (no spread to report).
    """
    for column in (method_column, seed_column, metric):
        if column not in table.columns:
            raise ValueError(f"the table has no column {column!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    values: dict[str, pd.Series] = {}
    for name in (method, baseline):
        rows = table[table[method_column] == name]
        if rows[seed_column].duplicated().any():
            raise ValueError(f"method {name!r} has more than one row for a seed")
        values[name] = rows.set_index(seed_column)[metric].astype(np.float64)
    seeds = sorted(set(values[method].index) & set(values[baseline].index))
    if len(seeds) < 2:
        raise ValueError(
            f"{method!r} and {baseline!r} share {len(seeds)} seed(s); a paired comparison needs 2"
        )
    ours = values[method].loc[seeds].to_numpy()
    theirs = values[baseline].loc[seeds].to_numpy()
    differences = ours - theirs
    mean, spread = float(differences.mean()), float(differences.std(ddof=1))
    half_width = (
        float(stats.t.ppf((1 + confidence) / 2, len(seeds) - 1)) * spread / math.sqrt(len(seeds))
    )
    test = stats.ttest_rel(ours, theirs)
    return PairedComparison(
        method=method,
        baseline=baseline,
        metric=metric,
        seeds=tuple(int(seed) for seed in seeds),
        mean_difference=mean,
        std_difference=spread,
        ci_low=mean - half_width,
        ci_high=mean + half_width,
        confidence=confidence,
        t_statistic=float(test.statistic),
        p_value=float(test.pvalue),
    )


@dataclass(frozen=True)
class BestComparison:
    """The best generative setting (highest mean ``metric``) and its paired comparisons with
    each baseline method run for the same model and ratio (absent baselines are skipped)."""

    model_name: str
    oversampling: str
    ratio: float | None
    mean: float
    comparisons: tuple[PairedComparison, ...]

    def summary(self) -> str:
        ratio = "–" if self.ratio is None else f"{self.ratio:g}"
        lines = [
            f"best: {self.oversampling} x {self.model_name} at ratio {ratio} "
            f"(mean {self.comparisons[0].metric if self.comparisons else 'metric'} "
            f"{self.mean:.4f})"
        ]
        lines += [f"  {comparison.summary()}" for comparison in self.comparisons]
        return "\n".join(lines)


def compare_best(
    rows: pd.DataFrame,
    metric: str = "average_precision",
    baselines: Sequence[str] = BASELINES,
    confidence: float = 0.95,
) -> BestComparison:
    """Pick the generative setting (oversampling not among ``baselines``) with the highest mean
    ``metric`` over seeds, and compare it, seed by seed, with each baseline for the same
    ``model_name`` and ratio (``none`` ignores the ratio: its rows of any or no ratio count,
    and must then hold one row per seed).

    ``rows`` as for :func:`leaderboard`. Raises ValueError when no generative setting has the
    metric, or (from :func:`paired_comparison`) when a baseline shares fewer than two seeds.
    """
    scored = rows[rows[metric].notna() & ~rows["oversampling"].isin(list(baselines))]
    if scored.empty:
        raise ValueError(f"no generative oversampling rows with {metric!r} to rank")
    means = scored.groupby(list(SETTING_COLUMNS), dropna=False, sort=False)[metric].mean()
    best: tuple[Any, Any, Any] = means.idxmax()  # type: ignore[assignment]
    model_name, oversampling, ratio = best
    same_model = rows[rows["model_name"] == model_name]
    comparisons = []
    for baseline in baselines:
        peers = same_model[same_model["oversampling"] == baseline]
        if baseline != "none":
            peers = peers[peers["ratio"] == ratio]
        if peers.empty:
            continue
        best = scored[
            (scored["model_name"] == model_name)
            & (scored["oversampling"] == oversampling)
            & (scored["ratio"] == ratio)
        ]
        table = pd.concat([best, peers])[["oversampling", "seed", metric]]
        comparisons.append(
            paired_comparison(
                table,
                oversampling,
                baseline,
                metric,
                method_column="oversampling",
                confidence=confidence,
            )
        )
    return BestComparison(
        model_name=str(model_name),
        oversampling=str(oversampling),
        ratio=None if pd.isna(ratio) else float(ratio),
        mean=float(means.max()),
        comparisons=tuple(comparisons),
    )
