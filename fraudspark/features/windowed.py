"""Per-transaction sliding-window features, exact, in one pass per entity.

Spark's ``rangeBetween`` windows re-aggregate the whole frame for every row. Here each entity's
transactions are sorted once and every window becomes two binary searches into the sorted
timestamps plus a difference of prefix sums, so the cost is O(n log n) whatever the window
length. The work runs per partition in ``mapInPandas`` after hashing rows by entity.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import FeatureConfig
from fraudspark.features.definitions import (
    TRANSACTION_KEYS,
    Window,
    WindowSpec,
    customer_windows,
    terminal_windows,
    windowed_feature_columns,
)

# Amounts are summed as integers of 1e-6 currency units (payments have 2-3 decimals).
AMOUNT_SCALE = 1_000_000
# Composite sort keys stay below this so int64 arithmetic cannot overflow.
_KEY_LIMIT = 2**62


def _timestamps_micros(values: pd.Series) -> np.ndarray:
    micros: np.ndarray = values.to_numpy(dtype="datetime64[us]").astype(np.int64)
    return micros


def _window_bounds(
    positions: np.ndarray, query_lower: np.ndarray, query_upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Index range [lo, hi) of the sorted ``positions`` within (lower, upper]."""
    lo = np.searchsorted(positions, query_lower, side="right")
    hi = np.searchsorted(positions, query_upper, side="right")
    return lo, hi


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
    lookback = int(spec.lookback.total_seconds() * 1_000_000)
    t_min = int(sorted_ts.min())
    # Place each entity in its own band of one int64 line, bands further apart than any
    # window reaches: one searchsorted then answers every entity at once.
    band = int(sorted_ts.max()) - t_min + lookback + 1
    if (int(segment[-1]) + 1) * band >= _KEY_LIMIT:
        raise OverflowError("time span too long for one partition; use more partitions")
    position = segment * band + (sorted_ts - t_min) + lookback
    # Sums in integer micro-units: exact, so a window's mean does not depend on which other
    # rows share the partition (an incremental run equals the full one bit for bit).
    amount_micros = np.rint(amount[order] * AMOUNT_SCALE).astype(np.int64)
    amount_sums = np.concatenate(([0], np.cumsum(amount_micros)))
    fraud_sums = np.concatenate(([0], np.cumsum(np.nan_to_num(is_fraud[order]).astype(np.int64))))

    features: dict[str, np.ndarray] = {}

    def count_and_sums(window: Window, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        upper = position - window.lag_micros
        lo, hi = _window_bounds(position, upper - window.length_micros, upper)
        return hi - lo, sums[hi] - sums[lo]

    for window in spec.risk_windows:
        count, frauds = count_and_sums(window, fraud_sums)
        features[spec.count_column(window)] = count
        features[spec.risk_column(window)] = np.divide(
            frauds, count, out=np.zeros(n, dtype=np.float64), where=count > 0
        )
    for window in spec.amount_windows:
        count, total = count_and_sums(window, amount_sums)
        features[spec.count_column(window)] = count
        features[spec.amount_column(window)] = np.divide(
            total / AMOUNT_SCALE, count, out=np.full(n, np.nan), where=count > 0
        )
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return {name: values[inverse] for name, values in features.items()}


def _feature_fields(spec: WindowSpec) -> list[T.StructField]:
    fields = []
    for name in spec.columns:
        data_type = T.IntegerType() if "_nb_tx_" in name else T.DoubleType()
        fields.append(T.StructField(name, data_type, False))
    return fields


def _add_entity_windows(frame: DataFrame, spec: WindowSpec, partitions: int) -> DataFrame:
    """Append ``spec``'s columns to every row of ``frame`` (needs tx_ts, tx_amount, is_fraud)."""
    schema = T.StructType([*frame.schema.fields, *_feature_fields(spec)])
    int_columns = [name for name in spec.columns if "_nb_tx_" in name]

    def compute(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        # An entity's rows may be split across Arrow batches: work on the whole partition.
        frames = list(batches)
        if not frames:
            return
        part = pd.concat(frames, ignore_index=True)
        features = entity_window_features(
            part[spec.key].to_numpy(dtype=np.int64),
            _timestamps_micros(part["tx_ts"]),
            part["tx_amount"].to_numpy(dtype=np.float64),
            part["is_fraud"].to_numpy(dtype=np.float64, na_value=np.nan),
            spec,
        )
        result = part.assign(**features)
        result[int_columns] = result[int_columns].astype(np.int32)
        yield result

    return frame.repartition(partitions, spec.key).mapInPandas(
        compute,  # type: ignore[arg-type]
        schema,
    )


def windowed_features(transactions: DataFrame, config: FeatureConfig, partitions: int) -> DataFrame:
    """Compute ``fraud.features_windowed`` rows for every transaction given.

    ``transactions`` must include the history the windows reach back to (see
    :func:`~fraudspark.features.definitions.history_needed`); filter the result to the days
    you want. Returns the transaction keys, the calendar flags and the window features.
    """
    base = transactions.select(*TRANSACTION_KEYS, "is_fraud")
    with_customer = _add_entity_windows(base, customer_windows(config), partitions)
    with_terminal = _add_entity_windows(with_customer, terminal_windows(config), partitions)
    calendar = with_terminal.withColumns(
        {
            # dayofweek: 1 = Sunday ... 7 = Saturday; the session time zone is UTC.
            "tx_during_weekend": F.dayofweek("tx_ts").isin(1, 7).cast("int"),
            "tx_during_night": (F.hour("tx_ts") <= 6).cast("int"),
        }
    )
    return calendar.select(*TRANSACTION_KEYS, *windowed_feature_columns(config))
