"""fraudspark ingest --source PATH [--format parquet|csv|json | --mapping NAME]"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import MAPPING_HELP, job_config, job_parser, job_session
from fraudspark.ingest.sources import SOURCE_FORMATS

PIPELINE = "fraudspark.pipelines.ingest"


def main(argv: Sequence[str]) -> int:
    parser = job_parser("ingest", "Load raw transaction files into fraud.transactions.")
    parser.add_argument("--source", required=True, help="a file or directory of raw files")
    reader = parser.add_mutually_exclusive_group()
    reader.add_argument(
        "--format", choices=SOURCE_FORMATS, help="contract layout (default parquet)"
    )
    reader.add_argument("--mapping", help=MAPPING_HELP)
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config, preload=[PIPELINE])
    from fraudspark.pipelines.ingest import ingest_transactions

    report = ingest_transactions(spark, config, args.source, args.format, mapping=args.mapping)
    print(f"ingest {args.source}: {report.summary()}")
    return 0
