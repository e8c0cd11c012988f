"""Detection benchmark: the Fraud Detection Handbook's protocol on simulated payments.

    python bench/detection.py [--workdir DIR] [--seeds 0,1,2] [--epochs 50]

Simulates 5,000 customers and 10,000 terminals for 75 days from 2025-01-01 (the Handbook's
world size, all five fraud scenarios), ingests them and computes the features once (cached
under ``--workdir``), then runs :func:`evaluate_models` as ``fraudspark evaluate`` does: train
7 days from 2025-02-15 without their known frauds, skip the 7-day label delay, test 7 days
(2025-03-01 .. 03-07), leaving out customers known to be compromised. Models: the autoencoder,
the VAE and RaPP (SAP and NAP from one trained network), each for every seed; an
IsolationForest (scikit-learn, 100 trees) on the same model inputs as a classical reference.

Prints each row and the mean per model over the seeds, beside the Handbook's published figures
on its own simulated data (autoencoder AUC ROC 0.836, AP 0.18, CP@100 0.217;
IsolationForest 0.808 / 0.164 / 0.19). The rows also go to ``fraud.evaluations`` of the
benchmark's lakehouse.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config, load_config
from fraudspark.evaluation.protocol import (
    DetectionMetrics,
    ProtocolWindow,
    detection_metrics,
    exclude_known_compromised,
)
from fraudspark.features.model_inputs import model_inputs
from fraudspark.features.store import current_versions, feature_rows, model_feature_columns
from fraudspark.features.training_data import training_frame
from fraudspark.ingest import ingest_transactions
from fraudspark.lakehouse.io import read_table_as_of
from fraudspark.lakehouse.tables import TRANSACTIONS
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.evaluate import evaluate_models, write_evaluations
from fraudspark.pipelines.features import compute_features
from fraudspark.session import build_spark
from fraudspark.simulate.generator import generate_transactions, write_raw

REPO = Path(__file__).resolve().parent.parent
CUSTOMERS, TERMINALS, DAYS, SEED = 5_000, 10_000, 75, 42
START = date(2025, 1, 1)
WINDOW = ProtocolWindow(date(2025, 2, 15), train_days=7, delay_days=7, test_days=7)
HANDBOOK = {  # published on the Handbook's simulated data: AUC ROC, AP, CP@100
    "autoencoder": (0.836, 0.18, 0.217),
    "IsolationForest": (0.808, 0.164, 0.19),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def prepare(spark: SparkSession, config: Config, workdir: Path) -> None:
    """Simulate, ingest and featurise once; later runs reuse the lakehouse."""
    marker = workdir / "prepared"
    if marker.exists():
        log(f"reusing {workdir}")
        return
    shutil.rmtree(config.lakehouse_root, ignore_errors=True)
    started = time.perf_counter()
    frame = generate_transactions(
        spark,
        config.generator,
        customers=CUSTOMERS,
        terminals=TERMINALS,
        days=DAYS,
        start_date=START,
        seed=SEED,
    )
    raw = workdir / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    write_raw(frame, str(raw), "parquet")
    log(f"simulated in {time.perf_counter() - started:.0f} s")
    print(ingest_transactions(spark, config, str(raw), "parquet").summary())
    print(compute_features(spark, config).summary())
    log(f"prepared in {time.perf_counter() - started:.0f} s")
    marker.touch()


def isolation_forest(spark: SparkSession, config: Config, seed: int) -> DetectionMetrics:
    """The protocol with scikit-learn's IsolationForest, scored in the driver."""
    from sklearn.ensemble import IsolationForest

    versions = current_versions(spark, config)
    features = model_feature_columns(config)
    train = training_frame(spark, config, WINDOW.train_start, WINDOW.train_end, versions)
    forest = IsolationForest(n_estimators=100, random_state=seed, n_jobs=-1).fit(train)
    test = (
        model_inputs(feature_rows(spark, config, WINDOW.test_start, WINDOW.test_end), features)
        .where(F.col("is_fraud").isNotNull())
        .toPandas()
    )
    test["score"] = -forest.score_samples(test[features])
    known_by = WINDOW.test_end - timedelta(days=WINDOW.delay_days + 1)
    frauds = (
        read_table_as_of(spark, config, TRANSACTIONS, versions["transactions"])
        .where((F.col("is_fraud") == 1) & F.col("tx_date").between(WINDOW.train_start, known_by))
        .select("customer_id", "tx_date")
        .toPandas()
    )
    return detection_metrics(exclude_known_compromised(test, frauds, WINDOW), "score")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--workdir", default=str(Path(tempfile.gettempdir()) / "fraudspark-bench-detection")
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=TrainingConfig.epochs)
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = load_config(REPO / "conf" / "local.yaml", lakehouse=str(workdir / "lakehouse"))
    spark = build_spark(config)
    prepare(spark, config, workdir)

    started = time.perf_counter()
    evaluation = evaluate_models(
        spark,
        config,
        WINDOW,
        ["ae", "vae", "rapp", "mahalanobis"],
        seeds,
        TrainingConfig(epochs=args.epochs),
    )
    write_evaluations(spark, config, evaluation)
    log(f"evaluated in {time.perf_counter() - started:.0f} s")
    rows = [
        {
            "model": r.model,
            "seed": r.seed,
            "auc_roc": r.metrics.auc_roc,
            "average_precision": r.metrics.average_precision,
            "cp_at_100": r.metrics.cp_at_100,
        }
        for r in evaluation.results
    ]
    for seed in seeds:
        forest = isolation_forest(spark, config, seed)
        rows.append(
            {
                "model": "IsolationForest",
                "seed": seed,
                "auc_roc": forest.auc_roc,
                "average_precision": forest.average_precision,
                "cp_at_100": forest.cp_at_100,
            }
        )
    print(evaluation.table())
    results = pd.DataFrame(rows)
    summary = results.groupby("model", sort=False)[
        ["auc_roc", "average_precision", "cp_at_100"]
    ].agg(["mean", "std"])
    print(f"\nmean (std) over seeds {seeds}, {args.epochs} epochs:")
    print(summary.to_string(float_format="{:.3f}".format))
    print("\nHandbook (its own simulated data): AUC ROC / AP / CP@100")
    for model, (auc, ap, cp) in HANDBOOK.items():
        print(f"  {model:<16} {auc:.3f} / {ap:.3f} / {cp:.3f}")


if __name__ == "__main__":
    main()
