"""Reading raw feeds and mapping them onto the transaction contract.

:func:`read_source` reads CSV, JSON lines or Parquet so that nothing is silently lost: a CSV row
with too many or too few fields and a JSON line that does not parse keep their original text in
``_malformed`` (Spark's corrupt-record column, PERMISSIVE mode, explicit all-text schema);
Parquet timestamps in nanoseconds (pandas' default) are read and truncated to microseconds; an
empty folder or a header-only file is an empty frame, not an error.

:func:`apply_mapping` then renames a feed's columns to the contract (case-insensitively), builds
``tx_ts`` as a :class:`~fraudspark.config.SourceMapping` says, keeps the other columns in
``extra`` and replaces card numbers by keyed tokens (:mod:`fraudspark.ingest.tokens`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import SourceMapping, TimestampMapping
from fraudspark.ingest.tokens import hmac_sha256_column
from fraudspark.lakehouse.tables import sql_identifier

log = logging.getLogger(__name__)

SOURCE_FORMATS = ("parquet", "csv", "json")
# The original text of a record the reader could not parse; null for a parsed record.
MALFORMED = "_malformed"
SOURCE_FILE = "source_file"
CONTRACT_FIELDS = ("tx_id", "tx_ts", "customer_id", "terminal_id", "tx_amount", "is_fraud")
_CORRUPT = "_corrupt_record"
TX_ID_SCOPE = "tx_id_scope"  # resolve_columns' key prefix for SourceMapping.tx_id_scope
_NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"


class MissingColumnsError(ValueError):
    """The source lacks columns the transaction contract requires."""


def col(name: str) -> Column:
    """A top-level column by its exact name, whatever it holds (dots, spaces, backticks)."""
    return F.col(sql_identifier(name))


def input_files(spark: SparkSession, path: str) -> list[tuple[str, int]]:
    """Data files under ``path`` (a file or a directory tree): (URI, size in bytes).

    Hidden files (``.x``, ``_x``, as Spark skips them) are left out. Any Hadoop file system.
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(hadoop_path):
        raise FileNotFoundError(f"source not found: {path}")
    files = []
    listing = fs.listFiles(hadoop_path, True)
    while listing.hasNext():
        status = listing.next()
        name = status.getPath().getName()
        if not name.startswith((".", "_")):
            files.append((status.getPath().toString(), int(status.getLen())))
    return files


def read_source(
    spark: SparkSession,
    path: str,
    fmt: str,
    options: dict[str, str] | None = None,
    columns_if_empty: Sequence[str] = CONTRACT_FIELDS,
) -> DataFrame:
    """Read raw files with a ``source_file`` and a ``_malformed`` column.

    CSV and JSON columns are read as text so that a malformed value reaches validation (and
    quarantine) instead of silently becoming null. ``options`` are Spark reader options
    (``sep``, ``header``, ``encoding``, ``compression``...). With no data file (an empty day
    folder) the frame has ``columns_if_empty`` and no row. Raises ``ValueError`` for an unknown
    format, ``FileNotFoundError`` for a missing path.
    """
    if fmt not in SOURCE_FORMATS:
        raise ValueError(f"unknown source format {fmt!r}; expected one of {SOURCE_FORMATS}")
    options = {"recursiveFileLookup": "true", **(options or {})}
    files = input_files(spark, path)
    if not any(size for _, size in files):
        log.info("source %s holds no data (%d empty files)", path, len(files))
        return _empty(spark, columns_if_empty)
    if fmt == "csv":
        frame = _read_csv(spark, path, options, columns_if_empty)
    elif fmt == "json":
        frame = _read_json(spark, path, options, columns_if_empty)
    else:
        frame = _read_parquet(spark, path, options, [uri for uri, _ in files])
    return frame


def _empty(spark: SparkSession, columns: Sequence[str]) -> DataFrame:
    fields = [T.StructField(c, T.StringType()) for c in (*columns, SOURCE_FILE, MALFORMED)]
    return spark.createDataFrame([], T.StructType(fields))


def _with_file(frame: DataFrame) -> DataFrame:
    return frame.withColumn(SOURCE_FILE, F.col("_metadata.file_path"))


