"""How realistic synthetic fraud rows are.

Per-feature distances (KS, Wasserstein), the correlation difference, a two-sample test (a
classifier telling synthetic from real fraud), train-on-synthetic-test-on-real average precision
and the rows that break a validity rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from scipy import stats
from threadpoolctl import threadpool_limits

from fraudspark.features.model_inputs import model_inputs
from fraudspark.oversampling import FeatureSchema, count_violations

# Rows collected to the driver for the quality metrics, per kind (synthetic, normal).
QUALITY_SAMPLE_ROWS = 5_000


ALL_FEATURES = "*"  # the ``feature`` of a quality metric over all features


def feature_matrix(rows: DataFrame, features: Sequence[str]) -> np.ndarray:
    """The rows' model inputs collected as a float64 matrix (nulls imputed as for scoring)."""
    frame: pd.DataFrame = model_inputs(rows, features).select(*features).toPandas()
    matrix: np.ndarray = frame.to_numpy(np.float64)
    return matrix


def _normal_sample(rows: DataFrame, features: Sequence[str], size: int, seed: int) -> np.ndarray:
    """``size`` normal rows drawn at random (a per-partition top-k: no full sort)."""
    return feature_matrix(
        rows.where(F.col("is_fraud") == 0).orderBy(F.rand(seed)).limit(size), features
    )


@dataclass(frozen=True)
class QualityReport:
    """How far a method's synthetic fraud rows are from the real ones.

    ``wasserstein`` is in units of each feature's standard deviation over the real fraud rows.
    ``two_sample_auc``: a classifier cross-validated on real vs synthetic fraud (0.5 is ideal).
    ``tstr_average_precision``: trained on synthetic fraud + half the normal sample, tested on
    the real fraud + the other half. The real fraud rows are the generator's own training rows,
    so this measures fidelity, not generalisation (the benchmark measures that).
    """

    ks: dict[str, float]
    wasserstein: dict[str, float]
    correlation_difference: float
    two_sample_auc: float
    tstr_average_precision: float
    invalid_rows: int
    real_rows: int
    synthetic_rows: int

    def summary(self) -> dict[str, float]:
        """The per-method figures of the leaderboard."""
        return {
            "mean_ks": float(np.mean(list(self.ks.values()))),
            "mean_wasserstein": float(np.mean(list(self.wasserstein.values()))),
            "correlation_difference": self.correlation_difference,
            "two_sample_auc": self.two_sample_auc,
            "tstr_average_precision": self.tstr_average_precision,
            "invalid_rows": float(self.invalid_rows),
        }


def _quality_classifier(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=100, random_state=seed)


def _correlation(rows: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation: np.ndarray = np.nan_to_num(np.corrcoef(rows, rowvar=False))
    return correlation  # a constant column's correlations are 0


def synthetic_quality(
    real: np.ndarray,
    synthetic: np.ndarray,
    normal: np.ndarray,
    feature_names: Sequence[str],
    *,
    invalid_rows: int,
    synthetic_rows: int,
    seed: int = 0,
) -> QualityReport:
    """Compare real and synthetic fraud rows (see :class:`QualityReport`).

    ``synthetic`` and ``normal`` may be samples; ``synthetic_rows`` and ``invalid_rows`` are
    counted over all synthetic rows by the caller.
    """
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    scale = real.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    names = list(feature_names)
    ks = {
        name: float(stats.ks_2samp(real[:, j], synthetic[:, j]).statistic)
        for j, name in enumerate(names)
    }
    wasserstein = {
        name: float(stats.wasserstein_distance(real[:, j] / scale[j], synthetic[:, j] / scale[j]))
        for j, name in enumerate(names)
    }
    upper = np.triu_indices(len(names), k=1)
    correlation = float(
        np.mean(np.abs(_correlation(real) - _correlation(synthetic))[upper]) if upper[0].size else 0
    )
    both = np.vstack([real, synthetic])
    is_synthetic = np.r_[np.zeros(len(real)), np.ones(len(synthetic))]
    folds = min(5, len(real), len(synthetic))
    two_sample = float("nan")
    order = np.random.default_rng(seed).permutation(len(normal))
    train_normal, test_normal = normal[order[: len(order) // 2]], normal[order[len(order) // 2 :]]
    # One OpenMP thread: on a few thousand rows the boosting's threads mostly wait for each
    # other, and on a busy machine they spin (measured under load: 5-fold CV 2.3 s on one
    # thread, 27.7 s on two).
    with threadpool_limits(limits=1, user_api="openmp"):
        if folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
            two_sample = float(
                cross_val_score(
                    _quality_classifier(seed), both, is_synthetic, cv=cv, scoring="roc_auc"
                ).mean()
            )
        model = _quality_classifier(seed).fit(
            np.vstack([synthetic, train_normal]),
            np.r_[np.ones(len(synthetic)), np.zeros(len(train_normal))],
        )
    test = np.vstack([real, test_normal])
    tstr = float(
        average_precision_score(
            np.r_[np.ones(len(real)), np.zeros(len(test_normal))], model.predict_proba(test)[:, 1]
        )
    )
    return QualityReport(
        ks, wasserstein, correlation, two_sample, tstr, invalid_rows, len(real), synthetic_rows
    )


def _invalid_in_batches(
    batches: Iterable[pa.RecordBatch], schema_json: list[dict[str, Any]]
) -> Iterator[pa.RecordBatch]:
    schema = FeatureSchema.from_json(schema_json)
    invalid = 0
    for batch in batches:
        rows = np.column_stack(
            [batch.column(name).to_numpy(zero_copy_only=False) for name in schema.names]
        )
        if sum(count_violations(rows, schema).values()):  # rare: find the rows one by one
            invalid += sum(bool(sum(count_violations(row[None], schema).values())) for row in rows)
    yield pa.RecordBatch.from_arrays([pa.array([invalid], pa.int64())], names=["invalid"])


def count_invalid_rows(rows: DataFrame, feature_names: Sequence[str]) -> int:
    """Rows breaking a validity rule of :mod:`~fraudspark.oversampling.tabular`, counted in Spark.

    A missing monthly value counts as 0, as the models see it.
    """
    schema_json = FeatureSchema.from_names(list(feature_names)).to_json()

    def count_partition(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        return _invalid_in_batches(batches, schema_json)

    counted = (
        model_inputs(rows, feature_names)
        .select(*feature_names)
        .mapInArrow(count_partition, "invalid long")
        .agg(F.sum("invalid"))
        .first()
    )
    return int(counted[0] or 0) if counted else 0
