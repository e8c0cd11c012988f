"""fraudspark train-scorer --kind ae|vae|rapp|mahalanobis --start D --end D"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import iso_date, job_config, job_parser, job_session
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.monitor import keep_reference_at_registration
from fraudspark.pipelines.train import train_scorer
from fraudspark.registry import MODEL_NAMES, champion_version, register_model


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "train-scorer",
        "Train an anomaly scorer on feature-store rows, export it and register a new version.",
    )
    parser.add_argument("--kind", choices=sorted(MODEL_NAMES), required=True)
    parser.add_argument("--start", type=iso_date, required=True, help="first training day")
    parser.add_argument("--end", type=iso_date, required=True, help="last training day")
    parser.add_argument("--seed", type=int, default=0, help="fixes initialisation and shuffling")
    parser.add_argument(
        "--epochs", type=int, default=TrainingConfig.epochs, help="at most (see --patience)"
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=TrainingConfig.early_stopping_patience,
        help="stop after this many epochs without a better validation loss (a held-out share "
        "of the genuine training rows); 0: train every epoch on every row",
    )
    parser.add_argument(
        "--alert-rate",
        type=float,
        help="share of training rows above the alert threshold (default: the configuration's "
        "scoring.target_alert_rate)",
    )
    parser.add_argument(
        "--include-known-frauds",
        action="store_true",
        help="train on rows labelled fraud too (default: leave them out)",
    )
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    trained = train_scorer(
        spark,
        config,
        args.kind,
        args.start,
        args.end,
        training=TrainingConfig(
            epochs=args.epochs, seed=args.seed, early_stopping_patience=args.patience or None
        ),
        target_alert_rate=args.alert_rate or config.scoring.target_alert_rate,
        include_known_frauds=args.include_known_frauds,
    )
    name = MODEL_NAMES[args.kind]
    version = register_model(config, name, trained.artifact, trained.params)
    keep_reference_at_registration(spark, config, name, version, trained.artifact)
    metadata = trained.artifact.metadata
    print(
        f"registered {name}/{version} (champion: version {champion_version(config, name)}): "
        f"{metadata['extra']['training_rows']} training rows, "
        f"threshold {metadata['threshold']:.6g}; monitoring reference kept"
    )
    return 0
