"""fraudspark generate --out DIR [--customers N --terminals M --days D --start-date YYYY-MM-DD
--seed S --format parquet|csv|json --drift-from YYYY-MM-DD --hot-terminal-share P]"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date, timedelta

from fraudspark.cli.common import iso_date, job_config, job_parser, job_session
from fraudspark.simulate.generator import (
    RAW_FORMATS,
    FraudScenario,
    generate_transactions,
    scenario_counts,
    write_raw,
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer: {text!r}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a share in [0, 1]: {text!r}")
    return value


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "generate", "Write simulated raw transaction files, one directory per day (day=YYYY-MM-DD)."
    )
    parser.add_argument("--out", required=True, help="directory of the raw files")
    parser.add_argument("--customers", type=_positive, default=5000)
    parser.add_argument("--terminals", type=_positive, default=10000)
    parser.add_argument("--days", type=_positive, default=90)
    parser.add_argument("--start-date", type=iso_date, default=date(2025, 1, 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", default="parquet", choices=RAW_FORMATS)
    parser.add_argument(
        "--drift-from",
        type=iso_date,
        default=None,
        help="inject drift: amounts x generator.drift_amount_factor from this day on",
    )
    parser.add_argument(
        "--hot-terminal-share",
        type=_share,
        default=None,
        help="skew: terminal 0 takes this share of all payments "
        "(default: generator.hot_terminal_share, 0)",
    )
    args = parser.parse_args(argv)
    config = job_config(args)
    params = config.generator
    if args.hot_terminal_share is not None:
        params = params.model_copy(update={"hot_terminal_share": args.hot_terminal_share})
    spark = job_session(config)
    transactions = generate_transactions(
        spark,
        params,
        customers=args.customers,
        terminals=args.terminals,
        days=args.days,
        start_date=args.start_date,
        seed=args.seed,
        drift_from=args.drift_from,
    ).persist()
    try:
        write_raw(transactions, args.out, args.format)
        counts = scenario_counts(transactions)
    finally:
        transactions.unpersist()
    rows = sum(counts.values())
    fraud = rows - counts[FraudScenario.GENUINE]
    last_day = args.start_date + timedelta(days=args.days - 1)
    print(
        f"generate: wrote {rows} transactions for {args.days} days "
        f"({args.start_date} .. {last_day}) to {args.out} as {args.format}"
    )
    lines = [(f"{s.value} {s.name.lower()}", count) for s, count in counts.items()]
    for label, count in [*lines, ("fraud", fraud)]:
        print(f"  {label:<24}{count:>12}  {count / max(rows, 1):7.3%}")
    return 0
