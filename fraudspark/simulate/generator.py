"""The payment simulator: customers, terminals and card payments, with five fraud scenarios.

In the spirit of the Fraud Detection Handbook (Le Borgne et al., chapter 3): customers and
terminals lie uniformly on a square of side ``area_size``; a customer pays at the terminals within
``terminal_radius`` of home, a Poisson number of times a day, at times of day normal around noon,
amounts normal around the customer's mean. Fraud comes from the scenarios of
:class:`FraudScenario`, each with its own rate; ``tx_fraud_scenario`` records which one, for
analysis only (models must not see it). With ``hot_terminal_share`` above 0 the world is
skewed: terminal 0 (an online merchant) takes that share of all payments, whoever makes them
(scenario 2 then applies to it as to any terminal).

The work is split by customer: a ``mapInPandas`` task draws each customer's payments from numpy
Generators seeded with ``(seed, stream, customer_id)``; the few global draws (terminal locations,
which terminals and customers are compromised on which day) are made on the driver from
``(seed, stream[, day])`` and shipped with the task. The output therefore depends on the seed and
the parameters only, never on the partitioning; and since every scenario draws from its own
stream, changing one scenario's parameters leaves every other draw as it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from enum import IntEnum
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import GeneratorConfig

Ids = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


class FraudScenario(IntEnum):
    """Why a transaction is fraud. When several apply, the highest number wins (as in the
    handbook, where later scenarios overwrite earlier ones)."""

    GENUINE = 0
    HIGH_AMOUNT = 1  # amount above high_amount_threshold
    COMPROMISED_TERMINAL = 2  # at a terminal within its compromised window
    COMPROMISED_CUSTOMER = 3  # a share of a compromised customer's payments, amounts inflated
    CARD_TESTING = 4  # a burst of small payments within minutes
    ACCOUNT_TAKEOVER = 5  # payments at terminals far from the customer's home


SECONDS_PER_DAY = 86_400
# Time of day as in the handbook: normal around noon, sd 20000 s, redrawn when outside the day.
TIME_OF_DAY_MEAN = 43_200.0
TIME_OF_DAY_SD = 20_000.0
# tx_id = (day * CUSTOMER_ID_LIMIT + customer_id) * TX_PER_DAY_LIMIT + rank of the payment within
# its customer-day: unique, readable, and in day order.
CUSTOMER_ID_LIMIT = 10**9
TX_PER_DAY_LIMIT = 10**3
MAX_DAYS = (2**63 - 1) // (CUSTOMER_ID_LIMIT * TX_PER_DAY_LIMIT)
RAW_FORMATS = ("parquet", "csv", "json")

_ROWS_PER_TASK = 1_000_000
_ROWS_PER_BATCH = 100_000
# The terminal that takes ``hot_terminal_share`` of all payments.
HOT_TERMINAL_ID = 0
# Bounds the neighbour grid's size when the radius is tiny against the area.
_MAX_CELLS_PER_SIDE = 1024

CUSTOMER_PROFILE_SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.LongType(), False),
        T.StructField("x_customer", T.DoubleType(), False),
        T.StructField("y_customer", T.DoubleType(), False),
        T.StructField("mean_amount", T.DoubleType(), False),
        T.StructField("std_amount", T.DoubleType(), False),
        T.StructField("mean_tx_per_day", T.DoubleType(), False),
    ]
)
TERMINAL_PROFILE_SCHEMA = T.StructType(
    [
        T.StructField("terminal_id", T.LongType(), False),
        T.StructField("x_terminal", T.DoubleType(), False),
        T.StructField("y_terminal", T.DoubleType(), False),
    ]
)
# What a simulation task returns; tx_seconds counts from the first day's midnight (UTC).
_SIMULATED_SCHEMA = T.StructType(
    [
        T.StructField("tx_id", T.LongType(), False),
        T.StructField("tx_seconds", T.LongType(), False),
        T.StructField("customer_id", T.LongType(), False),
        T.StructField("terminal_id", T.LongType(), False),
        T.StructField("tx_amount", T.DoubleType(), False),
        T.StructField("tx_fraud_scenario", T.IntegerType(), False),
    ]
)


class _Stream(IntEnum):
    """Independent random streams: a Generator is seeded with (seed, stream, key...)."""

    TERMINALS = 1
    CUSTOMER = 2
    CARD_TESTING = 3
    ACCOUNT_TAKEOVER = 4
    COMPROMISED_SHARE = 5
    COMPROMISED_TERMINALS = 6
    COMPROMISED_CUSTOMERS = 7
    HOT_TERMINAL = 8


def _rng(seed: int, stream: _Stream, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(stream), *key])


def generate_transactions(
    spark: SparkSession,
    params: GeneratorConfig,
    *,
    customers: int,
    terminals: int,
    days: int,
    start_date: date,
    seed: int,
    partitions: int | None = None,
    drift_from: date | None = None,
) -> DataFrame:
    """Simulate ``days`` days of payments from ``start_date`` (UTC) by customers ``0..customers-1``
    at terminals ``0..terminals-1``.

    ``drift_from`` injects a shift for monitoring demos and tests: from that day on, every amount
    is multiplied by ``params.drift_amount_factor`` (customers start paying more).

    Returns ``tx_id, tx_ts, customer_id, terminal_id, tx_amount, is_fraud, tx_fraud_scenario``.
    The same arguments give the same rows whatever ``partitions`` (the number of generating
    tasks; by default enough for about a million rows each, and at least one per core).
    """
    _check_world(params, customers=customers, terminals=terminals, days=days, seed=seed)
    simulation = _Simulation.draw(
        params, customers=customers, terminals=terminals, days=days, seed=seed
    )
    if partitions is None:
        expected_rows = customers * days * params.tx_per_day_max / 2
        partitions = max(
            spark.sparkContext.defaultParallelism, math.ceil(expected_rows / _ROWS_PER_TASK)
        )
    first_midnight = int(datetime.combine(start_date, time(), timezone.utc).timestamp())
    simulated = spark.range(0, customers, numPartitions=partitions).mapInPandas(
        simulation.simulate_batches, _SIMULATED_SCHEMA
    )
    amount = F.col("tx_amount")
    if drift_from is not None:
        drift_seconds = int(datetime.combine(drift_from, time(), timezone.utc).timestamp())
        amount = F.when(
            F.col("tx_seconds") + first_midnight >= drift_seconds,
            F.round(amount * params.drift_amount_factor, 2),
        ).otherwise(amount)
    return simulated.select(
        "tx_id",
        F.timestamp_seconds(F.col("tx_seconds") + first_midnight).alias("tx_ts"),
        "customer_id",
        "terminal_id",
        amount.alias("tx_amount"),
        (F.col("tx_fraud_scenario") > 0).cast("int").alias("is_fraud"),
        "tx_fraud_scenario",
    )


def customer_profiles(
    spark: SparkSession, params: GeneratorConfig, *, customers: int, seed: int
) -> DataFrame:
    """Each customer's home and spending profile, exactly as :func:`generate_transactions` drew
    them (``CUSTOMER_PROFILE_SCHEMA``)."""

    def profiles(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield pd.DataFrame(
                [
                    (c, *_draw_profile(_rng(seed, _Stream.CUSTOMER, c), params))
                    for c in batch["id"].tolist()
                ],
                columns=CUSTOMER_PROFILE_SCHEMA.fieldNames(),
            )

    return spark.range(0, customers).mapInPandas(profiles, CUSTOMER_PROFILE_SCHEMA)


def terminal_profiles(
    spark: SparkSession, params: GeneratorConfig, *, terminals: int, seed: int
) -> DataFrame:
    """Each terminal's location (``TERMINAL_PROFILE_SCHEMA``), drawn on the driver."""
    xy = terminal_locations(params, terminals=terminals, seed=seed)
    frame = pd.DataFrame(
        {
            "terminal_id": np.arange(terminals, dtype=np.int64),
            "x_terminal": xy[:, 0],
            "y_terminal": xy[:, 1],
        }
    )
    return spark.createDataFrame(frame, TERMINAL_PROFILE_SCHEMA)


