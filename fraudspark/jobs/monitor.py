"""fraudspark monitor --date D"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.jobs.common import iso_date, job_config, job_parser, job_session
from fraudspark.monitoring.monitor import monitor_day


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "monitor", "Drift, feature importance and retrain hints for a scored day, with a report."
    )
    parser.add_argument("--date", type=iso_date, required=True)
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    monitor_day(spark, config, args.date)
    return 0
