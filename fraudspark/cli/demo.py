"""fraudspark demo: the README's end-to-end run, short by default, ``--full`` for the long one.

The short demo (``make demo``): 1,000 customers and 2,000 terminals over 60 days, a RaPP scorer
and a classifier on a WGAN-GP-oversampled training set, two nightly runs (the second with
amounts x1.5) with maintenance, then the tour. ``--full``: 5,000 customers over 90 days, the
small oversampling leaderboard, seven nights. See fraudspark.pipelines.demo.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fraudspark.cli.common import job_config, job_parser, job_session
from fraudspark.pipelines.demo import DemoResult, DemoSettings, run_demo


def main(argv: Sequence[str]) -> int:
    parser = job_parser("demo", "The end-to-end demonstration: generate, train, nightly runs.")
    parser.add_argument("--raw", default="data/raw", help="where the raw files are written")
    parser.add_argument("--full", action="store_true", help="the long demo (about an hour)")
    parser.add_argument("--customers", type=int, help="override the size's customers")
    parser.add_argument("--terminals", type=int, help="override the size's terminals")
    parser.add_argument("--days", type=int, help="override the size's days")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    settings = DemoSettings.full() if args.full else DemoSettings()
    overrides = {
        key: getattr(args, key)
        for key in ("customers", "terminals", "days", "seed")
        if getattr(args, key) is not None
    }
    settings = dataclasses.replace(settings, **overrides)
    config = job_config(args)
    spark = job_session(config, catalog=True)
    result = run_demo(spark, config, args.raw, settings, progress=print)
    print_tour(result, config.lakehouse_root)
    return 0


def print_tour(result: DemoResult, lakehouse_root: object) -> None:
    """The demo's closing tour: tables, alerts with reasons, drift, the report, SQL."""
    print(f"\n== tables (data under {lakehouse_root})")
    for name, rows, description in result.table_counts:
        print(f"  {name:<34}{rows:>12,} rows  {description}")
    print(f"\n== the last night's top alerts ({result.last_night}) and why")
    print(result.alerts.to_string(index=False) if not result.alerts.empty else "  (no alerts)")
    print(f"\n== drift, nights {result.first_night} .. {result.last_night}")
    if result.drift.empty:
        print("  no drift")
    for row in result.drift.to_dict("records"):
        features = ", ".join(str(name) for name in list(row["drifted_features"])[:6])
        print(
            f"  {row['monitor_date']} {row['model_name']}/{row['model_version']}: severity "
            f"{float(row['severity']):.1f}, drifted: {features}"
        )
    print(f"\n== monitoring report: {result.report or '(none written)'}")
    print("\n== an analyst's question in SQL: the last week, day by day")
    print(result.example_query + "\n")
    print(result.example_result.to_string(index=False))
    print('\nQuery it yourself: .venv/bin/fraudspark sql "SELECT ... FROM fraud.transactions"')
