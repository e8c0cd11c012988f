"""Bring a lakehouse written by an earlier fraudspark to the current table schemas.

Each migration is a column rename of one table, applied only where the old column is there and
the new one is not, or a new nullable column added (as nulls) where it is missing; so running it
again changes nothing. A table is rewritten in one atomic
Delta commit (:func:`~fraudspark.lakehouse.io.overwrite_table`): readers see the old or the new
schema, never a mix, and its history stays readable by time travel. New nullable columns
(:data:`ADDED_COLUMNS`) are added where missing with ``ALTER TABLE ... ADD COLUMNS``, a
metadata-only Delta commit: existing rows read them as null. Table properties the registry
added later (e.g. the Parquet encodings of ``fraud.scores``) are set the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.lakehouse.io import (
    overwrite_table,
    read_table,
    set_table_properties,
    table_exists,
)
from fraudspark.lakehouse.tables import (
    ALL_TABLES,
    DRIFT,
    EVALUATIONS,
    FEATURE_IMPORTANCE,
    MONITORING_REFERENCES,
    RETRAIN_HINTS,
    SOURCE_ID_COLUMNS,
    TRANSACTIONS,
    Table,
    sql_identifier,
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

# table -> nullable columns appended after its first release by a metadata-only ALTER TABLE
# (no data rewritten: fraud.transactions is the largest table): the ids as a string-id source
# wrote them.
APPENDED_COLUMNS: tuple[tuple[Table, tuple[str, ...]], ...] = ((TRANSACTIONS, SOURCE_ID_COLUMNS),)


# table -> nullable columns added after the table was first written; old rows get nulls.
# fraud.evaluations: the oversampling ratio became a row key (one evaluation runs several
# ratios), and the synthetic-row quality is kept on each row for the one leaderboard.
ADDED_COLUMNS: tuple[tuple[Table, str], ...] = (
    (EVALUATIONS, "ratio"),
    (EVALUATIONS, "two_sample_auc"),
    (EVALUATIONS, "tstr_average_precision"),
    (EVALUATIONS, "invalid_rows"),
    # fraud.drift: the p-value of the two-sample test behind each drift flag.
    (DRIFT, "p_value"),
    # fraud.monitoring_references: each row's entities, for the drift tests' design effects.
    (MONITORING_REFERENCES, "customer_id"),
    (MONITORING_REFERENCES, "terminal_id"),
)


@dataclass(frozen=True)
class MigrationReport:
    renamed: tuple[str, ...]  # "table.old -> new"
    tables_rewritten: tuple[str, ...]
    added: tuple[str, ...] = ()  # "table.column"
    properties_set: tuple[str, ...] = ()  # tables given the registry's properties

    def summary(self) -> str:
        if not self.renamed and not self.added and not self.properties_set:
            return "the lakehouse is up to date: nothing to migrate"
        done = [f"renamed {', '.join(self.renamed)}"] if self.renamed else []
        done += [f"added {', '.join(self.added)}"] if self.added else []
        if self.properties_set:
            done += [f"set the table properties of {', '.join(self.properties_set)}"]
        done += [f"rewrote {', '.join(self.tables_rewritten)}"] if self.tables_rewritten else []
        return "; ".join(done)


def migrate(spark: SparkSession, config: Config) -> MigrationReport:
    """Apply every pending rename of :data:`RENAMES` and addition of :data:`ADDED_COLUMNS`
    (each table changed is rewritten once, in the registry's column order), append the
    missing :data:`APPENDED_COLUMNS`, then set the registry's table properties where they
    are missing or differ (metadata-only commits); returns what was done.
    """
    renamed: list[str] = []
    added: list[str] = []
    rewritten: list[str] = []
    tables = {table.name: table for table, _, _ in RENAMES}
    tables |= {table.name: table for table, _ in ADDED_COLUMNS}
    for table in tables.values():
        if not table_exists(spark, config, table):
            continue
        rows = read_table(spark, config, table)
        pending = [
            (old, new)
            for candidate, old, new in RENAMES
            if candidate.name == table.name and old in rows.columns and new not in rows.columns
        ]
        current = {new: old for old, new in pending}
        missing = [
            column
            for candidate, column in ADDED_COLUMNS
            if candidate.name == table.name and column not in rows.columns and column not in current
        ]
        if not pending and not missing:
            continue
        assert table.schema is not None
        types = {field.name: field.dataType for field in table.schema.fields}
        # The registry's columns, in its order, each read from its old name if renamed, null
        # if added.
        migrated = rows.select(
            *[
                F.lit(None).cast(types[name]).alias(name)
                if name in missing
                else F.col(current.get(name, name)).alias(name)
                for name in table.schema.names
            ]
        )
        overwrite_table(spark, config, table, migrated)
        renamed += [f"{table.name}.{old} -> {new}" for old, new in pending]
        added += [f"{table.name}.{column}" for column in missing]
        rewritten.append(table.name)
        log.info("migrated %s: renamed %s, added %s", table.name, pending, missing)
    added += append_columns(spark, config)
    # E.g. the Parquet encodings of fraud.scores (tables.plain_encoded): later writes use them.
    properties_set = [t.name for t in ALL_TABLES if set_table_properties(spark, config, t)]
    return MigrationReport(tuple(renamed), tuple(rewritten), tuple(added), tuple(properties_set))


def append_columns(spark: SparkSession, config: Config) -> list[str]:
    """Append each missing column of :data:`APPENDED_COLUMNS` (nullable, typed as in the
    table's schema); returns ``table.column`` for each one added."""
    added: list[str] = []
    for table, columns in APPENDED_COLUMNS:
        if not table_exists(spark, config, table):
            continue
        present = set(read_table(spark, config, table).columns)
        assert table.schema is not None
        missing = [table.schema[c] for c in columns if c not in present]
        if not missing:
            continue
        definitions = ", ".join(f"`{f.name}` {f.dataType.simpleString().upper()}" for f in missing)
        path = sql_identifier(table_path(config, table))
        spark.sql(f"ALTER TABLE delta.{path} ADD COLUMNS ({definitions})")
        added += [f"{table.name}.{f.name}" for f in missing]
        log.info("migrated %s: appended %s", table.name, [f.name for f in missing])
    return added
