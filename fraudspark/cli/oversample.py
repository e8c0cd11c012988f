"""fraudspark oversample --training-set NAME --method M [--ratio R] [--seed S] [--steps N]"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import job_config, job_parser, job_session
from fraudspark.evaluation.leaderboard import oversampling_leaderboard
from fraudspark.oversampling import OVERSAMPLERS
from fraudspark.pipelines.oversample import oversample_training_set


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "oversample",
        "Add synthetic fraud rows to a training set (fraud.augmented_training_sets) and report "
        "their quality (fraud.oversampling_quality).",
    )
    parser.add_argument("--training-set", required=True, help="a name in fraud.training_sets")
    parser.add_argument("--method", choices=list(OVERSAMPLERS), required=True)
    parser.add_argument(
        "--ratio",
        type=float,
        help="fraud / normal rows after oversampling, in (0, 1] (default: config "
        "oversampling.sampling_ratio)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--steps",
        type=int,
        help="training steps of a generative method, the same unit for every GAN (generator "
        "updates) and diffusion (denoiser updates) (default: config oversampling.steps)",
    )
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    report = oversample_training_set(
        spark,
        config,
        args.training_set,
        args.method,
        ratio=args.ratio,
        seed=args.seed,
        steps=args.steps,
    )
    print(report.summary())
    board = oversampling_leaderboard(spark, config, args.training_set)
    if not board.empty:
        print(f"oversampling quality for {args.training_set!r} (two-sample AUC 0.5 is ideal):")
        print(board.to_string(float_format="{:.3f}".format))
    return 0
