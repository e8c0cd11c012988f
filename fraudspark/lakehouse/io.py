"""Reading and writing the lakehouse's Delta tables: the one place for table IO.

Every write is idempotent for its keys or partitions: :func:`merge_insert_new` (insert-only MERGE),
:func:`upsert` (MERGE that replaces matching keys), :func:`replace_partitions` (``replaceWhere``)
and :func:`overwrite_table`. The session catalog is rebuilt from the lakehouse on every session
start (:func:`register_tables`), so the lakehouse directory is the whole state: no metastore to
keep in step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession

from fraudspark.errors import MissingTableError, OutdatedTableError
from fraudspark.lakehouse.tables import (
    ALL_TABLES,
    Table,
    qualified_name,
    sql_identifier,
    table_path,
)

if TYPE_CHECKING:
    from fraudspark.config import Config


def table_exists(spark: SparkSession, config: Config, table: Table) -> bool:
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, table_path(config, table)))


def check_current_schema(spark: SparkSession, config: Config, table: Table) -> None:
    """Raise :class:`~fraudspark.errors.OutdatedTableError` when the table exists but lacks
    columns of its current schema (written by an earlier fraudspark), naming them and
    ``fraudspark migrate``; a write would otherwise fail deep in Delta with a schema mismatch.
    Tables without a fixed schema, and tables not written yet, pass."""
    from delta.tables import DeltaTable

    if table.schema is None or not table_exists(spark, config, table):
        return
    present = set(DeltaTable.forPath(spark, table_path(config, table)).toDF().columns)
    missing = [name for name in table.schema.names if name not in present]
    if missing:
        raise OutdatedTableError(
            f"{qualified_name(config, table)} lacks column(s) {', '.join(missing)}: it was "
            f"written by an earlier fraudspark; run `fraudspark migrate` first"
        )


def register_table(
    spark: SparkSession, config: Config, table: Table, drop_first: bool = True
) -> None:
    """Point ``fraud.<name>`` at the table's Delta directory.

    The catalog entry is external (dropping it never touches data) and is re-created, so a
    session that switches lakehouse roots sees the right data. ``drop_first=False`` skips the
    drop when the caller knows the name is not in the catalog.
    """
    name = qualified_name(config, table)
    if drop_first:
        spark.sql(f"DROP TABLE IF EXISTS {name}")
    spark.sql(f"CREATE TABLE {name} USING DELTA LOCATION '{table_path(config, table)}'")
    _REGISTERED.setdefault(_session_key(spark), {})[table.name] = table_path(config, table)


def _ensure_registered(spark: SparkSession, config: Config, table: Table) -> None:
    """Register ``table`` after a write unless this session already has it at its path: the
    catalog entry of an external Delta table always reads the latest version, and each
    registration replays the table's log."""
    if _REGISTERED.get(_session_key(spark), {}).get(table.name) == table_path(
        config, table
    ) and spark.catalog.tableExists(qualified_name(config, table)):
        return
    # A job's session registers nothing at start: the database may not exist yet.
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {config.lakehouse.database}")
    register_table(spark, config, table)


def _has_commits(spark: SparkSession, config: Config, table: Table) -> bool:
    """Whether a table has at least one Delta commit; on a local lakehouse a directory listing
    (no Delta log is loaded), elsewhere :func:`table_exists`."""
    root = config.lakehouse_root
    if "://" in root and not root.startswith("file:"):
        return table_exists(spark, config, table)
    log_dir = Path(urlparse(root).path if root.startswith("file:") else root) / table.name
    try:
        with os.scandir(log_dir / "_delta_log") as entries:
            return any(e.name.endswith(".json") or ".checkpoint" in e.name for e in entries)
    except OSError:
        return False


# Per Spark session (by its JVM object's identity): table name -> the location we registered.
_REGISTERED: dict[int, dict[str, str]] = {}


def _session_key(spark: SparkSession) -> int:
    return int(spark._jsparkSession.hashCode())


