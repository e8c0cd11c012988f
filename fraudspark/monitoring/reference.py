"""What new traffic is compared with: a model's training rows, sampled, and the day's rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
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


# Flags set by the day of the week: their share in a window depends on which weekdays it
# covers, so they are compared with a reference of the window's weekday mix.
DAY_OF_WEEK_FEATURES = ("tx_during_weekend",)

WEEKDAY = "weekday"  # Spark's dayofweek: 1 = Sunday .. 7 = Saturday
# Each row's entities: the drift tests count the rows of one entity as partly the same evidence.
ENTITY_COLUMNS = ("customer_id", "terminal_id")
SCORE_COLUMNS = ("score", "is_alert", "top_features", "top_feature_shares")


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
    """The traffic of a model version's training window, read through the Delta versions its
    training recorded; for a classifier (MLP or GBT) the real rows of its training set.

    Known frauds stay in, even for a scorer trained without them: the current side of a
    comparison is a day's whole traffic (its labels are not known yet), so a reference without
    frauds would show every fraud-driven feature (terminal risk, the score) as drift.
    """
    if metadata.get("format") in CLASSIFIER_FORMATS:
        return classifier_training_rows(spark, config, metadata)
    extra: dict[str, Any] = metadata.get("extra", {})
    start = date.fromisoformat(extra["training_start"])
    end = date.fromisoformat(extra["training_end"])
    return feature_rows(spark, config, start, end, dict(extra["data_versions"]))


def _weekday(rows: DataFrame) -> Column:
    if "tx_date" in rows.columns:
        return F.dayofweek("tx_date")
    if "tx_ts" in rows.columns:
        return F.dayofweek("tx_ts")
    return F.lit(None).cast("int")


def _entities(rows: DataFrame) -> list[Column]:
    return [
        (F.col(name) if name in rows.columns else F.lit(None)).cast("long").alias(name)
        for name in ENTITY_COLUMNS
    ]


def _reference(
    spark: SparkSession, config: Config, registered: RegisteredModel, features: list[str]
) -> pd.DataFrame:
    """A sample of the model's training-window rows (:func:`training_rows`), with their in-process
    scores.

    Columns: ``features`` (float), ``weekday`` (Spark's dayofweek, NaN when the rows carry no
    date), the ``ENTITY_COLUMNS`` (null when the rows carry none), then ``score``,
    ``is_alert``, ``top_features``, ``top_feature_shares``.
    """
    rows = training_rows(spark, config, registered.artifact.metadata)
    inputs = model_inputs(rows, features)
    columns: list[Column | str] = [*features, _weekday(rows).alias(WEEKDAY), *_entities(rows)]
    sample = _sample(inputs.select(*columns), SAMPLE_ROWS)
    scored = load_model(registered.artifact).score(sample[features])
    sample[WEEKDAY] = sample[WEEKDAY].astype(float)
    return pd.concat([sample, scored[list(SCORE_COLUMNS)]], axis=1)


def reference_table_rows(
    reference: pd.DataFrame, features: list[str], model_name: str, model_version: int
) -> pd.DataFrame:
    """A reference from :func:`_reference` as rows of ``fraud.monitoring_references``
    (``computed_at`` is left to the writer)."""
    values = reference[features].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "model_name": model_name,
            "model_version": int(model_version),
            "row_id": range(len(reference)),
            # object, so that a missing weekday stays None (not NaN) for the integer column
            "weekday": pd.Series(
                [None if pd.isna(w) else int(w) for w in reference[WEEKDAY]], dtype=object
            ),
            **{
                name: pd.Series(
                    [None if pd.isna(v) else int(v) for v in reference[name]], dtype=object
                )
                for name in ENTITY_COLUMNS
            },
            "features": [dict(zip(features, map(float, row), strict=True)) for row in values],
            "score": reference["score"].astype(float).to_numpy(),
            "is_alert": reference["is_alert"].astype(bool).to_numpy(),
            "top_features": [list(map(str, names)) for names in reference["top_features"]],
            "top_feature_shares": [
                list(map(float, shares)) for shares in reference["top_feature_shares"]
            ],
        }
    )


def reference_from_table_rows(rows: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The inverse of :func:`reference_table_rows`: the reference frame, in ``row_id`` order."""
    rows = rows.sort_values("row_id").reset_index(drop=True)
    values = pd.DataFrame([dict(mapping) for mapping in rows["features"]], columns=features)
    frame = values.astype(float)
    frame[WEEKDAY] = rows["weekday"].astype(float)
    for name in ENTITY_COLUMNS:
        # Absent from a table kept before the ids were (until `fraudspark migrate`): unknown.
        frame[name] = rows[name].astype("Int64") if name in rows else pd.NA
    frame["score"] = rows["score"].astype(float)
    frame["is_alert"] = rows["is_alert"].astype(bool)
    frame["top_features"] = [list(names) for names in rows["top_features"]]
    frame["top_feature_shares"] = [list(shares) for shares in rows["top_feature_shares"]]
    return frame


