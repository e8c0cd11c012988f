"""fraudspark ingest --source PATH [--format parquet|csv|json]"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import job_config, job_parser, job_session
from fraudspark.ingest import SOURCE_FORMATS, ingest_transactions


def main(argv: Sequence[str]) -> int:
    parser = job_parser("ingest", "Load raw transaction files into fraud.transactions.")
    parser.add_argument("--source", required=True, help="a file or directory of raw files")
    parser.add_argument("--format", default="parquet", choices=SOURCE_FORMATS)
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    report = ingest_transactions(spark, config, args.source, args.format)
    print(f"ingest {args.source}: {report.summary()}")
    return 0
