"""fraudspark demo: the README's end-to-end run on ~1M simulated transactions.

Generate 90 days of payments (amounts drift x1.5 on the last two), ingest and featurise the
first 83, build a training set of the 14 days before the nights, train and register a RaPP
scorer, print a small oversampling leaderboard (none, SMOTE, WGAN-GP with the same classifier),
oversample the training set with WGAN-GP and train and register the classifier, then run the
last seven days as nightly runs (ingest, features, score, monitor): the drift alarm, the report
path and the last night's top alerts with their reasons are printed, then the tables and an
example query.
Every step is idempotent, so running the demo again leaves the same tables.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, timedelta

from pyspark.sql import functions as F

from fraudspark.cli.common import job_config, job_parser, job_session
from fraudspark.evaluation.protocol import ProtocolWindow
from fraudspark.lakehouse.io import table_exists
from fraudspark.lakehouse.tables import ALL_TABLES, qualified_name
from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.evaluate import evaluate_oversampling, write_evaluations
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.pipelines.nightly import backfill
from fraudspark.pipelines.oversample import oversample_training_set
from fraudspark.pipelines.score import alert_reasons
from fraudspark.pipelines.train import register_classifier, train_classifier, train_scorer
from fraudspark.pipelines.training_sets import build_training_set
from fraudspark.registry import (
    CLASSIFIER_MODEL_NAME,
    MODEL_NAMES,
    champion_version,
    has_champion,
    register_model,
)
from fraudspark.simulate.generator import generate_transactions, write_raw

START = date(2025, 1, 1)
NIGHTS = 7  # the last week runs as nightly runs
DRIFT_DAYS = 2  # amounts drift on the last two nights
TRAINING_DAYS = 14  # RaPP, the GAN and the classifier train on the 14 days before the nights
TRAINING_SET = "demo-train"
GAN_METHOD = "wgan-gp"
GAN_STEPS = 300  # generator updates: the demo's GAN is brief (config oversampling.steps: full)
LEADERBOARD_METHODS = ["none", "smote", GAN_METHOD]
EXAMPLE_QUERY = """
SELECT tx_date,
       count(*)                                   AS transactions,
       sum(is_fraud)                              AS frauds,
       round(100 * avg(is_fraud), 2)              AS fraud_pct,
       round(sum(tx_amount), 2)                   AS volume
