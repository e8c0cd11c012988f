"""An order-independent content checksum of a Delta table, to prove two runs wrote the same.

Usage: compare ``table_checksum`` of a table in two lakehouses (a cluster run and a local run,
a resumed night and an uninterrupted one). Columns that legitimately differ between runs (write
times, run ids) are left out by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


@dataclass(frozen=True)
class TableChecksum:
    """``rows``: row count; ``checksum``: sum over rows of a 64-bit hash of the row, as an
    exact integer (Spark's ``xxhash64`` of all compared columns, in column-name order)."""

    rows: int
    checksum: int
    columns: tuple[str, ...]


def table_checksum(
    spark: SparkSession, path: str, exclude: Iterable[str] = (), version: int | None = None
) -> TableChecksum:
    """Row count and content checksum of the Delta table at ``path`` (optionally ``version``).

    The checksum is a sum, so it ignores row order and file layout but counts a doubled row
    twice. Floating-point columns are hashed as stored: two runs match only if they computed
    bit-identical values. Map columns are hashed with sorted keys (maps have no order).
    Raises ``pyspark.errors.AnalysisException`` when ``path`` is not a Delta table.
    """
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    table = reader.load(path)
    skipped = set(exclude)
    fields = sorted((f for f in table.schema.fields if f.name not in skipped), key=lambda f: f.name)
    columns = []
    for field in fields:
        column = F.col(field.name)
        if field.dataType.typeName() == "map":
            # xxhash64 cannot hash maps: hash their entries sorted by key.
            column = F.array_sort(F.map_entries(column))
        columns.append(column)
    row_hash = F.xxhash64(*columns).cast("decimal(38,0)")
    result = table.agg(F.count(F.lit(1)).alias("rows"), F.sum(row_hash).alias("sum")).first()
    assert result is not None
    return TableChecksum(
        rows=int(result["rows"]),
        checksum=int(result["sum"] or 0),
        columns=tuple(f.name for f in fields),
    )
