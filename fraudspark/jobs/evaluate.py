"""fraudspark evaluate --train-start D --train-days N --delay-days N --test-days N --models LIST"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fraudspark.evaluation import (
    EVALUATED_MODELS,
    ProtocolWindow,
    evaluate_models,
    write_evaluations,
)
from fraudspark.jobs.common import iso_date, job_config, job_parser, job_session
from fraudspark.scoring.base import TrainingConfig
from fraudspark.scoring.spark import DEFAULT_TARGET_ALERT_RATE


def comma_list(text: str) -> list[str]:
    """argparse type for ``a,b,c``."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "evaluate",
        "Train on some days, skip the label delay, score the test days (Fraud Detection "
        "Handbook protocol); print the metrics and MERGE them into fraud.evaluations.",
    )
    parser.add_argument("--train-start", type=iso_date, required=True)
    parser.add_argument("--train-days", type=int, default=7)
    parser.add_argument("--delay-days", type=int, default=7)
    parser.add_argument("--test-days", type=int, default=7)
    parser.add_argument(
        "--models",
        type=comma_list,
        required=True,
        help=f"comma-separated, among {', '.join(EVALUATED_MODELS)} (rapp gives rapp-sap and "
        "rapp-nap)",
    )
    parser.add_argument("--seeds", type=comma_list, default=["0"], help="e.g. 0,1,2")
    parser.add_argument("--epochs", type=int, default=TrainingConfig.epochs)
    parser.add_argument("--alert-rate", type=float, default=DEFAULT_TARGET_ALERT_RATE)
    args = parser.parse_args(argv)
    try:
        seeds = [int(seed) for seed in args.seeds]
    except ValueError:
        parser.error(f"--seeds must be integers, got {','.join(args.seeds)}")
    window = ProtocolWindow(args.train_start, args.train_days, args.delay_days, args.test_days)
    config = job_config(args)
    spark = job_session(config)
    evaluation = evaluate_models(
        spark,
        config,
        window,
        args.models,
        seeds,
        TrainingConfig(epochs=args.epochs),
        args.alert_rate,
    )
    write_evaluations(spark, config, evaluation)
    print(evaluation.table())
    return 0
