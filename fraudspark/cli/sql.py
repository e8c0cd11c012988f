"""fraudspark sql "QUERY" [--output FILE.parquet|FILE.csv] [--limit N]"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame

from fraudspark.cli.common import job_config, job_parser, job_session


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
    spark = job_session(config, catalog=True)
    result = spark.sql(args.query)
    if args.output:
        write_result(result, args.output)
        print(f"wrote {args.output}")
    else:
        result.show(args.limit, truncate=False)
    return 0