def terminal_locations(params: GeneratorConfig, *, terminals: int, seed: int) -> Floats:
    """Terminal locations, uniform on the square: row ``t`` is terminal ``t``'s ``(x, y)``."""
    return _rng(seed, _Stream.TERMINALS).uniform(0, params.area_size, (terminals, 2))


def compromised_terminals(
    params: GeneratorConfig, *, terminals: int, days: int, seed: int
) -> pd.DataFrame:
    """Scenario 2's daily draw (columns ``day``, ``terminal_id``; ``day`` counts from 0).

    Every payment at a terminal drawn on day ``d`` is fraud on days ``d`` to
    ``d + compromised_terminal_days - 1``.
    """
    ids = _daily_draws(
        terminals, params.compromised_terminals_per_day, days, seed, _Stream.COMPROMISED_TERMINALS
    )
    return ids.rename(columns={"id": "terminal_id"})


def compromised_customers(
    params: GeneratorConfig, *, customers: int, days: int, seed: int
) -> pd.DataFrame:
    """Scenario 3's daily draw (columns ``day``, ``customer_id``; ``day`` counts from 0).

    From day ``d`` for ``compromised_customer_days`` days, each payment of a customer drawn on
    day ``d`` is fraud with probability ``compromised_customer_share``, its amount multiplied by
    ``compromised_customer_amount_factor``.
    """
    ids = _daily_draws(
        customers, params.compromised_customers_per_day, days, seed, _Stream.COMPROMISED_CUSTOMERS
    )
    return ids.rename(columns={"id": "customer_id"})


