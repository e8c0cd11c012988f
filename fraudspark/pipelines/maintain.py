"""Table maintenance: compact small files (Delta ``OPTIMIZE``) and delete files no version needs
any more (Delta ``VACUUM``), never making unreadable a table version that a training set, an
evaluation or a registered model records.

Training sets, evaluations and models record the Delta versions they read
(``fraud.training_set_catalog.source_versions``, ``fraud.evaluations.data_versions``, a model's
``extra.data_versions`` metadata and its ``data_version.<table>`` run tags), and re-read them by
time travel. ``VACUUM RETAIN R HOURS`` deletes the data files that were removed from the table
by a commit older than ``now - R`` (Delta Lake documentation, "Remove files no longer referenced
by a Delta table"). Every file a version V reads that is gone from the latest version was
removed by a commit after V, at or after the timestamp of version V + 1; so V stays readable
when ``R > now - timestamp(V + 1)``. :func:`maintain` keeps R at the table's own retention
(``delta.deletedFileRetentionDuration``, 7 days by default) or above what its oldest recorded
version needs (``policy="keep"``), or skips the table's VACUUM and names that version
(``policy="refuse"``).

A table whose first commit (version 0, still in its log) is younger than its own retention is
not vacuumed: every removed file was removed after that commit, so none is old enough for any
``VACUUM RETAIN`` at or above that retention to delete (a VACUUM costs seconds per table even
when it deletes nothing, most of a young lakehouse's maintenance). Once the table is older, its
VACUUM runs as above, and files no version references (a failed write's) go then.

``OPTIMIZE`` rewrites small files into larger ones in a commit that changes no data
(``dataChange = false``); the files it replaces stay until a VACUUM older than the retention.
This module returns a :class:`MaintenanceReport` and logs; it prints nothing and writes no
table of its own (``fraud.runs`` is written by the pipeline that calls it).
"""

from __future__ import annotations

import json
import logging
import math
import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.lakehouse.io import read_table, table_exists
from fraudspark.lakehouse.tables import (
    ALL_TABLES,
    EVALUATIONS,
    TRAINING_SET_CATALOG,
    Table,
    table_path,
)
from fraudspark.session import spark_settings

log = logging.getLogger(__name__)

DEFAULT_RETENTION_HOURS = 7 * 24.0  # Delta's delta.deletedFileRetentionDuration default
# A margin above the age of a protected version: the VACUUM starts a little after we compute.
MARGIN_HOURS = 1.0
_INTERVAL = re.compile(r"(?:interval\s+)?(\d+(?:\.\d+)?)\s*(\w+)", re.IGNORECASE)
_HOURS_PER_UNIT = {
    "second": 1 / 3600,
    "minute": 1 / 60,
    "hour": 1.0,
    "day": 24.0,
    "week": 168.0,
}


@dataclass(frozen=True)
class ProtectedVersion:
    """A table version something records and re-reads by time travel."""

    table: str
    version: int
    owner: str  # e.g. "training set demo-train", "model fraud-rapp/2", "evaluation 3f2a..."


@dataclass(frozen=True)
class TableMaintenance:
    """What :func:`maintain` did to one table."""

    table: str
    version_before: int
    version_after: int
    optimized: bool
    files_compacted: int  # files OPTIMIZE replaced (0 when it had nothing to do)
    files_written: int  # files OPTIMIZE wrote
    vacuumed: bool
    retention_hours: float | None  # the RETAIN of the VACUUM that ran
    files_deleted: int | None  # from the VACUUM END commit's metrics, when Delta logs them
    protected: ProtectedVersion | None  # the oldest recorded version of this table
    note: str = ""  # why the VACUUM was skipped or its retention raised

    def summary(self) -> str:
        parts = [f"{self.table}: v{self.version_before} -> v{self.version_after}"]
        if self.optimized:
            parts.append(f"OPTIMIZE {self.files_compacted} -> {self.files_written} files")
        if self.vacuumed:
            deleted = "?" if self.files_deleted is None else str(self.files_deleted)
            parts.append(f"VACUUM RETAIN {self.retention_hours:.0f} h deleted {deleted} files")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


@dataclass(frozen=True)
class MaintenanceReport:
    tables: list[TableMaintenance] = field(default_factory=list)
    protected: list[ProtectedVersion] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"maintained {len(self.tables)} tables in {self.seconds:.1f} s"]
        lines += [f"  {table.summary()}" for table in self.tables]
        return "\n".join(lines)


# --------------------------------------------------------------------------- protected versions


def _versions_from_rows(
    spark: SparkSession, config: Config, table: Table, column: str, owner: str
) -> list[ProtectedVersion]:
    if not table_exists(spark, config, table):
        return []
    protected: list[ProtectedVersion] = []
    for row in read_table(spark, config, table).collect():
        versions: Mapping[str, int] = row[column] or {}
        name = owner.format(**row.asDict())
        protected += [ProtectedVersion(t, int(v), name) for t, v in versions.items()]
    return protected


