"""fraudspark train-classifier --training-set NAME --method M [--kind mlp] [--seed S]"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import job_config, job_parser, job_session
from fraudspark.models.classifiers.mlp import CLASSIFIER_KINDS, ClassifierConfig
from fraudspark.oversampling import OVERSAMPLERS
from fraudspark.pipelines.train import register_classifier, train_classifier
from fraudspark.registry import CLASSIFIER_MODEL_NAME


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "train-classifier",
        "Train the supervised classifier on an augmented training set and register it.",
    )
    parser.add_argument("--training-set", required=True)
    parser.add_argument("--method", choices=list(OVERSAMPLERS), required=True)
    parser.add_argument("--kind", choices=CLASSIFIER_KINDS, default=CLASSIFIER_KINDS[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=ClassifierConfig.epochs)
    args = parser.parse_args(argv)
    config = job_config(args)
    spark = job_session(config)
    trained = train_classifier(
        spark,
        config,
        args.training_set,
        args.method,
        kind=args.kind,
        training=ClassifierConfig(epochs=args.epochs, seed=args.seed),
    )
    version = register_classifier(config, trained)
    print(f"registered {CLASSIFIER_MODEL_NAME}/{version}: {trained.summary()}")
    return 0
