"""The feature store: point-in-time rows for training and scoring.

A row is a transaction, its windowed features, and for its customer and its terminal the latest
monthly values visible at the transaction's time (an as-of join). Monthly values become visible
at the first instant of the next month; a month without activity is forward-filled from the last
known month for up to ``monthly_staleness_months`` months, after which the values are null and
the ``*_month_missing`` indicator is 1.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.features.definitions import (
    MONTHLY_MEASURES,
    TRANSACTION_KEYS,
    FeatureGroup,
    feature_fields,
    feature_groups,
    monthly_missing_indicator,
)
from fraudspark.features.periods import add_months
from fraudspark.lakehouse.io import (
    read_table_as_of,
    table_version,
)
from fraudspark.lakehouse.tables import (
    FEATURES_MONTHLY,
    FEATURES_WINDOWED,
    TRANSACTIONS,
    Table,
)

SOURCE_TABLES: tuple[Table, ...] = (TRANSACTIONS, FEATURES_WINDOWED, FEATURES_MONTHLY)


def missing_indicator(entity: Literal["customer", "terminal"]) -> str:
    return monthly_missing_indicator(entity)


def model_feature_columns(config: Config) -> list[str]:
    """Every numeric model input the store provides, in a fixed order (each with a declared
    kind: :func:`~fraudspark.features.definitions.feature_fields`)."""
    return [field.name for field in feature_fields(config.features)]


def _entity(group: FeatureGroup) -> Literal["customer", "terminal"]:
    if group.entity == "transaction":
        raise ValueError(f"feature group {group.name} is not per entity")
    return group.entity


def monthly_as_of(monthly: DataFrame, group: FeatureGroup, staleness_months: int) -> DataFrame:
    """For each entity and each month m, the latest monthly row visible during m.

    The row of month k is visible from the start of month k + 1 and is carried forward to months
    k + 1 .. k + 1 + ``staleness_months``; for each month the youngest candidate wins. Returns
    ``<entity>_id``, ``effective_month`` and the group's columns.
    """
    entity = _entity(group)
    measures = MONTHLY_MEASURES if entity == "terminal" else MONTHLY_MEASURES[:-1]
    ages = F.explode(F.sequence(F.lit(1), F.lit(staleness_months + 1))).alias("age_months")
    candidates = (
        monthly.where(F.col("entity_type") == entity)
        .select("entity_id", "month", *measures, ages)
        .withColumn("effective_month", F.add_months("month", F.col("age_months")))
    )
    youngest = Window.partitionBy("entity_id", "effective_month").orderBy("age_months")
    latest = candidates.withColumn("_rank", F.row_number().over(youngest)).where("_rank = 1")
    return latest.select(
        F.col("entity_id").alias(group.entity_key),
        "effective_month",
        *[F.col(m).alias(c) for m, c in zip(measures, group.columns, strict=True)],
    )


def assemble_feature_rows(
    transactions: DataFrame | None,
    windowed: DataFrame,
    monthly: DataFrame,
    config: Config,
) -> DataFrame:
    """Join transactions, their windowed features and the as-of monthly values.

    Pure: callers choose the rows (days, table versions). Returns the transaction keys,
    ``is_fraud`` (the label as stored now) and :func:`model_feature_columns`. Without
    ``transactions`` the rows carry no label and skip that join: the windowed table has one
    row per stored transaction, so only the label would come from it (scoring and monitoring
    do not read it, and the join shuffles every windowed row).
    """
    windowed_group, *monthly_groups = feature_groups(config.features)
    rows = windowed.select(*TRANSACTION_KEYS, *windowed_group.columns)
    if transactions is not None:
        rows = rows.join(
            transactions.select("tx_id", "tx_date", "is_fraud"), ["tx_id", "tx_date"], "inner"
        )
    rows = rows.withColumn("_tx_month", F.trunc("tx_date", "month"))
    for group in monthly_groups:
        as_of = monthly_as_of(monthly, group, config.features.monthly_staleness_months)
        rows = rows.join(
            as_of.withColumnRenamed("effective_month", "_tx_month"),
            [group.entity_key, "_tx_month"],
            "left",
        ).withColumn(
            missing_indicator(_entity(group)),
            F.col(group.columns[0]).isNull().cast("int"),
        )
    label = ["is_fraud"] if transactions is not None else []
    return rows.select(*TRANSACTION_KEYS, *label, *model_feature_columns(config)[1:])


def current_versions(spark: SparkSession, config: Config) -> dict[str, int]:
    """The latest Delta version of each table the store reads."""
    return {table.name: table_version(spark, config, table) for table in SOURCE_TABLES}


def feature_rows(
    spark: SparkSession,
    config: Config,
    start: date,
    end: date,
    versions: dict[str, int] | None = None,
    labels: bool = True,
) -> DataFrame:
    """Feature-store rows for transactions dated ``start``..``end`` inclusive.

    ``versions`` pins each source table to a Delta version (default: the current ones), so the
    same call later returns the same rows even after the tables changed. ``labels=False``
    leaves out ``is_fraud`` and the join with fraud.transactions that brings it (see
    :func:`assemble_feature_rows`).
    """
    versions = versions or current_versions(spark, config)
    between = f"tx_date >= '{start}' AND tx_date <= '{end}'"
    # A month's row serves the next 1 + staleness months.
    oldest_needed = add_months(start, -(config.features.monthly_staleness_months + 1))
    monthly = read_table_as_of(spark, config, FEATURES_MONTHLY, versions["features_monthly"])
    transactions = (
        read_table_as_of(spark, config, TRANSACTIONS, versions["transactions"]).where(between)
        if labels
        else None
    )
    return assemble_feature_rows(
        transactions,
        read_table_as_of(spark, config, FEATURES_WINDOWED, versions["features_windowed"]).where(
            between
        ),
        monthly.where((F.col("month") >= F.lit(oldest_needed)) & (F.col("month") <= F.lit(end))),
        config,
    )