def _read_csv(
    spark: SparkSession, path: str, options: dict[str, str], columns_if_empty: Sequence[str]
) -> DataFrame:
    options = {"header": "true", **options}
    # The header (first line of a file) names the columns; every column is then read as text
    # under that explicit schema, so a row whose field count differs is a corrupt record.
    header = spark.read.options(**options).option("inferSchema", "false").csv(path).columns
    if not header:
        return _empty(spark, columns_if_empty)
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in header]
        + [T.StructField(_CORRUPT, T.StringType())]
    )
    frame = (
        spark.read.options(**options)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", _CORRUPT)
        .option("enforceSchema", "true")
        .schema(schema)
        .csv(path)
    )
    return _with_file(frame).withColumnRenamed(_CORRUPT, MALFORMED)


def _read_json(
    spark: SparkSession, path: str, options: dict[str, str], columns_if_empty: Sequence[str]
) -> DataFrame:
    frame = (
        spark.read.options(**options)
        .option("primitivesAsString", "true")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", _CORRUPT)
        .json(path)
    )
    if _CORRUPT not in frame.columns:
        frame = frame.withColumn(_CORRUPT, F.lit(None).cast("string"))
    if frame.columns == [_CORRUPT] and not columns_if_empty:
        return _empty(spark, columns_if_empty)
    frame = _with_file(frame).withColumnRenamed(_CORRUPT, MALFORMED)
    # Spark refuses a query on raw JSON that reads only the corrupt-record column: materialise.
    return frame.localCheckpoint(eager=True)


def nanosecond_columns(uris: Sequence[str]) -> list[str]:
    """Top-level columns whose Parquet logical type is TIMESTAMP(NANOS) in any of the files
    (pyarrow reads the footers only; INT96, Spark's legacy timestamps, is not one)."""
    import json

    import pyarrow.parquet as pq
    from pyarrow import fs as pafs

    found: list[str] = []
    for uri in uris:
        filesystem, file_path = pafs.FileSystem.from_uri(uri)
        with filesystem.open_input_file(file_path) as handle:
            schema = pq.ParquetFile(handle).schema
        for i in range(len(schema)):
            column = schema.column(i)
            logical = json.loads(column.logical_type.to_json() or "{}")
            unit = logical.get("timeUnit") if logical.get("Type") == "Timestamp" else None
            is_nanos = unit == "nanoseconds"
            if is_nanos and "." not in column.path and column.name not in found:
                found.append(column.name)
    return found


def _read_parquet(
    spark: SparkSession, path: str, options: dict[str, str], uris: Sequence[str]
) -> DataFrame:
    nanos = nanosecond_columns(uris)
    if not nanos:
        return _with_file(spark.read.options(**options).parquet(path)).withColumn(
            MALFORMED, F.lit(None).cast("string")
        )
    # Spark cannot read TIMESTAMP(NANOS) (PARQUET_TYPE_ILLEGAL) except as a long count of
    # nanoseconds; the setting applies when the plan runs, hence the checkpoint under it.
    previous = spark.conf.get(_NANOS_AS_LONG, None)
    spark.conf.set(_NANOS_AS_LONG, "true")
    try:
        frame = _with_file(spark.read.options(**options).parquet(path))
        truncated = frame.select(
            *[F.sum((F.pmod(col(c), F.lit(1000)) != 0).cast("long")).alias(c) for c in nanos]
        ).first()
        frame = frame.withColumns(
            # Floor to whole microseconds (Spark's precision); naive values stay naive.
            {c: F.timestamp_micros(F.floor(col(c) / 1000)).cast("timestamp_ntz") for c in nanos}
        ).localCheckpoint(eager=True)
    finally:
        if previous is None:
            spark.conf.unset(_NANOS_AS_LONG)
        else:
            spark.conf.set(_NANOS_AS_LONG, previous)
    for c in nanos:
        count = int(truncated[c] or 0) if truncated is not None else 0
        log.warning(
            "%s: column %s holds nanosecond timestamps; read as microseconds, sub-microsecond "
            "digits dropped on %d row(s)",
            path,
            c,
            count,
        )
    return frame.withColumn(MALFORMED, F.lit(None).cast("string"))