def _registry_versions(config: Config) -> list[ProtectedVersion]:
    """The data versions of every registered model version: its ``data_version.<table>`` run
    tags and the ``data_versions`` of its metadata.json (the classifier records them there)."""
    from fraudspark.registry import tracking_uri

    if not config.registry.tracking_uri:
        if "://" in config.lakehouse_root:
            return []
        if not (Path(config.lakehouse_root) / "_mlflow" / "mlflow.db").exists():
            return []  # nothing registered; do not create a registry as a side effect
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    uri = tracking_uri(config)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    protected: list[ProtectedVersion] = []
    for model in client.search_registered_models():
        for model_version in client.search_model_versions(f"name = '{model.name}'"):
            owner = f"model {model.name}/{model_version.version}"
            versions: dict[str, int] = {}
            if model_version.run_id:
                tags = client.get_run(model_version.run_id).data.tags
                versions.update(
                    {
                        key.removeprefix("data_version."): int(value)
                        for key, value in tags.items()
                        if key.startswith("data_version.")
                    }
                )
            with tempfile.TemporaryDirectory() as directory:
                try:
                    path = download_artifacts(
                        artifact_uri=f"{model_version.source}/metadata.json",
                        dst_path=directory,
                        tracking_uri=uri,
                    )
                    metadata: dict[str, Any] = json.loads(Path(path).read_text())
                except Exception as error:  # no metadata.json: tags only
                    log.debug("%s: no metadata.json (%s)", owner, error)
                    metadata = {}
            recorded = metadata.get("extra", {}).get("data_versions") or metadata.get(
                "data_versions", {}
            )
            versions.update({table: int(version) for table, version in recorded.items()})
            protected += [ProtectedVersion(t, v, owner) for t, v in versions.items()]
    return protected


def protected_versions(spark: SparkSession, config: Config) -> list[ProtectedVersion]:
    """Every table version a training set, an evaluation or a registered model records."""
    return [
        *_versions_from_rows(
            spark, config, TRAINING_SET_CATALOG, "source_versions", "training set {training_set}"
        ),
        *_versions_from_rows(
            spark,
            config,
            EVALUATIONS,
            "data_versions",
            "evaluation {evaluation_id} ({model}, {oversampling}, seed {seed})",
        ),
        *_registry_versions(config),
    ]


def oldest_protected(protected: Iterable[ProtectedVersion]) -> dict[str, ProtectedVersion]:
    """Per table, the oldest recorded version (the one VACUUM must keep readable)."""
    oldest: dict[str, ProtectedVersion] = {}
    for item in protected:
        if item.table not in oldest or item.version < oldest[item.table].version:
            oldest[item.table] = item
    return oldest


# --------------------------------------------------------------------------- Delta helpers


def parse_interval_hours(text: str | None) -> float:
    """``"interval 7 days"`` -> 168.0 (Delta's calendar-interval table properties); the Delta
    default (7 days) when ``text`` is None. Raises ValueError on an interval it cannot read."""
    if text is None:
        return DEFAULT_RETENTION_HOURS
    match = _INTERVAL.fullmatch(text.strip())
    unit = match.group(2).lower().rstrip("s") if match else ""
    if match is None or unit not in _HOURS_PER_UNIT:
        raise ValueError(f"cannot read the retention interval {text!r}")
    return float(match.group(1)) * _HOURS_PER_UNIT[unit]


def _history(spark: SparkSession, path: str, limit: int | None = None) -> list[Any]:
    """The table's history rows, all or the latest ``limit`` commits."""
    from delta.tables import DeltaTable

    frame = DeltaTable.forPath(spark, path).history(limit)
    return frame.select("version", "timestamp", "operation", "operationMetrics").collect()


def needed_retention_hours(
    history: list[Any], version: int, now: datetime | None = None
) -> float | None:
    """The smallest VACUUM retention (hours) that keeps ``version`` readable, from the table's
    history rows (version, timestamp): ``now - timestamp(version + 1)`` plus a margin; None when
    ``version`` is the latest (nothing removed after it can be deleted). ``now`` defaults to
    the current time; timestamps are naive local times, as PySpark collects them."""
    age = _hours_since_commit(history, version + 1, now)
    if age is None:
        if all(int(row["version"]) <= version for row in history):
            return None
        raise ValueError(f"version {version + 1} is no longer in the table's history")
    return age + MARGIN_HOURS


def table_age_hours(history: list[Any], now: datetime | None = None) -> float | None:
    """Hours since the table's first commit (version 0) from its history rows (version,
    timestamp); None when version 0 has left the log (its age is unknown). ``now`` defaults to
    the current time; timestamps are naive local times, as PySpark collects them."""
    return _hours_since_commit(history, 0, now)


def _hours_since_commit(history: list[Any], version: int, now: datetime | None) -> float | None:
    """Hours (at least 0) from commit ``version`` to ``now``; None when it is not in ``history``."""
    rows = [row for row in history if int(row["version"]) == version]
    if not rows:
        return None
    # PySpark collects timestamps as naive local times of this process.
    moment = now or datetime.now()
    return float(max(0.0, (moment - rows[0]["timestamp"]).total_seconds() / 3600))


