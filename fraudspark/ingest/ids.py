"""Surrogate keys for string identifiers: every table keeps BIGINT ids whatever the source wrote.

An integer-id feed keeps its ids (below :data:`~fraudspark.lakehouse.tables.FIRST_SURROGATE_KEY`,
2^62, enforced by the validation rules). A string-id feed's ids are looked up, per kind (tx,
customer, terminal), in ``fraud.id_dictionary``; a source id seen for the first time gets the
next dense key of its kind: the kind's largest key (2^62 - 1 for an empty kind) plus the id's
rank among the new ids in sorted order. So the assignment is deterministic, a source id keeps
its key forever (incremental runs give the keys a full run over the same table gives, and
features computed either way are equal), and there are no collisions, unlike hashing. This is
the classic dictionary (surrogate-key) encoding of a data warehouse dimension (Kimball and Ross,
*The Data Warehouse Toolkit*, 3rd ed., ch. 3, "Surrogate keys").

The functions here are pure DataFrame transforms; :mod:`fraudspark.pipelines.ingest` writes the
dictionary (MERGE, insert only, under the nightly lock that serialises writers).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fraudspark.config import IdKind
from fraudspark.lakehouse.tables import FIRST_SURROGATE_KEY

__all__ = [
    "ID_KIND_OF",
    "SOURCE_ID_OF",
    "new_dictionary_entries",
    "resolve_ids",
    "source_ids",
]

# contract column -> its id_kind in fraud.id_dictionary, and its source-id column in
# fraud.transactions.
ID_KIND_OF = {"tx_id": "tx", "customer_id": "customer", "terminal_id": "terminal"}
SOURCE_ID_OF = {
    "tx_id": "source_tx_id",
    "customer_id": "source_customer_id",
    "terminal_id": "source_terminal_id",
}


def string_columns(id_kinds: Mapping[str, IdKind]) -> list[str]:
    """The contract id columns a feed declares as strings, in contract order."""
    return [c for c in ID_KIND_OF if id_kinds.get(c, "integer") == "string"]


def source_ids(validated: DataFrame, columns: list[str]) -> DataFrame:
    """Distinct (``id_kind``, ``source_id``) of the ``columns`` (string ids) over the valid rows
    (``reject_reason`` null) of :func:`~fraudspark.ingest.rules.validate_transactions`' output.
    A quarantined row's ids get no key."""
    valid = validated.where(F.col("reject_reason").isNull())
    parts = [
        valid.select(F.lit(ID_KIND_OF[c]).alias("id_kind"), F.col(c).alias("source_id"))
        for c in columns
    ]
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union.where(F.col("source_id").isNotNull()).distinct()


def new_dictionary_entries(
    wanted: DataFrame, dictionary: DataFrame | None, first_seen: datetime
) -> DataFrame:
    """Rows for ``fraud.id_dictionary`` (``id_kind``, ``source_id``, ``id``, ``first_seen``)
    for the ``wanted`` (``id_kind``, ``source_id``) pairs that have no key yet.

    The key of the n-th new id of a kind (in ascending ``source_id`` order, by Spark's binary
    string ordering) is the kind's largest key plus n; the first key of a kind is
    ``FIRST_SURROGATE_KEY`` (2^62). Keys are BIGINT, so a kind has room for 2^63 - 2^62 (about
    4.6e18) ids; beyond, Spark's ANSI arithmetic raises an overflow error rather than wrap.
    """
    if dictionary is None:
        new = wanted
        largest = wanted.select("id_kind").distinct().withColumn("largest", F.lit(None))
    else:
        new = wanted.join(
            dictionary.select("id_kind", "source_id"), ["id_kind", "source_id"], "anti"
        )
        largest = dictionary.groupBy("id_kind").agg(F.max("id").alias("largest"))
    rank = F.row_number().over(Window.partitionBy("id_kind").orderBy("source_id"))
    return new.join(largest, "id_kind", "left").select(
        "id_kind",
        "source_id",
        (F.coalesce(F.col("largest").cast("long"), F.lit(FIRST_SURROGATE_KEY - 1)) + rank).alias(
            "id"
        ),
        F.lit(first_seen).cast("timestamp").alias("first_seen"),
    )


def resolve_ids(
    validated: DataFrame, id_kinds: Mapping[str, IdKind], dictionary: DataFrame | None
) -> DataFrame:
    """``validated`` with each string id column replaced by its BIGINT key from ``dictionary``
    and the id as the source wrote it in ``source_<column>`` (null for integer ids).

    Column order is kept, ``reject_reason`` stays last and the three ``source_*`` columns come
    just before it. A string id without a key (only on a quarantined row) becomes null.
    """
    strings = string_columns(id_kinds)
    frame = validated
    for column in strings:
        assert dictionary is not None, "string ids need the dictionary"
        keys = dictionary.where(F.col("id_kind") == ID_KIND_OF[column]).select(
            F.col("source_id").alias(f"_source_{column}"), F.col("id").alias(f"_key_{column}")
        )
        frame = frame.withColumn(f"_source_{column}", F.col(column)).join(
            keys, f"_source_{column}", "left"
        )
    others = [c for c in validated.columns if c != "reject_reason"]
    return frame.select(
        *[F.col(f"_key_{c}").alias(c) if c in strings else F.col(c) for c in others],
        *[
            (F.col(f"_source_{c}") if c in strings else F.lit(None).cast("string")).alias(
                SOURCE_ID_OF[c]
            )
            for c in ID_KIND_OF
        ],
        "reject_reason",
    )
