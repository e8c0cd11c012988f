"""What the models learn from, read from the feature store at pinned Delta versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.features.model_inputs import model_inputs
from fraudspark.features.store import feature_rows, model_feature_columns
from fraudspark.lakehouse.io import read_table_as_of, table_version
from fraudspark.lakehouse.tables import AUGMENTED_TRAINING_SETS


def training_frame(
    spark: SparkSession,
    config: Config,
    start: date,
    end: date,
    versions: Mapping[str, int],
    include_known_frauds: bool = False,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Model inputs of the transactions dated ``start``..``end``, collected for training.

    Without ``include_known_frauds``, rows labelled fraud in the pinned table versions are left
    out (unlabelled rows stay): the scorers learn what normal traffic looks like. ``columns``
    picks the store columns (default: every one, :func:`model_feature_columns`).
    """
    rows = feature_rows(spark, config, start, end, dict(versions))
    if not include_known_frauds:
        rows = rows.where(F.col("is_fraud").isNull() | (F.col("is_fraud") != 1))
    features = model_feature_columns(config) if columns is None else list(columns)
    return model_inputs(rows, features).select(*features).toPandas()


def augmented_rows(
    spark: SparkSession, config: Config, training_set: str, method: str, version: int
) -> DataFrame:
    """The labelled rows of an augmented training set at a Delta version of the table: what a
    classifier learns from, and (its real rows) what the monitor compares new traffic with."""
    return read_table_as_of(spark, config, AUGMENTED_TRAINING_SETS, version).where(
        (F.col("training_set") == training_set)
        & (F.col("method") == method)
        & F.col("is_fraud").isNotNull()
    )


def classifier_training_rows(
    spark: SparkSession, config: Config, metadata: dict[str, Any]
) -> DataFrame:
    """The real (not synthetic) rows a classifier version was trained on, exactly as it read
    them: at the Delta version recorded in its metadata (``extra.data_versions``)."""
    extra = metadata["extra"]
    version = int(extra["data_versions"][AUGMENTED_TRAINING_SETS.name])
    rows = augmented_rows(spark, config, extra["training_set"], extra["method"], version)
    return rows.where(~F.col("is_synthetic"))


def augmented_frame(
    spark: SparkSession, config: Config, training_set: str, method: str
) -> tuple[pd.DataFrame, int]:
    """The labelled rows of an augmented training set as model inputs, ``is_fraud`` and
    ``is_synthetic``; and the table's Delta version they were read at."""
    version = table_version(spark, config, AUGMENTED_TRAINING_SETS)
    rows = augmented_rows(spark, config, training_set, method, version)
    features = model_feature_columns(config)
    frame: pd.DataFrame = (
        model_inputs(rows, features).select(*features, "is_fraud", "is_synthetic").toPandas()
    )
    if frame.empty:
        raise ValueError(
            f"no augmented rows for training set {training_set!r} and method {method!r}: "
            f"run `fraudspark oversample --training-set {training_set} --method {method}` first"
        )
    return frame, version
