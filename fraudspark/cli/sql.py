"""fraudspark sql "QUERY" [--output FILE.parquet|FILE.csv] [--limit N]"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import DataFrame

from fraudspark.cli.common import job_config, job_parser, job_session
from fraudspark.lakehouse.io import register_tables
from fraudspark.lakehouse.tables import ALL_TABLES


def tables_named(query: str) -> list[str] | None:
    """The fraud tables a query names (as words, any case); None when it names none (``SHOW
    TABLES``, ...), and then every table is registered. Registering loads a table's Delta log:
    a query on one table should not pay for fifteen."""
    words = {word.lower() for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query)}
    named = [table.name for table in ALL_TABLES if table.name.lower() in words]
    return named or None


def write_result(result: DataFrame, output: str) -> None:
    """Write a whole query result to one file, ``FILE.parquet`` or ``FILE.csv`` (with a header
    row), chosen by the extension; an existing file is replaced. Raises ValueError for another
    extension.

    A local path gets that one file: Spark writes one task's output into a hidden folder beside
    it, and its data file is renamed into place. A URI with a scheme (``s3a://...``) gets
    Spark's own layout: a folder of that name holding one data file.
    """
    if output.endswith(".parquet"):
        kind = "parquet"
    elif output.endswith(".csv"):
        kind = "csv"
    else:
        raise ValueError(f"--output must end in .parquet or .csv, got {output!r}")
    writer = result.coalesce(1).write.mode("overwrite").format(kind).option("header", "true")
    if "://" in output:
        writer.save(output)
        return
    target = Path(output).resolve()
    staging = target.parent / f".{target.name}.writing-{os.getpid()}"
    try:
        writer.save(str(staging))
        (written,) = staging.glob(f"part-*.{kind}")  # one task: one file, even for no rows
        os.replace(written, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    parser = job_parser("sql", "Run a SQL query against the fraud tables.")
    parser.add_argument("query", help='e.g. "SELECT count(*) FROM fraud.transactions"')
    parser.add_argument("--output", help="write the whole result to FILE.parquet or FILE.csv")
    parser.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    register_tables(spark, config, tables_named(args.query))
    result = spark.sql(args.query)
    if args.output:
        write_result(result, args.output)
        print(f"wrote {args.output}")
    else:
        result.show(args.limit, truncate=False)
    return 0
