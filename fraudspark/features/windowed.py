"""Per-transaction sliding-window features, exact, in one pass per entity.

Spark's ``rangeBetween`` windows re-aggregate the whole frame for every row. Here each entity's
transactions are sorted once and every window becomes two binary searches into the sorted
timestamps plus a difference of prefix sums, so the cost is O(n log n) whatever the window
length. The work runs per partition in ``mapInArrow`` after hashing rows by entity.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import FeatureConfig
from fraudspark.features.definitions import (
    TRANSACTION_KEYS,
    Window,
    WindowSpec,
    column_kind,
    customer_windows,
    terminal_windows,
    windowed_feature_columns,
)
from fraudspark.session import spark_settings

log = logging.getLogger(__name__)

# Amounts are summed as integers of 1e-6 currency units (payments have 2-3 decimals).
AMOUNT_SCALE = 1_000_000
# The largest payment the amount sums keep exact to 1e-6 (above it rint(x * 1e6) leaves int64).
MAX_AMOUNT = 9e12
LOW_BITS = 32
_LOW_BASE = 1 << LOW_BITS
# Composite sort keys stay below this so int64 arithmetic cannot overflow.
KEY_LIMIT = 2**62
DAY_MICROS = 86_400_000_000
HOUR_MICROS = 3_600_000_000
# Rows per Arrow batch handed back to Spark.
_BATCH_ROWS = 100_000
# Columns of a split entity pass, dropped before the rows go back to Spark: the piece of its
# entity a row is computed in, and whether it is the row's own piece (else it is look-back
# history copied into the next piece).
_PIECE, _OWN = "_fraudspark_piece", "_fraudspark_own"


def amount_micro_units(amount: np.ndarray) -> np.ndarray:
    """Amounts (currency units, float64) as int64 micro-units, rounded half to even (as Spark's
    ``rint``). Raises OverflowError naming the smallest and largest amount when one is
    negative, not finite or above :data:`MAX_AMOUNT` (its micro-units would not fit in int64:
    never a wrap-around)."""
    if len(amount) == 0:
        return np.zeros(0, np.int64)
    smallest, largest = float(np.min(amount)), float(np.max(amount))
    if not (np.isfinite(smallest) and np.isfinite(largest)) or smallest < 0 or largest > MAX_AMOUNT:
        raise OverflowError(
            f"tx_amount outside [0, {MAX_AMOUNT:g}] cannot be summed exactly (found {smallest!r} "
            f".. {largest!r})"
        )
    return np.asarray(np.rint(amount * AMOUNT_SCALE), dtype=np.int64)


def split_amount_units(amount: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Amounts (currency units, float64) as micro-units ``hi * 2^32 + lo``, 0 <= lo < 2^32.

    Raises OverflowError as :func:`amount_micro_units` does, or when the partition is too long
    for the split sums.
    """
    if len(amount) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    units = amount_micro_units(amount)
    hi = units >> LOW_BITS
    lo = units & (_LOW_BASE - 1)
    if len(amount) * (int(hi.max()) + 1) >= KEY_LIMIT or len(amount) >= 2**31:
        raise OverflowError("too many rows in one partition for exact amount sums")
    return hi, lo


