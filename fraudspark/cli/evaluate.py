"""fraudspark evaluate --train-start D [--models LIST] [--oversampling LIST] [--seeds N|LIST]"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fraudspark.cli.common import iso_date, job_config, job_parser, job_session
from fraudspark.evaluation.protocol import EVALUATED_MODELS, Evaluation, ProtocolWindow
from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.models.training import TrainingConfig
from fraudspark.oversampling import OVERSAMPLERS
from fraudspark.pipelines.evaluate import evaluate_models, evaluate_oversampling, write_evaluations
from fraudspark.pipelines.oversample import DEFAULT_GAN_EPOCHS, DEFAULT_SAMPLING_RATIO


def comma_list(text: str) -> list[str]:
    """argparse type for ``a,b,c``."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def seed_list(text: str) -> list[int]:
    """argparse type for ``--seeds``: ``3`` means seeds 0, 1, 2; ``4,7`` means those seeds."""
    try:
        seeds = [int(item) for item in comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers, got {text!r}") from None
    if len(seeds) == 1:
        if seeds[0] < 1:
            raise argparse.ArgumentTypeError(f"a number of seeds must be positive, got {text!r}")
        return list(range(seeds[0]))
    return seeds


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
        default=[],
        help=f"anomaly scorers, among {', '.join(EVALUATED_MODELS)} (rapp gives rapp-sap and "
        "rapp-nap)",
    )
    parser.add_argument(
        "--oversampling",
        type=comma_list,
        default=[],
        help=f"the classifier trained on each oversampling method, among {', '.join(OVERSAMPLERS)}",
    )
    parser.add_argument(
        "--seeds", type=seed_list, default=[0], help="a count (3: seeds 0,1,2) or a list (4,7)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=TrainingConfig.epochs,
        help="scorers (at most, see --patience)",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=TrainingConfig.early_stopping_patience,
        help="scorers: stop after this many epochs without a better validation loss "
        "(0: train every epoch on every row)",
    )
    parser.add_argument("--alert-rate", type=float, help="default: scoring.target_alert_rate")
    parser.add_argument("--ratio", type=float, default=DEFAULT_SAMPLING_RATIO, help="fraud/normal")
    parser.add_argument("--gan-epochs", type=int, default=DEFAULT_GAN_EPOCHS)
    parser.add_argument("--classifier-epochs", type=int, default=ClassifierConfig.epochs)
    args = parser.parse_args(argv)
    if not args.models and not args.oversampling:
        parser.error("give --models, --oversampling or both")
    window = ProtocolWindow(args.train_start, args.train_days, args.delay_days, args.test_days)
    config = job_config(args)
    spark = job_session(config)
    evaluations: list[Evaluation] = []
    if args.models:
        evaluations.append(
            evaluate_models(
                spark,
                config,
                window,
                args.models,
                args.seeds,
                TrainingConfig(epochs=args.epochs, early_stopping_patience=args.patience or None),
                args.alert_rate or config.scoring.target_alert_rate,
            )
        )
    if args.oversampling:
        evaluations.append(
            evaluate_oversampling(
                spark,
                config,
                window,
                args.oversampling,
                args.seeds,
                ratio=args.ratio,
                gan_epochs=args.gan_epochs,
                classifier=ClassifierConfig(epochs=args.classifier_epochs),
            )
        )
    for evaluation in evaluations:
        write_evaluations(spark, config, evaluation)
        print(evaluation.table() + "\n")
    return 0
