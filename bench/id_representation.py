"""String identifiers vs integer surrogate keys: the feature job's cost both ways.

Builds N synthetic transactions (default 1M: 20k customers, 2k terminals, 90 days) twice, once
with 64-bit integer ids and once with the same ids as strings (tx_id 32 hex characters like
Sparkov's trans_num, customers and terminals as names), and times the windowed and monthly
feature transforms on each to Spark's ``noop`` sink. The integer run is what a surrogate-key
design pays in the feature job; it also pays a dictionary lookup at ingest, timed here as the
join of the day's rows against a dictionary of every id.

    PYTHONPATH=$PWD .venv/bin/python bench/id_representation.py --rows 1000000 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import time

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraudspark.config import load_config
from fraudspark.features.monthly import monthly_features
from fraudspark.features.windowed import tuned_session, windowed_features
from fraudspark.session import build_spark


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    config = load_config(os.environ.get("FRAUDSPARK_CONF"))
    config = config.model_copy(
        update={"spark": config.spark.model_copy(update={"master": args.master})}
    )
    spark = build_spark(config)
    base = (
        spark.range(args.rows)
        .select(
            F.col("id").alias("tx_id"),
            F.timestamp_seconds(
                F.lit(1_735_689_600) + (F.col("id") * (90 * 86_400) / args.rows).cast("long")
            ).alias("tx_ts"),
            (F.hash("id") % 20_000).cast("long").alias("customer_id"),
            (F.abs(F.hash(F.col("id") * 7)) % 2_000).cast("long").alias("terminal_id"),
            (F.abs(F.hash(F.col("id") * 13)) % 100_000 / 100).alias("tx_amount"),
            (F.abs(F.hash(F.col("id") * 17)) % 50 == 0).cast("int").alias("is_fraud"),
        )
        .withColumn("customer_id", F.abs("customer_id"))
    )
    integer = base.withColumn("tx_date", F.to_date("tx_ts")).localCheckpoint(eager=True)
    strings = integer.select(
        F.substring(F.sha2(F.col("tx_id").cast("string"), 256), 1, 32).alias("tx_id"),
        "tx_ts",
        F.concat(F.lit("card_"), F.col("customer_id").cast("string")).alias("customer_id"),
        F.concat(F.lit("fraud_Merchant and Sons "), F.col("terminal_id").cast("string")).alias(
            "terminal_id"
        ),
        "tx_amount",
        "is_fraud",
        "tx_date",
    ).localCheckpoint(eager=True)
    partitions = 2 * spark.sparkContext.defaultParallelism

    def timed(label: str, frame: DataFrame) -> None:
        for attempt in range(args.repeat):
            began = time.perf_counter()
            frame.write.format("noop").mode("overwrite").save()
            print(
                f"{label:34s} run {attempt + 1}: {time.perf_counter() - began:7.2f} s", flush=True
            )

    with tuned_session(spark, config.features):
        for name, frame in (("integer ids", integer), ("string ids", strings)):
            timed(
                f"windowed, {name}",
                windowed_features(
                    frame, config.features, partitions, time_zone=config.ingest.business_time_zone
                ),
            )
            timed(f"monthly, {name}", monthly_features(frame, config.features))
    dictionary = (
        strings.select(F.col("customer_id").alias("key"), F.lit(1).alias("kind"))
        .distinct()
        .withColumn("surrogate", F.monotonically_increasing_id())
    )
    lookup = strings.join(dictionary, strings["customer_id"] == dictionary["key"], "left")
    timed("surrogate lookup (customers only)", lookup)
    print(
        f"rows {args.rows}, cores {spark.sparkContext.defaultParallelism}, load {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
