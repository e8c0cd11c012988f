"""Transactions: from a raw feed to validated, classified rows and their reconciliation counts.

Every source row ends in exactly one place: accepted (new to ``fraud.transactions``), already
there (present: the same transaction was ingested before), or quarantined with the first rule
it broke. ``read = accepted + quarantined + present`` always holds (checked by
:class:`IngestReport`). Writing the outcome is :mod:`fraudspark.pipelines.ingest`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from fraudspark.config import Config, ConfigError, IdKind, SourceMapping, load_mapping
from fraudspark.ingest.rules import KEY_COLUMNS, quarantine_id, validate_transactions
from fraudspark.ingest.sources import (
    CONTRACT_FIELDS,
    SOURCE_FORMATS,
    MissingColumnsError,
    apply_mapping,
    read_source,
)
from fraudspark.ingest.tokens import token_key
from fraudspark.lakehouse.tables import SOURCE_ID_COLUMNS

__all__ = [
    "ACCEPTED",
    "PRESENT",
    "QUARANTINED",
    "IngestReport",
    "MissingColumnsError",
    "accepted_rows",
    "classify_transactions",
    "outcome_counts",
    "quarantine_rows",
    "resolve_mapping",
    "validated_source",
]

ACCEPTED, QUARANTINED, PRESENT = "accepted", "quarantined", "present"


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


def resolve_mapping(config: Config, fmt: str | None, mapping: str | None) -> SourceMapping:
    """The mapping a run uses: the named one, or the contract layout in ``fmt`` (default
    parquet). A mapping decides its reader, so giving both raises :class:`ConfigError`."""
    if mapping is not None:
        if fmt is not None:
            raise ConfigError(
                f"--mapping {mapping} decides the reader; do not combine it with --format {fmt} "
                f"(set `format:` in the mapping instead)"
            )
        return load_mapping(config, mapping)
    fmt = fmt or "parquet"
    if fmt not in SOURCE_FORMATS:
        raise ValueError(f"unknown source format {fmt!r}; expected one of {SOURCE_FORMATS}")
    return SourceMapping(format=fmt)  # type: ignore[arg-type]


def validated_source(
    spark: SparkSession,
    config: Config,
    source_path: str,
    mapping: SourceMapping,
    now: datetime,
) -> DataFrame:
    """Read ``source_path`` with ``mapping`` and validate it (see
    :func:`~fraudspark.ingest.rules.validate_transactions` for the columns). Raises
    :class:`MissingColumnsError`, ``FileNotFoundError`` or
    :class:`~fraudspark.ingest.tokens.TokenKeyError`."""
    key = token_key(config.ingest) if mapping.card_number_columns else None
    columns = [*[mapping.columns.get(f, f) for f in CONTRACT_FIELDS], *mapping.tx_id_scope]
    source = read_source(spark, source_path, mapping.format, mapping.options, columns)
    mapped = apply_mapping(source, mapping, key)
    kinds: dict[str, IdKind] = {
        "tx_id": mapping.id_kind("tx_id"),
        "customer_id": mapping.id_kind("customer_id"),
        "terminal_id": mapping.id_kind("terminal_id"),
    }
    return validate_transactions(
        mapped,
        now,
        config.ingest.max_future_seconds,
        kinds,
        config.ingest.business_time_zone,
    )


def classify_transactions(validated: DataFrame, existing: DataFrame | None) -> DataFrame:
    """Decide each row's outcome: accepted, quarantined (with reason) or already present.

    Within the source, copies of one tx_id with identical contents keep one copy (the others are
    quarantined as ``duplicate_tx_id_in_source``); copies that disagree are all quarantined
    (``conflicting_tx_id_in_source``): there is no telling which is right. Against the table,
    the same transaction (same time, parties and amount; the label may have moved on) is
    ``present``; a different one under a known tx_id is ``conflicting_tx_id_in_table``.
    ``validated`` ends with ``reject_reason``; string ids are already keys
    (:func:`~fraudspark.ingest.ids.resolve_ids`), so a source id is recognised by its key.
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


def quarantine_rows(classified: DataFrame, kind: str, ingested_at: datetime) -> DataFrame:
    """Rows for ``fraud.transactions_quarantine`` from classified rows (transaction or label)."""
    rejected = classified.where(F.col("outcome") == QUARANTINED)
    return rejected.select(
        quarantine_id(kind).alias("quarantine_id"),
        F.lit(kind).alias("record_kind"),
        F.col("reject_reason").alias("reason"),
        "raw",
        "source_file",
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
    )


def accepted_rows(classified: DataFrame, ingested_at: datetime) -> DataFrame:
    """Rows for ``fraud.transactions``: the accepted ones, in the table's column order (the
    ``source_*`` ids null when ``classified`` has none: an integer-id feed)."""
    return classified.where(F.col("outcome") == ACCEPTED).select(
        *KEY_COLUMNS,
        "is_fraud",
        "tx_date",
        "extra",
        "source_file",
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
        F.lit(None).cast("timestamp").alias("label_updated_at"),
        *[
            F.col(c) if c in classified.columns else F.lit(None).cast("string").alias(c)
            for c in SOURCE_ID_COLUMNS
        ],
    )


def outcome_counts(classified: DataFrame) -> dict[str, int]:
    """outcome -> number of rows."""
    return {
        row["outcome"]: int(row["count"]) for row in classified.groupBy("outcome").count().collect()
    }


def transaction_report(counts: dict[str, int]) -> IngestReport:
    return IngestReport(
        read=sum(counts.values()),
        accepted=counts.get(ACCEPTED, 0),
        quarantined=counts.get(QUARANTINED, 0),
        present=counts.get(PRESENT, 0),
    )
