"""Bring a lakehouse written by an earlier fraudspark to the current table schemas.

Each migration is a column rename of one table, applied only where the old column is there and
the new one is not, so running it again changes nothing. A table is rewritten in one atomic
Delta commit (:func:`~fraudspark.lakehouse.io.overwrite_table`): readers see the old or the new
schema, never a mix, and its history stays readable by time travel.
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
    Table,
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


@dataclass(frozen=True)
class MigrationReport:
    renamed: tuple[str, ...]  # "table.old -> new"
    tables_rewritten: tuple[str, ...]

    def summary(self) -> str:
        if not self.renamed:
            return "the lakehouse is up to date: nothing to migrate"
        return f"renamed {', '.join(self.renamed)}; rewrote {', '.join(self.tables_rewritten)}"


def migrate(spark: SparkSession, config: Config) -> MigrationReport:
    """Apply every pending rename of :data:`RENAMES`; returns what was done."""
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
    return MigrationReport(tuple(renamed), tuple(rewritten))