def _daily_draws(
    population: int, per_day: float, days: int, seed: int, stream: _Stream
) -> pd.DataFrame:
    """Distinct ids drawn each day: ``floor(per_day)``, plus one with probability equal to the
    fraction, so the mean is ``per_day`` and a whole rate is drawn exactly."""
    whole, fraction = divmod(per_day, 1)
    drawn = []
    for day in range(days):
        rng = _rng(seed, stream, day)
        count = int(whole) + int(rng.random() < fraction)
        drawn.append(pd.DataFrame({"day": day, "id": rng.choice(population, count, replace=False)}))
    return pd.concat(drawn, ignore_index=True).astype(np.int64)


def _exposure_keys(ids: Ids, start: Ids, duration: int, days: int) -> Ids:
    """Sorted ``id * days + day`` of every day in ``[start, start + duration)`` before ``days``."""
    day = (start[:, None] + np.arange(duration)[None, :]).ravel()
    key = np.repeat(ids, duration) * days + day
    return np.unique(key[day < days])


def scenario_counts(transactions: DataFrame) -> dict[FraudScenario, int]:
    """The number of transactions of each scenario (zero included), computed in Spark."""
    counts = dict.fromkeys(FraudScenario, 0)
    for scenario, count in transactions.groupBy("tx_fraud_scenario").count().collect():
        counts[FraudScenario(scenario)] = count
    return counts


def write_raw(transactions: DataFrame, out: str, fmt: str) -> None:
    """Write raw files for ingest as ``<out>/day=YYYY-MM-DD/part-*.<fmt>``, one file per day.

    The days present in ``transactions`` are replaced and other days under ``out`` kept, so a
    rerun writes the same rows. ``day`` is a directory, not a column of the files; rows are in
    time order. CSV has a header; timestamps are ISO 8601 in UTC.
    """
    if fmt not in RAW_FORMATS:
        raise ValueError(f"unknown raw format {fmt!r}; expected one of {RAW_FORMATS}")
    by_day = (
        transactions.withColumn("day", F.to_date("tx_ts"))
        .repartition("day")
        .sortWithinPartitions("day", "tx_ts", "tx_id")
    )
    writer = (
        by_day.write.format(fmt)
        .mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy("day")
    )
    if fmt == "csv":
        writer = writer.option("header", "true")
    writer.save(out)


