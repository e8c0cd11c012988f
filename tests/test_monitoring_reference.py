"""The monitor's reference: kept once per model version, and the weekday flags compared with a
reference of the window's weekday mix (a calm week raises no alarm; x1.5 amounts still do)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import MONITORING_REFERENCES
from fraudspark.models.training import TrainingConfig
from fraudspark.monitoring.reference import WEEKDAY, _reference, weekday_matched
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.pipelines.maintain import maintain
from fraudspark.pipelines.monitor import monitor_model, monitoring_reference
from fraudspark.pipelines.score import score_days
from fraudspark.pipelines.train import train_scorer
from fraudspark.registry import MODEL_NAMES, RegisteredModel, register_model, registered_artifact
from fraudspark.simulate.generator import generate_transactions, write_raw
from fraudspark.simulate.handbook import HANDBOOK_WORLD, handbook_config

# The Handbook's own start: a three-month warm-up before July. Compromised terminals accumulate
# for 28 days and the 30-day terminal risk looks back 37 days (label delay 7), so a July
# reference from a June start would see fewer compromised terminals than August does (drift).
START = date(2018, 4, 1)
TRAIN = (date(2018, 7, 1), date(2018, 7, 31))  # a month that starts on a Sunday
CALM_WEEK = [date(2018, 8, 20) + timedelta(days=i) for i in range(7)]  # Monday .. Sunday
DRIFTED = date(2018, 8, 27)  # amounts x1.5 from this day


def test_weekday_matched_takes_the_current_weekday_mix() -> None:
    # Sundays (1) are weekend, Mondays (2) not; the reference is 20% Sundays.
    reference = pd.DataFrame(
        {WEEKDAY: [1.0] * 2 + [2.0] * 8, "tx_during_weekend": [1] * 2 + [0] * 8, "x": range(10)}
    )
    # Mondays only: the 8 Monday rows, each once (drawn without replacement).
    monday = weekday_matched(reference, pd.Series([2] * 5))
    assert monday is not None and sorted(monday["x"]) == list(range(2, 10))
    assert (monday["tx_during_weekend"] == 0).all()
    # Half Sundays: both Sunday rows and 2 of the 8 Monday rows, the largest 50/50 sample.
    half = weekday_matched(reference, pd.Series([1, 2, 1, 2]))
    assert half is not None and len(half) == 4 and half["x"].is_unique
    assert (half["tx_during_weekend"] == 1).sum() == 2 and {0, 1} <= set(half["x"])
    # A Tuesday (3) has no reference day: no matched reference.
    assert weekday_matched(reference, pd.Series([2, 3])) is None
    assert weekday_matched(reference.assign(**{WEEKDAY: np.nan}), pd.Series([2])) is None


@pytest.fixture(scope="module")
def handbook(
    spark: SparkSession, module_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Config, RegisteredModel]:
    """A small Handbook-like world, April .. 2018-08-27, a RaPP scorer trained on July."""
    # A day here is ~1,000 rows from ~350 customers and ~450 terminals. The rows of one entity
    # share its counts and spending, so the drift tests count them by their design effect
    # (fraudspark.monitoring.drift); the configured thresholds and significance apply as a user
    # gets them.
    config = module_config
    raw = str(tmp_path_factory.mktemp("handbook") / "raw")
    days = (DRIFTED - START).days + 1
    # The Handbook's compromise rates per terminal and per customer (2 of 10,000 terminals and
    # 3 of 5,000 customers a day): at 500 each, its absolute rates would make 11% of the
    # terminals compromised at any time, not the Handbook's 0.6%.
    generator = handbook_config().model_copy(
        update={
            "compromised_terminals_per_day": 2.0 * 500 / HANDBOOK_WORLD.terminals,
            "compromised_customers_per_day": 3.0 * 500 / HANDBOOK_WORLD.customers,
        }
    )
    transactions = generate_transactions(
        spark, generator, customers=500, terminals=500, days=days, start_date=START,
        seed=5, drift_from=DRIFTED,
    )  # fmt: skip
    write_raw(transactions, raw, "parquet")
    ingest_transactions(spark, config, raw, "parquet")
    compute_features(spark, config, START, DRIFTED)
    trained = train_scorer(
        spark, config, "rapp", *TRAIN, training=TrainingConfig(epochs=3, seed=1),
        target_alert_rate=config.scoring.target_alert_rate,
    )  # fmt: skip
    name = MODEL_NAMES["rapp"]
    version = register_model(config, name, trained.artifact, trained.params)
    score_days(spark, config, name, CALM_WEEK[0] - timedelta(days=6), DRIFTED)
    return config, registered_artifact(config, f"{name}/{version}")


@pytest.mark.slow
def test_the_kept_reference_equals_a_fresh_one_and_exists_before_vacuum(
    spark: SparkSession, handbook: tuple[Config, RegisteredModel]
) -> None:
    config, registered = handbook
    features = list(registered.artifact.metadata["feature_names"])
    # The maintain pipeline keeps the champion's reference before it vacuums.
    maintain(spark, config, tables=[MONITORING_REFERENCES], optimize=False)
    kept = read_table(spark, config, MONITORING_REFERENCES).toPandas()
    assert set(zip(kept["model_name"], kept["model_version"], strict=True)) == {
        (registered.name, registered.version)
    }
    fresh = _reference(spark, config, registered, features)
    cached = monitoring_reference(spark, config, registered, features)
    assert len(kept) == len(fresh) > 1000
    columns = [*features, WEEKDAY, "score", "is_alert"]
    pd.testing.assert_frame_equal(cached[columns], fresh[columns])
    assert [list(x) for x in cached["top_features"]] == [list(x) for x in fresh["top_features"]]
    np.testing.assert_allclose(
        np.concatenate(cached["top_feature_shares"].map(np.asarray).to_list()),
        np.concatenate(fresh["top_feature_shares"].map(np.asarray).to_list()),
    )
    # Read, not recomputed: the table still holds one copy.
    assert read_table(spark, config, MONITORING_REFERENCES).count() == len(fresh)


@pytest.mark.slow
def test_a_calm_week_raises_no_alarm_and_x1_5_amounts_do(
    spark: SparkSession, handbook: tuple[Config, RegisteredModel]
) -> None:
    config, registered = handbook
    alarms = {}
    for day in CALM_WEEK:
        result = monitor_model(spark, config, registered, day, report=False)
        alarms[day] = result.drifted_features
        weekend = result.drift[result.drift["feature"] == "tx_during_weekend"]
        # Compared against a reference with the day's weekday mix (not left out) and calm.
        linf = weekend.loc[weekend["metric"] == "linf", "value"]
        assert "not_compared" not in set(weekend["metric"]), day
        assert len(linf) == 1 and (linf < 0.05).all(), (day, linf)
    assert alarms == dict.fromkeys(CALM_WEEK, ())

    drifted = monitor_model(spark, config, registered, DRIFTED, report=False)
    assert "tx_amount" in drifted.drifted_features
    assert "tx_during_weekend" not in drifted.drifted_features
