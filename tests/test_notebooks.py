"""Every notebook runs, cell by cell, against a small lakehouse, and produces what it shows.

The notebooks are a sequence (02 registers and scores with the RaPP model that 04 monitors), so
they share one world and run in order: a notebook's test first runs any earlier notebook that
has not run yet, so each test also passes on its own.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import DEFAULT_CONF, Config
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import AUGMENTED_TRAINING_SETS
from fraudspark.notebooks import parse_notebook, run_notebook, widget
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.pipelines.training_sets import build_training_set
from fraudspark.simulate.generator import generate_transactions, write_raw
from tests.frames import assert_frames_equal, assert_rows_equal

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.py"))
START = date(2025, 1, 1)
DAYS = 40  # Jan 1 .. Feb 9
NIGHT = date(2025, 2, 9)  # held back as raw files for notebook 04's night; amounts drift x1.5
LAST_INGESTED = date(2025, 2, 8)
# Small parameters: the test is about the notebooks running, not about the models.
PARAMETERS: dict[str, dict[str, object]] = {
    # RaPP trains on Feb 1..7: one month's monthly values, like the days it is monitored on.
    "02_scoring_and_rapp.py": {"epochs": 2, "train_days": 7},
    "03_gan_oversampling.py": {"steps": 3, "classifier_epochs": 3, "gbt_trees": 10},
    "04_monitoring.py": {"night": NIGHT.isoformat()},  # and "source", set by the test
    # and "source", "lakehouse", set by the test
    "05_your_own_data.py": {
        "mapping": "fraudfinder", "train_days": 7, "epochs": 1, "classifier_epochs": 2,
    },
}  # fmt: skip


@dataclass(frozen=True)
class World:
    config: Config
    conf_file: Path  # the notebooks' configuration: conf/local.yaml, small and self-contained
    history: Path  # raw files of the ingested days
    nights: Path  # raw files of the held-back night(s), laid out as day=YYYY-MM-DD
    reports: Path  # the notebooks' monitoring reports
    own_data: Path  # the ingested history in FraudFinder's layout, string ids (notebook 05)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_lakehouse(
    spark: SparkSession, base_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> World:
    """40 days of a small simulated world with a few percent fraud; all but the last day
    ingested (one bad row) and featurised, and a training set. The last day's amounts drift."""
    directory = tmp_path_factory.mktemp("notebooks")
    config = base_config.with_lakehouse(str(directory / "lakehouse"))
    # 100 customers within reach of ~4 of 60 terminals each, and fraud scenarios scaled down
    # from the defaults (meant for thousands of customers) to a few percent of transactions.
    generator = config.generator.model_copy(
        update={
            "area_size": 35.0,
            "compromised_terminals_per_day": 0.05,
            "compromised_customers_per_day": 0.2,
        }
    )
    frame = generate_transactions(
        spark, generator, customers=100, terminals=60, days=DAYS, start_date=START, seed=5,
        drift_from=NIGHT,
    )  # fmt: skip
    night = f"tx_ts >= '{NIGHT}'"
    write_raw(frame.where(f"NOT ({night})"), str(directory / "history"), "parquet")
    write_raw(frame.where(night), str(directory / "nights"), "parquet")
    ingest_transactions(spark, config, str(directory / "history"), "parquet")
    bad = directory / "bad.csv"
    with bad.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [["tx_id", "tx_ts", "customer_id", "terminal_id", "tx_amount"],
             ["1", "2025-01-01 10:00:00", "1", "1", "-3"]]
        )  # fmt: skip
    ingest_transactions(spark, config, str(bad), "csv")
    compute_features(spark, config)
    build_training_set(spark, config, "first-month", date(2025, 1, 1), date(2025, 1, 31))
    # The same history as a foreign file: FraudFinder's column names, string ids.
    frame.where(f"NOT ({night})").select(
        F.concat(F.lit("tx-"), "tx_id").alias("TX_ID"),
        F.date_format("tx_ts", "yyyy-MM-dd HH:mm:ss").alias("TX_TS"),
        F.concat(F.lit("C"), "customer_id").alias("CUSTOMER_ID"),
        F.concat(F.lit("T"), "terminal_id").alias("TERMINAL_ID"),
        F.col("tx_amount").alias("TX_AMOUNT"),
        F.col("is_fraud").alias("TX_FRAUD"),
    ).coalesce(1).write.option("header", "true").csv(str(directory / "own-data"))

    conf = yaml.safe_load(DEFAULT_CONF.read_text())
    conf["spark"].update(master="local[2]", shuffle_partitions=base_config.spark.shuffle_partitions)
    conf["monitoring"]["reports_dir"] = str(directory / "reports")
    # The config file lives in a temporary folder: carry the shipped mapping inline.
    conf["sources"] = {
        "fraudfinder": yaml.safe_load(
            (DEFAULT_CONF.parent / "sources/fraudfinder.yaml").read_text()
        )
    }
    conf_file = directory / "notebooks.yaml"
    conf_file.write_text(yaml.safe_dump(conf))
    return World(
        config, conf_file, directory / "history", directory / "nights", directory / "reports",
        directory / "own-data",
    )  # fmt: skip


