"""The monitoring job: drift against training data, importance trends, retrain hints, report.

For each registered model's champion, the reference is the model's own training data, read
through the Delta versions recorded at training (exact even after the tables moved on): a
scorer's feature-store rows, the classifier's real (not synthetic) augmented training rows. The
scored day and the last ``window_days`` days are compared with it, feature by feature, and so
are the score and the alert flag. Per-feature importance is the mean attribution share of the
day's scores (a feature outside a row's top three counts 0 for that row), set beside the same
measure on the training data. Spark does the reading and aggregation; only bounded samples
(``SAMPLE_ROWS``) reach the driver for the distribution metrics and plots.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudspark.classifier import CLASSIFIER_FORMAT, CLASSIFIER_MODEL_NAME, classifier_training_rows
from fraudspark.config import Config
from fraudspark.features.definitions import CALENDAR_FEATURES
from fraudspark.features.store import feature_rows
from fraudspark.lakehouse.io import read_table, replace_partitions, table_exists
from fraudspark.lakehouse.tables import DRIFT, FEATURE_IMPORTANCE, RETRAIN_HINTS, SCORES, Table
from fraudspark.monitoring.drift import DriftThresholds, drift_summary, feature_drift, retrain_hint
from fraudspark.monitoring.report import format_summary, write_report
from fraudspark.registry import MODEL_NAMES, RegisteredScorer, registered_artifact
from fraudspark.scoring.spark import load_model, model_inputs

log = logging.getLogger(__name__)

# Rows per side brought to the driver for distribution metrics: enough for PSI noise far below
# its threshold ((bins - 1) * 2 / n ~ 0.001), small enough for any driver.
SAMPLE_ROWS = 20_000
SEED = 17
# An importance share moving by more than this since training counts as attribution drift.
IMPORTANCE_SHIFT_THRESHOLD = 0.1
DAYS_IN_WEEK = 7
DAY_OF_WEEK_FEATURES = ("tx_during_weekend",)  # constant within a day
TREND_DAYS = 28


@dataclass(frozen=True)
class ModelMonitoring:
    model: str
    version: int
    drift: pd.DataFrame  # the scored day's rows (window_days = 1)
    drifted_features: tuple[str, ...]
    severity: float
    report: Path | None


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
    recorded; for the classifier only the real ones, since drift is about real traffic."""
    if metadata.get("format") == CLASSIFIER_FORMAT:
        return classifier_training_rows(spark, config, metadata)
    extra: dict[str, Any] = metadata.get("extra", {})
    start = date.fromisoformat(extra["training_start"])
    end = date.fromisoformat(extra["training_end"])
    rows = feature_rows(spark, config, start, end, dict(extra["data_versions"]))
    if extra.get("include_known_frauds") != "true":
        rows = rows.where(F.col("is_fraud").isNull() | (F.col("is_fraud") != 1))
    return rows


