"""The oversampling leaderboard on simulated payments: every method, one classifier, one protocol.

    .venv/bin/python bench/oversampling.py --customers 1000 --days 60 --seeds 0,1 --epochs 100

Simulates a world into a temporary lakehouse, ingests it and computes its features. Training
days start once the 30-day windows are warm; the test days start ``train_days + delay_days``
later (the Fraud Detection Handbook's protocol). Then the same leaderboard as
``fraudspark evaluate --oversampling ...``
(:func:`fraudspark.pipelines.evaluate.evaluate_oversampling`):
per method and seed the oversampling job, the MLP classifier on its output, AUC ROC, average
precision and card precision@100 on the test days. Prints every run, then mean ± std over seeds
as a markdown table with the time to oversample and train and the synthetic rows' quality.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from datetime import date, timedelta

import pandas as pd

from fraudspark.config import GeneratorConfig, load_config
from fraudspark.evaluation.protocol import ProtocolWindow
from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.oversampling import OVERSAMPLERS
from fraudspark.pipelines.evaluate import evaluate_oversampling
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.session import build_spark
from fraudspark.simulate.generator import generate_transactions, write_raw

START = date(2025, 1, 1)
WARM_UP_DAYS = 31  # the longest window (30 days) plus one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--methods", default=",".join(OVERSAMPLERS))
    parser.add_argument("--ratio", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=100, help="GAN epochs")
    parser.add_argument("--classifier-epochs", type=int, default=ClassifierConfig.epochs)
    parser.add_argument("--train-days", type=int, default=7)
    parser.add_argument("--delay-days", type=int, default=7)
    parser.add_argument("--test-days", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    methods = args.methods.split(",")
    window = ProtocolWindow(
        START + timedelta(days=WARM_UP_DAYS), args.train_days, args.delay_days, args.test_days
    )
    if (window.test_end - START).days >= args.days:
        parser.error(f"the test days end on {window.test_end}, after the simulated days")

    directory = tempfile.mkdtemp(prefix="bench-oversampling-")
    config = load_config(lakehouse=f"{directory}/lakehouse")
    spark = build_spark(config)
    began = time.perf_counter()
    # The simulator's default rates are per day for the Handbook's 5,000 customers: scale them,
    # so a smaller world keeps its fraud share (about 1%).
    scale = args.customers / 5000
    defaults = GeneratorConfig()
    fraud_rates = GeneratorConfig(
        compromised_terminals_per_day=defaults.compromised_terminals_per_day * scale,
        compromised_customers_per_day=defaults.compromised_customers_per_day * scale,
    )
    world = generate_transactions(
        spark,
        fraud_rates,
        customers=args.customers,
        terminals=2 * args.customers,
        days=args.days,
        start_date=START,
        seed=1,
    )
    write_raw(world, f"{directory}/raw", "parquet")
    ingest_transactions(spark, config, f"{directory}/raw", "parquet")
    compute_features(spark, config)
    print(
        f"world: {args.customers} customers, {args.days} days, built in "
        f"{time.perf_counter() - began:.0f} s; train {window.train_start} .. {window.train_end}, "
        f"test {window.test_start} .. {window.test_end}",
        flush=True,
    )
    evaluation = evaluate_oversampling(
        spark,
        config,
        window,
        methods,
        seeds,
        ratio=args.ratio,
        gan_epochs=args.epochs,
        classifier=ClassifierConfig(epochs=args.classifier_epochs),
    )
    print(evaluation.table())
    print()
    print(markdown_table(evaluation.leaderboard()))


def markdown_table(frame: pd.DataFrame) -> str:
    lines = [
        "| " + " | ".join(frame.columns) + " |",
        "|---" * len(frame.columns) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in frame.to_numpy()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
