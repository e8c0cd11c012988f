"""fraudspark maintain [--date D]"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from fraudspark.cli.common import iso_date, job_config, job_parser, job_session
from fraudspark.pipelines.nightly import NightInputs, run_night


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "maintain",
        "Compact small files (OPTIMIZE) and VACUUM every table, keeping every table version a "
        "training set, evaluation or registered model records readable; logged in fraud.runs "
        "as the night's maintain step.",
    )
    parser.add_argument(
        "--date", type=iso_date, default=None, help="the night it is logged under (default today)"
    )
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    day = args.date or datetime.now(timezone.utc).date()
    run_night(spark, config, NightInputs(day, maintain=True), only="maintain", progress=print)
    return 0
