"""Bring a lakehouse written by an earlier fraudspark to the current table schemas.

Each migration is a column rename of one table, applied only where the old column is there and
the new one is not, so running it again changes nothing. A table is rewritten in one atomic
Delta commit (:func:`~fraudspark.lakehouse.io.overwrite_table`): readers see the old or the new
schema, never a mix, and its history stays readable by time travel. New nullable columns
(:data:`ADDED_COLUMNS`) are added where missing with ``ALTER TABLE ... ADD COLUMNS``, a
metadata-only Delta commit: existing rows read them as null.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.lakehouse.io import overwrite_table, read_table, table_exists
from fraudspark.lakehouse.tables import (
    DRIFT,
    EVALUATIONS,
    FEATURE_IMPORTANCE,
    RETRAIN_HINTS,
    SOURCE_ID_COLUMNS,
    TRANSACTIONS,
    Table,
    table_path,
)

log = logging.getLogger(__name__)

# table -> (old column, new column), in order. The one model naming: ``model_name`` and
# ``model_version`` (the registry's version number) everywhere; an evaluated, unregistered model
# carries ``model_fingerprint`` instead.
RENAMES: tuple[tuple[Table, str, str], ...] = (
    (EVALUATIONS, "model", "model_name"),
    (EVALUATIONS, "model_version", "model_fingerprint"),
    (DRIFT, "model", "model_name"),
    (FEATURE_IMPORTANCE, "model", "model_name"),
    (RETRAIN_HINTS, "model", "model_name"),
)

# table -> nullable columns added after its first release (types from the table's schema):
# the ids as a string-id source wrote them.
ADDED_COLUMNS: tuple[tuple[Table, tuple[str, ...]], ...] = ((TRANSACTIONS, SOURCE_ID_COLUMNS),)


@dataclass(frozen=True)
class MigrationReport:
    renamed: tuple[str, ...]  # "table.old -> new"
    tables_rewritten: tuple[str, ...]
    added: tuple[str, ...] = ()  # "table.column"

    def summary(self) -> str:
        if not self.renamed and not self.added:
            return "the lakehouse is up to date: nothing to migrate"
        done = []
        if self.renamed:
            done.append(
                f"renamed {', '.join(self.renamed)}; rewrote {', '.join(self.tables_rewritten)}"
            )
        if self.added:
            done.append(f"added {', '.join(self.added)}")
        return "; ".join(done)


def migrate(spark: SparkSession, config: Config) -> MigrationReport:
    """Apply every pending rename of :data:`RENAMES` and column addition of
    :data:`ADDED_COLUMNS`; returns what was done."""
    renamed: list[str] = []
    rewritten: list[str] = []
    tables = {table.name: table for table, _, _ in RENAMES}
    for table in tables.values():
        if not table_exists(spark, config, table):
            continue
        rows = read_table(spark, config, table)
        pending = [
            (old, new)
            for candidate, old, new in RENAMES
            if candidate.name == table.name and old in rows.columns and new not in rows.columns
        ]
        if not pending:
            continue
        current = {new: old for old, new in pending}
        assert table.schema is not None
        # The registry's columns, in its order, each read from its old name if renamed.
        migrated = rows.select(
            *[F.col(current.get(name, name)).alias(name) for name in table.schema.names]
        )
        overwrite_table(spark, config, table, migrated)
        renamed += [f"{table.name}.{old} -> {new}" for old, new in pending]
        rewritten.append(table.name)
        log.info("migrated %s: %s", table.name, pending)
    return MigrationReport(tuple(renamed), tuple(rewritten), add_columns(spark, config))


def add_columns(spark: SparkSession, config: Config) -> tuple[str, ...]:
    """Add each missing column of :data:`ADDED_COLUMNS` (nullable, typed and commented as in
    the table's schema); returns ``table.column`` for each one added."""
    added: list[str] = []
    for table, columns in ADDED_COLUMNS:
        if not table_exists(spark, config, table):
            continue
        present = set(read_table(spark, config, table).columns)
        assert table.schema is not None
        missing = [table.schema[c] for c in columns if c not in present]
        if not missing:
            continue
        definitions = ", ".join(f"`{f.name}` {f.dataType.simpleString().upper()}" for f in missing)
        path = table_path(config, table).replace("`", "``")
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({definitions})")
        added += [f"{table.name}.{f.name}" for f in missing]
        log.info("migrated %s: added %s", table.name, [f.name for f in missing])
    return tuple(added)