def resolve_columns(frame: DataFrame, mapping: SourceMapping) -> dict[str, str]:
    """Contract field -> the source column it comes from (names matched case-insensitively).

    Raises :class:`MissingColumnsError` naming every required field whose column is absent,
    and ``ValueError`` when two source columns differ only by case.
    """
    by_lower: dict[str, str] = {}
    for name in frame.columns:
        if name.lower() in by_lower:
            raise ValueError(
                f"source columns {by_lower[name.lower()]!r} and {name!r} differ only by case"
            )
        by_lower[name.lower()] = name
    wanted = {f: mapping.columns.get(f, f) for f in CONTRACT_FIELDS}
    ts = mapping.timestamp
    if ts is not None:
        del wanted["tx_ts"]
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for field, name in wanted.items():
        if name.lower() in by_lower:
            resolved[field] = by_lower[name.lower()]
        elif field != "is_fraud":
            missing.append(name if name == field else f"{name} ({field})")
    for i, name in enumerate(mapping.tx_id_scope):
        if name.lower() in by_lower:
            resolved[f"{TX_ID_SCOPE}.{i}"] = by_lower[name.lower()]
        else:
            missing.append(f"{name} (tx_id scope)")
    if ts is not None:
        for key in ("column", "date_column", "time_column", "epoch_column"):
            name = getattr(ts, key)
            if name is None:
                continue
            if name.lower() in by_lower:
                resolved[f"tx_ts.{key}"] = by_lower[name.lower()]
            else:
                missing.append(f"{name} (tx_ts {key})")
    if missing:
        shown = [c for c in frame.columns if c not in (SOURCE_FILE, MALFORMED)]
        raise MissingColumnsError(
            f"source is missing required column(s): {', '.join(missing)} "
            f"(found: {', '.join(shown) or 'none'})"
        )
    return resolved


def _has_offset(text: Column) -> Column:
    return text.rlike(r"(Z|[+-]\d\d(:?\d\d)?)$")


def build_timestamp(
    frame: DataFrame, resolved: dict[str, str], spec: TimestampMapping | None
) -> tuple[Column, Column]:
    """(raw text, parsed instant) of ``tx_ts``. A value with an explicit offset is taken as it
    is; a naive one is wall-clock time in ``spec.time_zone`` (UTC by default). Unparseable
    values give a null instant (quarantined as ``invalid_tx_ts``)."""
    zone = spec.time_zone if spec is not None else "UTC"

    def naive_to_instant(naive: Column) -> Column:
        # The session time zone is UTC: a naive timestamp read here is the wall clock in UTC.
        return naive if zone == "UTC" else F.to_utc_timestamp(naive, zone)

    if spec is None or spec.column is not None:
        name = resolved["tx_ts"] if spec is None else resolved["tx_ts.column"]
        source, data_type = col(name), frame.schema[name].dataType
        if isinstance(data_type, T.TimestampType):
            return source.cast("string"), source
        if isinstance(data_type, T.TimestampNTZType):
            return source.cast("string"), naive_to_instant(source.cast("timestamp"))
        text = source.cast("string")
        if spec is not None and spec.format is not None:
            parsed = naive_to_instant(F.try_to_timestamp(text, F.lit(spec.format)))
        else:
            parsed = F.when(_has_offset(F.trim(text)), text.try_cast("timestamp")).otherwise(
                naive_to_instant(text.try_cast("timestamp"))
            )
        return text, parsed
    if spec.date_column is not None:
        text = F.concat_ws(
            " ", col(resolved["tx_ts.date_column"]), col(resolved["tx_ts.time_column"])
        )
        raw = F.when(
            col(resolved["tx_ts.date_column"]).isNotNull()
            & col(resolved["tx_ts.time_column"]).isNotNull(),
            text,
        )
        fmt = spec.format or "yyyy-MM-dd HH:mm:ss"
        return raw, naive_to_instant(F.try_to_timestamp(raw, F.lit(fmt)))
    source = col(resolved["tx_ts.epoch_column"]).cast("string")
    number = source.try_cast("long")
    parsed = F.timestamp_seconds(number) if spec.epoch_unit == "s" else F.timestamp_millis(number)
    return source, parsed


def tokenize_card_columns(
    frame: DataFrame, mapping: SourceMapping, token_key: bytes | None
) -> tuple[DataFrame, dict[str, str]]:
    """``frame`` with each of ``mapping.card_number_columns`` it has replaced by its HMAC-SHA-256
    token, and ``{card column: hidden column}``: the clear values kept under a reserved name for
    :func:`malformed_text` (drop them before anything is written). Raises ``ValueError`` when
    card columns are marked and ``token_key`` is None."""
    if not mapping.card_number_columns:
        return frame, {}
    if token_key is None:
        raise ValueError("the mapping marks card-number columns but no token key is set")
    by_lower = {c.lower(): c for c in frame.columns}
    cards = [by_lower[c.lower()] for c in mapping.card_number_columns if c.lower() in by_lower]
    clear = {c: f"_clear_{i}" for i, c in enumerate(cards)}
    frame = frame.withColumns({hidden: col(c).cast("string") for c, hidden in clear.items()})
    frame = frame.withColumns(
        {c: hmac_sha256_column(col(hidden), token_key) for c, hidden in clear.items()}
    )
    return frame, clear


