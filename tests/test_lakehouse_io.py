"""Table IO (fraudspark.lakehouse.io) on a small partitioned table, rows written out by hand:
every write idempotent for its keys or partitions, nothing outside them touched, history kept."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from fraudspark.config import Config
from fraudspark.lakehouse.io import (
    ensure_table,
    merge_insert_new,
    overwrite_table,
    read_table,
    read_table_as_of,
    replace_partitions,
    rows_written_by_last_commit,
    run_concurrently,
    table_exists,
    table_version,
    upsert,
)
from fraudspark.lakehouse.tables import Table, plain_encoded, qualified_name, table_path
from tests.frames import assert_frames_equal, assert_rows_equal

SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("day", T.StringType(), False),
        T.StructField("value", T.DoubleType(), True),
    ]
)
PAYMENTS = Table(name="io_payments", keys=("id",), partition_by=("day",), schema=SCHEMA)
COLUMNS = ["id", "day", "value"]


def frame(spark: SparkSession, rows: list[tuple[int, str, float | None]]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


def table(spark: SparkSession, config: Config) -> DataFrame:
    return read_table(spark, config, PAYMENTS)


def test_ensure_table_creates_an_empty_partitioned_table_once(
    spark: SparkSession, config: Config
) -> None:
    assert not table_exists(spark, config, PAYMENTS)

    ensure_table(spark, config, PAYMENTS)
    ensure_table(spark, config, PAYMENTS)  # exists: nothing happens

    assert table_version(spark, config, PAYMENTS) == 0
    assert table(spark, config).count() == 0
    assert [(f.name, f.dataType) for f in table(spark, config).schema] == [
        (f.name, f.dataType) for f in SCHEMA
    ]
    detail = spark.sql(f"DESCRIBE DETAIL {qualified_name(config, PAYMENTS)}").first()
    assert detail is not None and detail["partitionColumns"] == ["day"]
    with pytest.raises(ValueError, match="io_free has no fixed schema"):
        ensure_table(spark, config, Table(name="io_free", keys=("id",)))


@pytest.mark.slow
def test_merge_insert_new_adds_new_keys_and_never_changes_existing_ones(
    spark: SparkSession, config: Config
) -> None:
    merge_insert_new(spark, config, PAYMENTS, frame(spark, [(1, "a", 1.0), (2, "a", 2.0)]))
    batch = frame(spark, [(2, "a", 99.0), (3, "b", 3.0)])  # key 2 exists: kept as it was

    merge_insert_new(spark, config, PAYMENTS, batch)
    after_once = table(spark, config).toPandas()
    merge_insert_new(spark, config, PAYMENTS, batch)

    expected = [(1, "a", 1.0), (2, "a", 2.0), (3, "b", 3.0)]
    assert_rows_equal(table(spark, config), COLUMNS, expected)
    assert_frames_equal(table(spark, config), after_once)
    # The catalog name reads the same rows.
    assert_rows_equal(spark.table(qualified_name(config, PAYMENTS)), COLUMNS, expected)


def test_merge_insert_new_extra_condition_narrows_the_match(
    spark: SparkSession, config: Config
) -> None:
    merge_insert_new(spark, config, PAYMENTS, frame(spark, [(1, "a", 1.0)]))

    # Matching only within the source's day: key 1 on day b is not seen as existing.
    merge_insert_new(
        spark, config, PAYMENTS, frame(spark, [(1, "b", 5.0)]), extra_condition="t.day = s.day"
    )

    assert_rows_equal(table(spark, config), COLUMNS, [(1, "a", 1.0), (1, "b", 5.0)])


@pytest.mark.slow
def test_upsert_replaces_matching_keys_and_inserts_new_ones(
    spark: SparkSession, config: Config
) -> None:
    upsert(spark, config, PAYMENTS, frame(spark, [(1, "a", 1.0), (2, "a", 2.0)]))
    batch = frame(spark, [(2, "a", 20.0), (3, "b", None)])

    upsert(spark, config, PAYMENTS, batch)
    first = table_version(spark, config, PAYMENTS)
    upsert(spark, config, PAYMENTS, batch)

    assert_rows_equal(
        table(spark, config), COLUMNS, [(1, "a", 1.0), (2, "a", 20.0), (3, "b", None)]
    )
    assert table_version(spark, config, PAYMENTS) == first + 1  # a commit, the same rows
    # The version before the upsert still reads the old rows.
    assert_rows_equal(
        read_table_as_of(spark, config, PAYMENTS, first - 1),
        COLUMNS,
        [(1, "a", 1.0), (2, "a", 2.0)],
    )


@pytest.mark.slow
def test_replace_partitions_replaces_only_the_predicates_rows(
    spark: SparkSession, config: Config
) -> None:
    rows = [(1, "a", 1.0), (2, "a", 2.0), (3, "b", 3.0), (4, "c", 4.0)]
    replace_partitions(spark, config, PAYMENTS, frame(spark, rows), "true")
    assert rows_written_by_last_commit(spark, config, PAYMENTS) == 4

    new_a = frame(spark, [(5, "a", 5.0)])
    replace_partitions(spark, config, PAYMENTS, new_a, "day = 'a'")
    replace_partitions(spark, config, PAYMENTS, new_a, "day = 'a'")

    assert_rows_equal(table(spark, config), COLUMNS, [(5, "a", 5.0), (3, "b", 3.0), (4, "c", 4.0)])
    assert rows_written_by_last_commit(spark, config, PAYMENTS) == 1
    # Emptying a partition: an empty frame replaces it, the others stay.
    replace_partitions(spark, config, PAYMENTS, frame(spark, []), "day = 'b'")
    assert_rows_equal(table(spark, config), COLUMNS, [(5, "a", 5.0), (4, "c", 4.0)])
    # A write of no files records no numOutputRows: the count is unknown, not 0 (as documented).
    assert rows_written_by_last_commit(spark, config, PAYMENTS) is None


def test_run_concurrently_writes_every_table_and_raises_a_failed_writes_error(
    spark: SparkSession, config: Config
) -> None:
    tables = [PAYMENTS, *(Table(name=f"io_payments_{n}", keys=("id",), partition_by=("day",),
                                schema=SCHEMA) for n in (2, 3))]  # fmt: skip
    writes = [
        partial(replace_partitions, spark, config, t, frame(spark, [(n, "a", float(n))]), "true")
        for n, t in enumerate(tables)
    ]
    assert run_concurrently(writes) == [None, None, None]
    for n, written in enumerate(tables):
        assert_rows_equal(read_table(spark, config, written), COLUMNS, [(n, "a", float(n))])

    # A row outside its predicate fails that write; the others still commit.
    refused = partial(
        replace_partitions, spark, config, tables[1], frame(spark, [(9, "b", 9.0)]), "day = 'a'"
    )
    with pytest.raises(AnalysisException):
        run_concurrently([writes[0], refused, partial(replace_partitions, spark, config,
                            tables[2], frame(spark, [(7, "a", 7.0)]), "true")])  # fmt: skip
    assert_rows_equal(read_table(spark, config, tables[1]), COLUMNS, [(1, "a", 1.0)])
    assert_rows_equal(read_table(spark, config, tables[2]), COLUMNS, [(7, "a", 7.0)])


def test_replace_partitions_refuses_rows_outside_the_predicate(
    spark: SparkSession, config: Config
) -> None:
    replace_partitions(spark, config, PAYMENTS, frame(spark, [(1, "a", 1.0)]), "true")

    with pytest.raises(Exception, match=r"(?i)replaceWhere|does not conform"):
        replace_partitions(spark, config, PAYMENTS, frame(spark, [(2, "b", 2.0)]), "day = 'a'")

    assert_rows_equal(table(spark, config), COLUMNS, [(1, "a", 1.0)])


@pytest.mark.slow
def test_overwrite_table_replaces_rows_and_schema_and_keeps_history(
    spark: SparkSession, config: Config
) -> None:
    upsert(spark, config, PAYMENTS, frame(spark, [(1, "a", 1.0), (2, "b", 2.0)]))
    before = table_version(spark, config, PAYMENTS)
    wider = spark.createDataFrame(
        [(7, "c", 7.0, "new")], "id long, day string, value double, note string"
    )

    overwrite_table(spark, config, PAYMENTS, wider)
    overwrite_table(spark, config, PAYMENTS, wider)

    assert_frames_equal(table(spark, config), wider)
    assert rows_written_by_last_commit(spark, config, PAYMENTS) == 1
    assert table_version(spark, config, PAYMENTS) == before + 2
    assert_rows_equal(
        read_table_as_of(spark, config, PAYMENTS, before),
        COLUMNS,
        [(1, "a", 1.0), (2, "b", 2.0)],
    )
    assert read_table_as_of(spark, config, PAYMENTS, before).columns == COLUMNS


@pytest.mark.slow
def test_read_table_as_of_reads_each_version(spark: SparkSession, config: Config) -> None:
    ensure_table(spark, config, PAYMENTS)  # version 0: empty
    merge_insert_new(spark, config, PAYMENTS, frame(spark, [(1, "a", 1.0)]))  # 1
    upsert(spark, config, PAYMENTS, frame(spark, [(1, "a", 10.0), (2, "b", 2.0)]))  # 2
    replace_partitions(spark, config, PAYMENTS, frame(spark, []), "day = 'a'")  # 3

    versions = {version: read_table_as_of(spark, config, PAYMENTS, version) for version in range(4)}

    assert versions[0].count() == 0
    assert_rows_equal(versions[1], COLUMNS, [(1, "a", 1.0)])
    assert_rows_equal(versions[2], COLUMNS, [(1, "a", 10.0), (2, "b", 2.0)])
    assert_rows_equal(versions[3], COLUMNS, [(2, "b", 2.0)])
    assert table_version(spark, config, PAYMENTS) == 3


def test_rows_written_by_last_commit_is_none_for_a_merge(
    spark: SparkSession, config: Config
) -> None:
    replace_partitions(spark, config, PAYMENTS, frame(spark, [(1, "a", 1.0)]), "true")
    assert rows_written_by_last_commit(spark, config, PAYMENTS) == 1

    merge_insert_new(spark, config, PAYMENTS, frame(spark, [(2, "a", 2.0)]))

    assert rows_written_by_last_commit(spark, config, PAYMENTS) is None


ENCODED = Table(
    name="io_encoded",
    keys=("kind",),
    partition_by=("day",),
    schema=T.StructType(
        [
            T.StructField("day", T.StringType(), False),
            T.StructField("kind", T.StringType(), False),
            T.StructField("value", T.DoubleType(), False),
            T.StructField("shares", T.ArrayType(T.DoubleType(), False), False),
        ]
    ),
    properties=plain_encoded("value", "shares.list.element"),
)


def column_encodings(path: str) -> dict[str, set[str]]:
    """Each Parquet column path -> the encodings its chunks use, over every data file."""
    encodings: dict[str, set[str]] = {}
    for file in Path(path).rglob("*.parquet"):
        meta = pq.ParquetFile(file).metadata
        for group in range(meta.num_row_groups):
            for index in range(meta.num_columns):
                chunk = meta.row_group(group).column(index)
                encodings.setdefault(chunk.path_in_schema, set()).update(chunk.encodings)
    return encodings


def test_plain_encoded_columns_are_written_without_a_dictionary(
    spark: SparkSession, config: Config
) -> None:
    # Two distinct values per column: Parquet would dictionary-encode every one of them.
    rows = [("d", "ab"[i % 2], float(i % 2), [1.0, 2.0]) for i in range(200)]
    ensure_table(spark, config, ENCODED)
    replace_partitions(spark, config, ENCODED, spark.createDataFrame(rows, ENCODED.schema), "true")

    encodings = column_encodings(table_path(config, ENCODED))

    assert set(encodings) == {"kind", "value", "shares.list.element"}
    assert any("DICTIONARY" in encoding for encoding in encodings["kind"])
    assert not any("DICTIONARY" in encoding for encoding in encodings["value"])
    assert not any("DICTIONARY" in encoding for encoding in encodings["shares.list.element"])
    assert_rows_equal(read_table(spark, config, ENCODED), ["day", "kind", "value"], [
        (day, kind, value) for day, kind, value, _ in rows
    ])  # fmt: skip
