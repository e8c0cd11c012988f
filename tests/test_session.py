"""The session builder hands ``spark.driver_java_options`` to the driver JVM it starts."""

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
