"""The scoring job: score the feature store's rows of a date range into ``fraud.scores``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.features.store import feature_rows, model_feature_columns
from fraudspark.lakehouse.io import (
    ensure_table,
    merge_insert_new,
    read_table,
    replace_partitions,
    rows_written_by_last_commit,
    table_version,
)
from fraudspark.lakehouse.tables import SCORES, table_path
from fraudspark.models.batch_scoring import score_feature_rows
from fraudspark.registry import ModelSpec, registered_artifact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoringReport:
    model: str  # NAME/VERSION
    start: date
    end: date
    rows_scored: int  # the model version's rows for the range in fraud.scores after the run
    rows_inserted: int  # of which this run added
    alerts: int

    def summary(self) -> str:
        return (
            f"{self.model} on {self.start} .. {self.end}: {self.rows_scored} rows in fraud.scores "
            f"({self.rows_inserted} new), {self.alerts} alerts"
        )


def _date_range_condition(column: str, start: date, end: date) -> str:
    return f"{column} >= '{start.isoformat()}' AND {column} <= '{end.isoformat()}'"


def write_scores(
    spark: SparkSession,
    config: Config,
    scored: DataFrame,
    model_name: str,
    model_version: int,
    start: date,
    end: date,
) -> int:
    """Write scored rows into ``fraud.scores``, inserting only keys not there yet.

    A transaction keeps the first score a model version gave it, so re-running a date changes
    nothing (``scored_at`` included; Delta then commits nothing), and other models' rows are
    never rewritten. When the model version has no row dated ``start``..``end`` yet (the usual
    night), the rows are written by a ``replaceWhere`` on (dates, model, version): no join with
    the table, and a concurrent writer of the same region conflicts instead of doubling rows.
    Otherwise (a re-run, or a range partly scored) an insert-only MERGE pruned to the dates'
    partitions and the model version. Returns the number of rows inserted.
    """
    from delta.tables import DeltaTable

    assert SCORES.schema is not None
    stamped = scored.withColumns(
        {
            "model_name": F.lit(model_name),
            "model_version": F.lit(model_version).cast("int"),
            "scored_at": F.current_timestamp(),
        }
    )
    # Score terms the model lacks (e.g. RaPP's for an autoencoder) are null.
    rows = stamped.select(
        *[
            F.col(field.name)
            if field.name in stamped.columns
            else F.lit(None).cast(field.dataType).alias(field.name)
            for field in SCORES.schema.fields
        ]
    )
    ensure_table(spark, config, SCORES)
    model = f"model_name = '{model_name}' AND model_version = {int(model_version)}"
    region = f"{_date_range_condition('tx_date', start, end)} AND {model}"
    already = read_table(spark, config, SCORES).where(F.expr(region)).limit(1).count()
    if not already:
        replace_partitions(spark, config, SCORES, rows.where(F.expr(region)), region)
        return rows_written_by_last_commit(spark, config, SCORES) or 0
    before = table_version(spark, config, SCORES)
    merge_insert_new(
        spark,
        config,
        SCORES,
        rows,
        f"{_date_range_condition('t.tx_date', start, end)} AND "
        f"t.model_name = '{model_name}' AND t.model_version = {int(model_version)}",
    )
    if table_version(spark, config, SCORES) == before:
        return 0
    history = DeltaTable.forPath(spark, table_path(config, SCORES)).history(1).collect()[0]
    return int(history["operationMetrics"]["numTargetRowsInserted"])


def alert_reasons(
    spark: SparkSession, config: Config, start: date, end: date, model: str | None = None
) -> DataFrame:
    """The alerts of ``fraud.scores`` dated ``start``..``end``, highest score first.

    ``model`` (``NAME/VERSION``) narrows to one model version. ``reasons`` reads e.g.
    ``tx_amount 71%, cust_avg_amount_1d 12%, term_risk_7d 6%``.
    """
    alerts = read_table(spark, config, SCORES).where(
        F.expr(_date_range_condition("tx_date", start, end)) & F.col("is_alert")
    )
    if model is not None:
        spec = ModelSpec.parse(model)
        if spec.version is None:
            raise ValueError(f"give the model as NAME/VERSION, got {model!r}")
        alerts = alerts.where(
            (F.col("model_name") == spec.name) & (F.col("model_version") == spec.version)
        )
    reasons = F.expr(
        "concat_ws(', ', transform(arrays_zip(top_features, top_feature_shares), "
        "x -> format_string('%s %.0f%%', x.top_features, 100 * x.top_feature_shares)))"
    )
    return alerts.select(
        "tx_date",
        "tx_id",
        "tx_ts",
        "customer_id",
        "terminal_id",
        "model_name",
        "model_version",
        "score",
        reasons.alias("reasons"),
    ).orderBy(F.col("score").desc(), "tx_id")


def score_days(
    spark: SparkSession,
    config: Config,
    model: str,
    start: date,
    end: date,
    top_k: int = 3,
    store_rows: DataFrame | None = None,
) -> ScoringReport:
    """The scoring job: score the feature store's rows for ``start``..``end`` into fraud.scores.

    ``model`` is ``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION`` from the registry (a scorer such
    as ``fraud-rapp`` or the classifier ``fraud-classifier``); the version it resolves to is
    written with every score. A model trained on other features stops here with the missing
    and extra feature names. ``store_rows`` are those days' feature-store rows
    (:func:`~fraudspark.features.store.feature_rows`) when the caller read them once for
    several models; by default they are read here.
    """
    if start > end:
        raise ValueError(f"scoring start {start} is after its end {end}")
    registered = registered_artifact(config, model)
    if store_rows is None:
        store_rows = feature_rows(spark, config, start, end, labels=False)
    rows = store_rows.drop("is_fraud")
    scored = score_feature_rows(rows, registered.artifact, model_feature_columns(config), top_k)
    inserted = write_scores(spark, config, scored, registered.name, registered.version, start, end)
    written = (
        read_table(spark, config, SCORES)
        .where(
            F.expr(_date_range_condition("tx_date", start, end))
            & (F.col("model_name") == registered.name)
            & (F.col("model_version") == registered.version)
        )
        .agg(F.count("*"), F.sum(F.col("is_alert").cast("int")))
        .collect()[0]
    )
    report = ScoringReport(
        str(registered), start, end, int(written[0]), inserted, int(written[1] or 0)
    )
    log.info(report.summary())
    return report
