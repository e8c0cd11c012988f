"""fraudspark backfill --start D --end D [--raw DIR]"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import iso_date, job_config, job_parser, job_session
from fraudspark.pipelines.nightly import backfill


def main(argv: Sequence[str]) -> int:
    parser = job_parser("backfill", "Run the nightly pipeline for each day of a range, in order.")
    parser.add_argument("--start", type=iso_date, required=True)
    parser.add_argument("--end", type=iso_date, required=True)
    parser.add_argument("--raw", help="raw root laid out as day=YYYY-MM-DD (ingests each day)")
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    backfill(spark, config, args.start, args.end, args.raw, progress=print)
    return 0
