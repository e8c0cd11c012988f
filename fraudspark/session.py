"""The one SparkSession builder, used by jobs, notebooks and tests.

Delta Lake comes from the delta-spark package: its jars are resolved from Maven Central through
``spark.jars.packages`` on first use and cached by Ivy (``~/.ivy2.5.2``), so later runs start
offline. On a cluster launched with ``spark-submit --packages`` the session already exists and
is reused as it is.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.lakehouse.io import register_tables

DELTA_SQL_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def delta_package() -> str:
    """The Maven coordinate of the Delta jar matching the installed delta-spark."""
    from importlib.metadata import version

    return f"io.delta:delta-spark_2.13:{version('delta-spark')}"


def launched_by_spark_submit() -> bool:
    """True when this Python process was started by spark-submit (its JVM is already up)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_spark(config: Config) -> SparkSession:
    """Return a SparkSession with Delta Lake and the ``fraud`` tables registered.

    The master, bind address and shuffle partitions come from ``config.spark``; the tables found
    under the lakehouse root are (re)registered in the session catalog, so
    ``SELECT * FROM fraud.transactions`` works in every session.
    """
    spark_conf = config.spark
    # The JVM reads this at start-up; it keeps Spark from binding to a public interface.
    os.environ.setdefault("SPARK_LOCAL_IP", spark_conf.driver_host)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    # Python workers must run the interpreter that has fraudspark and its packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(spark_conf.app_name)
    if not launched_by_spark_submit():
        # Under spark-submit, --master and --packages have already decided these.
        builder = builder.master(spark_conf.master).config("spark.jars.packages", delta_package())
    builder = (
        builder.config("spark.driver.host", spark_conf.driver_host)
        .config("spark.driver.bindAddress", spark_conf.driver_host)
        .config("spark.driver.memory", spark_conf.driver_memory)
        .config("spark.ui.enabled", str(spark_conf.ui_enabled).lower())
        .config("spark.sql.shuffle.partitions", str(spark_conf.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.extensions", DELTA_SQL_EXTENSION)
        .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Delta rebuilds table state with this many tasks; its default (50) is for clusters.
        .config(
            "spark.databricks.delta.snapshotPartitions",
            str(spark_conf.shuffle_partitions),
        )
    )
    for key, value in spark_conf.extra.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    # Settings that must hold even when the session came from spark-submit.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.shuffle.partitions", str(spark_conf.shuffle_partitions))
    register_tables(spark, config)
    return spark