def _reference(
    spark: SparkSession, config: Config, registered: RegisteredScorer, features: list[str]
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
    registered: RegisteredScorer,
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


def _mean_shares(top_features: pd.Series, top_shares: pd.Series, features: list[str]) -> pd.Series:
    """Mean attribution share per feature over rows that list their top features."""
    totals = dict.fromkeys(features, 0.0)
    for names, shares in zip(top_features, top_shares, strict=True):
        for name, share in zip(names, shares, strict=True):
            totals[name] = totals.get(name, 0.0) + float(share)
    return pd.Series(totals) / max(len(top_features), 1)


def daily_importance(
    spark: SparkSession, config: Config, registered: RegisteredScorer, day: date
) -> pd.Series:
    """Mean attribution share per feature over all of the day's scores, computed in Spark."""
    scores = (
        read_table(spark, config, SCORES)
        .where(F.col("model_name") == registered.name)
        .where(F.col("model_version") == registered.version)
        .where(F.col("tx_date") == F.lit(day))
    )
    total = scores.count()
    pairs = scores.select(
        F.explode(F.arrays_zip("top_features", "top_feature_shares")).alias("pair")
    )
    sums = pairs.groupBy(F.col("pair.top_features").alias("feature")).agg(
        F.sum("pair.top_feature_shares").alias("share")
    )
    return pd.Series(
        {row["feature"]: row["share"] / max(total, 1) for row in sums.collect()}, dtype=float
    )


def _write(
    spark: SparkSession, config: Config, table: Table, rows: pd.DataFrame, where: str
) -> None:
    assert table.schema is not None
    frame = spark.createDataFrame(rows[table.schema.fieldNames()], table.schema)
    replace_partitions(spark, config, table, frame, where)


def monitor_model(
    spark: SparkSession, config: Config, registered: RegisteredScorer, day: date, report: bool
) -> ModelMonitoring:
    """Drift, importance and retrain hint of one model version for ``day``; optionally a report."""
    features = list(registered.artifact.metadata["feature_names"])
    thresholds = thresholds_from(config)
    binary = [*binary_columns(features), "is_alert"]
    reference = _reference(spark, config, registered, features)
    reference["is_alert"] = reference["is_alert"].astype(int)
    window = config.monitoring.window_days
    frames = []
    current_day = pd.DataFrame()
    for days in sorted({1, window}):
        current = _current(spark, config, registered, features, day - timedelta(days=days - 1), day)
        current["is_alert"] = current["is_alert"].astype(int)
        if days == 1:
            current_day = current
        if current.empty:
            continue
        # A single day is all weekend or all weekday: the weekend flag is compared only over
        # whole weeks, whose mix of days is the training range's.
        compared = [f for f in features if days >= DAYS_IN_WEEK or f not in DAY_OF_WEEK_FEATURES]
        drift = feature_drift(
            reference, current, [*compared, "score", "is_alert"],
            [column for column in binary if column in compared or column == "is_alert"],
            thresholds, config.monitoring.bins,
        )  # fmt: skip
        frames.append(drift.assign(window_days=days))

    importance = daily_importance(spark, config, registered, day).reindex(features, fill_value=0.0)
    trained = _mean_shares(reference["top_features"], reference["top_feature_shares"], features)
    shift = (importance - trained.reindex(features, fill_value=0.0)).abs()
    frames.append(
        pd.DataFrame(
            {
                "feature": features,
                "metric": "importance_shift",
                "value": shift.to_numpy(),
                "threshold": IMPORTANCE_SHIFT_THRESHOLD,
                "drifted": (shift > IMPORTANCE_SHIFT_THRESHOLD).to_numpy(),
                "window_days": 1,
            }
        )
    )
    drift = pd.concat(frames, ignore_index=True).assign(
        monitor_date=day, model=registered.name, model_version=registered.version
    )
    drift["window_days"] = drift["window_days"].astype(int)
    drift["drifted"] = drift["drifted"].astype(bool)
    drift["value"] = drift["value"].astype(float)
    where = f"monitor_date = '{day}' AND model = '{registered.name}'"
    _write(spark, config, DRIFT, drift, where)
    _write(
        spark,
        config,
        FEATURE_IMPORTANCE,
        pd.DataFrame(
            {
                "importance_date": day,
                "model": registered.name,
                "model_version": registered.version,
                "feature": features,
                "importance": importance.to_numpy(dtype=float),
                "training_importance": trained.reindex(features, fill_value=0.0).to_numpy(),
            }
        ),
        f"importance_date = '{day}' AND model = '{registered.name}'",
    )
    day_drift = drift[drift["window_days"] == 1]
    hint = retrain_hint(day_drift)
    hints = pd.DataFrame(
        [
            {
                "monitor_date": day,
                "model": registered.name,
                "model_version": registered.version,
                "drifted_features": list(hint.features),
                "severity": hint.severity,
                "max_by_metric": hint.max_by_metric,
            }
        ]
        if hint
        else [],
        columns=RETRAIN_HINTS.schema.fieldNames() if RETRAIN_HINTS.schema else None,
    )
    _write(
        spark,
        config,
        RETRAIN_HINTS,
        hints,
        f"monitor_date = '{day}' AND model = '{registered.name}'",
    )

    path = None
    if report:
        summary = drift_summary(day_drift)
        drifted = [f for f in (hint.features if hint else ()) if f in current_day][:6]
        path = write_report(
            config.monitoring.reports_dir,
            date=day,
            summary=summary,
            distributions={f: (reference[f], current_day[f]) for f in drifted},
            scores=(reference["score"], current_day.get("score", pd.Series(dtype=float))),
            daily_alerts=_daily_alerts(spark, config, registered, day),
            importance_trend=_importance_trend(spark, config, registered, day),
            model=str(registered),
        )
    return ModelMonitoring(
        registered.name,
        registered.version,
        day_drift,
        hint.features if hint else (),
        hint.severity if hint else 0.0,
        path,
    )


def _daily_alerts(
    spark: SparkSession, config: Config, registered: RegisteredScorer, day: date
) -> pd.DataFrame:
    start = day - timedelta(days=TREND_DAYS - 1)
    alerts = (
        read_table(spark, config, SCORES)
        .where(F.col("model_name") == registered.name)
        .where(F.col("tx_date").between(F.lit(start), F.lit(day)))
        .groupBy(F.col("tx_date").alias("date"))
        .agg(F.sum(F.col("is_alert").cast("int")).alias("alerts"))
        .orderBy("date")
    )
    return alerts.toPandas()


def _importance_trend(
    spark: SparkSession, config: Config, registered: RegisteredScorer, day: date
) -> pd.DataFrame:
    start = day - timedelta(days=TREND_DAYS - 1)
    trend = (
        read_table(spark, config, FEATURE_IMPORTANCE)
        .where(F.col("model") == registered.name)
        .where(F.col("importance_date").between(F.lit(start), F.lit(day)))
        .select(F.col("importance_date").alias("date"), "feature", "importance")
    )
    return trend.toPandas()


def registered_champions(config: Config) -> list[RegisteredScorer]:
    """The champion of every registered model: the scorers, RaPP first (it leads the report),
    then the classifier."""
    champions = []
    for name in (*(MODEL_NAMES[kind] for kind in ("rapp", "ae", "vae")), CLASSIFIER_MODEL_NAME):
        try:
            champions.append(registered_artifact(config, name))
        except ValueError:
            continue  # never registered
    return champions


SUMMARY_ROWS = 10  # the terminal summary's table; the report and fraud.drift have every column


def monitor_day(spark: SparkSession, config: Config, day: date) -> list[ModelMonitoring]:
    """Monitor every champion for ``day``; the first gets ``reports/<date>/index.html``."""
    champions = registered_champions(config)
    if not champions:
        log.warning("no registered model to monitor")
        return []
    if not table_exists(spark, config, SCORES):
        raise ValueError("fraud.scores does not exist yet: score before monitoring")
    results = []
    for index, registered in enumerate(champions):
        result = monitor_model(spark, config, registered, day, report=index == 0)
        results.append(result)
        print(f"\n{registered} on {day}:")
        print(format_summary(drift_summary(result.drift), max_rows=SUMMARY_ROWS))
        if result.report:
            print(f"report: {result.report}")
    return results