def entity_window_features(
    entity: np.ndarray,
    ts_micros: np.ndarray,
    amount: np.ndarray,
    is_fraud: np.ndarray,
    spec: WindowSpec,
) -> dict[str, np.ndarray]:
    """Window features for every row, over rows of the same entity.

    Arrays are aligned row by row, in any order. Ties in time are in each other's windows
    (frames are over time, not rows). Unknown labels (NaN in ``is_fraud``) count as genuine.
    Amounts are summed exactly after rounding to 1e-6.
    Returns column name -> values in the input order.
    """
    n = len(entity)
    if n == 0:
        return {name: np.empty(0) for name in spec.columns}
    order = np.lexsort((ts_micros, entity))
    sorted_entity, sorted_ts = entity[order], ts_micros[order]
    new_segment = np.empty(n, dtype=bool)
    new_segment[0] = True
    np.not_equal(sorted_entity[1:], sorted_entity[:-1], out=new_segment[1:])
    segment = np.cumsum(new_segment) - 1
    lookback = spec.lookback_micros
    t_min = int(sorted_ts.min())
    # Place each entity in its own band of one int64 line, bands further apart than any
    # window reaches: one searchsorted then answers every entity at once.
    band = int(sorted_ts.max()) - t_min + lookback + 1
    if (int(segment[-1]) + 1) * band >= KEY_LIMIT:
        raise OverflowError("time span too long for one partition; use more partitions")
    position = segment * band + (sorted_ts - t_min) + lookback
    # Sums in integer micro-units: exact, so a window's mean does not depend on which other
    # rows share the partition (an incremental run equals the full one bit for bit). Each
    # amount is split into its high and low 32 bits, summed apart: prefix sums of 1e10-unit
    # payments would overflow int64 after ~900 rows, the split ones after 2^31 rows.
    amount_hi, amount_lo = split_amount_units(amount[order])
    hi_sums = np.concatenate(([0], np.cumsum(amount_hi)))
    lo_sums = np.concatenate(([0], np.cumsum(amount_lo)))
    fraud_sums = np.concatenate(([0], np.cumsum(np.nan_to_num(is_fraud[order]).astype(np.int64))))

    features: dict[str, np.ndarray] = {}
    # Windows with the same lag share their upper bound (all but the delayed ones end at t).
    upper_ends: dict[int, np.ndarray] = {}

    def count_and_sums(window: Window, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Rows in (t - lag - length, t - lag]: the index range [lo, hi) of sorted positions.
        lag = window.lag_micros
        if lag not in upper_ends:
            upper_ends[lag] = np.searchsorted(position, position - lag, side="right")
        hi = upper_ends[lag]
        lo = np.searchsorted(position, position - lag - window.length_micros, side="right")
        return hi - lo, sums[hi] - sums[lo]

    for window in spec.risk_windows:
        count, frauds = count_and_sums(window, fraud_sums)
        features[spec.count_column(window)] = count
        features[spec.risk_column(window)] = np.divide(
            frauds, count, out=np.zeros(n, dtype=np.float64), where=count > 0
        )
    for window in spec.amount_windows:
        count, total_hi = count_and_sums(window, hi_sums)
        _, total_lo = count_and_sums(window, lo_sums)
        # Both parts are exact integers below 2^53; the sum is the exact total whenever it is
        # below 2^53 units (9e9 currency units), else its nearest double: the same bits
        # however the rows are partitioned.
        total = total_hi.astype(np.float64) * float(_LOW_BASE) + total_lo.astype(np.float64)
        features[spec.count_column(window)] = count
        features[spec.amount_column(window)] = np.divide(
            total / AMOUNT_SCALE, count, out=np.full(n, np.nan), where=count > 0
        )
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return {name: values[inverse] for name, values in features.items()}


def entity_codes(keys: pa.ChunkedArray) -> np.ndarray:
    """Entity keys as int64 codes equal exactly where the keys are equal: integer keys as they
    are, string keys by their index in the partition's dictionary (Arrow's dictionary_encode;
    no hashing, so no collisions)."""
    if pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type):
        encoded = pc.dictionary_encode(keys).combine_chunks()
        return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.asarray(keys.to_numpy(), dtype=np.int64)


@dataclass(frozen=True)
class EntityPieces:
    """How one large entity's rows are split by time: piece ``p`` holds the rows with
    ``first + p * span <= tx_ts < first + (p + 1) * span`` (microseconds), ``pieces`` in all,
    and, as history, the rows of piece ``p - 1`` its windows reach back to."""

    key: object
    first_micros: int
    span_micros: int
    pieces: int


def plan_pieces(
    rows: int, first_micros: int, last_micros: int, lookback_micros: int, piece_rows: int
) -> tuple[int, int]:
    """``(span_micros, pieces)`` splitting an entity of ``rows`` rows over
    [first_micros, last_micros] into time pieces of about ``piece_rows`` rows (for evenly spread
    rows). A piece spans at least the look-back, so its history lies in the piece before it:
    an entity whose look-back alone holds more rows cannot be split further."""
    wanted = max(1, math.ceil(rows / piece_rows))
    length = last_micros - first_micros + 1
    span = max(math.ceil(length / wanted), lookback_micros, 1)
    return span, math.ceil(length / span)


def large_entities(frame: DataFrame, spec: WindowSpec, piece_rows: int) -> list[EntityPieces]:
    """The entities of ``frame`` with more than ``piece_rows`` rows, with their time split
    (:func:`plan_pieces`); one aggregation over the key and the time column."""
    lookback = spec.lookback_micros
    found = (
        frame.groupBy(spec.key)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.min(F.unix_micros("tx_ts")).alias("first"),
            F.max(F.unix_micros("tx_ts")).alias("last"),
        )
        .where(F.col("rows") > piece_rows)
        .collect()
    )
    plans = []
    for row in found:
        span, pieces = plan_pieces(row["rows"], row["first"], row["last"], lookback, piece_rows)
        if pieces > 1:
            plans.append(EntityPieces(row[spec.key], row["first"], span, pieces))
    return plans


