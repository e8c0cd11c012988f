"""Time the steps of the feature job one by one, with variants side by side, in one session.

Reads a lakehouse that ``bench/features.py`` prepared (by default its 5M dataset) and prints,
for each step, the wall seconds of every run. Steps without a wanted output write to Spark's
``noop`` sink. The feature tables of that lakehouse are rewritten by the nightly steps.

    .venv/bin/python bench/feature_steps.py --repeat 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame

from fraudspark.config import load_config
from fraudspark.features.definitions import TRANSACTION_KEYS, customer_windows
from fraudspark.features.monthly import monthly_features
from fraudspark.features.periods import history_start
from fraudspark.features.windowed import (
    _add_entity_windows,
    tuned_session,
    windowed_features,
    windowed_features_by_entity,
)
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import FEATURES_MONTHLY, FEATURES_WINDOWED, TRANSACTIONS
from fraudspark.pipelines.features import _between, compute_features, feature_partitions
from fraudspark.session import build_spark

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = Path(tempfile.gettempdir()) / "fraudspark-bench" / "5M-c5000-t10000-d180-s42"
NIGHT = date(2025, 6, 29)  # the last day of bench/features.py's datasets


def noop(frame: DataFrame) -> None:
    frame.write.format("noop").mode("overwrite").save()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset", default=str(DEFAULT_DATASET), help="a bench/features.py dataset"
    )
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--codecs", default="snappy,lz4_raw,zstd,uncompressed")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    time.tzset()

    dataset = Path(args.dataset)
    config = load_config(args.conf, lakehouse=str(dataset / "lakehouse"))
    scratch = dataset / "steps"
    spark = build_spark(config)
    transactions = read_table(spark, config, TRANSACTIONS)
    rows = transactions.count()
    partitions = feature_partitions(spark, rows)
    features = config.features
    zone = config.ingest.business_time_zone
    history = transactions.where(_between("tx_date", history_start(config, NIGHT), NIGHT))
    month = transactions.where(_between("tx_date", NIGHT.replace(day=1), NIGHT))

    def delta(frame: DataFrame, name: str, codec: str = "snappy") -> None:
        out = scratch / name
        shutil.rmtree(out, ignore_errors=True)
        (
            frame.write.format("delta")
            .mode("overwrite")
            .option("compression", codec)
            .options(**FEATURES_WINDOWED.properties)
            .partitionBy("tx_date")
            .save(str(out))
        )

    def by_entity() -> DataFrame:
        return windowed_features_by_entity(transactions, features, partitions, time_zone=zone)

    def report_by_scan() -> None:
        for table, where in ((FEATURES_WINDOWED, f"tx_date = '{NIGHT}'"), (FEATURES_MONTHLY, None)):
            frame = read_table(spark, config, table)
            (frame if where is None else frame.where(where)).count()

    steps: dict[str, Callable[[], object]] = {
        "scan 7 columns + shuffle by customer": lambda: noop(
            transactions.select(*TRANSACTION_KEYS, "is_fraud").repartition(
                partitions, "customer_id"
            )
        ),
        "customer pass": lambda: noop(
            _add_entity_windows(
                transactions.select(*TRANSACTION_KEYS, "is_fraud"),
                customer_windows(features),
                partitions,
            )
        ),
        "both passes": lambda: noop(
            windowed_features(transactions, features, partitions, time_zone=zone)
        ),
        "both + write, one partition per core (the job)": lambda: delta(
            windowed_features(transactions, features, partitions, time_zone=zone), "coalesced"
        ),
        f"both + write, {partitions} entity partitions": lambda: delta(by_entity(), "by_entity"),
        "both + write, repartitioned by tx_date": lambda: delta(
            by_entity().repartition(partitions, "tx_date"), "by_day"
        ),
        **{
            f"both + write (the job), {codec}": (
                lambda codec=codec: delta(
                    windowed_features(transactions, features, partitions, time_zone=zone),
                    codec,
                    codec,
                )
            )
            for codec in args.codecs.split(",")
            if codec
        },
        "monthly features": lambda: noop(monthly_features(transactions, features)),
        f"nightly run {NIGHT} (compute_features)": lambda: compute_features(
            spark, config, NIGHT, NIGHT
        ),
        "nightly windowed only": lambda: noop(
            windowed_features(history, features, partitions, (NIGHT, NIGHT), time_zone=zone)
        ),
        "nightly monthly only": lambda: noop(monthly_features(month, features)),
        "report counts by scanning the written partitions": report_by_scan,
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    with tuned_session(spark, features):
        for run in range(args.repeat):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
                print(f"run {run + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
    print(f"\n{rows:,} transactions, {partitions} entity partitions, load {os.getloadavg()[0]:.1f}")
    for name, seconds in times.items():
        print(f"{name:55s} " + "  ".join(f"{s:6.1f}" for s in seconds))
    shutil.rmtree(scratch, ignore_errors=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