def malformed_text(clear: dict[str, str]) -> Column:
    """The malformed record's original text, with no card number in clear: a record's fields
    are parsed as far as they go, so its card number, where found, becomes its token; any other
    run of 12-19 digits is masked (when the mapping has card columns)."""
    raw_text: Column = col(MALFORMED)
    for c, hidden in clear.items():
        raw_text = F.when(
            col(hidden).isNotNull() & (col(hidden) != ""),
            F.replace(raw_text, col(hidden), col(c)),
        ).otherwise(raw_text)
    if clear:
        raw_text = F.regexp_replace(raw_text, r"(?<![0-9])[0-9]{12,19}(?![0-9])", "<card>")
    return raw_text


def scoped_tx_id(raw_tx_id: Column, scope: list[Column]) -> Column:
    """The stored source id of a mapping with ``tx_id_scope``: ``id|scope value|...`` (card
    columns as their tokens); the id itself without scope. A missing id stays missing
    (quarantined as such); a missing scope value is empty."""
    if not scope:
        return raw_tx_id
    parts = [raw_tx_id, *[F.coalesce(c.cast("string"), F.lit("")) for c in scope]]
    return F.when(raw_tx_id.isNotNull(), F.concat_ws("|", *parts))


def apply_mapping(frame: DataFrame, mapping: SourceMapping, token_key: bytes | None) -> DataFrame:
    """The source in contract shape: ``raw_<field>`` (the value as it came, as text; null when
    absent), ``tx_ts_parsed`` (the built instant), ``extra`` (other kept columns as a text
    map), ``raw`` (the whole record as JSON, or its original text when malformed),
    ``malformed`` (boolean) and ``source_file``.

    Card-number columns (``mapping.card_number_columns``) are replaced by their HMAC-SHA-256
    token before anything else, so no clear number reaches ``raw`` or ``extra``; a malformed
    record's text has every run of 12 to 19 digits tokenized. Raises ``ValueError`` when card
    columns are marked and ``token_key`` is None.
    """
    dropped = [c for c in frame.columns if c.startswith("_") and c != MALFORMED]
    if dropped:
        log.warning("ignoring source columns with a reserved leading underscore: %s", dropped)
        frame = frame.drop(*dropped)
    resolved = resolve_columns(frame, mapping)
    by_lower = {c.lower(): c for c in frame.columns}
    frame, clear = tokenize_card_columns(frame, mapping, token_key)
    source_columns = [
        c for c in frame.columns if c not in (SOURCE_FILE, MALFORMED, *clear.values())
    ]
    used = set(resolved.values())
    if mapping.extra is None:
        extra_columns = [c for c in source_columns if c not in used]
    else:
        extra_columns = [by_lower[c.lower()] for c in mapping.extra if c.lower() in by_lower]
    if extra_columns:
        log.info("keeping non-contract source columns in the `extra` map: %s", extra_columns)
    ts_raw, ts_parsed = build_timestamp(frame, resolved, mapping.timestamp)
    malformed = col(MALFORMED).isNotNull()
    raw_text = malformed_text(clear)
    record = F.to_json(F.struct(*[col(c) for c in source_columns]), {"ignoreNullFields": "false"})
    raw = {
        f: col(resolved[f]).cast("string") if f in resolved else F.lit(None).cast("string")
        for f in CONTRACT_FIELDS
        if f != "tx_ts"
    }
    scope = [col(resolved[f"{TX_ID_SCOPE}.{i}"]) for i in range(len(mapping.tx_id_scope))]
    raw["tx_id"] = scoped_tx_id(raw["tx_id"], scope)
    return frame.select(
        *[value.alias(f"raw_{f}") for f, value in raw.items()],
        ts_raw.alias("raw_tx_ts"),
        ts_parsed.alias("tx_ts_parsed"),
        (
            F.create_map(*[x for c in extra_columns for x in (F.lit(c), col(c).cast("string"))])
            if extra_columns
            else F.lit(None).cast(T.MapType(T.StringType(), T.StringType()))
        ).alias("extra"),
        F.when(malformed, raw_text).otherwise(record).alias("raw"),
        malformed.alias("malformed"),
        col(SOURCE_FILE).alias(SOURCE_FILE),
    )
