"""Materialise feature-store rows as a named training set, recording the Delta versions read."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.errors import EmptyRangeError
from fraudspark.features.store import current_versions, feature_rows, model_feature_columns
from fraudspark.lakehouse.io import (
    read_table_as_of,
    replace_partitions,
    table_version,
    upsert,
)
from fraudspark.lakehouse.tables import (
    TRAINING_SET_CATALOG,
    TRAINING_SETS,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSetReport:
    name: str
    rows: int
    frauds: int
    versions: dict[str, int]

    def summary(self) -> str:
        return (
            f"training set {self.name!r}: {self.rows} rows, {self.frauds} frauds, "
            f"from table versions {self.versions}"
        )


def build_training_set(
    spark: SparkSession, config: Config, name: str, start: date, end: date
) -> TrainingSetReport:
    """Materialise feature rows into ``fraud.training_sets`` (partition ``name``).

    Replaces that partition only, and records the range and source Delta versions in
    ``fraud.training_set_catalog``, so the set can be rebuilt exactly. Raises EmptyRangeError
    (and writes nothing: an existing set of that name stays as it was) when the feature store
    has no rows for ``start``..``end``.
    """
    if not name or "'" in name:
        raise ValueError(f"invalid training set name: {name!r}")
    if end < start:
        raise ValueError(f"training set {name!r}: start {start} is after end {end}")
    versions = current_versions(spark, config)
    rows = feature_rows(spark, config, start, end, versions).withColumn("training_set", F.lit(name))
    if rows.isEmpty():
        raise EmptyRangeError(
            f"training set {name!r}: the feature store has no rows between {start} and {end} "
            f"(compute the features of those days first); nothing was written"
        )
    replace_partitions(spark, config, TRAINING_SETS, rows, f"training_set = '{name}'")
    written = read_table_as_of(
        spark, config, TRAINING_SETS, table_version(spark, config, TRAINING_SETS)
    ).where(F.col("training_set") == name)
    rows, frauds = written.agg(F.count("*"), F.sum("is_fraud")).first()  # type: ignore[misc]
    report = TrainingSetReport(name, int(rows), int(frauds or 0), versions)
    entry = spark.createDataFrame(
        [
            (
                name,
                start,
                end,
                report.rows,
                report.frauds,
                model_feature_columns(config),
                versions,
                datetime.now(timezone.utc),
            )
        ],
        TRAINING_SET_CATALOG.schema,
    )
    upsert(spark, config, TRAINING_SET_CATALOG, entry)
    log.info(report.summary())
    return report
