"""A preset of the simulator that reproduces the Fraud Detection Handbook's simulated world.

Re-implemented from the Handbook's published description (Le Borgne et al., *Reproducible
Machine Learning for Credit Card Fraud Detection - Practical Handbook*, chapter 3.2, "Transaction
data simulator"), not from its code: 5,000 customers and 10,000 terminals on a 100 x 100 square,
a radius of 5, mean amounts uniform on (5, 100) with a standard deviation of half the mean, a
Poisson number of payments a day with a mean uniform on (0, 4), 183 days from 2018-04-01, and its
three fraud scenarios only, at its rates:

1. every amount above 220 is fraud;
2. each day 2 terminals are compromised: all their payments of that day and the next 27 are fraud;
3. each day 3 customers are compromised: over that day and the next 13, a third of their payments
   are fraud and have their amount multiplied by 5.

Scenarios 4 and 5 of our simulator (card testing, account takeover) are switched off. Two known
differences from the Handbook's draws, neither changing a scenario's rate: a time of day drawn
outside the day is redrawn here (the Handbook drops the payment, about 3% of them), and scenario
3 makes each exposed payment fraud with probability 1/3 (the Handbook samples exactly a third of
the exposed payments per compromise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from fraudspark.config import GeneratorConfig
from fraudspark.simulate.generator import _Simulation, generate_transactions


@dataclass(frozen=True)
class World:
    """The size and calendar of a simulated world."""

    customers: int
    terminals: int
    days: int
    start_date: date


HANDBOOK_WORLD = World(customers=5_000, terminals=10_000, days=183, start_date=date(2018, 4, 1))

# The Handbook's parameters; every field not named keeps GeneratorConfig's default, which already
# equals the Handbook's (area 100, radius 5, amounts 5..100, up to 4 payments a day, threshold
# 220, 2 terminals x 28 days, 3 customers x 14 days, share 1/3, factor 5).
_HANDBOOK_OVERRIDES = {
    "area_size": 100.0,
    "terminal_radius": 5.0,
    "amount_mean_min": 5.0,
    "amount_mean_max": 100.0,
    "tx_per_day_max": 4.0,
    "high_amount_threshold": 220.0,
    "compromised_terminals_per_day": 2.0,
    "compromised_terminal_days": 28,
    "compromised_customers_per_day": 3.0,
    "compromised_customer_days": 14,
    "compromised_customer_share": 1 / 3,
    "compromised_customer_amount_factor": 5.0,
    "card_testing_rate": 0.0,
    "account_takeover_rate": 0.0,
}


def handbook_config(base: GeneratorConfig | None = None) -> GeneratorConfig:
    """The Handbook's generator parameters (scenarios 1-3 only) on top of ``base``.

    Fields of ``base`` that the Handbook does not define (e.g. ``drift_amount_factor``) are kept.
    """
    base = base or GeneratorConfig()
    return base.model_copy(update=_HANDBOOK_OVERRIDES)


def generate_handbook_transactions(
    spark: SparkSession,
    *,
    seed: int,
    world: World = HANDBOOK_WORLD,
    base: GeneratorConfig | None = None,
    partitions: int | None = None,
) -> DataFrame:
    """The Handbook-like world's payments, in :func:`~fraudspark.generator.generate_transactions`'s
    columns (write them with :func:`~fraudspark.generator.write_raw` for ingest).

    A smaller ``world`` keeps the Handbook's rates (used by tests).
    """
    return generate_transactions(
        spark,
        handbook_config(base),
        customers=world.customers,
        terminals=world.terminals,
        days=world.days,
        start_date=world.start_date,
        seed=seed,
        partitions=partitions,
    )


def handbook_transactions_pandas(
    *,
    seed: int,
    world: World = HANDBOOK_WORLD,
    base: GeneratorConfig | None = None,
    amount_factor: float | None = None,
) -> pd.DataFrame:
    """The same rows as :func:`generate_handbook_transactions`, drawn in this process without
    Spark (for benchmarks and tests): ``tx_id, tx_ts, customer_id, terminal_id, tx_amount,
    is_fraud, tx_fraud_scenario``, ordered by ``tx_ts`` then ``tx_id``. ``tx_ts`` is naive UTC.
    ``amount_factor`` replaces scenario 3's factor of 5 (every other draw stays the same).
    """
    params = handbook_config(base)
    if amount_factor is not None:
        params = params.model_copy(update={"compromised_customer_amount_factor": amount_factor})
    simulation = _Simulation.draw(
        params,
        customers=world.customers,
        terminals=world.terminals,
        days=world.days,
        seed=seed,
    )
    frame = simulation.payments(np.arange(world.customers, dtype=np.int64))
    first_midnight = datetime.combine(world.start_date, time(), timezone.utc).replace(tzinfo=None)
    frame.insert(
        1, "tx_ts", pd.Timestamp(first_midnight) + pd.to_timedelta(frame["tx_seconds"], unit="s")
    )
    frame["is_fraud"] = (frame["tx_fraud_scenario"] > 0).astype(np.int32)
    columns = [
        "tx_id",
        "tx_ts",
        "customer_id",
        "terminal_id",
        "tx_amount",
        "is_fraud",
        "tx_fraud_scenario",
    ]
    return frame.sort_values(["tx_ts", "tx_id"], ignore_index=True)[columns]