@pytest.fixture(scope="module")
def notebook_runs() -> dict[str, dict[str, Any] | None]:
    """Each notebook's namespace once it has run (None if it failed)."""
    return {}


def run_in_order(
    notebook: Path, world: World, runs: dict[str, dict[str, Any] | None]
) -> dict[str, Any]:
    """Run the notebooks up to ``notebook`` that have not run yet; its namespace."""
    for earlier in NOTEBOOKS[: NOTEBOOKS.index(notebook) + 1]:
        if earlier.name in runs:
            continue
        runs[earlier.name] = None
        parameters = dict(PARAMETERS.get(earlier.name, {}))
        if earlier.name == "04_monitoring.py":
            parameters["source"] = str(world.nights / f"day={NIGHT}")
        if earlier.name == "05_your_own_data.py":
            parameters["source"] = str(world.own_data)
            parameters["lakehouse"] = str(world.own_data.parent / "own-data-lakehouse")
        runs[earlier.name] = run_notebook(earlier, parameters=parameters)
    namespace = runs[notebook.name]
    if namespace is None:
        pytest.fail(f"{notebook.name} (or a notebook before it) failed earlier in this module")
    return namespace


def count(spark: SparkSession, query: str) -> int:
    row = spark.sql(query).first()
    assert row is not None
    return int(row[0])


def check_transactions_and_features(namespace: dict[str, Any], world: World) -> None:
    spark = namespace["spark"]
    assert namespace["last_day"] == LAST_INGESTED
    # The raw history files, read apart: every transaction landed, the bad CSV row was refused.
    raw = spark.read.parquet(str(world.history))
    assert count(spark, "SELECT count(*) FROM fraud.transactions") == raw.count()
    assert_frames_equal(spark.sql("SELECT tx_id FROM fraud.transactions"), raw.select("tx_id"))
    quarantined = spark.sql("SELECT * FROM fraud.transactions_quarantine")
    assert_rows_equal(
        quarantined, ["record_kind", "reason"], [("transaction", "negative_tx_amount")]
    )
    # The week of feature rows: one per transaction of the last 7 ingested days, no more.
    week_start = LAST_INGESTED - timedelta(days=6)
    week_raw = raw.where(f"to_date(tx_ts) BETWEEN '{week_start}' AND '{LAST_INGESTED}'")
    assert_frames_equal(namespace["week"].select("tx_id"), week_raw.select("tx_id"))


def check_scoring_and_rapp(namespace: dict[str, Any], world: World) -> None:
    spark = namespace["spark"]
    scoring, version = namespace["scoring"], namespace["version"]
    assert version == 1  # the module's own registry: the first fraud-rapp
    assert scoring.model == f"fraud-rapp/{version}"
    day = count(spark, f"SELECT count(*) FROM fraud.transactions WHERE tx_date = '{LAST_INGESTED}'")
    scored = spark.sql(
        f"SELECT * FROM fraud.scores WHERE model_name = 'fraud-rapp' "
        f"AND model_version = {version} AND tx_date = '{LAST_INGESTED}'"
    )
    assert scored.count() == scoring.rows_scored == scoring.rows_inserted == day > 0
    # The alerts shown are the day's alerting rows, and about the target share alert.
    alerting = scored.where("is_alert")
    assert alerting.count() == scoring.alerts > 0
    assert_frames_equal(namespace["alerts"].select("tx_id"), alerting.select("tx_id"))
    # Scores beside the threshold the notebook printed: alert exactly above it.
    threshold = namespace["metadata"]["threshold"]
    assert scored.where(f"is_alert != (score > {threshold})").count() == 0
    evaluation = namespace["evaluation"]
    assert sorted(result.model for result in evaluation.results) == ["ae", "rapp-nap", "rapp-sap"]
    # The three models are judged on the same test rows, and their rows reached the table.
    assert len({(r.test_rows, r.test_frauds) for r in evaluation.results}) == 1
    written = spark.sql(
        "SELECT model_name, test_rows FROM fraud.evaluations WHERE oversampling = 'none'"
    ).toPandas()
    assert sorted(written["model_name"]) == ["ae", "rapp-nap", "rapp-sap"]
    assert set(written["test_rows"]) == {evaluation.results[0].test_rows}


