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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import Config
from fraudspark.lakehouse.io import (
    read_table,
    replace_partitions,
    run_concurrently,
    table_exists,
)
from fraudspark.lakehouse.tables import (
    DRIFT,
    FEATURE_IMPORTANCE,
    MONITORING_REFERENCES,
    RETRAIN_HINTS,
    SCORES,
    Table,
)
from fraudspark.models.artifact import ModelArtifact
from fraudspark.monitoring.drift import RetrainHint, drift_summary, feature_drift, retrain_hint
from fraudspark.monitoring.reference import (
    DAY_OF_WEEK_FEATURES,
    ENTITY_COLUMNS,
    WEEKDAY,
    CurrentSamples,
    _reference,
    binary_columns,
    current_samples,
    model_key,
    models_condition,
    reference_from_table_rows,
    reference_table_rows,
    thresholds_from,
    weekday_matched,
)
from fraudspark.monitoring.report import format_summary, write_report
from fraudspark.registry import RegisteredModel, champions

log = logging.getLogger(__name__)


# An importance share moving by more than this since training counts as attribution drift.
IMPORTANCE_SHIFT_THRESHOLD = 0.1


TREND_DAYS = 28


@dataclass(frozen=True)
class ModelMonitoring:
    model: str
    version: int
    drift: pd.DataFrame  # the scored day's rows (window_days = 1)
    drifted_features: tuple[str, ...]
    severity: float
    report: Path | None


def _mean_shares(top_features: pd.Series, top_shares: pd.Series, features: list[str]) -> pd.Series:
    """Mean attribution share per feature over rows that list their top features."""
    totals = dict.fromkeys(features, 0.0)
    for names, shares in zip(top_features, top_shares, strict=True):
        for name, share in zip(names, shares, strict=True):
            totals[name] = totals.get(name, 0.0) + float(share)
    return pd.Series(totals) / max(len(top_features), 1)


def daily_importances(
    spark: SparkSession, config: Config, models: Sequence[RegisteredModel], day: date
) -> dict[tuple[str, int], pd.Series]:
    """Each model's mean attribution share per feature over all of the day's scores (a feature
    outside a row's top features counts 0 for that row), keyed by :func:`model_key`; one Spark
    aggregation for every model.

    ``posexplode_outer`` keeps a row with no top features (as a null feature), so the
    denominator, the rows of the day, comes from the same pass: each row counts once, at its
    first position or its null one.
    """
    if not models:
        return {}
    scores = (
        read_table(spark, config, SCORES)
        .where(models_condition(models))
        .where(F.col("tx_date") == F.lit(day))
        .select(
            "model_name",
            "model_version",
            F.posexplode_outer(F.arrays_zip("top_features", "top_feature_shares")).alias(
                "position", "pair"
            ),
        )
    )
    first = F.col("position").isNull() | (F.col("position") == 0)
    sums = (
        scores.groupBy("model_name", "model_version", F.col("pair.top_features").alias("feature"))
        .agg(
            F.sum("pair.top_feature_shares").alias("share"),
            F.sum(first.cast("long")).alias("rows"),
        )
        .collect()
    )
    totals: dict[tuple[str, int], int] = {}
    shares: dict[tuple[str, int], dict[str, float]] = {model_key(m): {} for m in models}
    for row in sums:
        key = (row["model_name"], int(row["model_version"]))
        totals[key] = totals.get(key, 0) + int(row["rows"])
        if row["feature"] is not None:
            shares[key][row["feature"]] = float(row["share"])
    return {
        key: pd.Series({f: v / max(totals.get(key, 0), 1) for f, v in values.items()}, dtype=float)
        for key, values in shares.items()
    }


def _write(
    spark: SparkSession, config: Config, table: Table, rows: pd.DataFrame, where: str
) -> None:
    assert table.schema is not None
    # A NaN in a non-nullable column would make Arrow fail and Spark fall back silently.
    missing = [f.name for f in table.schema.fields if not f.nullable and rows[f.name].isna().any()]
    if missing:
        raise ValueError(f"fraud.{table.name}: missing values in non-nullable {missing}")
    frame = spark.createDataFrame(rows[table.schema.fieldNames()], table.schema)
    replace_partitions(spark, config, table, frame, where)