def register_tables(
    spark: SparkSession, config: Config, names: Collection[str] | None = None
) -> int:
    """Create the database and register every table that exists under the lakehouse root
    (only those in ``names``, when given); return how many tables are registered.

    A table this session already registered at the same location (and still in the catalog)
    is left as it is: each registration loads the table's Delta log.
    """
    database = config.lakehouse.database
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    in_catalog = {row["tableName"] for row in spark.sql(f"SHOW TABLES IN {database}").collect()}
    known = _REGISTERED.get(_session_key(spark), {})
    count = 0
    for table in ALL_TABLES:
        if names is not None and table.name not in names:
            continue
        if not _has_commits(spark, config, table):
            continue
        count += 1
        if table.name in in_catalog and known.get(table.name) == table_path(config, table):
            continue
        register_table(spark, config, table, table.name in in_catalog)
    return count


def ensure_table(spark: SparkSession, config: Config, table: Table) -> None:
    """Create an empty Delta table with the registry's schema if it does not exist yet."""
    from delta.tables import DeltaTable

    if table_exists(spark, config, table):
        return
    if table.schema is None:
        raise ValueError(f"table {table.name} has no fixed schema; it is created by its writer")
    builder = (
        DeltaTable.createIfNotExists(spark)
        .location(table_path(config, table))
        .addColumns(table.schema)
    )
    if table.description:
        builder = builder.comment(table.description)
    if table.partition_by:
        builder = builder.partitionedBy(*table.partition_by)
    for key, value in table.properties.items():
        builder = builder.property(key, value)
    builder.execute()
    _ensure_registered(spark, config, table)


def read_table(spark: SparkSession, config: Config, table: Table) -> DataFrame:
    """The table's current version. Raises MissingTableError when there is no Delta table at
    its path (a wrong ``lakehouse.root``, or a step that has not run yet)."""
    from pyspark.errors import AnalysisException

    path = table_path(config, table)
    try:
        return spark.read.format("delta").load(path)
    except AnalysisException as exc:
        if table_exists(spark, config, table):
            raise
        raise MissingTableError(
            f"table {qualified_name(config, table)} does not exist at {path} (is lakehouse.root "
            f"{config.lakehouse_root!r} right, and has the step that writes it run?)"
        ) from exc


def table_version(spark: SparkSession, config: Config, table: Table) -> int:
    """The current Delta version of a table (its latest commit)."""
    from delta.tables import DeltaTable

    history = DeltaTable.forPath(spark, table_path(config, table)).history(1)
    return int(history.select("version").first()[0])  # type: ignore[index]


def rows_written_by_last_commit(spark: SparkSession, config: Config, table: Table) -> int | None:
    """How many new rows a table's latest commit wrote, from Delta's operation metrics: no data
    is read. A ``replaceWhere`` on a column that is not a partition column also rewrites the
    other rows of the files it replaces (``numCopiedRows``); those are not counted. None when
    the commit is not a write or recorded no metrics (metrics turned off)."""
    from delta.tables import DeltaTable

    history = DeltaTable.forPath(spark, table_path(config, table)).history(1)
    last = history.select("operation", "operationMetrics").first()
    if last is None or last["operation"] != "WRITE":
        return None
    metrics = last["operationMetrics"] or {}
    if "numOutputRows" not in metrics:
        return None
    return int(metrics["numOutputRows"]) - int(metrics.get("numCopiedRows", 0))


def _merge_on_keys(
    spark: SparkSession,
    config: Config,
    table: Table,
    rows: DataFrame,
    extra_condition: str | None,
) -> Any:
    """A Delta MERGE builder of ``rows`` (alias ``s``) into ``table`` (alias ``t``) on its keys;
    the table is created first if it does not exist."""
    from delta.tables import DeltaTable

    ensure_table(spark, config, table)
    check_current_schema(spark, config, table)
    # Null-safe: a key column may be null (fraud.evaluations' ratio of `none`), and null must
    # match null for a re-run to replace its row rather than add a second one.
    condition = " AND ".join(f"t.{key} <=> s.{key}" for key in table.keys)
    if extra_condition:
        condition = f"{condition} AND {extra_condition}"
    return (
        DeltaTable.forPath(spark, table_path(config, table))
        .alias("t")
        .merge(rows.alias("s"), condition)
    )


def append_new_rows(spark: SparkSession, config: Config, table: Table, rows: DataFrame) -> None:
    """Append ``rows`` whose keys cannot be in the table yet (a fresh run id): one Delta append,
    without the join a MERGE makes. Where a re-run may bring the same keys again, use
    :func:`merge_insert_new`. Creates the table if needed; raises
    :class:`~fraudspark.errors.OutdatedTableError` (see :func:`check_current_schema`)."""
    ensure_table(spark, config, table)
    check_current_schema(spark, config, table)
    rows.write.format("delta").mode("append").save(table_path(config, table))