def check_gan_oversampling(namespace: dict[str, Any], world: World) -> None:
    spark, training_set = namespace["spark"], namespace["training_set"]
    generated = ("smote", "wgan-gp", "diffusion", "diffusion-profile")
    assert set(namespace["quality"].index) == set(generated)
    augmented = read_table(spark, world.config, AUGMENTED_TRAINING_SETS).where(
        f"training_set = '{training_set}'"
    )
    training = spark.sql(f"SELECT * FROM fraud.training_sets WHERE training_set = '{training_set}'")
    normals, frauds = training.where("is_fraud = 0").count(), training.where("is_fraud = 1").count()
    wanted = int(namespace["ratio"] * normals) - frauds  # up to the fraud/normal ratio asked
    assert wanted > 0
    for method in generated:
        rows = augmented.where(f"method = '{method}'")
        assert rows.where("is_synthetic").count() == wanted, method
        assert_frames_equal(
            rows.where("NOT is_synthetic").select("tx_id"), training.select("tx_id")
        )
    assert namespace["classifier_version"] == 1  # the module's own registry
    board = namespace["evaluation"].leaderboard()
    settings = list(zip(board["model_name"], board["oversampling"], strict=True))
    methods = ["none", "smote", "wgan-gp", "diffusion"]
    assert settings == [(f"classifier-{k}", m) for m in methods for k in ("mlp", "gbt")]
    results = namespace["evaluation"].results
    assert len({(r.test_rows, r.test_frauds) for r in results}) == 1  # the same test days
    train_rows = {r.oversampling: r.train_rows for r in results}
    assert train_rows["smote"] == train_rows["wgan-gp"] == train_rows["diffusion"]
    assert train_rows["diffusion"] > train_rows["none"]
    # The notebook's table-read leaderboard holds the same settings as the in-memory one.
    table_board = namespace["board"]
    assert sorted(zip(table_board["model_name"], table_board["oversampling"], strict=True)) == (
        sorted(settings)
    )
    assert (table_board["seeds"] == 1).all()


def check_monitoring(namespace: dict[str, Any], world: World) -> None:
    spark = namespace["spark"]
    assert namespace["results"][0].model == "fraud-rapp"  # RaPP leads the report
    assert (world.reports / str(LAST_INGESTED) / "index.html").exists()
    assert (world.reports / str(NIGHT) / "index.html").exists()
    steps = ["ingest", "labels", "features", "score", "monitor", "maintain"]
    assert namespace["steps"] == steps
    statuses = {
        row["step"]: row["status"]
        for row in spark.sql(f"SELECT * FROM fraud.runs WHERE run_date = '{NIGHT}'").collect()
    }
    # No label file for the night, and maintenance off by default (nightly.maintain): both
    # steps are recorded as skipped.
    skipped = {"labels", "maintain"}
    assert {step: statuses[step] for step in steps} == {
        step: "skipped" if step in skipped else "succeeded" for step in steps
    }
    # The night's raw files, read apart: every row ingested, and scored by the champion.
    night = spark.read.parquet(str(world.nights / f"day={NIGHT}"))
    ingested = spark.sql(f"SELECT tx_id FROM fraud.transactions WHERE tx_date = '{NIGHT}'")
    assert_frames_equal(ingested, night.select("tx_id"))
    scored = spark.sql(
        f"SELECT tx_id FROM fraud.scores WHERE tx_date = '{NIGHT}' AND model_name = 'fraud-rapp'"
    )
    assert_frames_equal(scored, night.select("tx_id"))
    monitored = spark.sql("SELECT DISTINCT monitor_date FROM fraud.drift").collect()
    assert {row["monitor_date"] for row in monitored} == {LAST_INGESTED, NIGHT}
    hint = spark.sql(
        f"SELECT drifted_features FROM fraud.retrain_hints "
        f"WHERE monitor_date = '{NIGHT}' AND model_name = 'fraud-rapp'"
    ).first()
    assert hint is not None and "tx_amount" in hint["drifted_features"]  # amounts x1.5
    # ... and the amounts' drift flag is set on the night, not on the day before it.
    amount = spark.sql(
        "SELECT monitor_date, max(CAST(drifted AS INT)) AS drifted FROM fraud.drift "
        "WHERE model_name = 'fraud-rapp' AND feature = 'tx_amount' AND window_days = 1 "
        "GROUP BY monitor_date"
    ).collect()
    assert {row["monitor_date"]: row["drifted"] for row in amount} == {LAST_INGESTED: 0, NIGHT: 1}


