"""Lossless ingest of raw transaction files and late fraud labels into Delta.

Every source row ends in exactly one place: ``fraud.transactions`` (accepted), already there
(present: the same transaction was ingested before), or ``fraud.transactions_quarantine`` with
the first rule it broke. ``read = accepted + quarantined + present`` always holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import Config
from fraudspark.lakehouse.io import ensure_table, merge_insert_new, read_table, table_exists
from fraudspark.lakehouse.tables import (
    QUARANTINE,
    TRANSACTION_SCHEMA,
    TRANSACTIONS,
    sql_quote,
    table_path,
)

log = logging.getLogger(__name__)

KEY_COLUMNS = ("tx_id", "tx_ts", "customer_id", "terminal_id", "tx_amount")
CONTRACT_COLUMNS = tuple(field.name for field in TRANSACTION_SCHEMA.fields)
SOURCE_FORMATS = ("parquet", "csv", "json")
# Transactions before this are impossible (and usually a parsing accident such as epoch 0).
EARLIEST_TS = datetime(1970, 1, 1, tzinfo=timezone.utc)

ACCEPTED, QUARANTINED, PRESENT = "accepted", "quarantined", "present"


class MissingColumnsError(ValueError):
    """The source lacks columns the transaction contract requires."""


@dataclass(frozen=True)
class IngestReport:
    read: int
    accepted: int
    quarantined: int
    present: int

    def __post_init__(self) -> None:
        # The reconciliation is an invariant of the classification, checked on every run.
        if self.accepted + self.quarantined + self.present != self.read:
            raise AssertionError(f"ingest lost or doubled rows: {self}")

    def summary(self) -> str:
        return (
            f"read {self.read}, accepted {self.accepted}, quarantined {self.quarantined}, "
            f"already present {self.present}"
        )


@dataclass(frozen=True)
class LabelReport:
    read: int
    updated: int
    unchanged: int
    quarantined: int

    def __post_init__(self) -> None:
        if self.updated + self.unchanged + self.quarantined != self.read:
            raise AssertionError(f"label ingest lost or doubled rows: {self}")

    def summary(self) -> str:
        return (
            f"read {self.read}, updated {self.updated}, unchanged {self.unchanged}, "
            f"quarantined {self.quarantined}"
        )


def read_source(spark: SparkSession, path: str, fmt: str) -> DataFrame:
    """Read raw files (a file or a directory tree) with a ``source_file`` column.

    CSV and JSON are read as text so that a malformed value reaches validation (and
    quarantine) instead of silently becoming null.
    """
    if fmt not in SOURCE_FORMATS:
        raise ValueError(f"unknown source format {fmt!r}; expected one of {SOURCE_FORMATS}")
    reader = spark.read.format(fmt).option("recursiveFileLookup", "true")
    if fmt == "csv":
        reader = reader.option("header", "true").option("inferSchema", "false")
    elif fmt == "json":
        reader = reader.option("primitivesAsString", "true")
    frame = reader.load(path)
    return frame.withColumn("source_file", F.col("_metadata.file_path"))


def check_columns(frame: DataFrame, required: tuple[str, ...]) -> list[str]:
    """Raise if required columns are missing; return the extra columns (kept in ``extra``)."""
    columns = [c for c in frame.columns if c != "source_file"]
    missing = [c for c in required if c not in columns]
    if missing:
        raise MissingColumnsError(
            f"source is missing required column(s): {', '.join(missing)} "
            f"(found: {', '.join(columns) or 'none'})"
        )
    return [c for c in columns if c not in CONTRACT_COLUMNS]


def _parse(column: str, data_type: T.DataType) -> Column:
    return F.col(column).try_cast(data_type)


def _first_failure(rules: list[tuple[Column, str]]) -> Column:
    """The reason of the first rule whose condition holds, else null."""
    reason: Column = F.lit(None).cast("string")
    for condition, name in reversed(rules):
        reason = F.when(condition, F.lit(name)).otherwise(reason)
    return reason


def _raw_json(columns: list[str]) -> Column:
    return F.to_json(F.struct(*[F.col(c) for c in columns]), {"ignoreNullFields": "false"})


def _quarantine_id(kind: str) -> Column:
    """A stable id for a raw row: identical rows of one file get ids 1..k, never collapsed."""
    occurrence = F.row_number().over(Window.partitionBy("source_file", "raw").orderBy("raw"))
    return F.sha2(
        F.concat_ws(
            "\u0000",
            F.lit(kind),
            F.coalesce("source_file", F.lit("")),
            "raw",
            occurrence.cast("string"),
        ),
        256,
    )


def validate_transactions(source: DataFrame, now: datetime, max_future_seconds: int) -> DataFrame:
    """Parse contract columns and attach ``reject_reason`` (null for a valid row).

    Takes the raw frame from :func:`read_source`; returns the contract columns parsed, ``extra``
    (other source columns as a text map), ``source_file``, ``raw`` (the whole row as JSON) and
    ``reject_reason``. Duplicates are judged later, against the file and the table.
    """
    extra_columns = check_columns(source, KEY_COLUMNS)
    source_columns = [c for c in source.columns if c != "source_file"]
    if "is_fraud" not in source.columns:
        source = source.withColumn("is_fraud", F.lit(None).cast("string"))
    latest = F.lit(now).cast("timestamp") + F.make_dt_interval(secs=F.lit(max_future_seconds))
    fraud_value = _parse("is_fraud", T.DoubleType())
    parsed = source.select(
        *[F.col(c).alias(f"raw_{c}") for c in CONTRACT_COLUMNS],
        _parse("tx_id", T.LongType()).alias("tx_id"),
        _parse("tx_ts", T.TimestampType()).alias("tx_ts"),
        _parse("customer_id", T.LongType()).alias("customer_id"),
        _parse("terminal_id", T.LongType()).alias("terminal_id"),
        _parse("tx_amount", T.DoubleType()).alias("tx_amount"),
        fraud_value.alias("fraud_value"),
        (
            F.create_map(*[x for c in extra_columns for x in (F.lit(c), F.col(c).cast("string"))])
            if extra_columns
            else F.lit(None).cast(T.MapType(T.StringType(), T.StringType()))
        ).alias("extra"),
        "source_file",
        _raw_json(source_columns).alias("raw"),
    )
    rules: list[tuple[Column, str]] = []
    for column in KEY_COLUMNS:
        rules.append((F.col(f"raw_{column}").isNull(), f"missing_{column}"))
        rules.append((F.col(column).isNull(), f"invalid_{column}"))
    rules += [
        (F.col("tx_ts") < F.lit(EARLIEST_TS).cast("timestamp"), "tx_ts_before_1970"),
        (F.col("tx_ts") > latest, "tx_ts_in_future"),
        (
            F.isnan("tx_amount") | (F.abs("tx_amount") == float("inf")),
            "non_finite_tx_amount",
        ),
        (F.col("tx_amount") < 0, "negative_tx_amount"),
        (
            F.col("raw_is_fraud").isNotNull()
            & (F.col("fraud_value").isNull() | ~F.col("fraud_value").isin(0.0, 1.0)),
            "invalid_is_fraud",
        ),
    ]
    return parsed.select(
        *KEY_COLUMNS,
        F.col("fraud_value").cast("int").alias("is_fraud"),
        "extra",
        "source_file",
        "raw",
        _first_failure(rules).alias("reject_reason"),
    )


def classify_transactions(validated: DataFrame, existing: DataFrame | None) -> DataFrame:
    """Decide each row's outcome: accepted, quarantined (with reason) or already present.

    Within the source, copies of one tx_id with identical contents keep one copy (the others are
    quarantined as ``duplicate_tx_id_in_source``); copies that disagree are all quarantined
    (``conflicting_tx_id_in_source``): there is no telling which is right. Against the table,
    the same transaction (same time, parties and amount; the label may have moved on) is
    ``present``; a different one under a known tx_id is ``conflicting_tx_id_in_table``.
    """
    by_tx = Window.partitionBy("tx_id")
    content = F.concat_ws("|", *[F.col(c).cast("string") for c in (*KEY_COLUMNS, "is_fraud")])
    valid = F.col("reject_reason").isNull()
    ranked = (
        validated.withColumn("_content", content)
        .withColumn(
            "_versions",
            F.size(F.collect_set(F.when(valid, F.col("_content"))).over(by_tx)),
        )
        .withColumn(
            "_copy",
            F.row_number().over(by_tx.orderBy(F.col("reject_reason").asc_nulls_first(), "raw")),
        )
    )
    in_source = ranked.withColumn(
        "reject_reason",
        F.when(~valid, F.col("reject_reason"))
        .when(F.col("_versions") > 1, F.lit("conflicting_tx_id_in_source"))
        .when(F.col("_copy") > 1, F.lit("duplicate_tx_id_in_source")),
    ).drop("_content", "_versions", "_copy")
    if existing is None:
        return in_source.withColumn(
            "outcome",
            F.when(F.col("reject_reason").isNull(), ACCEPTED).otherwise(QUARANTINED),
        )
    known = existing.select(
        "tx_id", *[F.col(c).alias(f"known_{c}") for c in KEY_COLUMNS if c != "tx_id"]
    )
    joined = in_source.join(known, "tx_id", "left")
    same = F.lit(True)
    for column in KEY_COLUMNS[1:]:
        same = same & (F.col(column) == F.col(f"known_{column}"))
    is_known = F.col("known_tx_ts").isNotNull()
    fresh = F.col("reject_reason").isNull()
    return joined.select(
        *in_source.columns[:-1],
        F.when(fresh & is_known & ~same, F.lit("conflicting_tx_id_in_table"))
        .otherwise(F.col("reject_reason"))
        .alias("reject_reason"),
        F.when(fresh & is_known & same, PRESENT)
        .when(fresh & ~is_known, ACCEPTED)
        .otherwise(QUARANTINED)
        .alias("outcome"),
    )


def _quarantine_rows(classified: DataFrame, kind: str, ingested_at: datetime) -> DataFrame:
    rejected = classified.where(F.col("outcome") == QUARANTINED)
    return rejected.select(
        _quarantine_id(kind).alias("quarantine_id"),
        F.lit(kind).alias("record_kind"),
        F.col("reject_reason").alias("reason"),
        "raw",
        "source_file",
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
    )


def _outcome_counts(classified: DataFrame) -> dict[str, int]:
    return {
        row["outcome"]: int(row["count"]) for row in classified.groupBy("outcome").count().collect()
    }


def ingest_transactions(
    spark: SparkSession,
    config: Config,
    source_path: str,
    fmt: str = "parquet",
    now: datetime | None = None,
) -> IngestReport:
    """Validate a raw source and MERGE it into ``fraud.transactions``; quarantine the rest.

    Idempotent: ingesting the same files again accepts nothing and quarantines the same rows
    under the same ids (the quarantine MERGE adds nothing).
    """
    now = now or datetime.now(timezone.utc)
    source = read_source(spark, source_path, fmt)
    dropped = [c for c in source.columns if c.startswith("_")]
    if dropped:
        log.warning("ignoring source columns with a reserved leading underscore: %s", dropped)
        source = source.drop(*dropped)
    extras = check_columns(source, KEY_COLUMNS)
    if extras:
        log.warning("keeping non-contract source columns in the `extra` map: %s", extras)
    validated = validate_transactions(source, now, config.ingest.max_future_seconds)
    existing = (
        read_table(spark, config, TRANSACTIONS)
        if table_exists(spark, config, TRANSACTIONS)
        else None
    )
    # Materialise once: the counts and both writes must see one classification, taken before
    # the MERGE changes the table it was classified against.
    classified = classify_transactions(validated, existing).localCheckpoint(eager=True)
    counts = _outcome_counts(classified)
    report = IngestReport(
        read=sum(counts.values()),
        accepted=counts.get(ACCEPTED, 0),
        quarantined=counts.get(QUARANTINED, 0),
        present=counts.get(PRESENT, 0),
    )
    # The quarantine exists even when empty, so analysts can always query it.
    ensure_table(spark, config, QUARANTINE)
    if report.quarantined:
        merge_insert_new(
            spark, config, QUARANTINE, _quarantine_rows(classified, "transaction", now)
        )
    accepted = classified.where(F.col("outcome") == ACCEPTED).select(
        *KEY_COLUMNS,
        "is_fraud",
        F.to_date("tx_ts").alias("tx_date"),
        "extra",
        "source_file",
        F.lit(now).cast("timestamp").alias("ingested_at"),
        F.lit(None).cast("timestamp").alias("label_updated_at"),
    )
    dates = sorted(row[0] for row in accepted.select("tx_date").distinct().collect())
    if dates:
        merge_insert_new(
            spark,
            config,
            TRANSACTIONS,
            accepted,
            extra_condition=f"t.tx_date IN ({sql_quote(dates)})",
        )
    log.info("ingest %s: %s", source_path, report.summary())
    return report


def validate_labels(source: DataFrame, known: DataFrame) -> DataFrame:
    """Parse ``tx_id``/``is_fraud`` label rows and attach ``reject_reason`` and ``tx_date``.

    ``known`` is ``fraud.transactions``: a label for an unknown transaction is quarantined
    (``unknown_tx_id``), never silently dropped.
    """
    check_columns(source, ("tx_id", "is_fraud"))
    source_columns = [c for c in source.columns if c != "source_file"]
    fraud_value = _parse("is_fraud", T.DoubleType())
    parsed = source.select(
        F.col("tx_id").alias("raw_tx_id"),
        F.col("is_fraud").alias("raw_is_fraud"),
        _parse("tx_id", T.LongType()).alias("tx_id"),
        fraud_value.alias("fraud_value"),
        "source_file",
        _raw_json(source_columns).alias("raw"),
    )
    targets = known.select("tx_id", "tx_date", F.col("is_fraud").alias("current_is_fraud"))
    joined = parsed.join(targets, "tx_id", "left")
    versions = F.size(F.collect_set(F.col("fraud_value")).over(Window.partitionBy("tx_id")))
    copy = F.row_number().over(Window.partitionBy("tx_id").orderBy("raw"))
    rules: list[tuple[Column, str]] = [
        (F.col("raw_tx_id").isNull(), "missing_tx_id"),
        (F.col("tx_id").isNull(), "invalid_tx_id"),
        (F.col("raw_is_fraud").isNull(), "missing_is_fraud"),
        (
            F.col("fraud_value").isNull() | ~F.col("fraud_value").isin(0.0, 1.0),
            "invalid_is_fraud",
        ),
        (F.col("tx_date").isNull(), "unknown_tx_id"),
        (versions > 1, "conflicting_label_in_source"),
        (copy > 1, "duplicate_label_in_source"),
    ]
    return joined.select(
        "tx_id",
        F.col("fraud_value").cast("int").alias("is_fraud"),
        "tx_date",
        "current_is_fraud",
        "source_file",
        "raw",
        _first_failure(rules).alias("reject_reason"),
    )


def ingest_labels(
    spark: SparkSession,
    config: Config,
    source_path: str,
    fmt: str = "csv",
    now: datetime | None = None,
) -> LabelReport:
    """MERGE late fraud labels (``tx_id``, ``is_fraud``) into ``fraud.transactions``.

    Only the targeted rows change (``is_fraud`` and ``label_updated_at``); a label equal to the
    stored one is ``unchanged`` and leaves the row as it was, so re-running changes nothing.
    """
    from delta.tables import DeltaTable

    now = now or datetime.now(timezone.utc)
    if not table_exists(spark, config, TRANSACTIONS):
        raise ValueError("fraud.transactions does not exist yet: ingest transactions first")
    source = read_source(spark, source_path, fmt)
    known = read_table(spark, config, TRANSACTIONS)
    validated = validate_labels(source, known)
    classified = validated.withColumn(
        "outcome",
        F.when(F.col("reject_reason").isNotNull(), QUARANTINED)
        .when(F.col("current_is_fraud").eqNullSafe(F.col("is_fraud")), "unchanged")
        .otherwise("updated"),
    ).localCheckpoint(eager=True)
    counts = _outcome_counts(classified)
    report = LabelReport(
        read=sum(counts.values()),
        updated=counts.get("updated", 0),
        unchanged=counts.get("unchanged", 0),
        quarantined=counts.get(QUARANTINED, 0),
    )
    if report.quarantined:
        merge_insert_new(spark, config, QUARANTINE, _quarantine_rows(classified, "label", now))
    updates = classified.where(F.col("outcome") == "updated").select("tx_id", "tx_date", "is_fraud")
    dates = sorted(row[0] for row in updates.select("tx_date").distinct().collect())
    if dates:
        (
            DeltaTable.forPath(spark, table_path(config, TRANSACTIONS))
            .alias("t")
            .merge(
                updates.alias("s"),
                f"t.tx_id = s.tx_id AND t.tx_date = s.tx_date "
                f"AND t.tx_date IN ({sql_quote(dates)})",
            )
            .whenMatchedUpdate(
                condition="NOT (t.is_fraud <=> s.is_fraud)",
                set={
                    "is_fraud": "s.is_fraud",
                    "label_updated_at": F.lit(now).cast("timestamp"),
                },
            )
            .execute()
        )
    log.info("labels %s: %s", source_path, report.summary())
    return report
