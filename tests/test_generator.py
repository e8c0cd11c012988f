"""The payment simulator: determinism, each fraud scenario at its rate, invariants, raw files."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from fraudspark.cli.generate import main as generate_main
from fraudspark.config import GeneratorConfig
from fraudspark.simulate.generator import (
    HOT_TERMINAL_ID,
    FraudScenario,
    _Simulation,
    compromised_customers,
    compromised_terminals,
    customer_profiles,
    generate_transactions,
    terminal_profiles,
    write_raw,
)

START = date(2025, 3, 1)
WORLD: dict[str, Any] = {
    "customers": 200,
    "terminals": 100,
    "days": 10,
    "start_date": START,
    "seed": 11,
}
CUSTOMER_DAYS = WORLD["customers"] * WORLD["days"]
NO_FRAUD: dict[str, Any] = {
    "high_amount_threshold": 1e9,
    "compromised_terminals_per_day": 0,
    "compromised_customers_per_day": 0,
    "card_testing_rate": 0,
    "account_takeover_rate": 0,
}
# A town of 20 x 20 where every customer reaches every terminal: rates are easy to reason about.
TOWN: dict[str, Any] = {"area_size": 20.0, "terminal_radius": 30.0, **NO_FRAUD}
# Terminals within 4 of home only, and every scenario frequent.
BUSY = GeneratorConfig(
    area_size=20.0,
    terminal_radius=4.0,
    high_amount_threshold=150.0,
    compromised_terminals_per_day=1,
    compromised_terminal_days=3,
    compromised_customers_per_day=2,
    compromised_customer_days=3,
    card_testing_rate=0.05,
    account_takeover_rate=0.05,
    account_takeover_min_distance=10.0,
)
PAYMENT = ["customer_id", "tx_ts", "terminal_id", "tx_amount"]


def town(**scenario: Any) -> GeneratorConfig:
    return GeneratorConfig(**{**TOWN, **scenario})


def simulate(spark: SparkSession, params: GeneratorConfig, **world: Any) -> pd.DataFrame:
    frame = generate_transactions(spark, params, **{**WORLD, **world}).toPandas()
    return frame.sort_values("tx_id", ignore_index=True)


def with_day(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds ``day``, the day index counted from START, as the driver's draws count it."""
    return frame.assign(day=(frame["tx_ts"] - pd.Timestamp(START)).dt.days)


def payments(frame: pd.DataFrame) -> pd.DataFrame:
    """The payments without ids or labels, in a canonical order."""
    return frame[PAYMENT].sort_values(PAYMENT, ignore_index=True)


def binomial_bounds(n: int, p: float) -> tuple[float, float]:
    """Mean +- 4 standard deviations of a Binomial(n, p) count."""
    sd = (n * p * (1 - p)) ** 0.5
    return n * p - 4 * sd, n * p + 4 * sd


def in_windows(frame: pd.DataFrame, draws: pd.DataFrame, duration: int) -> pd.Series:
    """Whether each row's (id, day) lies within ``duration`` days from a draw of that id."""
    windows = pd.concat(
        [draws.assign(day=draws["day"] + offset) for offset in range(duration)]
    ).drop_duplicates()
    hits = frame[windows.columns.tolist()].merge(windows, how="left", indicator=True)
    return pd.Series(hits["_merge"].eq("both").to_numpy(), index=frame.index)


@pytest.fixture(scope="module")
def busy(spark: SparkSession) -> pd.DataFrame:
    return simulate(spark, BUSY)


@pytest.fixture(scope="module")
def baseline(spark: SparkSession) -> pd.DataFrame:
    """The town without fraud: every scenario test compares against these payments."""
    return simulate(spark, town())


def test_same_seed_gives_the_same_transactions_whatever_the_partitioning(
    spark: SparkSession, busy: pd.DataFrame
) -> None:
    pd.testing.assert_frame_equal(simulate(spark, BUSY, partitions=3), busy)
    other_seed = simulate(spark, BUSY, seed=WORLD["seed"] + 1)
    assert not other_seed[PAYMENT].equals(busy[PAYMENT])


