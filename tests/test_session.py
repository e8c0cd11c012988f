"""The session builder: the driver JVM's options and the session settings it applies."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pyspark.sql import SparkSession

from fraudspark.class_sharing import prune_archives, sharing_options
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
    # An archive of an earlier install, unused for 15 days: writing the new one removes it.
    forgotten = folder / "driver-classes-0000000000000000.jsa"
    forgotten.write_bytes(b"an old archive")
    os.utime(forgotten, (time.time() - 15 * 86_400, time.time() - 15 * 86_400))

    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    archives = sorted(p.name for p in folder.iterdir() if p.suffix == ".jsa")
    # Published whole, under one name; no private dump left behind; the old one removed.
    assert len(archives) == 1 and not forgotten.exists(), sorted(p.name for p in folder.iterdir())
    assert not [p for p in folder.iterdir() if ".part-" in p.name]
    assert str(folder) not in first.stdout  # the first JVM wrote it, so could not map it

    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"'{folder / archives[0]}'" in second.stdout, second.stdout


def test_one_process_at_a_time_writes_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "io.delta_x-4.0.1" / "driver-classes-x.jsa"  # the cache's layout
    archive.parent.mkdir()
    with archive.with_suffix(".lock").open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # another writer holds the lock
        assert sharing_options(archive) == ("", None)
    stale = archive.parent / "driver-classes-x.part-otherhost-1"
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


def _made(path: Path, age_seconds: float) -> Path:
    """A file last modified (an archive: last used) ``age_seconds`` ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    used = time.time() - age_seconds
    os.utime(path, (used, used))
    return path


def test_archives_beyond_the_eight_most_recently_used_are_removed(tmp_path: Path) -> None:
    # Nine archives used 1..9 hours ago, the last two in an older Delta version's folder.
    folders = [tmp_path / "io.delta_x-4.0.1"] * 7 + [tmp_path / "io.delta_x-4.0.0"] * 2
    archives = [
        _made(folder / f"driver-classes-{hours}.jsa", hours * 3600.0)
        for hours, folder in enumerate(folders, start=1)
    ]
    for archive in archives:
        archive.with_suffix(".lock").touch()
    assert prune_archives(tmp_path) == [archives[8]]  # the one used 9 hours ago
    assert all(archive.exists() for archive in archives[:8])
    assert archives[8].with_suffix(".lock").exists()  # lock files stay (empty)
    assert prune_archives(tmp_path) == []


def test_archives_unused_for_two_weeks_and_dead_dumps_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "io.delta_x-4.0.1"
    recent = _made(folder / "driver-classes-a.jsa", 3600.0)
    forgotten = _made(folder / "driver-classes-b.jsa", 15 * 86_400.0)
    dead = _made(folder / "driver-classes-c.part-host-12", 2 * 3600.0)  # its writer died
    writing = _made(folder / "driver-classes-d.part-host-13", 60.0)
    assert sorted(prune_archives(tmp_path)) == sorted([forgotten, dead])
    assert recent.exists() and writing.exists()


def test_a_session_that_maps_an_archive_marks_it_used(tmp_path: Path) -> None:
    archive = _made(tmp_path / "io.delta_x-4.0.1" / "driver-classes-x.jsa", 30 * 86_400.0)
    options, writer = sharing_options(archive)
    assert writer is None and f"-XX:SharedArchiveFile={archive}" in options
    assert time.time() - archive.stat().st_mtime < 60.0
    assert prune_archives(tmp_path) == []  # in use, so kept


def test_pruning_goes_on_past_a_file_it_cannot_remove(tmp_path: Path) -> None:
    folder = tmp_path / "io.delta_x-4.0.1"
    # A directory where an archive would be: unlink fails on it, for the superuser too.
    stuck = folder / "driver-classes-a.jsa"
    _made(stuck / "inside", 0.0)
    os.utime(stuck, (time.time() - 15 * 86_400.0,) * 2)
    forgotten = _made(folder / "driver-classes-b.jsa", 15 * 86_400.0)
    assert prune_archives(tmp_path) == [forgotten]
    assert stuck.is_dir()


def test_no_archive_where_a_path_holds_whitespace(tmp_path: Path) -> None:
    # Spark splits the driver's JVM options on whitespace.
    assert sharing_options(tmp_path / "a folder" / "driver-classes-x.jsa") == ("", None)