def large_entities_by_month(
    monthly: DataFrame,
    specs: tuple[WindowSpec, WindowSpec],
    piece_rows: int,
    span: tuple[date, date] | None = None,
) -> tuple[list[EntityPieces], list[EntityPieces]]:
    """:func:`large_entities` of both entity kinds from ``fraud.features_monthly`` rows
    (``monthly``: entity_type, entity_id, month, nb_tx), without scanning the transactions.

    An entity's rows are its ``nb_tx`` summed over the months that overlap ``span`` (first and
    last day of the transactions, inclusive; default: every month), and its time range is those
    months clipped to ``span``, a day wider on each side (``tx_ts`` is UTC, the days are the
    business zone's). Both bound the truth from above (a month may stick out of the span),
    which may split an entity that did not need it: the features are the same either way
    (tests/test_skew.py). ``specs`` are the customer and the terminal windows, in that order.
    """
    months = monthly
    if span is not None:
        months = months.where(
            (F.col("month") >= F.trunc(F.lit(span[0]), "month"))
            & (F.col("month") <= F.lit(span[1]))
        )
    first = F.unix_micros(F.to_timestamp(F.min("month")))
    after = F.unix_micros(F.to_timestamp(F.add_months(F.max("month"), 1)))
    if span is not None:
        first = F.greatest(first, F.unix_micros(F.to_timestamp(F.lit(span[0]))))
        after = F.least(after, F.unix_micros(F.to_timestamp(F.lit(span[1] + timedelta(days=1)))))
    # Months and days are the business zone's; tx_ts is UTC, up to 14 hours either side. Every
    # row must lie within [first, last], else it would fall outside the planned pieces.
    first, after = first - DAY_MICROS, after + DAY_MICROS
    found = (
        months.groupBy("entity_type", "entity_id")
        .agg(F.sum("nb_tx").alias("rows"), first.alias("first"), (after - 1).alias("last"))
        .where(F.col("rows") > piece_rows)
        .collect()
    )
    plans: tuple[list[EntityPieces], list[EntityPieces]] = ([], [])
    for index, spec in enumerate(specs):
        for row in found:
            if row["entity_type"] != spec.entity:
                continue
            span_micros, pieces = plan_pieces(
                row["rows"], row["first"], row["last"], spec.lookback_micros, piece_rows
            )
            if pieces > 1:
                plans[index].append(
                    EntityPieces(row["entity_id"], row["first"], span_micros, pieces)
                )
    return plans


def _with_pieces(frame: DataFrame, spec: WindowSpec, plans: list[EntityPieces]) -> DataFrame:
    """``frame`` with :data:`_PIECE` and :data:`_OWN`: every row once in its own piece (0 for an
    entity not split), and a large entity's rows within the look-back of the next piece's
    start once more, as that piece's history."""
    key_type = frame.schema[spec.key].dataType
    plan_schema = T.StructType([
        T.StructField(spec.key, key_type, False),
        T.StructField("_first", T.LongType(), False),
        T.StructField("_span", T.LongType(), False),
        T.StructField("_pieces", T.IntegerType(), False),
    ])  # fmt: skip
    table = frame.sparkSession.createDataFrame(
        [(p.key, p.first_micros, p.span_micros, p.pieces) for p in plans], plan_schema
    )
    lookback = spec.lookback_micros
    micros = F.unix_micros("tx_ts")
    piece = F.coalesce(F.floor((micros - F.col("_first")) / F.col("_span")), F.lit(0)).cast("int")
    next_start = F.col("_first") + (piece + 1) * F.col("_span")
    # Windows are (t - lag - length, t - lag]: the next piece needs rows after its start minus
    # the look-back; a boundary row copied once too often changes no window.
    to_next = F.coalesce(
        (piece + 1 < F.col("_pieces")) & (micros >= next_start - lookback), F.lit(False)
    )
    copies = F.when(to_next, F.array(piece, piece + 1)).otherwise(F.array(piece))
    joined = frame.join(F.broadcast(table), on=spec.key, how="left")
    return joined.select(
        *[F.col(name) for name in frame.columns],
        F.posexplode(copies).alias("_copy", _PIECE),
    ).select(*frame.columns, _PIECE, (F.col("_copy") == 0).alias(_OWN))


