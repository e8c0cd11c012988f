"""Ingest pipelines: MERGE validated transactions into ``fraud.transactions``, quarantine the
rest, MERGE late labels. Idempotent: a re-run accepts nothing new and quarantines the same rows
under the same ids."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config, IdKind
from fraudspark.ingest.ids import (
    new_dictionary_entries,
    resolve_ids,
    source_ids,
    string_columns,
)
from fraudspark.ingest.labels import (
    UPDATED,
    LabelReport,
    classify_labels,
    label_report,
    read_labels,
    validate_labels,
)
from fraudspark.ingest.tokens import token_key
from fraudspark.ingest.transactions import (
    ACCEPTED,
    IngestReport,
    accepted_rows,
    classify_transactions,
    outcome_counts,
    quarantine_rows,
    resolve_mapping,
    transaction_report,
    validated_source,
)
from fraudspark.lakehouse.io import ensure_table, merge_insert_new, read_table, table_exists
from fraudspark.lakehouse.tables import (
    ID_DICTIONARY,
    QUARANTINE,
    SOURCE_ID_COLUMNS,
    TRANSACTIONS,
    sql_quote,
    table_path,
)
from fraudspark.monitoring.data_checks import NightInputStats

log = logging.getLogger(__name__)


def ingest_transactions(
    spark: SparkSession,
    config: Config,
    source_path: str,
    fmt: str | None = None,
    now: datetime | None = None,
    mapping: str | None = None,
) -> IngestReport:
    """Validate a raw source and MERGE it into ``fraud.transactions``; quarantine the rest.

    ``fmt`` (parquet, csv, json; default parquet) reads a feed already in contract shape;
    ``mapping`` names a source mapping instead (not both: ConfigError). Returns the counts,
    ``read = accepted + quarantined + present``.
    """
    now = now or datetime.now(timezone.utc)
    source_mapping = resolve_mapping(config, fmt, mapping)
    validated = validated_source(spark, config, source_path, source_mapping, now)
    existing = (
        read_table(spark, config, TRANSACTIONS)
        if table_exists(spark, config, TRANSACTIONS)
        else None
    )
    if existing is not None:
        _check_source_id_columns(existing.columns)
    kinds: dict[str, IdKind] = {
        "tx_id": source_mapping.id_kind("tx_id"),
        "customer_id": source_mapping.id_kind("customer_id"),
        "terminal_id": source_mapping.id_kind("terminal_id"),
    }
    validated = resolve_ids(validated, kinds, _id_dictionary(spark, config, validated, kinds, now))
    if existing is not None:
        # Materialised: the id range and the classification read the same resolved rows.
        validated = validated.localCheckpoint(eager=True)
        existing = within_id_range(existing, validated)
    # Materialise once: the counts and both writes must see one classification, taken before
    # the MERGE changes the table it was classified against.
    classified = classify_transactions(validated, existing).localCheckpoint(eager=True)
    report = transaction_report(outcome_counts(classified))
    # The quarantine exists even when empty, so analysts can always query it.
    ensure_table(spark, config, QUARANTINE)
    if report.quarantined:
        merge_insert_new(spark, config, QUARANTINE, quarantine_rows(classified, "transaction", now))
    accepted = accepted_rows(classified, now)
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


def within_id_range(existing: DataFrame, source: DataFrame) -> DataFrame:
    """The rows of ``existing`` whose ``tx_id`` lies between the least and the greatest of
    ``source``'s (none when the source has no id).

    Exact for a lookup by ``tx_id``: a stored row that shares an id with the source lies in
    that range. It lets Delta skip the files whose ``tx_id`` statistics fall outside it, so a
    night's ingest reads the few files of recent ids instead of the whole history (ids grow
    with time: integer feeds as issued, string ids as the dictionary numbers them).
    """
    low, high = source.agg(F.min("tx_id"), F.max("tx_id")).first() or (None, None)
    if low is None:
        return existing.where(F.lit(False))
    return existing.where(F.col("tx_id").between(F.lit(low), F.lit(high)))


def _check_source_id_columns(columns: list[str]) -> None:
    missing = [c for c in SOURCE_ID_COLUMNS if c not in columns]
    if missing:
        raise ValueError(
            f"fraud.transactions lacks the column(s) {', '.join(missing)} of this version: "
            f"run `fraudspark migrate` first"
        )


def _id_dictionary(
    spark: SparkSession,
    config: Config,
    validated: DataFrame,
    kinds: dict[str, IdKind],
    now: datetime,
) -> DataFrame | None:
    """``fraud.id_dictionary`` after giving the valid rows' new string ids their keys (None for
    an integer-id feed). Written before the transactions: a run that stops in between leaves
    keys that the re-run finds and reuses, so it writes the same rows."""
    columns = string_columns(kinds)
    if not columns:
        return None
    # Created even when the feed holds no id (an empty night), so the lookup below works.
    ensure_table(spark, config, ID_DICTIONARY)
    dictionary = read_table(spark, config, ID_DICTIONARY)
    new = new_dictionary_entries(source_ids(validated, columns), dictionary, now).localCheckpoint(
        eager=True
    )
    added = new.count()
    if added:
        # Insert only: a known source id keeps its key (the nightly lock serialises writers).
        merge_insert_new(spark, config, ID_DICTIONARY, new)
    log.info("id dictionary: %d new string id(s) keyed", added)
    return read_table(spark, config, ID_DICTIONARY)


def ingest_labels(
    spark: SparkSession,
    config: Config,
    source_path: str,
    fmt: str | None = None,
    now: datetime | None = None,
    mapping: str | None = None,
) -> LabelReport:
    """MERGE late fraud labels (``tx_id``, ``is_fraud``; default CSV) into ``fraud.transactions``.

    Only the targeted rows change (``is_fraud`` and ``label_updated_at``); a label equal to the
    stored one is ``unchanged`` and leaves the row as it was, so re-running changes nothing.
    ``mapping`` names the columns of a foreign label feed (its ``tx_id`` and ``is_fraud``).
    """
    from delta.tables import DeltaTable

    now = now or datetime.now(timezone.utc)
    if not table_exists(spark, config, TRANSACTIONS):
        raise ValueError("fraud.transactions does not exist yet: ingest transactions first")
    source_mapping = resolve_mapping(config, fmt or (None if mapping else "csv"), mapping)
    key = token_key(config.ingest) if source_mapping.card_number_columns else None
    labels = read_labels(spark, source_path, source_mapping, key)
    known = read_table(spark, config, TRANSACTIONS)
    # A string-id label feed names transactions by their source ids.
    by_source = source_mapping.id_kind("tx_id") == "string"
    if by_source:
        _check_source_id_columns(known.columns)
        known = known.where(F.col("source_tx_id").isNotNull()).withColumn(
            "tx_id", F.col("source_tx_id")
        )
    target_id = "source_tx_id" if by_source else "tx_id"
    classified = classify_labels(validate_labels(labels, known, source_mapping)).localCheckpoint(
        eager=True
    )
    report = label_report(outcome_counts(classified))
    if report.quarantined:
        merge_insert_new(spark, config, QUARANTINE, quarantine_rows(classified, "label", now))
    updates = classified.where(F.col("outcome") == UPDATED).select("tx_id", "tx_date", "is_fraud")
    dates = sorted(row[0] for row in updates.select("tx_date").distinct().collect())
    if dates:
        (
            DeltaTable.forPath(spark, table_path(config, TRANSACTIONS))
            .alias("t")
            .merge(
                updates.alias("s"),
                f"t.{target_id} = s.tx_id AND t.tx_date = s.tx_date "
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


__all__ = ["ACCEPTED", "IngestReport", "LabelReport", "ingest_labels", "ingest_transactions"]


def night_input_stats(
    spark: SparkSession, config: Config, day: date, report: IngestReport
) -> NightInputStats:
    """The figures the night's data checks grade, after ``report``'s ingest of the day.

    ``read`` and ``quarantined`` come from the ingest (the rows of this run's source);
    ``accepted`` is the day's rows in ``fraud.transactions`` (a source that also carries a
    backlog counts only its day), ``unknown_customers`` those of them whose customer has no
    transaction before the day, and ``same_weekday_history`` the stored rows on the same
    weekday of each of the ``config.data_checks.volume_weeks`` previous weeks (zero for a week
    with none, so a missing day counts against the volume).
    """
    weeks = config.data_checks.volume_weeks
    if not table_exists(spark, config, TRANSACTIONS):
        return NightInputStats(report.read, report.quarantined, 0, 0, [], first_night=True)
    transactions = read_table(spark, config, TRANSACTIONS)
    first_stored = transactions.agg(F.min("tx_date")).first()
    earliest = first_stored[0] if first_stored is not None else None
    past_days = [day - timedelta(weeks=k) for k in range(1, weeks + 1)]
    # Only weeks the table covers: weeks before its first day are no history, not zero rows.
    past_days = [d for d in past_days if earliest is not None and d >= earliest]
    counted = (
        transactions.where(F.col("tx_date").isin([day, *past_days]))
        .groupBy("tx_date")
        .count()
        .collect()
    )
    counts = {row["tx_date"]: row["count"] for row in counted}
    todays = transactions.where(F.col("tx_date") == F.lit(day)).select("customer_id")
    known = transactions.where(F.col("tx_date") < F.lit(day)).select("customer_id").distinct()
    unknown = todays.join(known, "customer_id", "left_anti").count()
    return NightInputStats(
        read=report.read,
        quarantined=report.quarantined,
        accepted=counts.get(day, 0),
        unknown_customers=unknown,
        same_weekday_history=[counts.get(d, 0) for d in past_days],
        first_night=earliest is None or earliest >= day,
    )