def test_transactions_follow_the_contract(spark: SparkSession) -> None:
    frame = generate_transactions(spark, BUSY, **WORLD)
    assert [(f.name, f.dataType) for f in frame.schema.fields] == [
        ("tx_id", T.LongType()),
        ("tx_ts", T.TimestampType()),
        ("customer_id", T.LongType()),
        ("terminal_id", T.LongType()),
        ("tx_amount", T.DoubleType()),
        ("is_fraud", T.IntegerType()),
        ("tx_fraud_scenario", T.IntegerType()),
    ]


def test_invariants(busy: pd.DataFrame) -> None:
    assert busy["tx_id"].is_unique
    assert (busy["tx_amount"] > 0).all()
    assert (busy["tx_amount"] == busy["tx_amount"].round(2)).all()
    first, end = pd.Timestamp(START), pd.Timestamp(START) + pd.Timedelta(days=WORLD["days"])
    assert busy["tx_ts"].between(first, end, inclusive="left").all()
    assert (busy["is_fraud"] == (busy["tx_fraud_scenario"] > 0)).all()
    assert (busy.loc[busy["tx_amount"] > BUSY.high_amount_threshold, "is_fraud"] == 1).all()
    assert set(busy["tx_fraud_scenario"]) == set(FraudScenario)
    # Ids run in day order.
    assert with_day(busy)["day"].is_monotonic_increasing


def test_times_of_day_centre_on_noon(busy: pd.DataFrame) -> None:
    genuine = busy[busy["tx_fraud_scenario"] == FraudScenario.GENUINE]
    seconds = (genuine["tx_ts"] - genuine["tx_ts"].dt.normalize()).dt.total_seconds()
    # Normal(43200, 20000) truncated symmetrically to the day: mean noon, sd a little under 20000.
    assert abs(seconds.mean() - 43_200) < 4 * 20_000 / len(seconds) ** 0.5
    assert 16_000 < seconds.std() < 20_000


def test_customers_pay_within_reach_except_after_takeover(
    spark: SparkSession, busy: pd.DataFrame
) -> None:
    customers = customer_profiles(
        spark, BUSY, customers=WORLD["customers"], seed=WORLD["seed"]
    ).toPandas()
    terminals = terminal_profiles(
        spark, BUSY, terminals=WORLD["terminals"], seed=WORLD["seed"]
    ).toPandas()
    located = busy.merge(customers, on="customer_id").merge(terminals, on="terminal_id")
    distance = np.hypot(
        located["x_customer"] - located["x_terminal"], located["y_customer"] - located["y_terminal"]
    )
    takeover = located["tx_fraud_scenario"] == FraudScenario.ACCOUNT_TAKEOVER
    assert len(located) == len(busy)
    assert (distance[~takeover] <= BUSY.terminal_radius + 1e-9).all()
    assert (distance[takeover] >= BUSY.account_takeover_min_distance - 1e-9).all()


def test_high_amounts_are_fraud(spark: SparkSession, baseline: pd.DataFrame) -> None:
    frame = simulate(spark, town(high_amount_threshold=100.0))
    above = frame["tx_amount"] > 100.0
    pd.testing.assert_frame_equal(frame[["tx_id", *PAYMENT]], baseline[["tx_id", *PAYMENT]])
    # Means reach 100 with a spread of half the mean: a few percent of payments exceed 100.
    assert above.any()
    expected = np.where(above, FraudScenario.HIGH_AMOUNT, FraudScenario.GENUINE)
    assert (frame["tx_fraud_scenario"] == expected).all()