def _check_world(
    params: GeneratorConfig, *, customers: int, terminals: int, days: int, seed: int
) -> None:
    """Raise ValueError for arguments the simulator cannot honour (before any Spark work)."""
    checks = [
        (
            1 <= customers < CUSTOMER_ID_LIMIT,
            f"customers must be in 1..{CUSTOMER_ID_LIMIT - 1}, got {customers}",
        ),
        (terminals >= 1, f"terminals must be at least 1, got {terminals}"),
        (1 <= days <= MAX_DAYS, f"days must be in 1..{MAX_DAYS}, got {days}"),
        (seed >= 0, f"seed must be non-negative, got {seed}"),
        (
            params.amount_mean_min <= params.amount_mean_max,
            "amount_mean_min must not exceed amount_mean_max",
        ),
        (
            params.card_testing_burst_min <= params.card_testing_burst_max,
            "card_testing_burst_min must not exceed card_testing_burst_max",
        ),
        (
            params.account_takeover_tx_min <= params.account_takeover_tx_max,
            "account_takeover_tx_min must not exceed account_takeover_tx_max",
        ),
        (params.card_testing_max_amount >= 0.01, "card_testing_max_amount must be at least 0.01"),
        (
            params.card_testing_span_minutes <= SECONDS_PER_DAY / 60,
            "card_testing_span_minutes must fit in a day (at most 1440)",
        ),
        (
            math.ceil(params.compromised_terminals_per_day) <= terminals,
            "compromised_terminals_per_day exceeds the number of terminals",
        ),
        (
            math.ceil(params.compromised_customers_per_day) <= customers,
            "compromised_customers_per_day exceeds the number of customers",
        ),
    ]
    for holds, message in checks:
        if not holds:
            raise ValueError(message)


class _Profile(NamedTuple):
    x: float
    y: float
    mean_amount: float
    std_amount: float
    mean_tx_per_day: float


def _draw_profile(rng: np.random.Generator, params: GeneratorConfig) -> _Profile:
    x, y = rng.uniform(0, params.area_size, 2)
    mean_amount = rng.uniform(params.amount_mean_min, params.amount_mean_max)
    mean_tx_per_day = rng.uniform(0, params.tx_per_day_max)
    return _Profile(float(x), float(y), mean_amount, mean_amount / 2, mean_tx_per_day)


def _cents(amounts: Floats) -> Floats:
    return np.maximum(np.round(amounts, 2), 0.01)


def _amounts(rng: np.random.Generator, profile: _Profile, n: int) -> Floats:
    """Normal around the customer's mean; a draw at or below zero is replaced by a uniform one
    below twice the mean, as in the handbook."""
    amounts = rng.normal(profile.mean_amount, profile.std_amount, n)
    not_positive = amounts <= 0
    amounts[not_positive] = rng.uniform(0, 2 * profile.mean_amount, int(not_positive.sum()))
    return _cents(amounts)


def _times_of_day(rng: np.random.Generator, n: int) -> Ids:
    """Whole seconds after midnight, normal around noon and truncated to the day."""
    seconds = rng.normal(TIME_OF_DAY_MEAN, TIME_OF_DAY_SD, n)
    outside = (seconds < 0) | (seconds >= SECONDS_PER_DAY)
    while outside.any():
        seconds[outside] = rng.normal(TIME_OF_DAY_MEAN, TIME_OF_DAY_SD, int(outside.sum()))
        outside = (seconds < 0) | (seconds >= SECONDS_PER_DAY)
    return seconds.astype(np.int64)


