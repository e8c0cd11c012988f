"""fraudspark monitor --date D"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import MLFLOW_MODULES, iso_date, job_config, job_parser, job_session


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "monitor", "Drift, feature importance and retrain hints for a scored day, with a report."
    )
    parser.add_argument("--date", type=iso_date, required=True)
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config, preload=[*MLFLOW_MODULES, "fraudspark.pipelines.monitor"])
    from fraudspark.pipelines.monitor import monitor_day, monitoring_summary

    for result in monitor_day(spark, config, args.date):
        print(f"\n{result.model}/{result.version} on {args.date}:")
        print(monitoring_summary(result))
    return 0
