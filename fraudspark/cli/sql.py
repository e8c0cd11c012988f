"""fraudspark sql "QUERY" [--output FILE.parquet|FILE.csv] [--limit N]"""

from __future__ import annotations

import re
from collections.abc import Sequence

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
    """Write a query result as one Parquet or CSV file set, chosen by the file extension."""
    if output.endswith(".parquet"):
        result.coalesce(1).write.mode("overwrite").parquet(output)
    elif output.endswith(".csv"):
        result.coalesce(1).write.mode("overwrite").option("header", "true").csv(output)
    else:
        raise ValueError(f"--output must end in .parquet or .csv, got {output!r}")


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