def monitoring_references(
    spark: SparkSession, config: Config, models: Sequence[tuple[RegisteredModel, list[str]]]
) -> list[pd.DataFrame]:
    """Each model version's reference (see :func:`fraudspark.monitoring.reference._reference`),
    in the order of ``models`` (pairs of a model version and its input features): computed once
    and kept in ``fraud.monitoring_references``; later calls read them back, every model in one
    read.

    Computing one reads the training rows through Delta time travel, so it must happen before
    a VACUUM removes those versions: the train commands compute it at registration
    (:func:`keep_reference_at_registration`), the monitor at a version's first night if it is
    still missing (a model registered from a notebook), and the maintain pipeline for every
    champion before it vacuums.
    """
    kept: dict[tuple[str, int], pd.DataFrame] = {}
    if models and table_exists(spark, config, MONITORING_REFERENCES):
        rows = (
            read_table(spark, config, MONITORING_REFERENCES)
            .where(models_condition([model for model, _ in models]))
            .toPandas()
        )
        for (name, version), group in rows.groupby(["model_name", "model_version"]):
            kept[(str(name), int(str(version)))] = group
    references = []
    for registered, features in models:
        cached = kept.get(model_key(registered))
        if cached is not None and not cached.empty:
            references.append(reference_from_table_rows(cached, features))
        else:
            references.append(_keep_reference(spark, config, registered, features))
    return references


def monitoring_reference(
    spark: SparkSession, config: Config, registered: RegisteredModel, features: list[str]
) -> pd.DataFrame:
    """One model version's reference: :func:`monitoring_references` of one model."""
    return monitoring_references(spark, config, [(registered, features)])[0]


def _keep_reference(
    spark: SparkSession, config: Config, registered: RegisteredModel, features: list[str]
) -> pd.DataFrame:
    reference = _reference(spark, config, registered, features)
    rows = reference_table_rows(reference, features, registered.name, registered.version)
    assert MONITORING_REFERENCES.schema is not None
    schema = MONITORING_REFERENCES.schema
    without_time = T.StructType([f for f in schema.fields if f.name != "computed_at"])
    frame = spark.createDataFrame(
        [tuple(row) for row in rows[without_time.fieldNames()].itertuples(index=False)],
        without_time,
    ).withColumn("computed_at", F.current_timestamp())
    where = f"model_name = '{registered.name}' AND model_version = {int(registered.version)}"
    replace_partitions(
        spark, config, MONITORING_REFERENCES, frame.select(*schema.fieldNames()), where
    )
    log.info("%s: monitoring reference of %d rows kept", registered, len(reference))
    return reference


def keep_reference_at_registration(
    spark: SparkSession, config: Config, name: str, version: int, artifact: ModelArtifact
) -> None:
    """Compute and keep a just-registered version's reference (see
    :func:`monitoring_references`), so that its first night does not: on 300k transactions a
    day, computing two references made that night 45 s longer (docs/benchmarks.md). The train
    commands call it right after registering; the training rows' table versions are then
    certainly still readable."""
    registered = RegisteredModel(name, version, artifact)
    monitoring_reference(spark, config, registered, list(artifact.metadata["feature_names"]))


def ensure_monitoring_references(spark: SparkSession, config: Config) -> list[str]:
    """Compute and keep the reference of every champion that has none yet (see
    :func:`monitoring_reference`); returns the ``NAME/VERSION`` of each one computed."""
    computed = []
    for registered in champions(config):
        if table_exists(spark, config, MONITORING_REFERENCES):
            present = (
                read_table(spark, config, MONITORING_REFERENCES)
                .where(F.col("model_name") == registered.name)
                .where(F.col("model_version") == registered.version)
                .limit(1)
                .count()
            )
            if present:
                continue
        features = list(registered.artifact.metadata["feature_names"])
        monitoring_reference(spark, config, registered, features)
        computed.append(str(registered))
    return computed