def weekday_matched(
    reference: pd.DataFrame, current_weekdays: pd.Series, seed: int = SEED
) -> pd.DataFrame | None:
    """Reference rows subsampled to the weekday mix of ``current_weekdays``.

    Each weekday gets the current's share of rows, drawn without replacement (seeded) from the
    reference rows of that weekday; the size is the largest that keeps the mix, so the weekday
    the reference has least of (for its share) is taken whole. Without replacement, every row is
    a distinct reference row, so the drift tests' p-values count real rows: a Saturday against
    a training week is ~1/7 of its rows, not all of them drawn again with repeats. None when a
    weekday of the current rows has no reference row (or the reference has no dates): then no
    reference has the current's weekday mix.
    """
    shares = current_weekdays.dropna().astype(int).value_counts(normalize=True)
    if shares.empty or reference[WEEKDAY].isna().all():
        return None
    weekdays = reference[WEEKDAY].astype("Int64")
    by_day = {int(str(day)): rows for day, rows in reference.groupby(weekdays)}
    wanted = {int(str(day)): float(share) for day, share in shares.items()}
    if any(day not in by_day for day in wanted):
        return None
    size = min(len(by_day[day]) / share for day, share in wanted.items())
    rng = np.random.default_rng(seed)
    parts = []
    for day, share in sorted(wanted.items()):
        rows = by_day[day]
        count = min(len(rows), max(1, round(share * size)))
        parts.append(rows.iloc[np.sort(rng.choice(len(rows), size=count, replace=False))])
    return pd.concat(parts, ignore_index=True)


# Helper columns of the window samples: the row is dated on the window's last day; its draw.
_ON_LAST_DAY, _DRAW = "_on_last_day", "_draw"


def model_key(registered: RegisteredModel) -> tuple[str, int]:
    """``(name, version)``: how rows of fraud.scores and the monitoring tables name a model."""
    return registered.name, int(registered.version)


def models_condition(models: Sequence[RegisteredModel]) -> Column:
    """True on fraud.scores-like rows (``model_name``, ``model_version``) of these models."""
    return reduce(
        lambda either, other: either | other,
        [
            (F.col("model_name") == name) & (F.col("model_version") == version)
            for name, version in map(model_key, models)
        ],
    )


def _bernoulli_fraction(rows: int, limit: int) -> float:
    # 20% above the limit, so that the sample rarely falls short of it; then cut to the limit.
    return 1.0 if rows <= limit else min(1.0, 1.2 * limit / rows)


@dataclass(frozen=True)
class CurrentSamples:
    """One model's scored rows of a monitoring window, sampled: ``last_day`` from the window's
    last day, ``window`` from the whole window. Each holds at most ``SAMPLE_ROWS`` rows with the
    columns of :func:`current_samples`."""

    last_day: pd.DataFrame
    window: pd.DataFrame


