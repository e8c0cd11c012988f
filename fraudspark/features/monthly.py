"""Per-entity calendar-month features, visible from the first instant of the next month.

One shuffle: transactions are hashed by customer, and each partition (one Arrow table in
``mapInArrow``) is summed per (customer, month) and per (terminal, month) in numpy. A customer's
months are then complete; a terminal's are partial sums, one per partition that holds its
rows, added up by one small aggregation. Every customer lives in one partition, so a
terminal's number of distinct customers is the sum of its partitions' counts: no distinct count
and no per-pair rows (a customer meets most terminals once a month, so pairs are nearly as many
as transactions). Hashing by customer, not terminal, keeps a busy merchant from filling one
task.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import FeatureConfig
from fraudspark.features.windowed import (
    AMOUNT_SCALE,
    DAY_MICROS,
    KEY_LIMIT,
    LOW_BITS,
    amount_micro_units,
)

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

# The partial sums per (side, entity, month), all int64: the row count, the amount's micro-units
# as high and low 32 bits, the squares as 7 digit-product parts (see month_sums), the labelled
# rows, the labelled frauds and the distinct counterparties.
_SQUARES = tuple(f"_sq{k}" for k in range(7))
SUM_COLUMNS = ("_n", "_sum_hi", "_sum_lo", *_SQUARES, "_labelled", "_frauds", "_pairs")
# Rows per partition below which every int64 sum is exact (the squares' parts are < 2^34).
_MAX_PARTITION_ROWS = 2**29


def _row_terms(units: np.ndarray, known: np.ndarray, fraud: np.ndarray) -> np.ndarray:
    """Per row, the int64 terms of :data:`SUM_COLUMNS` but the last: ``(rows, 12)``.

    A square of ``units`` (< 2^63, four 16-bit digits d_i) is the 7 parts
    ``c_k = sum_{i+j=k} d_i d_j < 2^34`` at weights 2^(16k): summed as int64 they stay exact up
    to 2^29 rows, and only the month's totals need more than 64 bits.
    """
    digits = [(units >> (16 * i)) & 0xFFFF for i in range(4)]
    terms = np.empty((len(units), len(SUM_COLUMNS) - 1), dtype=np.int64)
    terms[:, 0] = 1
    terms[:, 1] = units >> LOW_BITS
    terms[:, 2] = units & ((1 << LOW_BITS) - 1)
    for k in range(7):
        part = terms[:, 3 + k]
        part[:] = 0
        for i in range(max(0, k - 3), min(k, 3) + 1):
            part += digits[i] * digits[k - i]
    terms[:, 10] = known
    terms[:, 11] = known * fraud
    return terms


def month_sums(
    entity: np.ndarray, month: np.ndarray, counterparty: np.ndarray, terms: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum ``terms`` (rows x k, int64) per (entity, month) and count the distinct counterparties.

    Returns the groups' entities and months and a ``(groups, k + 1)`` int64 matrix: the summed
    terms, then the distinct counterparties. Groups are in (entity, month) order.
    """
    keys = (entity, month, counterparty)
    spans = [int(key.max()) - int(key.min()) + 1 for key in keys]
    if math.prod(spans) < KEY_LIMIT:
        # One int64 key per (entity, month, counterparty): one argsort, four times faster than
        # lexsort over the three columns.
        key = ((entity - entity.min()) * spans[1] + (month - month.min())) * spans[2] + (
            counterparty - counterparty.min()
        )
        order = np.argsort(key)
    else:
        order = np.lexsort(keys[::-1])
    e, m, c = entity[order], month[order], counterparty[order]
    new_group = np.ones(len(e), dtype=bool)
    np.not_equal(e[1:], e[:-1], out=new_group[1:])
    new_group[1:] |= m[1:] != m[:-1]
    new_pair = new_group.copy()
    new_pair[1:] |= c[1:] != c[:-1]
    starts = np.flatnonzero(new_group)
    sums = np.empty((len(starts), terms.shape[1] + 1), dtype=np.int64)
    sums[:, :-1] = np.add.reduceat(terms[order], starts, axis=0)
    sums[:, -1] = np.add.reduceat(new_pair.astype(np.int64), starts)
    return e[starts], m[starts], sums


def _partial_schema() -> T.StructType:
    return T.StructType(
        [
            T.StructField("_side", T.IntegerType(), False),
            T.StructField("entity_id", T.LongType(), False),
            T.StructField("month", T.DateType(), False),
            *[T.StructField(name, T.LongType(), False) for name in SUM_COLUMNS],
        ]
    )


_ArrowFunction = Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]