@dataclass(frozen=True)
class _TerminalMap:
    """Terminal locations bucketed in a square grid of cells at least one radius wide, so the
    terminals within a radius of a point lie in its cell and the eight around it."""

    xy: Floats
    cells_per_side: int
    cell_size: float
    by_cell: Ids  # terminal ids ordered by cell
    cell_starts: Ids  # by_cell[cell_starts[c]:cell_starts[c + 1]] are in cell c

    @classmethod
    def build(cls, xy: Floats, params: GeneratorConfig) -> _TerminalMap:
        per_side = max(1, min(int(params.area_size // params.terminal_radius), _MAX_CELLS_PER_SIDE))
        cell_size = params.area_size / per_side
        column, row = np.clip((xy // cell_size).astype(np.int64), 0, per_side - 1).T
        cell = row * per_side + column
        by_cell = np.argsort(cell, kind="stable")
        starts = np.searchsorted(cell[by_cell], np.arange(per_side * per_side + 1))
        return cls(xy, per_side, cell_size, by_cell, starts)

    def _cell_index(self, coordinate: float) -> int:
        return min(max(int(coordinate // self.cell_size), 0), self.cells_per_side - 1)

    def within(self, x: float, y: float, radius: float) -> Ids:
        """Ids of the terminals at distance at most ``radius`` from ``(x, y)``, ascending."""
        column, row = self._cell_index(x), self._cell_index(y)
        first, last = max(column - 1, 0), min(column + 1, self.cells_per_side - 1)
        rows = range(max(row - 1, 0), min(row + 1, self.cells_per_side - 1) + 1)
        candidates = np.concatenate(
            [
                self.by_cell[
                    self.cell_starts[r * self.cells_per_side + first] : self.cell_starts[
                        r * self.cells_per_side + last + 1
                    ]
                ]
                for r in rows
            ]
        )
        squared = ((self.xy[candidates] - (x, y)) ** 2).sum(axis=1)
        return np.sort(candidates[squared <= radius * radius])

    def beyond(self, x: float, y: float, distance: float) -> Ids:
        """Ids of the terminals at distance at least ``distance`` from ``(x, y)``, ascending."""
        squared = ((self.xy - (x, y)) ** 2).sum(axis=1)
        return np.flatnonzero(squared >= distance * distance)


class _Payments(NamedTuple):
    """One customer's payments, column-wise; ``seconds`` count from the first midnight."""

    seconds: Ids
    terminal_id: Ids
    amount: Floats
    scenario: npt.NDArray[np.int32]

    @classmethod
    def concat(cls, parts: Sequence[_Payments]) -> _Payments:
        return cls(*(np.concatenate(column) for column in zip(*parts, strict=True)))


_NO_PAYMENTS = _Payments(
    np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int32)
)


def _scenario(scenario: FraudScenario, n: int) -> npt.NDArray[np.int32]:
    return np.full(n, int(scenario), np.int32)


@dataclass(frozen=True)
class _Simulation:
    """Everything a task needs to simulate any customer: the parameters and the driver's draws."""

    params: GeneratorConfig
    days: int
    seed: int
    terminals: _TerminalMap
    compromised_terminal_days: Ids  # sorted terminal_id * days + day
    compromised_customer_starts: dict[int, Ids]  # customer_id -> days a compromise starts

    @classmethod
    def draw(
        cls, params: GeneratorConfig, *, customers: int, terminals: int, days: int, seed: int
    ) -> _Simulation:
        """Make the driver's draws: terminal locations and the compromise schedules."""
        terminal_draws = compromised_terminals(params, terminals=terminals, days=days, seed=seed)
        customer_draws = compromised_customers(params, customers=customers, days=days, seed=seed)
        return cls(
            params=params,
            days=days,
            seed=seed,
            terminals=_TerminalMap.build(
                terminal_locations(params, terminals=terminals, seed=seed), params
            ),
            compromised_terminal_days=_exposure_keys(
                terminal_draws["terminal_id"].to_numpy(np.int64),
                terminal_draws["day"].to_numpy(np.int64),
                params.compromised_terminal_days,
                days,
            ),
            compromised_customer_starts={
                int(cast(int, customer_id)): group["day"].to_numpy(np.int64)
                for customer_id, group in customer_draws.groupby("customer_id")
            },
        )

    def simulate_batches(self, batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """The ``mapInPandas`` function: customer ids in, their payments out, in bounded frames."""
        rows_per_customer = max(1.0, self.days * self.params.tx_per_day_max / 2)
        per_frame = max(1, int(_ROWS_PER_BATCH // rows_per_customer))
        for batch in batches:
            ids = batch["id"].to_numpy(np.int64)
            for start in range(0, ids.size, per_frame):
                yield self.payments(ids[start : start + per_frame])

    def payments(self, customer_ids: Ids) -> pd.DataFrame:
        """The payments of ``customer_ids``, labelled, in ``_SIMULATED_SCHEMA``."""
        parts = [self._customer(int(customer_id)) for customer_id in customer_ids]
        customer_id = np.repeat(customer_ids, [part.seconds.size for part in parts])
        merged = _Payments.concat(parts)
        order = np.lexsort((merged.seconds, customer_id))
        customer_id = customer_id[order]
        seconds, terminal_id, amount, scenario = (column[order] for column in merged)
        day = seconds // SECONDS_PER_DAY
        customer_day = customer_id * self.days + day
        rank = np.arange(customer_day.size) - np.searchsorted(customer_day, customer_day)
        if rank.size and rank.max() >= TX_PER_DAY_LIMIT:
            raise ValueError(
                f"a customer made over {TX_PER_DAY_LIMIT - 1} payments in a day; "
                "lower tx_per_day_max"
            )
        high_amount = amount > self.params.high_amount_threshold
        at_compromised = np.isin(terminal_id * self.days + day, self.compromised_terminal_days)
        scenario = np.maximum.reduce(
            [
                scenario,
                np.where(high_amount, FraudScenario.HIGH_AMOUNT, FraudScenario.GENUINE),
                np.where(at_compromised, FraudScenario.COMPROMISED_TERMINAL, FraudScenario.GENUINE),
            ]
        ).astype(np.int32)
        return pd.DataFrame(
            {
                "tx_id": (day * CUSTOMER_ID_LIMIT + customer_id) * TX_PER_DAY_LIMIT + rank,
                "tx_seconds": seconds,
                "customer_id": customer_id,
                "terminal_id": terminal_id,
                "tx_amount": amount,
                "tx_fraud_scenario": scenario,
            }
        )

    def _customer(self, customer_id: int) -> _Payments:
        rng = _rng(self.seed, _Stream.CUSTOMER, customer_id)
        profile = _draw_profile(rng, self.params)
        nearby = self.terminals.within(profile.x, profile.y, self.params.terminal_radius)
        if nearby.size == 0:
            # As in the handbook: a customer with no terminal in reach makes no payments at all.
            return _NO_PAYMENTS
        payments = _Payments.concat(
            [
                self._genuine(rng, customer_id, profile, nearby),
                self._card_testing(customer_id, nearby),
                self._account_takeover(customer_id, profile),
            ]
        )
        return self._at_hot_terminal(customer_id, payments)

    def _at_hot_terminal(self, customer_id: int, payments: _Payments) -> _Payments:
        """Move each payment to terminal :data:`HOT_TERMINAL_ID` with probability
        ``hot_terminal_share`` (its own stream: times, amounts and every other draw stay as
        they were; with a share of 0 nothing is drawn at all)."""
        share = self.params.hot_terminal_share
        if share == 0:
            return payments
        moved = _rng(self.seed, _Stream.HOT_TERMINAL, customer_id).random(payments.seconds.size)
        terminal_id = np.where(moved < share, HOT_TERMINAL_ID, payments.terminal_id)
        return payments._replace(terminal_id=terminal_id)

    def _genuine(
        self, rng: np.random.Generator, customer_id: int, profile: _Profile, nearby: Ids
    ) -> _Payments:
        """The customer's own payments; those of a compromised customer may be stolen (3)."""
        day = np.repeat(np.arange(self.days), rng.poisson(profile.mean_tx_per_day, self.days))
        seconds = day * SECONDS_PER_DAY + _times_of_day(rng, day.size)
        terminal_id = nearby[rng.integers(0, nearby.size, day.size)]
        amount = _amounts(rng, profile, day.size)
        scenario = _scenario(FraudScenario.GENUINE, day.size)
        starts = self.compromised_customer_starts.get(customer_id)
        if starts is not None:
            since = day[:, None] - starts[None, :]
            exposed = ((since >= 0) & (since < self.params.compromised_customer_days)).any(axis=1)
            share = _rng(self.seed, _Stream.COMPROMISED_SHARE, customer_id).random(day.size)
            stolen = exposed & (share < self.params.compromised_customer_share)
            amount[stolen] = _cents(amount[stolen] * self.params.compromised_customer_amount_factor)
            scenario[stolen] = FraudScenario.COMPROMISED_CUSTOMER
        return _Payments(seconds, terminal_id, amount, scenario)

    def _card_testing(self, customer_id: int, nearby: Ids) -> _Payments:
        """Scenario 4: on some days, a burst of small payments at one of the usual terminals
        within ``card_testing_span_minutes``."""
        p = self.params
        rng = _rng(self.seed, _Stream.CARD_TESTING, customer_id)
        burst_days = np.flatnonzero(rng.random(self.days) < p.card_testing_rate)
        sizes = rng.integers(
            p.card_testing_burst_min, p.card_testing_burst_max + 1, burst_days.size
        )
        span = p.card_testing_span_minutes * 60
        burst_start = burst_days * SECONDS_PER_DAY + rng.uniform(
            0, SECONDS_PER_DAY - span, burst_days.size
        )
        n = int(sizes.sum())
        seconds = (np.repeat(burst_start, sizes) + rng.uniform(0, span, n)).astype(np.int64)
        terminal_id = np.repeat(nearby[rng.integers(0, nearby.size, burst_days.size)], sizes)
        # Whole cents from 0.01 up to the maximum (rounding first absorbs 0.29 * 100 = 28.99...).
        max_cents = math.floor(round(p.card_testing_max_amount * 100, 6))
        cents = rng.integers(1, max_cents + 1, n)
        return _Payments(
            seconds, terminal_id, cents / 100, _scenario(FraudScenario.CARD_TESTING, n)
        )

    def _account_takeover(self, customer_id: int, profile: _Profile) -> _Payments:
        """Scenario 5: on some days, payments with the customer's usual amounts at terminals at
        least ``account_takeover_min_distance`` from home (none if no terminal is that far)."""
        p = self.params
        rng = _rng(self.seed, _Stream.ACCOUNT_TAKEOVER, customer_id)
        takeover_days = np.flatnonzero(rng.random(self.days) < p.account_takeover_rate)
        if takeover_days.size == 0:
            return _NO_PAYMENTS
        far = self.terminals.beyond(profile.x, profile.y, p.account_takeover_min_distance)
        if far.size == 0:
            return _NO_PAYMENTS
        sizes = rng.integers(
            p.account_takeover_tx_min, p.account_takeover_tx_max + 1, takeover_days.size
        )
        day = np.repeat(takeover_days, sizes)
        seconds = day * SECONDS_PER_DAY + _times_of_day(rng, day.size)
        terminal_id = far[rng.integers(0, far.size, day.size)]
        amount = _amounts(rng, profile, day.size)
        return _Payments(
            seconds, terminal_id, amount, _scenario(FraudScenario.ACCOUNT_TAKEOVER, day.size)
        )