def merge_insert_new(
    spark: SparkSession,
    config: Config,
    table: Table,
    rows: DataFrame,
    extra_condition: str | None = None,
) -> None:
    """Insert the rows whose keys are not in the table yet; existing keys are left untouched.

    ``extra_condition`` (on ``t.`` target and ``s.`` source columns) narrows the files the MERGE
    reads, e.g. to the source's partitions.
    """
    _merge_on_keys(spark, config, table, rows, extra_condition).whenNotMatchedInsertAll().execute()


def upsert(
    spark: SparkSession,
    config: Config,
    table: Table,
    rows: DataFrame,
    extra_condition: str | None = None,
) -> None:
    """MERGE ``rows`` on the table's keys: matching rows are replaced, new keys inserted.

    Re-running with the same rows gives the same table. ``extra_condition`` (on ``t.`` target
    and ``s.`` source columns) narrows the files the MERGE reads.
    """
    (
        _merge_on_keys(spark, config, table, rows, extra_condition)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def replace_partitions(
    spark: SparkSession,
    config: Config,
    table: Table,
    rows: DataFrame,
    predicate: str,
) -> None:
    """Atomically replace the rows matching ``predicate`` (a partition filter) with ``rows``.

    Re-running with the same rows gives the same table; rows outside the predicate are kept.
    Raises :class:`~fraudspark.errors.OutdatedTableError` (see :func:`check_current_schema`).
    """
    check_current_schema(spark, config, table)
    writer = (
        rows.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", predicate)
        .option("overwriteSchema", "false")
        .options(**table.properties)  # applied if this write creates the table
    )
    if table.partition_by:
        writer = writer.partitionBy(*table.partition_by)
    writer.save(table_path(config, table))
    _ensure_registered(spark, config, table)


def overwrite_table(spark: SparkSession, config: Config, table: Table, rows: DataFrame) -> None:
    """Replace a whole table (schema included) in one atomic commit; history stays readable."""
    set_table_properties(spark, config, table)
    writer = (
        rows.write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .options(**table.properties)  # applied if this write creates the table
    )
    if table.partition_by:
        writer = writer.partitionBy(*table.partition_by)
    writer.save(table_path(config, table))
    _ensure_registered(spark, config, table)


def set_table_properties(spark: SparkSession, config: Config, table: Table) -> bool:
    """Give an existing table the registry's properties (a write's options only apply when it
    creates the table), in one metadata-only commit; returns whether any was missing or
    different. Other properties are kept; a table not written yet is left alone."""
    from delta.tables import DeltaTable

    if not table.properties or not table_exists(spark, config, table):
        return False
    detail = DeltaTable.forPath(spark, table_path(config, table)).detail().first()
    current = detail["properties"] if detail is not None else {}
    if all(current.get(key) == value for key, value in table.properties.items()):
        return False
    assignments = ", ".join(f"'{key}' = '{value}'" for key, value in table.properties.items())
    path = sql_identifier(table_path(config, table))
    spark.sql(f"ALTER TABLE delta.{path} SET TBLPROPERTIES ({assignments})")
    return True


def run_concurrently(actions: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run independent Spark actions (reads, or writes to different tables) in threads of
    this process; return their results in order once all have finished, raising the first
    error (the other actions still complete).

    A small action in a fresh process is mostly the driver's latency (planning, code
    generation, loading a Delta snapshot, the commit), so actions on different tables overlap
    well. Delta keeps each table's commit atomic; as with writes one after another, a failure
    can leave the other tables written, so every caller's writes must be idempotent.
    """
    if len(actions) <= 1:
        return [action() for action in actions]
    with ThreadPoolExecutor(len(actions), thread_name_prefix="fraudspark-action") as pool:
        futures = [pool.submit(action) for action in actions]
    return [future.result() for future in futures]


def read_table_as_of(spark: SparkSession, config: Config, table: Table, version: int) -> DataFrame:
    """A table exactly as it was at a Delta version (time travel)."""
    return spark.read.format("delta").option("versionAsOf", version).load(table_path(config, table))
