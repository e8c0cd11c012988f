"""The nightly pipeline end to end: resume after a failure, idempotence, drift alarms."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.lakehouse.io import read_table, register_tables, table_exists
from fraudspark.lakehouse.tables import SCORES
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.pipelines.nightly import (
    STEP_FUNCTIONS,
    NightInputs,
    StepOutcome,
    backfill,
    day_source,
    last_statuses,
    run_night,
    steps_to_run,
)
from fraudspark.pipelines.train import train_scorer
from fraudspark.registry import MODEL_NAMES, register_model
from fraudspark.simulate.generator import generate_transactions, write_raw

START = date(2025, 1, 1)
DAYS = 43  # Jan 1 .. Feb 12
FIRST_NIGHT = date(2025, 2, 10)  # the nights run here: Feb 10, 11 (quiet) and 12 (drift)
DRIFT_FROM = date(2025, 2, 12)  # amounts x1.5 from this day
# A week with full 30-day history and January's monthly values visible, like the nights.
TRAIN_START, TRAIN_END = date(2025, 2, 1), date(2025, 2, 7)


def test_steps_to_run_resumes_at_the_first_unfinished_step() -> None:
    assert steps_to_run({}) == ["ingest", "labels", "features", "score", "monitor", "maintain"]
    done = {"ingest": "succeeded", "labels": "skipped", "features": "succeeded"}
    assert steps_to_run({**done, "score": "failed"}) == ["score", "monitor", "maintain"]
    monitored = {**done, "score": "succeeded", "monitor": "succeeded"}
    # A night logged before the maintain step existed runs just that step (skipped when off).
    assert steps_to_run(monitored) == ["maintain"]
    assert steps_to_run({**monitored, "maintain": "skipped"}) == []
    assert steps_to_run({}, from_step="features") == ["features", "score", "monitor", "maintain"]
    assert steps_to_run({}, only="monitor") == ["monitor"]
    with pytest.raises(ValueError, match="unknown step 'scoring'"):
        steps_to_run({}, only="scoring")


@pytest.fixture(scope="module")
def world(
    spark: SparkSession, base_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Config, Path]:
    """History ingested and featurised up to the first night; RaPP trained and registered.

    Returns the config and the raw root holding the nights' files (``day=YYYY-MM-DD``).
    """
    directory = tmp_path_factory.mktemp("nightly")
    monitoring = base_config.monitoring.model_copy(update={"reports_dir": str(directory / "rep")})
    config = base_config.with_lakehouse(str(directory / "lakehouse")).model_copy(
        update={"monitoring": monitoring}
    )
    frame = generate_transactions(
        spark, config.generator, customers=1500, terminals=800, days=DAYS, start_date=START,
        seed=11, drift_from=DRIFT_FROM,
    )  # fmt: skip
    first_night = f"tx_ts >= '{FIRST_NIGHT}'"
    write_raw(frame.where(f"NOT ({first_night})"), str(directory / "history"), "parquet")
    write_raw(frame.where(first_night), str(directory / "nights"), "parquet")
    ingest_transactions(spark, config, str(directory / "history"), "parquet")
    compute_features(spark, config, START, FIRST_NIGHT - timedelta(days=1))
    trained = train_scorer(
        spark, config, "rapp", TRAIN_START, TRAIN_END, training=TrainingConfig(epochs=8, seed=1)
    )
    register_model(config, MODEL_NAMES["rapp"], trained.artifact, trained.params)
    register_tables(spark, config)
    return config, directory / "nights"


def day_scores(spark: SparkSession, config: Config, day: date) -> pd.DataFrame:
    scores = read_table(spark, config, SCORES).where(f"tx_date = '{day}'").drop("scored_at")
    return scores.toPandas().sort_values("tx_id").reset_index(drop=True)


@pytest.mark.slow
def test_failed_night_resumes_and_matches_an_uninterrupted_run(
    spark: SparkSession, world: tuple[Config, Path]
) -> None:
    config, raw = world
    night = NightInputs(FIRST_NIGHT, source=day_source(str(raw), FIRST_NIGHT))

    def broken_score(*_: object) -> StepOutcome:
        raise RuntimeError("executor lost")

    with pytest.raises(RuntimeError, match="executor lost"):
        run_night(spark, config, night, step_functions={**STEP_FUNCTIONS, "score": broken_score})
    assert last_statuses(spark, config, FIRST_NIGHT) == {
        "ingest": "succeeded",
        "labels": "skipped",
        "features": "succeeded",
        "score": "failed",
    }
    assert not table_exists(spark, config, SCORES)  # nothing scored yet
    # Resumes where it failed; maintain runs as "skipped" (nightly.maintain is off).
    assert run_night(spark, config, night) == ["score", "monitor", "maintain"]
    resumed = day_scores(spark, config, FIRST_NIGHT)
    assert len(resumed) > 100

    assert run_night(spark, config, night) == []  # complete: nothing to do
    run_night(spark, config, night, from_step="ingest")  # the whole night again, uninterrupted
    pd.testing.assert_frame_equal(day_scores(spark, config, FIRST_NIGHT), resumed)
    runs = spark.sql(f"SELECT step, status FROM fraud.runs WHERE run_date = '{FIRST_NIGHT}'")
    assert runs.where("status = 'failed'").count() == 1


@pytest.mark.slow
def test_drift_alarm_on_injected_shift_and_not_before(
    spark: SparkSession, world: tuple[Config, Path]
) -> None:
    config, raw = world
    # Picks up after the other test's night (or runs it, if that test was deselected).
    backfill(spark, config, FIRST_NIGHT, DRIFT_FROM, str(raw))
    drift = spark.sql(
        "SELECT monitor_date, feature, metric, drifted FROM fraud.drift "
        "WHERE window_days = 1 AND metric IN ('psi', 'ks', 'linf')"
    ).toPandas()
    drifted = drift[drift["drifted"]]
    amounts = {"tx_amount", "cust_avg_amount_1d", "cust_avg_amount_7d"}
    # The day before the shift: amounts look like the training week.
    assert not amounts & set(
        drifted[drifted["monitor_date"] == DRIFT_FROM - timedelta(days=1)]["feature"]
    )
    alarm = set(drifted[drifted["monitor_date"] == DRIFT_FROM]["feature"])
    assert {"tx_amount", "cust_avg_amount_1d"} <= alarm
    # A day is all weekend or all weekday: the weekend flag is compared with the training rows
    # of the same weekdays (a matched reference), so it is compared every day and never drifts.
    weekend = drift[drift["feature"] == "tx_during_weekend"]
    assert set(weekend["monitor_date"]) == set(drift["monitor_date"])
    assert not weekend["drifted"].any()
    assert "tx_during_night" in set(drift["feature"])
    hints = spark.sql("SELECT monitor_date, drifted_features FROM fraud.retrain_hints").collect()
    hinted = {row["monitor_date"]: set(row["drifted_features"]) for row in hints}
    assert "tx_amount" in hinted[DRIFT_FROM]
    report = Path(config.monitoring.reports_dir) / str(DRIFT_FROM) / "index.html"
    assert report.exists() and "tx_amount" in report.read_text()