def _compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    binary: list[str],
    config: Config,
) -> pd.DataFrame:
    """Drift rows of ``current`` against ``reference`` resampled to the current's weekday mix
    (:func:`weekday_matched`).

    What a model sees depends on the weekday (the weekend flag, the traffic, and so the
    scores), and a training window and a night or a week never cover the same mix: a calm
    Monday against a whole training fortnight drifts on the flag and on the score. When no
    reference day matches (the training rows lack the window's weekdays, or their dates), the
    other columns are compared with the reference as it is and the weekday flags are left out
    as ``not_compared`` rows (value NaN, not drifted)."""
    thresholds = thresholds_from(config)
    bins = config.monitoring.bins
    matched = weekday_matched(reference, current[WEEKDAY])
    calendar = [f for f in features if f in DAY_OF_WEEK_FEATURES]
    compared = features if matched is not None else [f for f in features if f not in calendar]
    columns = [*compared, "score", "is_alert"]
    frames = [
        feature_drift(
            reference if matched is None else matched,
            current,
            columns,
            [c for c in binary if c in columns],
            thresholds,
            bins,
            clusters=ENTITY_COLUMNS,
        )
    ]
    if matched is None and calendar:
        frames.append(
            pd.DataFrame(
                {
                    "feature": calendar,
                    "metric": "not_compared",
                    "value": float("nan"),
                    # The threshold the flag is held to when compared (binary: L-inf).
                    "threshold": [thresholds.threshold(f, "linf") for f in calendar],
                    "p_value": float("nan"),
                    "drifted": False,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class _ModelRows:
    """One model version's monitoring of a day, computed, not yet written."""

    registered: RegisteredModel
    drift: pd.DataFrame  # every window's rows, in fraud.drift's columns
    importance: pd.DataFrame  # fraud.feature_importance rows
    hints: pd.DataFrame  # fraud.retrain_hints rows (none or one)
    hint: RetrainHint | None
    reference: pd.DataFrame
    current_day: pd.DataFrame


def _all_model_rows(
    spark: SparkSession,
    config: Config,
    models: Sequence[RegisteredModel],
    day: date,
) -> list[_ModelRows]:
    """Drift, importance and retrain hint of each model version for ``day``. The Spark reads are
    shared by every model: one read of the kept references, one join and collect for the
    samples of both windows (the feature-store rows read once), one aggregation for the
    importances; the three run at once (:func:`~fraudspark.lakehouse.io.run_concurrently`)."""
    inputs = [(model, list(model.artifact.metadata["feature_names"])) for model in models]
    window = config.monitoring.window_days
    references: list[pd.DataFrame]
    samples: dict[tuple[str, int], CurrentSamples]
    importances: dict[tuple[str, int], pd.Series]
    references, samples, importances = run_concurrently(
        [
            partial(monitoring_references, spark, config, inputs),
            partial(current_samples, spark, config, inputs, day - timedelta(days=window - 1), day),
            partial(daily_importances, spark, config, models, day),
        ]
    )
    return [
        _model_rows(
            config,
            model,
            features,
            day,
            reference,
            samples[model_key(model)],
            importances[model_key(model)],
        )
        for (model, features), reference in zip(inputs, references, strict=True)
    ]


def _model_rows(
    config: Config,
    registered: RegisteredModel,
    features: list[str],
    day: date,
    reference: pd.DataFrame,
    samples: CurrentSamples,
    importance: pd.Series,
) -> _ModelRows:
    """Drift, importance and retrain hint of one model version for ``day``, from its reference,
    its samples of the day and of the monitoring window, and the day's importance shares."""
    binary = [*binary_columns(features), "is_alert"]
    reference = reference.copy()
    reference["is_alert"] = reference["is_alert"].astype(int)
    window = config.monitoring.window_days
    frames = []
    current_day = samples.last_day.copy()
    current_day["is_alert"] = current_day["is_alert"].astype(int)
    for days in sorted({1, window}):
        current = current_day if days == 1 else samples.window.copy()
        current["is_alert"] = current["is_alert"].astype(int)
        if current.empty:
            continue
        # A weekday flag's share follows the weekdays a window covers (a Monday has no weekend,
        # a month and a week never the same mix): it is compared with a matched reference.
        drift = _compare(reference, current, features, binary, config)
        frames.append(drift.assign(window_days=days))

    importance = importance.reindex(features, fill_value=0.0)
    # The attribution shares at training, over the day's weekday mix (as the drift above).
    matched = weekday_matched(reference, current_day[WEEKDAY]) if not current_day.empty else None
    basis = reference if matched is None else matched
    trained = _mean_shares(basis["top_features"], basis["top_feature_shares"], features)
    shift = (importance - trained.reindex(features, fill_value=0.0)).abs()
    frames.append(
        pd.DataFrame(
            {
                "feature": features,
                "metric": "importance_shift",
                "value": shift.to_numpy(),
                "threshold": IMPORTANCE_SHIFT_THRESHOLD,
                "p_value": float("nan"),  # a mean share with no sampling test behind it
                "drifted": (shift > IMPORTANCE_SHIFT_THRESHOLD).to_numpy(),
                "window_days": 1,
            }
        )
    )
    drift = pd.concat(frames, ignore_index=True).assign(
        monitor_date=day, model_name=registered.name, model_version=registered.version
    )
    drift["window_days"] = drift["window_days"].astype(int)
    drift["drifted"] = drift["drifted"].astype(bool)
    drift["value"] = drift["value"].astype(float)
    importance_rows = pd.DataFrame(
        {
            "importance_date": day,
            "model_name": registered.name,
            "model_version": registered.version,
            "feature": features,
            "importance": importance.to_numpy(dtype=float),
            "training_importance": trained.reindex(features, fill_value=0.0).to_numpy(),
        }
    )
    hint = retrain_hint(drift[drift["window_days"] == 1])
    hints = pd.DataFrame(
        [
            {
                "monitor_date": day,
                "model_name": registered.name,
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
    return _ModelRows(registered, drift, importance_rows, hints, hint, reference, current_day)


def _write_day(spark: SparkSession, config: Config, day: date, computed: list[_ModelRows]) -> None:
    """Replace ``day``'s rows of these models in fraud.drift, fraud.feature_importance and
    fraud.retrain_hints: one write a table, whatever the number of models, the three at once
    (:func:`~fraudspark.lakehouse.io.run_concurrently`)."""
    names = ", ".join(f"'{rows.registered.name}'" for rows in computed)
    writes = []
    for table, date_column, frames in (
        (DRIFT, "monitor_date", [rows.drift for rows in computed]),
        (FEATURE_IMPORTANCE, "importance_date", [rows.importance for rows in computed]),
        (RETRAIN_HINTS, "monitor_date", [rows.hints for rows in computed]),
    ):
        assert table.schema is not None
        present = [frame for frame in frames if not frame.empty]
        rows = (
            pd.concat(present, ignore_index=True)
            if present
            else pd.DataFrame(columns=table.schema.fieldNames())
        )
        where = f"{date_column} = '{day}' AND model_name IN ({names})"
        writes.append(partial(_write, spark, config, table, rows, where))
    run_concurrently(writes)


def _result(
    spark: SparkSession, config: Config, day: date, rows: _ModelRows, report: bool
) -> ModelMonitoring:
    """The model's monitoring result, with its report when asked (after the day's rows are
    written: the report's importance trend reads them back)."""
    registered, hint = rows.registered, rows.hint
    day_drift = rows.drift[rows.drift["window_days"] == 1]
    path = None
    if report:
        summary = drift_summary(day_drift)
        drifted = [f for f in (hint.features if hint else ()) if f in rows.current_day][:6]
        current_scores = rows.current_day.get("score", pd.Series(dtype=float))
        path = write_report(
            config.monitoring.reports_dir,
            date=day,
            summary=summary,
            distributions={f: (rows.reference[f], rows.current_day[f]) for f in drifted},
            scores=(rows.reference["score"], current_scores),
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


def monitor_model(
    spark: SparkSession, config: Config, registered: RegisteredModel, day: date, report: bool
) -> ModelMonitoring:
    """Drift, importance and retrain hint of one model version for ``day``, written to
    fraud.drift, fraud.feature_importance and fraud.retrain_hints; optionally a report."""
    rows = _all_model_rows(spark, config, [registered], day)[0]
    _write_day(spark, config, day, [rows])
    return _result(spark, config, day, rows, report)


def _daily_alerts(
    spark: SparkSession, config: Config, registered: RegisteredModel, day: date
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
    spark: SparkSession, config: Config, registered: RegisteredModel, day: date
) -> pd.DataFrame:
    start = day - timedelta(days=TREND_DAYS - 1)
    trend = (
        read_table(spark, config, FEATURE_IMPORTANCE)
        .where(F.col("model_name") == registered.name)
        .where(F.col("importance_date").between(F.lit(start), F.lit(day)))
        .select(F.col("importance_date").alias("date"), "feature", "importance")
    )
    return trend.toPandas()


SUMMARY_ROWS = 10  # the terminal summary's table; the report and fraud.drift have every column


def monitor_day(spark: SparkSession, config: Config, day: date) -> list[ModelMonitoring]:
    """Monitor every champion for ``day``; the first gets ``reports/<date>/index.html``."""
    models = champions(config)
    if not models:
        log.warning("no registered model to monitor")
        return []
    if not table_exists(spark, config, SCORES):
        raise ValueError("fraud.scores does not exist yet: score before monitoring")
    computed = _all_model_rows(spark, config, models, day)
    _write_day(spark, config, day, computed)
    results = []
    for index, rows in enumerate(computed):
        result = _result(spark, config, day, rows, report=index == 0)
        results.append(result)
        log.info("%s on %s:\n%s", rows.registered, day, monitoring_summary(result))
    return results


def monitoring_summary(result: ModelMonitoring) -> str:
    """The terminal summary of one model's monitoring: the most severe columns, the report."""
    text = format_summary(drift_summary(result.drift), max_rows=SUMMARY_ROWS)
    return f"{text}\nreport: {result.report}" if result.report else text