FROM fraud.transactions
WHERE tx_date >= date_sub((SELECT max(tx_date) FROM fraud.transactions), 6)
GROUP BY tx_date
ORDER BY tx_date
""".strip()


def main(argv: Sequence[str]) -> int:
    parser = job_parser("demo", "Generate, ingest and featurise ~1M transactions, then query.")
    parser.add_argument("--raw", default="data/raw", help="where the raw files are written")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--terminals", type=int, default=10000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    began = time.monotonic()

    def step(title: str) -> None:
        print(f"\n== {title}  [{time.monotonic() - began:5.0f} s]")

    step(f"generate {args.days} days for {args.customers} customers -> {args.raw}")
    last_day = START + timedelta(days=args.days - 1)
    first_night = last_day - timedelta(days=NIGHTS - 1)
    transactions = generate_transactions(
        spark,
        config.generator,
        customers=args.customers,
        terminals=args.terminals,
        days=args.days,
        start_date=START,
        seed=args.seed,
        drift_from=last_day - timedelta(days=DRIFT_DAYS - 1),
    )
    history_root, nights_root = f"{args.raw}/history", f"{args.raw}/nights"
    tonight = F.col("tx_ts") >= F.lit(str(first_night)).cast("timestamp")
    write_raw(transactions.where(~tonight), history_root, "parquet")
    write_raw(transactions.where(tonight), nights_root, "parquet")

    step(f"ingest the history ({START} .. {first_night - timedelta(days=1)})")
    print(ingest_transactions(spark, config, history_root, "parquet").summary())

    step("features: fraud.features_windowed and fraud.features_monthly")
    print(compute_features(spark, config, START, first_night - timedelta(days=1)).summary())
    spark.sql(
        "SELECT tx_id, tx_ts, customer_id, cust_nb_tx_1d, cust_avg_amount_7d, cust_nb_tx_15m, "
        "term_nb_tx_60m, term_risk_30d FROM fraud.features_windowed "
        "WHERE cust_nb_tx_15m > 3 ORDER BY tx_ts LIMIT 5"
    ).show(truncate=False)

    train_end = first_night - timedelta(days=1)
    train_start = train_end - timedelta(days=TRAINING_DAYS - 1)
    step(f"feature store: training set {TRAINING_SET!r} ({train_start} .. {train_end})")
    print(build_training_set(spark, config, TRAINING_SET, train_start, train_end).summary())

    step(f"train RaPP on {train_start} .. {train_end} (known frauds left out) and register it")
    name = MODEL_NAMES["rapp"]
    if has_champion(config, name):
        print(f"{name} is registered already: champion is version {champion_version(config, name)}")
    else:
        trained = train_scorer(
            spark, config, "rapp", train_start, train_end,
            training=TrainingConfig(epochs=10, seed=1),
            target_alert_rate=config.scoring.target_alert_rate,
        )  # fmt: skip
        version = register_model(config, name, trained.artifact, trained.params)
        metrics = trained.artifact.metadata["training_metrics"]
        print(f"registered {name}/{version} (training metrics {metrics})")

    window = ProtocolWindow(first_night - timedelta(days=21), 7, 7, 7)
    step(
        f"oversampling leaderboard: {', '.join(LEADERBOARD_METHODS)}, the same MLP classifier, "
        f"train {window.train_start} .. {window.train_end}, test {window.test_start} .. "
        f"{window.test_end}"
    )
    evaluation = evaluate_oversampling(
        spark, config, window, LEADERBOARD_METHODS, seeds=[1], steps=GAN_STEPS
    )
    write_evaluations(spark, config, evaluation)
    print(evaluation.leaderboard().drop(columns=["model_name", "seeds"]).to_string(index=False))

    step(f"oversample {TRAINING_SET!r} with {GAN_METHOD}, train the classifier, register both")
    if has_champion(config, CLASSIFIER_MODEL_NAME):
        version = champion_version(config, CLASSIFIER_MODEL_NAME)
        print(f"{CLASSIFIER_MODEL_NAME} is registered already: champion is version {version}")
    else:
        report = oversample_training_set(
            spark, config, TRAINING_SET, GAN_METHOD, seed=1, steps=GAN_STEPS
        )
        print(report.summary())
        classifier = train_classifier(
            spark, config, TRAINING_SET, GAN_METHOD, training=ClassifierConfig(seed=1)
        )
        version = register_classifier(config, classifier)
        print(f"registered {CLASSIFIER_MODEL_NAME}/{version}: {classifier.summary()}")

    step(f"nightly runs {first_night} .. {last_day} (drift injected from the last {DRIFT_DAYS})")
    backfill(spark, config, first_night, last_day, nights_root)

    step(f"the last night's top alerts ({last_day}) and why")
    alert_reasons(spark, config, last_day, last_day).drop("tx_date").show(10, truncate=False)

    step(f"tables in {config.lakehouse.database} (data under {config.lakehouse_root})")
    for table in ALL_TABLES:
        if table_exists(spark, config, table):
            rows = spark.table(qualified_name(config, table)).count()
            print(f"  {qualified_name(config, table):<34}{rows:>12,} rows  {table.description}")

    step("an analyst's question in SQL: the last week, day by day")
    print(EXAMPLE_QUERY + "\n")
    spark.sql(EXAMPLE_QUERY).show(truncate=False)
    print('Query it yourself: .venv/bin/fraudspark sql "SELECT ... FROM fraud.transactions"')
    return 0