def check_your_own_data(namespace: dict[str, Any], world: World) -> None:
    spark, day = namespace["spark"], namespace["score_day"]
    raw = spark.read.option("header", "true").csv(str(world.own_data))
    ingest = namespace["ingest"]
    assert (ingest.read, ingest.accepted, ingest.quarantined, ingest.present) == (
        raw.count(), raw.count(), 0, 0,
    )  # fmt: skip
    assert day == LAST_INGESTED - timedelta(days=1)
    # Every payment of the day scored by both models, named by the file's own ids.
    day_ids = raw.where(f"to_date(TX_TS) = '{day}'").select(F.col("TX_ID").alias("source_tx_id"))
    for model in ("fraud-ae", "fraud-classifier"):
        scored = spark.sql(
            f"SELECT t.source_tx_id FROM fraud.scores s JOIN fraud.transactions t "
            f"ON t.tx_id = s.tx_id WHERE s.tx_date = '{day}' AND s.model_name = '{model}'"
        )
        assert_frames_equal(scored, day_ids)
    assert namespace["alerts"].count() > 0


CHECKS: dict[str, Callable[[dict[str, Any], World], None]] = {
    "01_transactions_and_features.py": check_transactions_and_features,
    "02_scoring_and_rapp.py": check_scoring_and_rapp,
    "03_gan_oversampling.py": check_gan_oversampling,
    "04_monitoring.py": check_monitoring,
    "05_your_own_data.py": check_your_own_data,
}


def test_notebooks_are_in_databricks_source_format() -> None:
    assert NOTEBOOKS, "no notebooks found"
    for notebook in NOTEBOOKS:
        kinds = {cell.kind for cell in parse_notebook(notebook)}
        assert {"python", "sql", "md"} <= kinds, notebook.name
    assert set(CHECKS) == {notebook.name for notebook in NOTEBOOKS}, "a notebook lacks a check"


def test_widgets_take_run_parameters_then_environment_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = tmp_path / "params.py"
    notebook.write_text(
        "# Databricks notebook source\n"
        "from fraudspark.notebooks import widget\n"
        "epochs, day = widget('epochs', '10'), widget('day', '')\n"
    )
    monkeypatch.setenv("FRAUDSPARK_DAY", "2025-02-01")
    namespace = run_notebook(notebook, parameters={"epochs": 2})
    assert (namespace["epochs"], namespace["day"]) == ("2", "2025-02-01")
    assert widget("epochs", "10") == "10"  # outside a run: no parameters
    with pytest.raises(ValueError, match=r"no parameter epoch$"):
        run_notebook(notebook, parameters={"epoch": 2})


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(
    notebook: Path,
    small_lakehouse: World,
    notebook_runs: dict[str, dict[str, Any] | None],
    spark: SparkSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUDSPARK_LAKEHOUSE", small_lakehouse.config.lakehouse_root)
    monkeypatch.setenv("FRAUDSPARK_CONF", str(small_lakehouse.conf_file))
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        namespace = run_in_order(notebook, small_lakehouse, notebook_runs)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    assert namespace["spark"] is spark  # the notebook joined the running session
    CHECKS[notebook.name](namespace, small_lakehouse)
