"""The session builder: the driver JVM's options and the session settings it applies."""

from __future__ import annotations

from pyspark.sql import SparkSession

from fraudspark.config import Config
from tests.jvm import DRIVER_JAVA_OPTIONS


def test_the_driver_jvm_runs_with_the_configured_options(
    spark: SparkSession, base_config: Config
) -> None:
    assert base_config.spark.driver_java_options == DRIVER_JAVA_OPTIONS
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    runtime = jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = list(runtime.getInputArguments())
    for option in DRIVER_JAVA_OPTIONS.split():
        assert option in arguments, arguments


def test_arrow_batches_are_not_measured_row_by_row(spark: SparkSession) -> None:
    # Int.MaxValue turns off Spark's per-row measurement of the Arrow batches for Python.
    assert spark.conf.get("spark.sql.execution.arrow.maxBytesPerBatch") == str(2**31 - 1)
