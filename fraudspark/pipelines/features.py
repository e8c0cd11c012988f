"""The feature job: full recomputation or an incremental run over given days.

Both paths call the same transforms (:func:`windowed_features`, :func:`monthly_features`); the
incremental one feeds them only the history the longest window plus the label delay reaches,
then replaces exactly the days (and months) it computed. Re-running gives the same tables.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config, FeatureConfig
from fraudspark.features.definitions import customer_windows, terminal_windows
from fraudspark.features.monthly import monthly_features
from fraudspark.features.periods import history_start, months_between, next_month
from fraudspark.features.windowed import (
    EntityPieces,
    large_entities_by_month,
    tuned_session,
    windowed_features,
)
from fraudspark.lakehouse.io import (
    overwrite_table,
    read_table,
    replace_partitions,
    rows_written_by_last_commit,
)
from fraudspark.lakehouse.tables import (
    FEATURES_MONTHLY,
    FEATURES_WINDOWED,
    TRANSACTIONS,
    Table,
    sql_quote,
)

log = logging.getLogger(__name__)


# Rows per partition the windowed features aim for at most (see feature_partitions).
# The configuration's default (features.rows_per_partition), for callers without a config.
ROWS_PER_PARTITION: int = FeatureConfig.model_fields["rows_per_partition"].default


@dataclass(frozen=True)
class FeatureRunReport:
    mode: str  # full | incremental
    start: date | None
    end: date | None
    transactions_read: int
    windowed_rows: int
    monthly_rows: int

    def summary(self) -> str:
        span = "all days" if self.start is None else f"{self.start} .. {self.end}"
        return (
            f"features ({self.mode}, {span}): read {self.transactions_read} transactions, "
            f"wrote {self.windowed_rows} windowed rows and {self.monthly_rows} monthly rows"
        )


def _between(column: str, start: date, end: date) -> str:
    return f"{column} >= '{start}' AND {column} <= '{end}'"


def feature_partitions(
    spark: SparkSession, rows: int, rows_per_partition: int = ROWS_PER_PARTITION
) -> int:
    """How many partitions the windowed features hash each entity's rows into.

    At least two per core, and enough that a partition (one Arrow table in one Python worker)
    holds about ``rows_per_partition`` rows or fewer (``features.rows_per_partition``); a
    multiple of the cores, so the last wave of tasks keeps every core busy.
    """
    cores = spark.sparkContext.defaultParallelism
    waves = max(2, math.ceil(rows / (rows_per_partition * cores)))
    return cores * waves


def compute_features(
    spark: SparkSession, config: Config, start: date | None = None, end: date | None = None
) -> FeatureRunReport:
    """Recompute every feature (``start is None``) or the days ``start``..``end`` inclusive."""
    transactions = read_table(spark, config, TRANSACTIONS)
    if start is None:
        # Delta answers a whole-table count from its log; the features scan only the columns
        # they use, twice (windowed and monthly), which costs less than caching them.
        read = transactions.count()
        partitions = feature_partitions(spark, read, config.features.rows_per_partition)
        with tuned_session(spark, config.features):
            # The monthly table first: it tells the windowed features which entities to split.
            overwrite_table(
                spark,
                config,
                FEATURES_MONTHLY,
                monthly_features(transactions, config.features, partitions),
            )
            windowed = windowed_features(
                transactions,
                config.features,
                partitions,
                time_zone=config.ingest.business_time_zone,
                rows=read,
                plans=_split_plans(spark, config, read),
            )
            overwrite_table(spark, config, FEATURES_WINDOWED, windowed)
        return _report(spark, config, "full", None, None, read)

    end = end or start
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    first_day = history_start(config, start)
    history = transactions.where(_between("tx_date", first_day, end))
    read = history.count()
    # The months' rows lie within the history (it reaches back further than a month).
    partitions = feature_partitions(spark, read, config.features.rows_per_partition)
    with tuned_session(spark, config.features):
        months = months_between(start, end)
        last_day = next_month(months[-1]) - timedelta(days=1)
        month_rows = transactions.where(_between("tx_date", months[0], last_day))
        monthly = monthly_features(month_rows, config.features, partitions)
        replace_partitions(
            spark, config, FEATURES_MONTHLY, monthly, f"month IN ({sql_quote(months)})"
        )
        windowed = windowed_features(
            history,
            config.features,
            partitions,
            (start, end),
            time_zone=config.ingest.business_time_zone,
            rows=read,
            plans=_split_plans(spark, config, read, (first_day, end)),
        )
        replace_partitions(
            spark, config, FEATURES_WINDOWED, windowed, _between("tx_date", start, end)
        )
    return _report(spark, config, "incremental", start, end, read)


def _split_plans(
    spark: SparkSession, config: Config, rows: int, span: tuple[date, date] | None = None
) -> tuple[list[EntityPieces], list[EntityPieces]] | None:
    """The entities the windowed features split by time, found in ``fraud.features_monthly``
    (one small aggregation instead of two over the transactions): see
    :func:`large_entities_by_month`. None when ``rows`` transactions cannot hold such an entity.
    """
    limit = config.features.split_entity_rows
    if limit is None or rows <= limit:
        return None
    specs = (customer_windows(config.features), terminal_windows(config.features))
    monthly = read_table(spark, config, FEATURES_MONTHLY)
    return large_entities_by_month(monthly, specs, limit, span)


def _report(
    spark: SparkSession,
    config: Config,
    mode: str,
    start: date | None,
    end: date | None,
    read: int,
) -> FeatureRunReport:
    """The run's counts; rows written come from the commits just made (a count of the
    replaced partitions would cost a scan; bench/feature_steps.py times both)."""

    def written(table: Table, where: Column | None) -> int:
        rows = rows_written_by_last_commit(spark, config, table)
        if rows is not None:
            return rows
        frame = read_table(spark, config, table)
        return (frame if where is None else frame.where(where)).count()

    days = months = None
    if start is not None and end is not None:
        days = F.col("tx_date").between(start, end)
        months = F.col("month").isin(months_between(start, end))
    report = FeatureRunReport(
        mode, start, end, read, written(FEATURES_WINDOWED, days), written(FEATURES_MONTHLY, months)
    )
    log.info(report.summary())
    return report


def feature_sample(spark: SparkSession, config: Config, limit: int = 5) -> DataFrame:
    """A few windowed-feature rows, for printing."""
    return read_table(spark, config, FEATURES_WINDOWED).orderBy("tx_ts").limit(limit)
