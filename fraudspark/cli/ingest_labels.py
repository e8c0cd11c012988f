"""fraudspark ingest-labels --source PATH [--format csv|parquet|json]"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import job_config, job_parser, job_session
from fraudspark.ingest import SOURCE_FORMATS, ingest_labels


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "ingest-labels",
        "Merge late fraud labels (tx_id, is_fraud) into fraud.transactions.",
    )
    parser.add_argument("--source", required=True, help="a file or directory of label files")
    parser.add_argument("--format", default="csv", choices=SOURCE_FORMATS)
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    report = ingest_labels(spark, config, args.source, args.format)
    print(f"labels {args.source}: {report.summary()}")
    return 0