def _metric(row: Any, key: str) -> int:
    metrics = row["operationMetrics"] or {}
    return int(metrics.get(key, 0))


# --------------------------------------------------------------------------- maintain


def vacuum_settings(spark: SparkSession) -> dict[str, str]:
    """Session settings for OPTIMIZE and VACUUM, applied only while they run.

    VACUUM lists a table's files with ``spark.sql.sources.parallelPartitionDiscovery.parallelism``
    tasks, 10,000 by Spark's legacy default, whatever the table's size (Delta's maintainers
    advise lowering it on small clusters: delta-io/delta#220, #395): about 20 s a table on 2
    cores, 5 minutes for the demo's 15 tables (301 s measured; 49 s at 8). Four tasks a core
    still lists a year of daily partitions in one wave. Deletes run as Spark jobs too, not one
    by one on the driver.
    """
    return {
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(
            4 * spark.sparkContext.defaultParallelism
        ),
        "spark.databricks.delta.vacuum.parallelDelete.enabled": "true",
    }


def maintain(
    spark: SparkSession,
    config: Config,
    tables: Iterable[Table] | None = None,
    optimize: bool = True,
    vacuum: bool = True,
    policy: Literal["keep", "refuse"] = "keep",
) -> MaintenanceReport:
    """OPTIMIZE then VACUUM every existing table of ``tables`` (default: all).

    The VACUUM of a table keeps its own retention, raised (``policy="keep"``) to keep the
    oldest version a training set, evaluation or registered model records readable; with
    ``policy="refuse"`` a table whose retention would delete such a version is not vacuumed and
    its report names the version and its owner. Table content is unchanged. Returns what was
    done per table. Raises ValueError when a recorded version is already gone from a table's
    history (it could not be protected).
    """
    started = time.perf_counter()
    from delta.tables import DeltaTable

    if vacuum:
        # The monitor's references read training rows through time travel: keep each champion's
        # before VACUUM can remove the versions it reads.
        from fraudspark.pipelines.monitor import ensure_monitoring_references

        for computed in ensure_monitoring_references(spark, config):
            log.info("monitoring reference of %s kept before VACUUM", computed)
    with spark_settings(spark, vacuum_settings(spark)):
        protected = protected_versions(spark, config)
        oldest = oldest_protected(protected)
        results: list[TableMaintenance] = []
        for table in ALL_TABLES if tables is None else tables:
            if not table_exists(spark, config, table):
                continue
            path = table_path(config, table)
            delta = DeltaTable.forPath(spark, path)
            history = _history(spark, path)
            version_before = max(int(row["version"]) for row in history)
            compacted = written = 0
            if optimize:
                metrics = delta.optimize().executeCompaction().collect()
                if metrics:
                    stats = metrics[0]["metrics"]
                    compacted, written = int(stats["numFilesRemoved"]), int(stats["numFilesAdded"])
            properties = delta.detail().first()["properties"] or {}  # type: ignore[index]
            retention = parse_interval_hours(properties.get("delta.deletedFileRetentionDuration"))
            keep = oldest.get(table.name)
            note, do_vacuum = "", vacuum
            age = table_age_hours(history)
            if vacuum and age is not None and age < retention:
                do_vacuum = False
                note = (
                    f"VACUUM not needed: the table's first commit is {age:.1f} h old, under its "
                    f"retention of {retention:.0f} h, so no removed file is old enough to delete"
                )
            elif keep is not None and vacuum:
                needed = needed_retention_hours(history, keep.version)
                if needed is not None and needed > retention:
                    if policy == "refuse":
                        do_vacuum = False
                        note = (
                            f"VACUUM refused: RETAIN {retention:.0f} h would delete files of "
                            f"version {keep.version}, recorded by {keep.owner}"
                        )
                    else:
                        retention = math.ceil(needed)
                        note = (
                            f"retention raised to {retention:.0f} h to keep version "
                            f"{keep.version} ({keep.owner})"
                        )
            files_deleted: int | None = None
            if do_vacuum:
                delta.vacuum(retention)
            # The last two commits: VACUUM START and END when it ran (with Delta's vacuum logging).
            latest = _history(spark, path, limit=2)
            version_after = max(int(row["version"]) for row in latest)
            if do_vacuum:
                ends = [row for row in latest if row["operation"] == "VACUUM END"]
                files_deleted = _metric(ends[0], "numDeletedFiles") if ends else None
            result = TableMaintenance(
                table.name,
                version_before,
                version_after,
                optimize,
                compacted,
                written,
                do_vacuum,
                retention if do_vacuum else None,
                files_deleted,
                keep,
                note,
            )
            log.info("maintenance: %s", result.summary())
            results.append(result)
    return MaintenanceReport(results, protected, time.perf_counter() - started)
