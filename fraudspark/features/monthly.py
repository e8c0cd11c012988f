"""Per-entity calendar-month features, visible from the first instant of the next month."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraudspark.config import FeatureConfig
from fraudspark.features.windowed import AMOUNT_SCALE

_EXACT = "decimal(38,0)"

MONTHLY_COLUMNS = (
    "entity_type",
    "entity_id",
    "month",
    "visible_from",
    "nb_tx",
    "avg_amount",
    "std_amount",
    "nb_counterparties",
    "nb_labelled_tx",
    "fraud_rate",
)


def _month_of(ts: Column) -> Column:
    return F.trunc(F.to_date(ts), "month")


def monthly_features(transactions: DataFrame, config: FeatureConfig) -> DataFrame:
    """One row per (entity type, entity, month) with activity in ``transactions``.

    ``transactions`` must hold whole months. ``std_amount`` is the population standard
    deviation (0 for a single transaction). For terminals, ``fraud_rate`` is the fraud share
    among the month's transactions whose label is known at month end under the label delay
    (``tx_ts <= visible_from - delay``); 0 when none is known, with ``nb_labelled_tx`` saying
    how many were. Customers carry nulls in both.
    """
    visible_from = F.to_timestamp(F.add_months(F.col("month"), 1))
    known_by = visible_from - F.make_dt_interval(days=F.lit(config.label_delay_days))
    months = (
        transactions.withColumn("month", _month_of(F.col("tx_ts")))
        .withColumn("_label_known", (F.col("tx_ts") <= known_by).cast("int"))
        .withColumn("_known_fraud", F.col("_label_known") * F.coalesce("is_fraud", F.lit(0)))
        # Exact integer sums (1e-6 units, as the windowed features), so a month's mean and
        # spread do not depend on how Spark partitioned the rows.
        .withColumn("_units", F.round(F.col("tx_amount") * AMOUNT_SCALE).cast("long"))
        .withColumn("_units_big", F.col("_units").cast(_EXACT))
    )

    def per_entity(entity: str, counterparty: str) -> DataFrame:
        aggregated = months.groupBy(F.col(f"{entity}_id").alias("entity_id"), "month").agg(
            F.count("*").cast("int").alias("nb_tx"),
            F.sum("_units").alias("_sum"),
            F.sum(F.col("_units_big") * F.col("_units_big")).alias("_sum_squares"),
            F.countDistinct(f"{counterparty}_id").cast("int").alias("nb_counterparties"),
            F.sum("_label_known").cast("int").alias("_labelled"),
            F.sum("_known_fraud").alias("_frauds"),
        )
        n, total = F.col("nb_tx"), F.col("_sum")
        # Population variance n^2 * var = n * sum(x^2) - sum(x)^2, exact in decimals.
        spread = n.cast(_EXACT) * F.col("_sum_squares") - total.cast(_EXACT) * total.cast(_EXACT)
        with_visibility = aggregated.withColumns(
            {
                "visible_from": visible_from,
                "avg_amount": total / n / AMOUNT_SCALE,
                "std_amount": F.sqrt(spread.cast("double")) / n / AMOUNT_SCALE,
            }
        )
        if entity == "customer":
            labelled = F.lit(None).cast("int")
            rate = F.lit(None).cast("double")
        else:
            labelled = F.col("_labelled")
            rate = F.when(labelled > 0, F.col("_frauds") / labelled).otherwise(F.lit(0.0))
        return with_visibility.select(
            F.lit(entity).alias("entity_type"),
            "entity_id",
            "month",
            "visible_from",
            "nb_tx",
            "avg_amount",
            "std_amount",
            "nb_counterparties",
            labelled.cast("int").alias("nb_labelled_tx"),
            rate.cast("double").alias("fraud_rate"),
        )

    return per_entity("customer", "terminal").unionByName(per_entity("terminal", "customer"))
