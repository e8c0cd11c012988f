"""Per-entity calendar-month features, visible from the first instant of the next month."""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraudspark.config import FeatureConfig
from fraudspark.features.windowed import AMOUNT_SCALE, MAX_AMOUNT

_EXACT = "decimal(38,0)"

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


def _square_part(k: int) -> str:
    """The column summing the squares' 16-bit digit products of weight 2^(16k)."""
    return f"_sq{k}"


def _month_of(business_day: Column) -> Column:
    # The month of the business day (``tx_date``, in the ingest's business time zone), so that
    # a month's rows are the ones a nightly run selects by ``tx_date``.
    return F.trunc(business_day, "month")


def monthly_features(transactions: DataFrame, config: FeatureConfig) -> DataFrame:
    """One row per (entity type, entity, month) with activity in ``transactions``.

    A month is a calendar month of the business day ``tx_date``.
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
    # Exact sums (1e-6 units, rounded as the windowed features round them), so a month's mean
    # and spread do not depend on how Spark partitioned the rows. Amounts and their sums are
    # int64 (an amount below MAX_AMOUNT has fewer than 2^53 units; a month's sum overflows
    # only past ~900,000 such payments, which ANSI mode, Spark's default, reports as an
    # error). The sum of squares is exact too, without summing decimals row by row (Spark
    # sums decimal(38, 0) as Java BigDecimals, which took two thirds of the monthly job):
    # each amount is four 16-bit digits d_i, its square the 7 integers
    # c_k = sum_{i+j=k} d_i d_j < 2^34 at weights 2^(16k), each summed as int64 (exact up to
    # 2^29 payments per entity and month). Only the per-month totals become decimal(38, 0):
    # a payment of 1e10 squares to 1e32 units^2, so a month may hold a million of them before
    # that overflows (an error, too). bench/features.py times the job.
    units = F.rint(F.col("tx_amount") * AMOUNT_SCALE).cast("long")
    known = (F.col("tx_ts") <= known_by).cast("long")
    # Ingest quarantines both; the digits below need 0 <= units < 2^63.
    outside = (F.col("tx_amount") > F.lit(MAX_AMOUNT)) | (F.col("tx_amount") < 0)
    checked = F.when(
        outside,
        F.raise_error(
            F.concat(
                F.lit(f"tx_amount outside [0, {MAX_AMOUNT:g}] cannot be summed exactly: "),
                F.col("tx_amount").cast("string"),
            )
        ),
    ).otherwise(units)
    digits = [F.shiftright(F.col("_units"), 16 * i).bitwiseAND(0xFFFF) for i in range(4)]
    squares = {
        _square_part(k): sum(
            (digits[i] * digits[k - i] for i in range(max(0, k - 3), min(k, 3) + 1)), F.lit(0)
        )
        for k in range(7)
    }
    measures = {
        "_n": F.lit(1).cast("long"),
        "_sum": F.col("_units"),
        **squares,
        "_labelled": F.col("_known"),
        "_frauds": F.col("_known") * F.coalesce("is_fraud", F.lit(0)),
    }
    pairs = (
        transactions.withColumns({"month": _month_of(F.col("tx_date")), "_units": checked})
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
    # coalesce keeps nb_tx NOT NULL in the schema, as count(*) made it (a sum is nullable).
    n, total = F.coalesce(F.col("_n").cast("int"), F.lit(0)), F.col("_sum")
    # n * sum of squared deviations = n * S2 - S1^2 can exceed 38 digits. For any integer q
    # and r = S1 - q n, the sum of squared deviations is S2 - q (q n + 2 r) - r^2 / n; with q
    # the mean rounded, the first part is an exact decimal of at most S2's size and r is small.
    q = F.round(total.cast("double") / n).cast("long")
    r = total - q * n
    sum_sq = sum(
        (
            F.col(_square_part(k)).cast(_EXACT) * F.lit(Decimal(2 ** (16 * k))).cast(_EXACT)
            for k in range(1, 7)
        ),
        F.col(_square_part(0)).cast(_EXACT),
    )
    deviations = (sum_sq - q.cast(_EXACT) * (q * n + 2 * r).cast(_EXACT)).cast("double") - (
        r.cast("double") * r.cast("double")
    ) / n
    spread = F.greatest(deviations, F.lit(0.0))
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
        (F.sqrt(spread / n) / AMOUNT_SCALE).alias("std_amount"),
        F.col("_pairs").cast("int").alias("nb_counterparties"),
        labelled.alias("nb_labelled_tx"),
        rate.cast("double").alias("fraud_rate"),
    )