def test_compromised_terminals_turn_every_payment_there_into_fraud(
    spark: SparkSession, baseline: pd.DataFrame
) -> None:
    params = town(compromised_terminals_per_day=2, compromised_terminal_days=3)
    draws = compromised_terminals(
        params, terminals=WORLD["terminals"], days=WORLD["days"], seed=WORLD["seed"]
    )
    assert draws.groupby("day")["terminal_id"].nunique().tolist() == [2] * WORLD["days"]
    frame = with_day(simulate(spark, params))
    pd.testing.assert_frame_equal(frame[["tx_id", *PAYMENT]], baseline[["tx_id", *PAYMENT]])
    at_compromised = in_windows(frame, draws, 3)
    expected = np.where(at_compromised, FraudScenario.COMPROMISED_TERMINAL, FraudScenario.GENUINE)
    assert (frame["tx_fraud_scenario"] == expected).all()
    assert at_compromised.any()


def test_compromised_daily_draws_average_a_fractional_rate() -> None:
    draws = compromised_terminals(
        GeneratorConfig(compromised_terminals_per_day=0.5), terminals=100, days=400, seed=3
    )
    assert draws.groupby("day").size().max() == 1
    low, high = binomial_bounds(400, 0.5)
    assert low <= len(draws) <= high


def test_compromised_customers_lose_a_share_of_payments_at_inflated_amounts(
    spark: SparkSession, baseline: pd.DataFrame
) -> None:
    params = town(
        compromised_customers_per_day=3,
        compromised_customer_days=4,
        compromised_customer_share=0.5,
        compromised_customer_amount_factor=5.0,
    )
    draws = compromised_customers(
        params, customers=WORLD["customers"], days=WORLD["days"], seed=WORLD["seed"]
    )
    assert draws.groupby("day")["customer_id"].nunique().tolist() == [3] * WORLD["days"]
    frame = with_day(simulate(spark, params))
    # The same payments (same ids), only the stolen ones relabelled with amounts x5.
    assert frame["tx_id"].equals(baseline["tx_id"])
    in_window = in_windows(frame, draws, 4)
    stolen = frame["tx_fraud_scenario"] == FraudScenario.COMPROMISED_CUSTOMER
    assert set(frame["tx_fraud_scenario"]) == {
        FraudScenario.GENUINE,
        FraudScenario.COMPROMISED_CUSTOMER,
    }
    assert not (stolen & ~in_window).any()
    low, high = binomial_bounds(int(in_window.sum()), 0.5)
    assert low <= stolen.sum() <= high
    inflated = (baseline["tx_amount"] * 5).round(2)
    assert np.allclose(frame["tx_amount"][stolen], inflated[stolen])
    assert frame["tx_amount"][~stolen].equals(baseline["tx_amount"][~stolen])


def test_card_testing_adds_bursts_of_small_payments(
    spark: SparkSession, baseline: pd.DataFrame
) -> None:
    params = town(
        card_testing_rate=0.1,
        card_testing_burst_min=3,
        card_testing_burst_max=6,
        card_testing_max_amount=2.0,
        card_testing_span_minutes=5.0,
    )
    frame = with_day(simulate(spark, params))
    testing = frame["tx_fraud_scenario"] == FraudScenario.CARD_TESTING
    pd.testing.assert_frame_equal(payments(frame[~testing]), payments(baseline))
    assert set(frame["tx_fraud_scenario"][~testing]) == {FraudScenario.GENUINE}
    bursts = (
        frame[testing]
        .groupby(["customer_id", "day"])
        .agg(
            size=("tx_id", "size"),
            terminals=("terminal_id", "nunique"),
            span=("tx_ts", lambda ts: (ts.max() - ts.min()).total_seconds()),
            largest=("tx_amount", "max"),
        )
    )
    low, high = binomial_bounds(CUSTOMER_DAYS, 0.1)
    assert low <= len(bursts) <= high
    assert bursts["size"].between(3, 6).all()
    # Sizes uniform on 3..6: mean 4.5, sd 1.12.
    assert abs(bursts["size"].mean() - 4.5) < 4 * 1.12 / len(bursts) ** 0.5
    assert (bursts["terminals"] == 1).all()
    assert (bursts["span"] <= 5 * 60).all()
    assert (bursts["largest"] <= 2.0).all()


