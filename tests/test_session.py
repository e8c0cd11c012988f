"""The session builder: the driver JVM's options and the session settings it applies."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from fraudspark.class_sharing import sharing_options
from fraudspark.config import Config
from fraudspark.session import cached_jars, jars_folder
from tests.jvm import SESSION_JAVA_OPTIONS


def test_the_driver_jvm_runs_with_the_configured_options(
    spark: SparkSession, base_config: Config
) -> None:
    assert base_config.spark.driver_java_options == SESSION_JAVA_OPTIONS
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    runtime = jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = list(runtime.getInputArguments())
    for option in SESSION_JAVA_OPTIONS.split():
        assert option in arguments, arguments


def test_arrow_batches_are_not_measured_row_by_row(spark: SparkSession) -> None:
    # Int.MaxValue turns off Spark's per-row measurement of the Arrow batches for Python.
    assert spark.conf.get("spark.sql.execution.arrow.maxBytesPerBatch") == str(2**31 - 1)


# A fresh process that builds a session from the config file given and prints whether its
# JVM's mapped class-data sharing archives (/proc/<pid>/maps lists mapped files; the JDK's
# own base archive is one).
_SESSION_PROCESS = """
import sys
from pathlib import Path
from pyspark import SparkContext
from fraudspark.config import load_config
from fraudspark.session import build_spark
config = load_config(sys.argv[1], lakehouse=sys.argv[2])
spark = build_spark(config, register=False)
assert spark.range(5).count() == 5
pid = SparkContext._gateway.proc.pid
print("mapped:", [line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
                  if line.endswith(".jsa")])
"""


def test_the_first_session_writes_the_class_archive_and_later_ones_map_it(
    spark: SparkSession, base_config: Config, tmp_path: Path
) -> None:
    # The Delta jars as the session fixture kept them, in a folder of this test's own.
    kept = jars_folder(base_config)
    assert kept is not None and cached_jars(kept) is not None
    folder = tmp_path / "jars" / kept.name
    folder.mkdir(parents=True)
    for item in kept.iterdir():
        if item.suffix in (".jar", ".txt"):
            (folder / item.name).symlink_to(item)
    settings = base_config.spark.model_dump()
    settings.update(jars_dir=str(tmp_path / "jars"), class_data_sharing=True)
    conf = tmp_path / "conf.yaml"
    conf.write_text(json.dumps({"spark": settings}))
    command = [sys.executable, "-c", _SESSION_PROCESS, str(conf), str(tmp_path / "lakehouse")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    archives = sorted(p.name for p in folder.iterdir() if p.suffix == ".jsa")
    # Published whole, under one name; no private dump left behind.
    assert len(archives) == 1, sorted(p.name for p in folder.iterdir())
    assert not [p for p in folder.iterdir() if ".part-" in p.name]
    assert str(folder) not in first.stdout  # the first JVM wrote it, so could not map it

    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"'{folder / archives[0]}'" in second.stdout, second.stdout


def test_one_process_at_a_time_writes_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "driver-classes-x.jsa"
    with archive.with_suffix(".lock").open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # another writer holds the lock
        assert sharing_options(archive) == ("", None)
    stale = tmp_path / "driver-classes-x.part-otherhost-1"
    stale.write_bytes(b"left by a writer that died")
    os.utime(stale, (0, 0))
    options, writer = sharing_options(archive)  # the lock is free: this process writes
    assert writer is not None and writer.part.name.endswith(f"-{os.getpid()}")
    assert f"-XX:ArchiveClassesAtExit={writer.part}" in options and "-Xshare:auto" in options
    assert not stale.exists()  # old private dumps are removed
    assert sharing_options(archive) == ("", None)  # ... and holds the lock until released
    writer.release()
    archive.write_bytes(b"published")  # once published, every session maps it
    options, writer = sharing_options(archive)
    assert writer is None and f"-XX:SharedArchiveFile={archive}" in options


def test_no_archive_where_a_path_holds_whitespace(tmp_path: Path) -> None:
    # Spark splits the driver's JVM options on whitespace.
    assert sharing_options(tmp_path / "a folder" / "driver-classes-x.jsa") == ("", None)