def _piece_codes(entity: np.ndarray, piece: np.ndarray) -> np.ndarray:
    """One int64 code per (entity, piece) pair, equal exactly where both are equal."""
    if len(piece) == 0 or int(piece.max()) == 0:
        return entity
    pairs = np.column_stack((entity, piece.astype(np.int64)))
    return np.asarray(np.unique(pairs, axis=0, return_inverse=True)[1], dtype=np.int64).ravel()


def _feature_fields(spec: WindowSpec) -> list[T.StructField]:
    fields = []
    for name in spec.columns:
        data_type = T.IntegerType() if column_kind(name) == "count" else T.DoubleType()
        fields.append(T.StructField(name, data_type, False))
    return fields


def _add_entity_windows(
    frame: DataFrame,
    spec: WindowSpec,
    partitions: int,
    days: tuple[date, date] | None = None,
    plans: list[EntityPieces] | None = None,
) -> DataFrame:
    """Append ``spec``'s columns to every row of ``frame`` (needs tx_ts, tx_amount, is_fraud),
    then keep only the rows whose ``tx_date`` is within ``days`` (inclusive), if given.

    Rows are hashed by entity into ``partitions`` partitions; each partition is one Arrow table
    in ``mapInArrow`` (no pandas), so input columns pass through without conversion. The
    entities in ``plans`` are split by time (:class:`EntityPieces`): each piece is hashed on its
    own, computed with its look-back history, and keeps its own rows only.
    """
    fields = _feature_fields(spec)
    schema = T.StructType([*frame.schema.fields, *fields])
    split = bool(plans)
    if plans:
        frame = _with_pieces(frame, spec, plans)
    arrow_types = {
        f.name: pa.int32() if isinstance(f.dataType, T.IntegerType) else pa.float64()
        for f in fields
    }

    def compute(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # An entity's rows may be split across Arrow batches: work on the whole partition.
        chunks = list(batches)
        if not chunks:
            return
        part = pa.Table.from_batches(chunks)
        entity = entity_codes(part.column(spec.key))
        if split:
            entity = _piece_codes(entity, part.column(_PIECE).to_numpy())
        features = entity_window_features(
            entity,
            part.column("tx_ts").cast(pa.int64()).to_numpy(),
            part.column("tx_amount").to_numpy(),
            # Unknown labels (nulls) become NaN.
            part.column("is_fraud").cast(pa.float64()).to_numpy(zero_copy_only=False),
            spec,
        )
        for name, values in features.items():
            arrow_type = arrow_types[name]
            if arrow_type == pa.int32():
                values = values.astype(np.int32)
            part = part.append_column(name, pa.array(values, type=arrow_type))
        if split:
            part = part.filter(part.column(_OWN)).drop_columns([_PIECE, _OWN])
        if days is not None:
            tx_date = part.column("tx_date")
            first, last = (pa.scalar(day, pa.date32()) for day in days)
            part = part.filter(
                pc.and_(pc.greater_equal(tx_date, first), pc.less_equal(tx_date, last))
            )
        yield from part.to_batches(max_chunksize=_BATCH_ROWS)

    keys = [spec.key, _PIECE] if split else [spec.key]
    return frame.repartition(partitions, *keys).mapInArrow(compute, schema)


def windowed_features(
    transactions: DataFrame,
    config: FeatureConfig,
    partitions: int,
    days: tuple[date, date] | None = None,
    *,
    time_zone: str,
    rows: int | None = None,
    plans: tuple[list[EntityPieces], list[EntityPieces]] | None = None,
) -> DataFrame:
    """Compute ``fraud.features_windowed`` rows for every transaction given.

    ``transactions`` must include the history the windows reach back to (see
    :func:`~fraudspark.features.definitions.history_needed`). With ``days`` (first, last,
    inclusive) only the rows of those days are returned: the others are history, dropped in
    the last pass before they go back to Spark. Returns the transaction keys, the calendar
    flags (weekend, night: local time in ``time_zone``, the ingest's business time zone, as
    ``tx_date``) and the window features, in one partition per core.

    An entity with more than ``config.split_entity_rows`` rows is computed in time pieces (see
    :func:`windowed_features_by_entity`); ``rows``, the number of transactions given if known,
    skips looking for such entities when there cannot be any, and ``plans`` (customers',
    terminals') gives them, found beforehand (:func:`large_entities_by_month`).
    """
    features = windowed_features_by_entity(
        transactions, config, partitions, days, time_zone=time_zone, rows=rows, plans=plans
    )
    # Each task of a write partitioned by day opens one file per day it holds: merging the
    # entity partitions down to one per core (no shuffle; a task computes several in turn)
    # writes fewer, larger files (bench/feature_steps.py times both).
    return features.coalesce(transactions.sparkSession.sparkContext.defaultParallelism)


def windowed_features_by_entity(
    transactions: DataFrame,
    config: FeatureConfig,
    partitions: int,
    days: tuple[date, date] | None = None,
    *,
    time_zone: str,
    rows: int | None = None,
    plans: tuple[list[EntityPieces], list[EntityPieces]] | None = None,
) -> DataFrame:
    """:func:`windowed_features` in the ``partitions`` partitions of the last entity pass.

    With ``config.split_entity_rows`` set, the entities with more rows than that (``plans``
    if given, else found by one aggregation per entity kind, skipped when ``rows`` is known and
    not above it) are split by time into pieces of about that many rows plus their windows'
    look-back, so no task needs a whole large entity; the features are the same
    (tests/test_skew.py).
    """
    base = transactions.select(*TRANSACTION_KEYS, "is_fraud")
    customers, terminals = customer_windows(config), terminal_windows(config)
    limit = config.split_entity_rows
    if limit is None or (rows is not None and rows <= limit):
        customer_plans: list[EntityPieces] = []
        terminal_plans: list[EntityPieces] = []
    elif plans is not None:
        customer_plans, terminal_plans = plans
    else:
        customer_plans = large_entities(base, customers, limit)
        terminal_plans = large_entities(base, terminals, limit)
    for spec, split in ((customers, customer_plans), (terminals, terminal_plans)):
        if split:
            log.info(
                "windowed features: %d %s(s) above %s rows split by time, into %s pieces",
                len(split), spec.entity, limit, "/".join(str(p.pieces) for p in split[:5]),
            )  # fmt: skip
    with_customer = _add_entity_windows(base, customers, partitions, plans=customer_plans)
    with_terminal = _add_entity_windows(
        with_customer, terminals, partitions, days, plans=terminal_plans
    )
    # The session time zone is UTC: the wall-clock time of the business zone, for the flags.
    local = F.col("tx_ts") if time_zone == "UTC" else F.from_utc_timestamp("tx_ts", time_zone)
    calendar = with_terminal.withColumns(calendar_flags(local))
    return calendar.select(*TRANSACTION_KEYS, *windowed_feature_columns(config))


def calendar_flags(wall_clock: Column) -> dict[str, Column]:
    """``tx_during_weekend`` (Saturday or Sunday) and ``tx_during_night`` (00:00-06:59) of a
    wall-clock timestamp column, as 0/1 ints; the session time zone must be UTC.

    Integer arithmetic on the timestamp's microseconds (1970-01-01 was a Thursday), exact for
    any date: Spark's ``dayofweek`` and ``hour`` build a java.time date-time per row, 7% of the
    executors' CPU time in a fresh ``fraudspark features --full`` (Java Flight Recorder).
    """
    micros = F.unix_micros(wall_clock)
    time_of_day = F.pmod(micros, F.lit(DAY_MICROS))
    days = ((micros - time_of_day) / DAY_MICROS).cast("long")  # exact: a multiple of a day
    weekday = F.pmod(days + 4, F.lit(7))  # 0 = Sunday ... 6 = Saturday
    return {
        "tx_during_weekend": weekday.isin(0, 6).cast("int"),
        "tx_during_night": (time_of_day < 7 * HOUR_MICROS).cast("int"),
    }


def session_settings(config: FeatureConfig) -> dict[str, str]:
    """Session settings that make computing and writing the windowed features cheaper.

    Results do not depend on them. Parquet dictionary encoding is turned off for
    the columns whose values are nearly all distinct (keys, timestamps, amounts and mean
    amounts): Parquet would build a dictionary for each column chunk, find it larger than the
    plain values and encode them again.
    """
    distinct = ["tx_id", "tx_ts", "tx_amount"]
    for spec in (customer_windows(config), terminal_windows(config)):
        distinct += [spec.amount_column(window) for window in spec.amount_windows]
    return {f"parquet.enable.dictionary#{column}": "false" for column in distinct}


@contextmanager
def tuned_session(spark: SparkSession, config: FeatureConfig) -> Iterator[None]:
    """Apply :func:`session_settings` inside the block; restore the previous values after."""
    with spark_settings(spark, session_settings(config)):
        yield
