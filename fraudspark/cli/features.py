"""fraudspark features (--full | --date D | --start D --end D)"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import iso_date, job_config, job_parser, job_session
from fraudspark.pipelines.features import compute_features


def main(argv: Sequence[str]) -> int:
    parser = job_parser("features", "Compute fraud.features_windowed and fraud.features_monthly.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--full", action="store_true", help="recompute every day")
    mode.add_argument("--date", type=iso_date, help="compute one day incrementally")
    mode.add_argument("--start", type=iso_date, help="first day of an incremental range")
    parser.add_argument("--end", type=iso_date, help="last day of the range (with --start)")
    args = parser.parse_args(argv)
    if args.end and not args.start:
        parser.error("--end needs --start")
    config = job_config(args)
    spark = job_session(config)
    if args.full:
        report = compute_features(spark, config)
    else:
        start = args.date or args.start
        report = compute_features(spark, config, start, args.end or start)
    print(report.summary())
    return 0
