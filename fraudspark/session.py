"""The one SparkSession builder, used by jobs, notebooks and tests.

Delta Lake comes from the delta-spark package. On the first start its jars are resolved from
Maven Central through ``spark.jars.packages`` (Ivy, cached in ``~/.ivy2.5.2``) and then copied
into ``config.spark.jars_dir`` with a manifest; later starts pass them as ``spark.jars`` and
skip Ivy's resolution (about a second of a fresh process, more on a busy machine). On a
cluster launched with ``spark-submit --packages`` the session already exists and is reused as
it is.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from pyspark import SparkContext
from pyspark.sql import SparkSession

from fraudspark.class_sharing import ArchiveWriter, archive_path, sharing_options
from fraudspark.config import Config
from fraudspark.lakehouse.io import register_tables

log = logging.getLogger(__name__)
JARS_MANIFEST = "jars.txt"

DELTA_SQL_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
# Unless maxBytesPerBatch is Int.MaxValue, Spark measures the Arrow batch it fills for a
# Python worker after every row; batches stay bounded by maxRecordsPerBatch rows. With the
# model-only inputs it took scoring 5M rows, warm, from 18.3 to 13.2 s (docs/benchmarks.md).
ARROW_SETTINGS = {"spark.sql.execution.arrow.maxBytesPerBatch": str(2**31 - 1)}


def delta_package() -> str:
    """The Maven coordinate of the Delta jar matching the installed delta-spark."""
    from importlib.metadata import version

    return f"io.delta:delta-spark_2.13:{version('delta-spark')}"


def jars_folder(config: Config) -> Path | None:
    """The folder holding the jars of :func:`delta_package` (None when caching is off)."""
    if not config.spark.jars_dir:
        return None
    group, artifact, version = delta_package().split(":")
    return Path(config.spark.jars_dir).expanduser() / f"{group}_{artifact}-{version}"


def cached_jars(folder: Path | None) -> list[str] | None:
    """The jar paths listed in ``folder``'s manifest, or None unless every one is there."""
    if folder is None:
        return None
    try:
        names = (folder / JARS_MANIFEST).read_text().split()
    except OSError:
        return None
    paths = [folder / name for name in names]
    if not paths or not all(path.is_file() for path in paths):
        return None
    return [str(path) for path in paths]


def remember_jars(spark: SparkSession, folder: Path) -> list[str]:
    """Copy the jars Ivy resolved for this session (``spark.jars``) into ``folder`` and write
    its manifest last, each file through a temporary name and an atomic rename, so a
    concurrent start sees either no manifest or a complete folder. Returns the copied paths."""
    resolved = spark.sparkContext.getConf().get("spark.jars", "") or ""
    sources = [Path(unquote(urlparse(uri).path)) for uri in resolved.split(",") if uri]
    if not sources:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    suffix = f".tmp-{os.getpid()}"
    for source in sources:
        temporary = folder / (source.name + suffix)
        shutil.copyfile(source, temporary)
        os.replace(temporary, folder / source.name)
    manifest = folder / (JARS_MANIFEST + suffix)
    manifest.write_text("".join(f"{source.name}\n" for source in sources))
    os.replace(manifest, folder / JARS_MANIFEST)
    return [str(folder / source.name) for source in sources]


def launched_by_spark_submit() -> bool:
    """True when this Python process was started by spark-submit (its JVM is already up)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_spark(config: Config, register: bool = True) -> SparkSession:
    """Return a SparkSession with Delta Lake and the ``fraud`` tables registered.

    The master, bind address and shuffle partitions come from ``config.spark``. With
    ``register`` the tables found under the lakehouse root are (re)registered in the session
    catalog, so ``SELECT * FROM fraud.transactions`` works in every session. Jobs pass False:
    they read and write tables by path, a table they write is registered then, and on a
    lakehouse with months of history registering all of them costs about a minute (Delta's
    ``CREATE TABLE ... LOCATION`` replays each log).
    """
    spark_conf = config.spark
    # The JVM reads this at start-up; it keeps Spark from binding to a public interface.
    os.environ.setdefault("SPARK_LOCAL_IP", spark_conf.driver_host)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    # Python workers must run the interpreter that has fraudspark and its packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(spark_conf.app_name)
    started = time.perf_counter()
    folder, jars = jars_folder(config), None
    writer: ArchiveWriter | None = None
    if not launched_by_spark_submit():
        # Under spark-submit, --master and --packages have already decided these.
        builder = builder.master(spark_conf.master)
        jars = cached_jars(folder)
        java_options = spark_conf.driver_java_options or ""
        # A JVM already running in this process (an earlier session) keeps its options.
        jvm_starts = SparkContext._gateway is None
        if spark_conf.class_data_sharing and jvm_starts and folder and jars is not None:
            archive = archive_path(
                folder, jars, spark_conf.driver_java_options, spark_conf.driver_memory
            )
            sharing, writer = sharing_options(archive)
            # The configured options come last, so that they win (e.g. -Xshare:off).
            java_options = f"{sharing} {java_options}".strip()
        if java_options:
            builder = builder.config("spark.driver.extraJavaOptions", java_options)
        if jars is not None:
            builder = builder.config("spark.jars", ",".join(jars))
        else:
            builder = builder.config("spark.jars.packages", delta_package())
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
    try:
        spark = builder.getOrCreate()
    except BaseException:
        if writer is not None:
            writer.release()
        raise
    gateway = SparkContext._gateway
    if writer is not None:
        if gateway is not None:
            writer.publish_when_jvm_exits(gateway.proc)
        else:
            writer.release()
    spark.sparkContext.setLogLevel("ERROR")
    # Settings that must hold even when the session came from spark-submit.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.shuffle.partitions", str(spark_conf.shuffle_partitions))
    for key, value in ARROW_SETTINGS.items():
        if spark.conf.get(key, None) is None:  # a value the user chose stays
            spark.conf.set(key, value)
    session_seconds = time.perf_counter() - started
    if folder is not None and jars is None and not launched_by_spark_submit():
        try:
            kept = remember_jars(spark, folder)
            log.info("kept %d Delta jars in %s: later starts skip Ivy", len(kept), folder)
        except OSError as error:  # a read-only home: Ivy keeps resolving, nothing breaks
            log.warning("could not keep the Delta jars in %s: %s", folder, error)
    started = time.perf_counter()
    registered = register_tables(spark, config) if register else 0
    if launched_by_spark_submit():
        source = "from spark-submit"
    else:
        source = f"from {folder}" if jars is not None else "resolved by Ivy"
    if register:
        log.info(
            "Spark session in %.1f s (Delta jars %s); %d tables registered in %.1f s",
            session_seconds,
            source,
            registered,
            time.perf_counter() - started,
        )
    else:  # jobs register the tables they use when they first use them
        log.info("Spark session in %.1f s (Delta jars %s)", session_seconds, source)
    return spark


@contextmanager
def spark_settings(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Set these session settings (``spark.conf``) inside the block; afterwards restore each
    one's previous value, or unset it if it had none."""
    previous: dict[str, str | None] = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)
