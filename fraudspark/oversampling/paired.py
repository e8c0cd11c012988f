"""A paired comparison of two methods over seeds, for the oversampling leaderboard.

Runs with the same seed share their data split and classifier initialisation, so the per-seed
difference removes that shared noise: the comparison is of differences, not of two means.
(To move to ``fraudspark/evaluation/leaderboard.py`` after the architecture move.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


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
