"""Late fraud labels: validated and classified label rows, and their reconciliation counts.

A label row (``tx_id``, ``is_fraud``) is ``updated`` (it changes the stored label),
``unchanged`` (equal to it) or quarantined with a reason; ``read = updated + unchanged +
quarantined`` always holds (checked by :class:`LabelReport`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import SourceMapping
from fraudspark.ingest.rules import first_failure, parse_id
from fraudspark.ingest.sources import (
    MALFORMED,
    SOURCE_FILE,
    MissingColumnsError,
    col,
    malformed_text,
    read_source,
    scoped_tx_id,
    tokenize_card_columns,
)
from fraudspark.ingest.transactions import QUARANTINED

UPDATED, UNCHANGED = "updated", "unchanged"


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


def read_labels(
    spark: SparkSession, source_path: str, mapping: SourceMapping, token_key: bytes | None = None
) -> DataFrame:
    """Label rows as ``raw_tx_id``, ``raw_is_fraud`` (text), ``malformed``, ``raw`` and
    ``source_file``; columns found through ``mapping`` (case-insensitively).

    A mapping with ``tx_id_scope`` needs its scope columns in the label file too: the id is
    composed as at ingest (``id|scope values``, card columns as their tokens). Card-number
    columns are tokenized before anything is kept, so ``raw`` holds no card number in clear.
    Raises :class:`MissingColumnsError`, and ``ValueError`` when the mapping marks card
    columns and ``token_key`` is None.
    """
    wanted = {f: mapping.columns.get(f, f) for f in ("tx_id", "is_fraud")}
    scope = list(mapping.tx_id_scope)
    source = read_source(
        spark, source_path, mapping.format, mapping.options, [*wanted.values(), *scope]
    )
    by_lower = {c.lower(): c for c in source.columns}
    missing = [name for name in [*wanted.values(), *scope] if name.lower() not in by_lower]
    if missing:
        shown = [c for c in source.columns if c not in (SOURCE_FILE, MALFORMED)]
        raise MissingColumnsError(
            f"source is missing required column(s): {', '.join(missing)} "
            f"(found: {', '.join(shown) or 'none'})"
        )
    source, clear = tokenize_card_columns(source, mapping, token_key)
    columns = [c for c in source.columns if c not in (SOURCE_FILE, MALFORMED, *clear.values())]
    record = F.to_json(F.struct(*[col(c) for c in columns]), {"ignoreNullFields": "false"})
    raw = {f: col(by_lower[name.lower()]).cast("string") for f, name in wanted.items()}
    raw["tx_id"] = scoped_tx_id(raw["tx_id"], [col(by_lower[c.lower()]) for c in scope])
    return source.select(
        *[value.alias(f"raw_{f}") for f, value in raw.items()],
        col(MALFORMED).isNotNull().alias("malformed"),
        F.coalesce(malformed_text(clear), record).alias("raw"),
        SOURCE_FILE,
    )


def validate_labels(labels: DataFrame, known: DataFrame, mapping: SourceMapping) -> DataFrame:
    """Parse label rows from :func:`read_labels`; attach ``reject_reason``, ``tx_date`` and
    ``current_is_fraud`` (the stored label).

    ``known`` is ``fraud.transactions``: a label for an unknown transaction is quarantined
    (``unknown_tx_id``), never silently dropped.
    """
    parsed = labels.select(
        "raw_tx_id",
        "raw_is_fraud",
        parse_id(F.col("raw_tx_id"), mapping.id_kind("tx_id")).alias("tx_id"),
        F.trim(F.col("raw_is_fraud")).try_cast(T.DoubleType()).alias("fraud_value"),
        "malformed",
        "source_file",
        "raw",
    )
    targets = known.select("tx_id", "tx_date", F.col("is_fraud").alias("current_is_fraud"))
    joined = parsed.join(targets, "tx_id", "left")
    versions = F.size(F.collect_set(F.col("fraud_value")).over(Window.partitionBy("tx_id")))
    copy = F.row_number().over(Window.partitionBy("tx_id").orderBy("raw"))
    rules: list[tuple[Column, str]] = [
        (F.col("malformed"), "malformed_record"),
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
        first_failure(rules).alias("reject_reason"),
    )


def classify_labels(validated: DataFrame) -> DataFrame:
    """Add ``outcome``: quarantined, unchanged (equal to the stored label) or updated."""
    return validated.withColumn(
        "outcome",
        F.when(F.col("reject_reason").isNotNull(), QUARANTINED)
        .when(F.col("current_is_fraud").eqNullSafe(F.col("is_fraud")), UNCHANGED)
        .otherwise(UPDATED),
    )


def label_report(counts: dict[str, int]) -> LabelReport:
    return LabelReport(
        read=sum(counts.values()),
        updated=counts.get(UPDATED, 0),
        unchanged=counts.get(UNCHANGED, 0),
        quarantined=counts.get(QUARANTINED, 0),
    )
