"""`fraudspark migrate` brings tables written before the renames to the current schemas."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from fraudspark.config import Config
from fraudspark.errors import OutdatedTableError
from fraudspark.lakehouse.io import read_table, replace_partitions, table_version
from fraudspark.lakehouse.tables import (
    DRIFT,
    EVALUATIONS,
    MONITORING_REFERENCES,
    SCORES,
    SOURCE_ID_COLUMNS,
    TRANSACTIONS,
    table_path,
)
from fraudspark.monitoring.reference import ENTITY_COLUMNS, reference_from_table_rows
from fraudspark.pipelines.migrate import migrate

# fraud.drift as fraudspark 0.1 (dccb447) wrote it: `model`, not `model_name`.
OLD_DRIFT = T.StructType(
    [
        T.StructField("monitor_date", T.DateType(), False),
        T.StructField("model", T.StringType(), False),
        T.StructField("model_version", T.IntegerType(), False),
        T.StructField("window_days", T.IntegerType(), False),
        T.StructField("feature", T.StringType(), False),
        T.StructField("metric", T.StringType(), False),
        T.StructField("value", T.DoubleType(), True),
        T.StructField("threshold", T.DoubleType(), True),
        T.StructField("drifted", T.BooleanType(), True),
    ]
)


def _write_old_drift(spark: SparkSession, config: Config) -> None:
    rows = [
        (date(2025, 3, 30), "fraud-rapp", 1, 1, "tx_amount", "psi", 0.31, 0.2, True),
        (date(2025, 3, 31), "fraud-classifier", 2, 7, "term_risk_7d", "ks", 0.05, 0.1, False),
    ]
    (
        spark.createDataFrame(rows, OLD_DRIFT)
        .write.format("delta")
        .partitionBy("monitor_date")
        .save(table_path(config, DRIFT))
    )


def test_migrate_renames_the_model_columns_and_keeps_every_value(
    spark: SparkSession, config: Config
) -> None:
    _write_old_drift(spark, config)

    report = migrate(spark, config)

    assert report.renamed == ("drift.model -> model_name",)
    assert report.added == ("drift.p_value",)  # null: no test was kept for old rows
    migrated = read_table(spark, config, DRIFT)
    assert DRIFT.schema is not None and migrated.columns == DRIFT.schema.names
    assert sorted(tuple(row) for row in migrated.collect()) == [
        (date(2025, 3, 30), "fraud-rapp", 1, 1, "tx_amount", "psi", 0.31, 0.2, None, True),
        (date(2025, 3, 31), "fraud-classifier", 2, 7, "term_risk_7d", "ks", 0.05, 0.1, None, False),
    ]


def test_a_write_to_an_outdated_table_names_migrate(spark: SparkSession, config: Config) -> None:
    _write_old_drift(spark, config)
    assert DRIFT.schema is not None
    day = "monitor_date = '2025-03-30'"
    rows = read_table(spark, config, DRIFT).where(day)  # the old columns
    message = r"fraud\.drift lacks column\(s\) model_name, p_value: .* run `fraudspark migrate`"
    with pytest.raises(OutdatedTableError, match=message):
        replace_partitions(spark, config, DRIFT, rows, day)
    migrate(spark, config)
    # After the migration the same partition is rewritten with the current schema.
    replace_partitions(spark, config, DRIFT, read_table(spark, config, DRIFT).where(day), day)
    assert read_table(spark, config, DRIFT).count() == 2


def test_migrate_again_changes_nothing(spark: SparkSession, config: Config) -> None:
    _write_old_drift(spark, config)
    migrate(spark, config)
    version = table_version(spark, config, DRIFT)

    assert migrate(spark, config).renamed == ()
    assert table_version(spark, config, DRIFT) == version


# fraud.evaluations before the ratio and quality columns (main after the renames, before this
# branch); dccb447 had `model` and `model_version` in place of model_name / model_fingerprint.
def _evaluations_before_ratio(model: str, fingerprint: str) -> T.StructType:
    return T.StructType(
        [
            T.StructField("evaluation_id", T.StringType(), False),
            T.StructField(model, T.StringType(), False),
            T.StructField("oversampling", T.StringType(), False),
            T.StructField("seed", T.IntegerType(), False),
            T.StructField("auc_roc", T.DoubleType(), True),
            T.StructField("average_precision", T.DoubleType(), True),
            T.StructField("cp_at_100", T.DoubleType(), True),
            T.StructField("cp_at_100_per_day", T.ArrayType(T.DoubleType(), False), False),
            T.StructField("train_start", T.DateType(), False),
            T.StructField("train_end", T.DateType(), False),
            T.StructField("test_start", T.DateType(), False),
            T.StructField("test_end", T.DateType(), False),
            T.StructField("delay_days", T.IntegerType(), False),
            T.StructField("train_rows", T.LongType(), False),
            T.StructField("test_rows", T.LongType(), False),
            T.StructField("test_frauds", T.LongType(), False),
            T.StructField("train_seconds", T.DoubleType(), True),
            T.StructField(fingerprint, T.StringType(), False),
            T.StructField("data_versions", T.MapType(T.StringType(), T.LongType()), False),
            T.StructField("evaluated_at", T.TimestampType(), False),
        ]
    )


OLD_EVALUATION = (
    "ev1", "ae", "none", 0, 0.8, 0.3, 0.2, [0.2], date(2025, 1, 1), date(2025, 1, 7),
    date(2025, 1, 15), date(2025, 1, 21), 7, 100, 50, 3, 1.5, "sha256:ab", {"transactions": 4},
    datetime(2025, 2, 1, 12, 0),
)  # fmt: skip


@pytest.mark.slow
def test_migrate_renames_the_evaluation_fingerprint(spark: SparkSession, config: Config) -> None:
    old_schema = _evaluations_before_ratio("model", "model_version")
    spark.createDataFrame([OLD_EVALUATION], old_schema).write.format("delta").save(
        table_path(config, EVALUATIONS)
    )

    report = migrate(spark, config)

    assert report.renamed == (
        "evaluations.model -> model_name",
        "evaluations.model_version -> model_fingerprint",
    )
    migrated = read_table(spark, config, EVALUATIONS).first()
    assert migrated is not None
    assert (migrated["model_name"], migrated["model_fingerprint"]) == ("ae", "sha256:ab")


@pytest.mark.slow
def test_migrate_adds_the_ratio_and_quality_columns_as_nulls(
    spark: SparkSession, config: Config
) -> None:
    old_schema = _evaluations_before_ratio("model_name", "model_fingerprint")
    spark.createDataFrame([OLD_EVALUATION], old_schema).write.format("delta").save(
        table_path(config, EVALUATIONS)
    )

    report = migrate(spark, config)

    assert report.renamed == ()
    assert report.added == (
        "evaluations.ratio",
        "evaluations.two_sample_auc",
        "evaluations.tstr_average_precision",
        "evaluations.invalid_rows",
    )
    assert report.tables_rewritten == ("evaluations",)
    migrated = read_table(spark, config, EVALUATIONS)
    assert EVALUATIONS.schema is not None and migrated.columns == EVALUATIONS.schema.names
    row = migrated.first()
    assert row is not None
    added = ("ratio", "two_sample_auc", "tstr_average_precision", "invalid_rows")
    assert [row[name] for name in added] == [None] * 4
    # Every old value kept under its name.
    assert {name: row[name] for name in old_schema.names} == dict(
        zip(old_schema.names, OLD_EVALUATION, strict=True)
    )
    assert migrated.schema["ratio"].dataType == T.DoubleType()
    assert migrated.schema["invalid_rows"].dataType == T.LongType()
    # Again: nothing to do, no new commit.
    version = table_version(spark, config, EVALUATIONS)
    assert migrate(spark, config).summary() == "the lakehouse is up to date: nothing to migrate"
    assert table_version(spark, config, EVALUATIONS) == version


def test_migrate_on_an_empty_lakehouse_does_nothing(spark: SparkSession, config: Config) -> None:
    assert migrate(spark, config).summary() == "the lakehouse is up to date: nothing to migrate"


def test_migrate_adds_the_source_id_columns_to_old_transactions(
    spark: SparkSession, config: Config
) -> None:
    assert TRANSACTIONS.schema is not None
    # fraud.transactions as phase A wrote it: no source_* columns.
    old_schema = T.StructType(
        [f for f in TRANSACTIONS.schema.fields if f.name not in SOURCE_ID_COLUMNS]
    )
    row = (
        7, datetime(2025, 2, 1, 10, 0), 10, 20, 1.5, 0, date(2025, 2, 1), None, "f.csv",
        datetime(2025, 2, 2, 1, 0), None,
    )  # fmt: skip
    spark.createDataFrame([row], old_schema).write.format("delta").partitionBy("tx_date").save(
        table_path(config, TRANSACTIONS)
    )

    report = migrate(spark, config)

    assert report.added == tuple(f"transactions.{c}" for c in SOURCE_ID_COLUMNS)
    assert report.summary() == (
        "added transactions.source_tx_id, transactions.source_customer_id, "
        "transactions.source_terminal_id"
    )
    migrated = read_table(spark, config, TRANSACTIONS)
    assert [(f.name, f.dataType) for f in migrated.schema.fields] == [
        (f.name, f.dataType) for f in TRANSACTIONS.schema.fields
    ]
    assert [tuple(r) for r in migrated.collect()] == [(*row, None, None, None)]
    version = table_version(spark, config, TRANSACTIONS)
    assert migrate(spark, config).added == ()
    assert table_version(spark, config, TRANSACTIONS) == version


def test_migrate_adds_the_entity_ids_to_kept_monitoring_references(
    spark: SparkSession, config: Config
) -> None:
    # fraud.monitoring_references before the drift tests' design effects: no entity ids.
    assert MONITORING_REFERENCES.schema is not None
    old = T.StructType([f for f in MONITORING_REFERENCES.schema if f.name not in ENTITY_COLUMNS])
    row = ("fraud-rapp", 3, 0, 2, {"tx_amount": 12.5}, 0.7, False, ["tx_amount"], [1.0],
           datetime(2025, 3, 1))  # fmt: skip
    spark.createDataFrame([row], old).write.format("delta").save(
        table_path(config, MONITORING_REFERENCES)
    )
    # Read before the migration, the reference has unknown entities (rows count as independent).
    before = reference_from_table_rows(
        read_table(spark, config, MONITORING_REFERENCES).toPandas(), ["tx_amount"]
    )
    assert before[list(ENTITY_COLUMNS)].isna().all().all()
    assert before["tx_amount"].tolist() == [12.5]

    report = migrate(spark, config)

    assert report.added == (
        "monitoring_references.customer_id",
        "monitoring_references.terminal_id",
    )
    migrated = read_table(spark, config, MONITORING_REFERENCES)
    assert migrated.columns == MONITORING_REFERENCES.schema.names
    (kept,) = migrated.collect()
    assert (kept["customer_id"], kept["terminal_id"], kept["score"]) == (None, None, 0.7)


def test_migrate_sets_the_scores_parquet_encodings_on_an_older_table(
    spark: SparkSession, config: Config
) -> None:
    assert SCORES.schema is not None and SCORES.properties
    # fraud.scores as written before its properties: created by a plain Delta write.
    empty = spark.createDataFrame([], SCORES.schema)
    empty.write.format("delta").partitionBy("tx_date").save(table_path(config, SCORES))

    report = migrate(spark, config)

    assert report.properties_set == ("scores",)
    assert report.summary() == "set the table properties of scores"
    detail = DeltaTable.forPath(spark, table_path(config, SCORES)).detail().first()
    assert detail is not None
    assert {k: detail["properties"].get(k) for k in SCORES.properties} == SCORES.properties
    version = table_version(spark, config, SCORES)
    assert migrate(spark, config).summary() == "the lakehouse is up to date: nothing to migrate"
    assert table_version(spark, config, SCORES) == version
