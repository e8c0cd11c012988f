"""Validation rules: pure DataFrame -> DataFrame transforms, no table access.

A record breaking a rule is quarantined whole with the name of the first rule it broke (the
order of :func:`transaction_rules`). Parsing never guesses: a value that does not parse exactly
is rejected, never truncated (``12,50`` is not 12; ``11.5`` is not customer 11).
"""

from __future__ import annotations

from datetime import datetime, timezone

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import IdKind
from fraudspark.lakehouse.tables import FIRST_SURROGATE_KEY

KEY_COLUMNS = ("tx_id", "tx_ts", "customer_id", "terminal_id", "tx_amount")
ID_COLUMNS = ("tx_id", "customer_id", "terminal_id")
# Transactions before this are impossible (and usually a parsing accident such as epoch 0).
EARLIEST_TS = datetime(1970, 1, 1, tzinfo=timezone.utc)
# The largest payment the feature arithmetic keeps exact to 1e-6 (see features.windowed);
# larger amounts are quarantined as tx_amount_too_large rather than risk an overflow.
MAX_TX_AMOUNT = 1e10
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
# Integral text such as "14.0" or "1.4E1" is read through this exact decimal type.
_INTEGRAL = T.DecimalType(38, 10)


def parse_integer_id(text: Column) -> Column:
    """A 64-bit integer from text, or null. Accepts what an integer-id feed writes when a
    writer turned ids into floats (pandas with a missing value): ``14``, ``14.0``, ``1.4E1``;
    rejects ``11.5``, ``x1`` and values outside the 64-bit range."""
    as_long = text.try_cast(T.LongType())
    as_decimal = F.trim(text).try_cast(_INTEGRAL)
    integral = (
        as_decimal.isNotNull()
        & (as_decimal == F.floor(as_decimal))
        & as_decimal.between(_LONG_MIN, _LONG_MAX)
    )
    return F.coalesce(as_long, F.when(integral, as_decimal.cast(T.LongType())))


def parse_id(text: Column, kind: IdKind) -> Column:
    """An id as the feed declares it: integer (:func:`parse_integer_id`) or string (kept exactly
    as given; only the empty string is missing)."""
    if kind == "integer":
        return parse_integer_id(text)
    return F.when(text != "", text)


def first_failure(rules: list[tuple[Column, str]]) -> Column:
    """The reason of the first rule whose condition holds, else null."""
    reason: Column = F.lit(None).cast("string")
    for condition, name in reversed(rules):
        reason = F.when(condition, F.lit(name)).otherwise(reason)
    return reason


def business_date(ts: Column, zone: str) -> Column:
    """The calendar day of an instant in ``zone`` (the session time zone is UTC)."""
    return F.to_date(ts if zone == "UTC" else F.from_utc_timestamp(ts, zone))


def transaction_rules(
    latest: Column, id_kinds: dict[str, IdKind] | None = None
) -> list[tuple[Column, str]]:
    """The rules, in order, over the columns of :func:`validate_transactions`' parse step.

    An integer id must be below 2^62 (``<id>_out_of_range``): the keys from 2^62 up are the
    surrogate keys of string ids (:mod:`fraudspark.ingest.ids`).
    """
    kinds = id_kinds or {}

    def missing(column: str) -> Column:
        raw = F.col(f"raw_{column}")
        return raw.isNull() | (F.trim(raw) == "")

    rules: list[tuple[Column, str]] = [(F.col("malformed"), "malformed_record")]
    for column in KEY_COLUMNS:
        rules.append((missing(column), f"missing_{column}"))
        rules.append((F.col(column).isNull(), f"invalid_{column}"))
        if column in ID_COLUMNS and kinds.get(column, "integer") == "integer":
            rules.append((F.col(column) >= FIRST_SURROGATE_KEY, f"{column}_out_of_range"))
    rules += [
        (F.col("tx_ts") < F.lit(EARLIEST_TS).cast("timestamp"), "tx_ts_before_1970"),
        (F.col("tx_ts") > latest, "tx_ts_in_future"),
        (
            F.isnan("tx_amount") | (F.abs("tx_amount") == float("inf")),
            "non_finite_tx_amount",
        ),
        (F.col("tx_amount") < 0, "negative_tx_amount"),
        (F.col("tx_amount") > MAX_TX_AMOUNT, "tx_amount_too_large"),
        (
            ~missing("is_fraud")
            & (F.col("fraud_value").isNull() | ~F.col("fraud_value").isin(0.0, 1.0)),
            "invalid_is_fraud",
        ),
    ]
    return rules


def validate_transactions(
    mapped: DataFrame,
    now: datetime,
    max_future_seconds: int,
    id_kinds: dict[str, IdKind] | None = None,
    business_time_zone: str = "UTC",
) -> DataFrame:
    """Parse the contract fields and attach ``reject_reason`` (null for a valid row).

    ``mapped`` comes from :func:`fraudspark.ingest.sources.apply_mapping`. Returns ``tx_id``,
    ``tx_ts``, ``customer_id``, ``terminal_id`` (long or string per ``id_kinds``, default
    integer), ``tx_amount`` (double), ``is_fraud`` (int, null when unknown), ``tx_date`` (the
    day in ``business_time_zone``), ``extra``, ``source_file``, ``raw`` and ``reject_reason``.
    Duplicates are judged later, against the file and the table.
    """
    kinds = id_kinds or {}
    latest = F.lit(now).cast("timestamp") + F.make_dt_interval(secs=F.lit(max_future_seconds))
    parsed = mapped.select(
        *[F.col(f"raw_{c}") for c in (*KEY_COLUMNS, "is_fraud")],
        *[parse_id(F.col(f"raw_{c}"), kinds.get(c, "integer")).alias(c) for c in ID_COLUMNS],
        F.col("tx_ts_parsed").alias("tx_ts"),
        F.trim(F.col("raw_tx_amount")).try_cast(T.DoubleType()).alias("tx_amount"),
        F.trim(F.col("raw_is_fraud")).try_cast(T.DoubleType()).alias("fraud_value"),
        "extra",
        "source_file",
        "raw",
        "malformed",
    )
    return parsed.select(
        *KEY_COLUMNS,
        F.col("fraud_value").cast("int").alias("is_fraud"),
        business_date(F.col("tx_ts"), business_time_zone).alias("tx_date"),
        "extra",
        "source_file",
        "raw",
        first_failure(transaction_rules(latest, kinds)).alias("reject_reason"),
    )


def quarantine_id(kind: str) -> Column:
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
