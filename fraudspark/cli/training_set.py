"""fraudspark training-set --start D --end D --name NAME"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import iso_date, job_config, job_parser, job_session
from fraudspark.pipelines.training_sets import build_training_set


def main(argv: Sequence[str]) -> int:
    parser = job_parser("training-set", "Materialise feature-store rows into fraud.training_sets.")
    parser.add_argument("--start", type=iso_date, required=True)
    parser.add_argument("--end", type=iso_date, required=True)
    parser.add_argument("--name", required=True, help="the training set's partition name")
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    report = build_training_set(spark, config, args.name, args.start, args.end)
    print(report.summary())
    return 0
