"""The leaderboards: evaluation rows and synthetic-row quality side by side, one column list."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.lakehouse.io import read_table, table_exists
from fraudspark.lakehouse.tables import OVERSAMPLING_QUALITY
from fraudspark.oversampling.quality import ALL_FEATURES

# Synthetic-row quality shown on the oversampling leaderboard (see QualityReport).
LEADERBOARD_QUALITY = ("two_sample_auc", "tstr_average_precision", "invalid_rows")


LEADERBOARD_COLUMNS = (
    "two_sample_auc",
    "tstr_average_precision",
    "mean_ks",
    "mean_wasserstein",
    "correlation_difference",
    "invalid_rows",
)


def oversampling_leaderboard(
    spark: SparkSession, config: Config, training_set: str
) -> pd.DataFrame:
    """One row per method with a quality report for ``training_set``, best two-sample AUC first."""
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
    board = board[list(LEADERBOARD_COLUMNS)]
    return board.sort_values("two_sample_auc", key=lambda auc: (auc - 0.5).abs())