def test_account_takeover_pays_far_from_home(spark: SparkSession, baseline: pd.DataFrame) -> None:
    params = town(
        account_takeover_rate=0.1,
        account_takeover_tx_min=2,
        account_takeover_tx_max=5,
        account_takeover_min_distance=10.0,
    )
    frame = with_day(simulate(spark, params))
    takeover = frame["tx_fraud_scenario"] == FraudScenario.ACCOUNT_TAKEOVER
    pd.testing.assert_frame_equal(payments(frame[~takeover]), payments(baseline))
    sizes = frame[takeover].groupby(["customer_id", "day"]).size()
    # Every home in a 20 x 20 square has about a fifth of the terminals 10 or more away.
    low, high = binomial_bounds(CUSTOMER_DAYS, 0.1)
    assert low <= len(sizes) <= high
    assert sizes.between(2, 5).all()
    customers = customer_profiles(
        spark, params, customers=WORLD["customers"], seed=WORLD["seed"]
    ).toPandas()
    terminals = terminal_profiles(
        spark, params, terminals=WORLD["terminals"], seed=WORLD["seed"]
    ).toPandas()
    located = frame[takeover].merge(customers, on="customer_id").merge(terminals, on="terminal_id")
    distance = np.hypot(
        located["x_customer"] - located["x_terminal"], located["y_customer"] - located["y_terminal"]
    )
    assert (distance >= 10.0 - 1e-9).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"card_testing_burst_min": 9}, "card_testing_burst_min must not exceed"),
        ({"compromised_terminals_per_day": 101}, "exceeds the number of terminals"),
    ],
)
def test_impossible_parameters_are_refused(
    spark: SparkSession, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_transactions(spark, GeneratorConfig(**change), **WORLD)


@pytest.mark.parametrize(("fmt", "suffix"), [("parquet", ".parquet"), ("csv", ".csv")])
def test_write_raw_makes_one_directory_per_day_that_reads_back(
    spark: SparkSession, tmp_path: Path, fmt: str, suffix: str
) -> None:
    generated = generate_transactions(spark, BUSY, **{**WORLD, "customers": 20, "days": 3})
    out = tmp_path / "raw"
    write_raw(generated, str(out), fmt)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "day=2025-03-01",
        "day=2025-03-02",
        "day=2025-03-03",
    ]
    for day_dir in out.glob("day=*"):
        (part,) = [p.name for p in day_dir.iterdir() if not p.name.startswith(".")]
        assert part.startswith("part-") and part.endswith(suffix)
    reader = spark.read.format(fmt).option("recursiveFileLookup", "true")
    if fmt == "csv":
        reader = reader.schema(generated.schema).option("header", "true")
    back = reader.load(str(out)).toPandas().sort_values("tx_id", ignore_index=True)
    expected = generated.toPandas().sort_values("tx_id", ignore_index=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    day_one = spark.read.format(fmt).options(header="true").schema(generated.schema)
    assert (day_one.load(str(out / "day=2025-03-01")).toPandas()["tx_ts"].dt.day == 1).all()


def test_generate_job_writes_files_and_reports_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "test.yaml"
    conf.write_text("spark:\n  master: local[2]\n  shuffle_partitions: 4\n")
    out = tmp_path / "raw"
    args = ["--out", str(out), "--customers", "30", "--terminals", "100", "--days", "2"]
    args += ["--start-date", "2025-03-01", "--seed", "5", "--format", "csv"]
    assert generate_main([*args, "--conf", str(conf), "--lakehouse", str(tmp_path / "lh")]) == 0
    printed = capsys.readouterr().out
    assert f"to {out} as csv" in printed and "card_testing" in printed
    assert sorted(p.name for p in out.glob("day=*")) == ["day=2025-03-01", "day=2025-03-02"]


def test_injected_drift_scales_amounts_from_its_day_only(
    spark: SparkSession, baseline: pd.DataFrame
) -> None:
    drift_day = START + pd.Timedelta(days=5).to_pytimedelta()
    drifted = simulate(spark, town(drift_amount_factor=1.5), drift_from=drift_day)
    assert drifted["tx_id"].tolist() == baseline["tx_id"].tolist()
    after = drifted["tx_ts"] >= pd.Timestamp(drift_day)
    assert 0 < after.sum() < len(drifted)
    pd.testing.assert_frame_equal(drifted[~after], baseline[~after])
    # x1.5 rounded to cents (Spark rounds halves up, so compare within half a cent).
    expected = baseline.loc[after, "tx_amount"] * 1.5
    np.testing.assert_allclose(drifted.loc[after, "tx_amount"], expected, atol=0.005 + 1e-9)


def test_a_hot_terminal_takes_its_share_of_payments_and_changes_nothing_else(
    spark: SparkSession, baseline: pd.DataFrame
) -> None:
    share = 0.2
    skewed = simulate(spark, town(hot_terminal_share=share))
    # Only terminals move: the same payments at the same times for the same amounts.
    assert skewed["tx_id"].tolist() == baseline["tx_id"].tolist()
    kept = ["tx_id", "tx_ts", "customer_id", "tx_amount", "is_fraud", "tx_fraud_scenario"]
    pd.testing.assert_frame_equal(skewed[kept], baseline[kept])
    changed = skewed["terminal_id"] != baseline["terminal_id"]
    assert (skewed.loc[changed, "terminal_id"] == HOT_TERMINAL_ID).all()
    # Each payment not already at the hot terminal moves there with probability `share`, on
    # its own (one uniform draw per payment): the moved count is Binomial(n, share), and
    # 4 standard deviations (~ +-100 of ~800 here) are exceeded with probability ~6e-5.
    elsewhere = int((baseline["terminal_id"] != HOT_TERMINAL_ID).sum())
    low, high = binomial_bounds(elsewhere, share)
    assert low <= int(changed.sum()) <= high


# sha256 of the columns of BUSY's payments, computed with the generator before the hot
# terminal existed (commit 3c8988a): a share of 0 must leave every draw as it was. Tied to
# numpy's Generator streams (PCG64, stable across the numpy versions of requirements.lock).
BUSY_PAYMENTS_SHA256 = "ef49947743b31062887c940148a0f94fe7b41f662b39c2af46a512485d685609"


def test_no_hot_terminal_gives_the_payments_of_before() -> None:
    assert GeneratorConfig().hot_terminal_share == 0
    world = {k: WORLD[k] for k in ("customers", "terminals", "days", "seed")}
    frame = _Simulation.draw(BUSY, **world).payments(np.arange(WORLD["customers"]))
    digest = hashlib.sha256()
    for name in frame.columns:
        digest.update(np.ascontiguousarray(frame[name].to_numpy()).tobytes())
    assert len(frame) == 4913
    assert digest.hexdigest() == BUSY_PAYMENTS_SHA256


def test_generate_job_takes_a_hot_terminal_share(spark: SparkSession, tmp_path: Path) -> None:
    conf = tmp_path / "test.yaml"
    conf.write_text("spark:\n  master: local[2]\n  shuffle_partitions: 4\n")
    out = tmp_path / "raw"
    args = ["--out", str(out), "--customers", "30", "--terminals", "100", "--days", "2"]
    args += ["--conf", str(conf), "--lakehouse", str(tmp_path / "lh")]
    with pytest.raises(SystemExit):
        generate_main([*args, "--hot-terminal-share", "1.5"])
    assert generate_main([*args, "--hot-terminal-share", "1"]) == 0
    terminals = spark.read.parquet(str(out)).select("terminal_id").distinct().collect()
    assert [row.terminal_id for row in terminals] == [HOT_TERMINAL_ID]
