"""The Handbook-compatible preset: its world, its three scenarios at their rates, nothing else."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from fraudspark.config import GeneratorConfig
from fraudspark.simulate.generator import (
    FraudScenario,
    compromised_customers,
    compromised_terminals,
)
from fraudspark.simulate.handbook import (
    HANDBOOK_WORLD,
    World,
    generate_handbook_transactions,
    handbook_config,
    handbook_transactions_pandas,
)

TINY = World(customers=60, terminals=40, days=40, start_date=date(2018, 4, 1))
SEED = 3


def _days(frame: pd.DataFrame) -> np.ndarray:
    return ((frame["tx_ts"] - pd.Timestamp("2018-04-01")).dt.days).to_numpy()


def test_the_handbook_world_and_parameters() -> None:
    assert World(5_000, 10_000, 183, date(2018, 4, 1)) == HANDBOOK_WORLD
    params = handbook_config()
    assert (params.area_size, params.terminal_radius) == (100.0, 5.0)
    assert (params.amount_mean_min, params.amount_mean_max, params.tx_per_day_max) == (5, 100, 4)
    assert params.high_amount_threshold == 220.0
    assert (params.compromised_terminals_per_day, params.compromised_terminal_days) == (2, 28)
    assert (params.compromised_customers_per_day, params.compromised_customer_days) == (3, 14)
    assert params.compromised_customer_share == 1 / 3
    assert params.compromised_customer_amount_factor == 5.0
    assert params.card_testing_rate == 0.0 and params.account_takeover_rate == 0.0
    # A base config's own fields survive; the Handbook's ones are imposed.
    base = GeneratorConfig(drift_amount_factor=2.0, card_testing_rate=0.1)
    assert handbook_config(base).drift_amount_factor == 2.0
    assert handbook_config(base).card_testing_rate == 0.0


def test_only_the_three_scenarios_each_where_it_must_be() -> None:
    frame = handbook_transactions_pandas(seed=SEED, world=TINY)
    params = handbook_config()
    scenario = frame["tx_fraud_scenario"].to_numpy()
    assert set(np.unique(scenario)) <= {0, 1, 2, 3}
    assert (frame["is_fraud"].to_numpy() == (scenario > 0)).all()
    day = _days(frame)
    assert day.min() >= 0 and day.max() < TINY.days

    # Scenario 2: exactly 2 terminals a day; every payment there that day or the 27 after is fraud.
    terminals = compromised_terminals(params, terminals=TINY.terminals, days=TINY.days, seed=SEED)
    assert (terminals.groupby("day").size() == 2).all() and len(terminals) == 2 * TINY.days
    exposed = np.zeros(len(frame), bool)
    for drawn_day, terminal in terminals[["day", "terminal_id"]].itertuples(index=False):
        exposed |= (
            (frame["terminal_id"].to_numpy() == terminal)
            & (day >= drawn_day)
            & (day < drawn_day + 28)
        )
    assert exposed.any()
    assert (scenario[exposed] >= FraudScenario.COMPROMISED_TERMINAL).all()
    assert (scenario[~exposed] != FraudScenario.COMPROMISED_TERMINAL).all()

    # Scenario 1: among the rest, fraud if and only if the amount is above 220.
    rest = scenario < FraudScenario.COMPROMISED_TERMINAL
    high = frame["tx_amount"].to_numpy() > 220
    assert ((scenario[rest] == FraudScenario.HIGH_AMOUNT) == high[rest]).all()

    # Scenario 3: exactly 3 customers a day, and only their payments within 14 days are stolen.
    customers = compromised_customers(params, customers=TINY.customers, days=TINY.days, seed=SEED)
    assert (customers.groupby("day").size() == 3).all()
    window = np.zeros(len(frame), bool)
    for drawn_day, customer in customers[["day", "customer_id"]].itertuples(index=False):
        window |= (
            (frame["customer_id"].to_numpy() == customer)
            & (day >= drawn_day)
            & (day < drawn_day + 14)
        )
    stolen = scenario == FraudScenario.COMPROMISED_CUSTOMER
    assert stolen.any() and not (stolen & ~window).any()


def test_stolen_amounts_are_five_times_the_genuine_ones() -> None:
    frame = handbook_transactions_pandas(seed=SEED, world=TINY)
    # The same seed with a factor of 1 draws the same payments (scenarios have their own streams).
    unscaled = handbook_transactions_pandas(seed=SEED, world=TINY, base=None, amount_factor=1.0)
    assert unscaled["tx_id"].tolist() == frame["tx_id"].tolist()
    stolen = (frame["tx_fraud_scenario"] == FraudScenario.COMPROMISED_CUSTOMER).to_numpy()
    assert stolen.any()
    amount, base_amount = frame["tx_amount"].to_numpy(), unscaled["tx_amount"].to_numpy()
    np.testing.assert_array_equal(amount[~stolen], base_amount[~stolen])
    np.testing.assert_array_equal(amount[stolen], np.round(base_amount[stolen] * 5, 2))


def test_handbook_rates_on_a_month() -> None:
    """Whole rates on a bigger world: 2 terminals x 28 days and high amounts give most fraud."""
    world = World(customers=1_000, terminals=2_000, days=60, start_date=date(2018, 4, 1))
    frame = handbook_transactions_pandas(seed=1, world=world)
    # About 2 payments a day per customer with a terminal in reach (mean of U(0, 4)).
    per_customer_day = len(frame) / (world.customers * world.days)
    assert 1.5 < per_customer_day < 2.1
    # P(N(m, m/2) > 220) for m ~ U(5, 100) is about 0.07%: a few dozen here.
    high = (frame["tx_fraud_scenario"] == FraudScenario.HIGH_AMOUNT).mean()
    assert 0.0002 < high < 0.002


def test_spark_and_pandas_draw_the_same_rows(spark: SparkSession) -> None:
    from_spark = (
        generate_handbook_transactions(spark, seed=SEED, world=TINY, partitions=2)
        .toPandas()
        .sort_values(["tx_ts", "tx_id"], ignore_index=True)
    )
    local = handbook_transactions_pandas(seed=SEED, world=TINY)
    assert from_spark["tx_id"].tolist() == local["tx_id"].tolist()
    assert from_spark["tx_amount"].tolist() == local["tx_amount"].tolist()
    assert from_spark["tx_fraud_scenario"].tolist() == local["tx_fraud_scenario"].tolist()
    assert (from_spark["tx_ts"].to_numpy() == local["tx_ts"].to_numpy()).all()
