"""Per-entity calendar-month features, visible from the first instant of the next month."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraudspark.config import FeatureConfig
from fraudspark.features.windowed import AMOUNT_SCALE

_EXACT = "decimal(38,0)"
# Squares of amounts (in 1e-6 units) are summed as hi^2, hi*lo and lo^2, amount = hi*2^16 + lo.
_SQUARE_SPLIT = 16

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

    Rows are first summed per (customer, terminal, month) pair, once for both entity types;
    an entity's month is then the sum over its pairs, and its number of counterparties the
    number of pairs (no distinct count).
    """
    visible_from = F.to_timestamp(F.add_months(F.col("month"), 1))
    known_by = visible_from - F.make_dt_interval(days=F.lit(config.label_delay_days))
    # Exact integer sums (1e-6 units, rounded as the windowed features round them), so a
    # month's mean and spread do not depend on how Spark partitioned the rows.
    units = F.rint(F.col("tx_amount") * AMOUNT_SCALE).cast("long")
    known = (F.col("tx_ts") <= known_by).cast("long")
    # Squares in three int64 parts (x = hi * 2^16 + lo, 0 <= lo < 2^16), recombined exactly
    # as decimals after summing: no per-row decimal arithmetic. For amounts below 4,294 each
    # part is below 2^32, so a group may hold 2^31 rows; for amounts of a million, 2^15. Past
    # that the long sums overflow, which ANSI mode (Spark's default) reports as an error.
    hi = F.shiftright(F.col("_units"), _SQUARE_SPLIT)
    lo = F.col("_units") - F.shiftleft(hi, _SQUARE_SPLIT)
    measures = {
        "_n": F.lit(1).cast("long"),
        "_sum": F.col("_units"),
        "_hi_hi": hi * hi,
        "_hi_lo": hi * lo,
        "_lo_lo": lo * lo,
        "_labelled": F.col("_known"),
        "_frauds": F.col("_known") * F.coalesce("is_fraud", F.lit(0)),
    }
    pairs = (
        transactions.withColumns({"month": _month_of(F.col("tx_ts")), "_units": units})
        .withColumn("_known", known)
        .groupBy("customer_id", "terminal_id", "month")
        .agg(*(F.sum(value).alias(name) for name, value in measures.items()))
    )
    # Both sides read the same pairs (every column), so Spark computes them once.
    sides = [
        pairs.select(F.lit(side).alias("_side"), F.col(key).alias("entity_id"), "month", *measures)
        for side, key in enumerate(("customer_id", "terminal_id"))
    ]
    months = (
        sides[0]
        .unionByName(sides[1])
        .groupBy("_side", "entity_id", "month")
        .agg(
            *(F.sum(name).alias(name) for name in measures),
            F.count("*").alias("_pairs"),
        )
    )

    def exact(name: str) -> Column:
        return F.col(name).cast(_EXACT)

    sum_squares = (
        exact("_hi_hi") * F.lit(2 ** (2 * _SQUARE_SPLIT)).cast(_EXACT)
        + exact("_hi_lo") * F.lit(2 ** (_SQUARE_SPLIT + 1)).cast(_EXACT)
        + exact("_lo_lo")
    )
    # coalesce keeps nb_tx NOT NULL in the schema, as count(*) made it (a sum is nullable).
    n, total = F.coalesce(F.col("_n").cast("int"), F.lit(0)), F.col("_sum")
    # Population variance n^2 * var = n * sum(x^2) - sum(x)^2, exact in decimals.
    spread = n.cast(_EXACT) * sum_squares - total.cast(_EXACT) * total.cast(_EXACT)
    is_customer = F.col("_side") == 0
    labelled = F.when(~is_customer, F.col("_labelled").cast("int"))
    rate = F.when(labelled > 0, F.col("_frauds") / labelled).when(~is_customer, F.lit(0.0))
    return months.select(
        F.when(is_customer, F.lit("customer")).otherwise(F.lit("terminal")).alias("entity_type"),
        "entity_id",
        "month",
        visible_from.alias("visible_from"),
        n.alias("nb_tx"),
        (total / n / AMOUNT_SCALE).alias("avg_amount"),
        (F.sqrt(spread.cast("double")) / n / AMOUNT_SCALE).alias("std_amount"),
        F.col("_pairs").cast("int").alias("nb_counterparties"),
        labelled.alias("nb_labelled_tx"),
        rate.cast("double").alias("fraud_rate"),
    )
