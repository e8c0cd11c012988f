"""fraudspark score --model NAME[@ALIAS|/VERSION] (--date D | --start D --end D)"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import SCORING_MODULES, iso_date, job_config, job_parser, job_session

SHOWN_ALERTS = 10


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "score", "Score feature-store rows with a registered model into fraud.scores."
    )
    parser.add_argument(
        "--model",
        required=True,
        help="NAME (its champion), NAME@ALIAS or NAME/VERSION of a scorer or the classifier, "
        "e.g. fraud-rapp@champion or fraud-classifier",
    )
    days = parser.add_mutually_exclusive_group(required=True)
    days.add_argument("--date", type=iso_date, help="score one day")
    days.add_argument("--start", type=iso_date, help="first day of a range")
    parser.add_argument("--end", type=iso_date, help="last day of the range (with --start)")
    parser.add_argument(
        "--top-k",
        type=int,
        default=3,
        help="feature attributions per row (error shares, or integrated gradients for the "
        "classifier)",
    )
    args = parser.parse_args(argv)
    if args.end and not args.start:
        parser.error("--end needs --start")
    config = job_config(args)
    spark = job_session(config, preload=SCORING_MODULES)
    from fraudspark.pipelines.score import alert_reasons, score_days

    start = args.date or args.start
    end = args.end or start
    report = score_days(spark, config, args.model, start, end, args.top_k)
    print(report.summary())
    if report.alerts:
        print(f"top {min(SHOWN_ALERTS, report.alerts)} of {report.alerts} alerts:")
        alert_reasons(spark, config, start, end, report.model).show(SHOWN_ALERTS, truncate=False)
    return 0
