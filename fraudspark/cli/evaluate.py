"""fraudspark evaluate --train-start D [--models LIST] [--oversampling LIST] [--classifiers
mlp,gbt] [--ratios 0.05,0.1] [--steps N] [--seeds N|LIST]"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fraudspark.cli.common import iso_date, job_config, job_parser, job_session
from fraudspark.evaluation.leaderboard import compare_best
from fraudspark.evaluation.protocol import (
    EVALUATED_CLASSIFIERS,
    EVALUATED_MODELS,
    Evaluation,
    ProtocolWindow,
)
from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.models.training import TrainingConfig
from fraudspark.oversampling import OVERSAMPLERS
from fraudspark.pipelines.evaluate import evaluate_models, evaluate_oversampling, write_evaluations


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


def ratio_list(text: str) -> list[float]:
    """argparse type for ``--ratios``: ``0.05,0.1``."""
    try:
        return [float(item) for item in comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"ratios must be numbers, got {text!r}") from None


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
    parser.add_argument(
        "--classifiers",
        type=comma_list,
        default=["mlp"],
        help="classifiers trained on each method's output, among "
        + ", ".join(EVALUATED_CLASSIFIERS),
    )
    parser.add_argument(
        "--ratios",
        "--ratio",
        type=ratio_list,
        help="fraud/normal rows after oversampling, one or a list (default: config "
        "oversampling.sampling_ratio)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        help="training steps of every GAN and of diffusion (default: config oversampling.steps)",
    )
    parser.add_argument("--classifier-epochs", type=int, default=ClassifierConfig.epochs)
    args = parser.parse_args(argv)
    if not args.models and not args.oversampling:
        parser.error("give --models, --oversampling or both")
    wrong = [kind for kind in args.classifiers if kind not in EVALUATED_CLASSIFIERS]
    if wrong:
        parser.error(f"--classifiers must be among {', '.join(EVALUATED_CLASSIFIERS)}: {wrong}")
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
                ratios=args.ratios,
                steps=args.steps,
                classifiers=args.classifiers,
                classifier=ClassifierConfig(epochs=args.classifier_epochs),
            )
        )
    for evaluation in evaluations:
        write_evaluations(spark, config, evaluation)
        print(evaluation.table() + "\n")
    if args.oversampling and len(args.seeds) > 1 and len(args.oversampling) > 1:
        try:
            print(compare_best(evaluations[-1].rows()).summary())
        except ValueError as error:  # no generative method, or no baseline with 2 seeds
            print(f"no paired comparison: {error}")
    return 0