def _partition_sums(label_delay_days: int) -> _ArrowFunction:
    """The ``mapInArrow`` function: a partition's rows -> its (side, entity, month) sums."""
    delay = label_delay_days * DAY_MICROS
    arrow_schema = pa.schema(
        [
            pa.field("_side", pa.int32(), False),
            pa.field("entity_id", pa.int64(), False),
            pa.field("month", pa.date32(), False),
            *[pa.field(name, pa.int64(), False) for name in SUM_COLUMNS],
        ]
    )

    def compute(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # A customer's rows may be split across Arrow batches: work on the whole partition.
        chunks = list(batches)
        if not chunks:
            return
        part = pa.Table.from_batches(chunks)
        if part.num_rows == 0:
            return
        if part.num_rows >= _MAX_PARTITION_ROWS:
            raise OverflowError("too many rows in one partition for exact monthly sums")
        day = part.column("tx_date").cast(pa.int32()).to_numpy().astype("datetime64[D]")
        month_start = day.astype("datetime64[M]")
        # Labels known at month end under the delay: tx_ts <= next month's start - delay.
        next_start = (month_start + 1).astype("datetime64[D]").astype(np.int64)
        known = part.column("tx_ts").cast(pa.int64()).to_numpy() <= next_start * DAY_MICROS - delay
        fraud = pc.fill_null(part.column("is_fraud"), 0).cast(pa.int64()).to_numpy()
        terms = _row_terms(
            amount_micro_units(part.column("tx_amount").to_numpy()), known.astype(np.int64), fraud
        )
        month = month_start.astype("datetime64[D]").astype(np.int64).astype(np.int32)
        customer = part.column("customer_id").to_numpy()
        terminal = part.column("terminal_id").to_numpy()
        for side, (entity, counterparty) in enumerate(((customer, terminal), (terminal, customer))):
            keys, months, sums = month_sums(entity, month, counterparty, terms)
            columns = [
                pa.array(np.full(len(keys), side, np.int32)),
                pa.array(keys, pa.int64()),
                pa.array(months, pa.int32()).cast(pa.date32()),
                *[pa.array(sums[:, i]) for i in range(sums.shape[1])],
            ]
            yield pa.RecordBatch.from_arrays(columns, schema=arrow_schema)

    return compute


def monthly_features(
    transactions: DataFrame, config: FeatureConfig, partitions: int | None = None
) -> DataFrame:
    """One row per (entity type, entity, month) with activity in ``transactions``.

    A month is a calendar month of the business day ``tx_date``.
    ``transactions`` must hold whole months. ``std_amount`` is the population standard
    deviation (0 for a single transaction). For terminals, ``fraud_rate`` is the fraud share
    among the month's transactions whose label is known at month end under the label delay
    (``tx_ts <= visible_from - delay``); 0 when none is known, with ``nb_labelled_tx`` saying
    how many were. Customers carry nulls in both. ``nb_counterparties`` counts distinct
    terminals (customers) of a customer's (terminal's) month.

    Sums are exact integers of 1e-6 currency units, so a month's mean and spread do not depend
    on how Spark partitioned the rows. Rows are hashed by customer into ``partitions``
    partitions (default: two per core). Raises (when the job runs) on an amount below 0 or
    above :data:`MAX_AMOUNT`, which ingest quarantines, and, as Spark's ANSI mode does, when a
    month's total leaves 38 decimal digits (a million payments of 1e10 in one month).
    """
    spark = transactions.sparkSession
    partitions = partitions or 2 * spark.sparkContext.defaultParallelism
    partial = (
        transactions.select(
            "customer_id", "terminal_id", "tx_date", "tx_ts", "tx_amount", "is_fraud"
        )
        .repartition(partitions, "customer_id")
        .mapInArrow(_partition_sums(config.label_delay_days), _partial_schema())
    )
    # Customers' rows are whole already; terminals' add up over the partitions they span.
    months = partial.groupBy("_side", "entity_id", "month").agg(
        *(F.sum(name).alias(name) for name in SUM_COLUMNS)
    )
    visible_from = F.to_timestamp(F.add_months(F.col("month"), 1))

    def exact(name: str) -> Column:
        return F.col(name).cast(_EXACT)

    # coalesce keeps nb_tx NOT NULL in the schema, as count(*) made it (a sum is nullable).
    n = F.coalesce(F.col("_n").cast("int"), F.lit(0))
    total = exact("_sum_hi") * F.lit(Decimal(2**LOW_BITS)).cast(_EXACT) + exact("_sum_lo")
    # n * sum of squared deviations = n * S2 - S1^2 can exceed 38 digits. For any integer q
    # and r = S1 - q n, the sum of squared deviations is S2 - q (q n + 2 r) - r^2 / n; with q
    # the mean rounded, the first part is an exact decimal of at most S2's size and r is small.
    q = F.round(total.cast("double") / n).cast(_EXACT)
    r = total - q * n.cast(_EXACT)
    sum_sq = sum(
        (exact(_SQUARES[k]) * F.lit(Decimal(2 ** (16 * k))).cast(_EXACT) for k in range(1, 7)),
        exact(_SQUARES[0]),
    )
    deviations = (sum_sq - q * (q * n.cast(_EXACT) + 2 * r)).cast("double") - (
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
        (total.cast("double") / n / AMOUNT_SCALE).alias("avg_amount"),
        (F.sqrt(spread / n) / AMOUNT_SCALE).alias("std_amount"),
        F.col("_pairs").cast("int").alias("nb_counterparties"),
        labelled.alias("nb_labelled_tx"),
        rate.cast("double").alias("fraud_rate"),
    )