def current_samples(
    spark: SparkSession,
    config: Config,
    models: Sequence[tuple[RegisteredModel, list[str]]],
    start: date,
    end: date,
    store_rows: DataFrame | None = None,
    limit: int = SAMPLE_ROWS,
) -> dict[tuple[str, int], CurrentSamples]:
    """Samples of each model's scored rows of ``start``..``end`` and of ``end`` alone, keyed by
    :func:`model_key`; every model and both windows in one join and one collect.

    ``models`` pairs each model version with its input features. Columns of each sample: the
    model's features (double), ``weekday`` (Spark's dayofweek), the ``ENTITY_COLUMNS``,
    ``score`` and ``is_alert``. Every joined row gets one uniform draw ``u``; a window of ``n``
    rows keeps the rows with ``u < f`` (``f = 1.2 * limit / n`` above the limit, else 1), cut to
    the ``limit`` smallest draws: a uniform sample without replacement. ``store_rows`` are
    feature-store rows covering the days when the caller read them already; by default they are
    read here.
    """
    if not models:
        return {}
    registered = [model for model, _ in models]
    scores = (
        read_table(spark, config, SCORES)
        .where(models_condition(registered))
        .where(F.col("tx_date").between(F.lit(start), F.lit(end)))
        .select("tx_id", "tx_date", "model_name", "model_version", "score", "is_alert")
    )
    if store_rows is None:
        store_rows = feature_rows(spark, config, start, end, labels=False)
    else:
        store_rows = store_rows.where(F.col("tx_date").between(F.lit(start), F.lit(end)))
    features = list(dict.fromkeys(name for _, names in models for name in names))
    rows = model_inputs(store_rows, features)
    # Cached: the counts and the collect read the same rows and the same draws.
    joined = (
        rows.join(scores, ["tx_id", "tx_date"])
        .select(
            *features,
            F.dayofweek("tx_date").alias(WEEKDAY),
            *_entities(rows),
            "model_name",
            "model_version",
            "score",
            "is_alert",
            (F.col("tx_date") == F.lit(end)).alias(_ON_LAST_DAY),
            F.rand(SEED).alias(_DRAW),
        )
        .cache()
    )
    try:
        counts: dict[tuple[str, int], list[int]] = {
            key: [0, 0] for key in map(model_key, registered)
        }
        for row in joined.groupBy("model_name", "model_version", _ON_LAST_DAY).count().collect():
            key = (row["model_name"], int(row["model_version"]))
            counts[key][int(row[_ON_LAST_DAY])] += row["count"]
        fractions = {
            key: (_bernoulli_fraction(sum(n), limit), _bernoulli_fraction(n[1], limit))
            for key, n in counts.items()
        }
        draw, last_day = F.col(_DRAW), F.col(_ON_LAST_DAY)
        wanted = reduce(
            lambda either, other: either | other,
            [
                (F.col("model_name") == name)
                & (F.col("model_version") == version)
                & ((draw < window) | (last_day & (draw < day)))
                for (name, version), (window, day) in fractions.items()
            ],
        )
        collected = joined.where(wanted).toPandas()
    finally:
        joined.unpersist()
    samples = {}
    for model, names in models:
        key = model_key(model)
        window, day = fractions[key]
        mine = collected[
            (collected["model_name"] == key[0]) & (collected["model_version"] == key[1])
        ].sort_values(_DRAW, kind="stable")
        columns = [*names, WEEKDAY, *ENTITY_COLUMNS, "score", "is_alert"]
        samples[key] = CurrentSamples(
            last_day=mine[mine[_ON_LAST_DAY] & (mine[_DRAW] < day)][columns]
            .head(limit)
            .reset_index(drop=True),
            window=mine[mine[_DRAW] < window][columns].head(limit).reset_index(drop=True),
        )
    return samples
