"""What new traffic is compared with: a model's training rows, sampled, and the day's rows."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.features.definitions import CALENDAR_FEATURES
from fraudspark.features.model_inputs import model_inputs
from fraudspark.features.store import feature_rows
from fraudspark.features.training_data import classifier_training_rows
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import SCORES
from fraudspark.models.loader import CLASSIFIER_FORMATS, load_model
from fraudspark.monitoring.drift import DriftThresholds
from fraudspark.registry import RegisteredModel

# Rows per side brought to the driver for distribution metrics: enough for PSI noise far below
# its threshold ((bins - 1) * 2 / n ~ 0.001), small enough for any driver.
SAMPLE_ROWS = 20_000


SEED = 17


DAYS_IN_WEEK = 7


DAY_OF_WEEK_FEATURES = ("tx_during_weekend",)  # constant within a day


def thresholds_from(config: Config) -> DriftThresholds:
    settings = config.monitoring
    return DriftThresholds(
        **settings.thresholds.model_dump(), per_feature=settings.feature_thresholds
    )


def binary_columns(features: list[str]) -> list[str]:
    """Model inputs that are flags: the calendar flags and the missing-month indicators."""
    return [f for f in features if f in CALENDAR_FEATURES or f.endswith("_missing")]


def _sample(frame: DataFrame, rows: int) -> pd.DataFrame:
    # Cached: counting and then collecting would otherwise compute the feature rows twice.
    frame = frame.cache()
    try:
        total = frame.count()
        sampled = frame
        if total > rows:
            sampled = frame.sample(fraction=min(1.0, 1.2 * rows / total), seed=SEED).limit(rows)
        return sampled.toPandas()
    finally:
        frame.unpersist()


def training_rows(spark: SparkSession, config: Config, metadata: dict[str, Any]) -> DataFrame:
    """The rows a model version was trained on, read through the Delta versions its training
    recorded; for a classifier (MLP or GBT) only the real ones, since drift is about real
    traffic."""
    if metadata.get("format") in CLASSIFIER_FORMATS:
        return classifier_training_rows(spark, config, metadata)
    extra: dict[str, Any] = metadata.get("extra", {})
    start = date.fromisoformat(extra["training_start"])
    end = date.fromisoformat(extra["training_end"])
    rows = feature_rows(spark, config, start, end, dict(extra["data_versions"]))
    if extra.get("include_known_frauds") != "true":
        rows = rows.where(F.col("is_fraud").isNull() | (F.col("is_fraud") != 1))
    return rows


def _reference(
    spark: SparkSession, config: Config, registered: RegisteredModel, features: list[str]
) -> pd.DataFrame:
    """A sample of the model's training rows, as trained on, with their in-process scores."""
    rows = training_rows(spark, config, registered.artifact.metadata)
    sample = _sample(model_inputs(rows, features).select(*features), SAMPLE_ROWS)
    scored = load_model(registered.artifact).score(sample[features])
    return pd.concat(
        [sample, scored[["score", "is_alert", "top_features", "top_feature_shares"]]], axis=1
    )


def _current(
    spark: SparkSession,
    config: Config,
    registered: RegisteredModel,
    features: list[str],
    start: date,
    end: date,
) -> pd.DataFrame:
    """A sample of the scored rows of ``start``..``end``: model inputs, score and alert flag."""
    scores = (
        read_table(spark, config, SCORES)
        .where(F.col("model_name") == registered.name)
        .where(F.col("model_version") == registered.version)
        .where(F.col("tx_date").between(F.lit(start), F.lit(end)))
        .select("tx_id", "tx_date", "score", "is_alert")
    )
    rows = model_inputs(feature_rows(spark, config, start, end), features)
    joined = rows.join(scores, ["tx_id", "tx_date"]).select(*features, "score", "is_alert")
    return _sample(joined, SAMPLE_ROWS)
