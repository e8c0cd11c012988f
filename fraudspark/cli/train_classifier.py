"""fraudspark train-classifier --training-set NAME --method M [--kind mlp|gbt] [--seed S]
[--epochs E] [--trees N]"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import job_config, job_parser, job_session
from fraudspark.models.classifiers import CLASSIFIER_KINDS
from fraudspark.models.classifiers.gbt import GbtParams
from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.oversampling import OVERSAMPLERS
from fraudspark.pipelines.monitor import keep_reference_at_registration
from fraudspark.pipelines.train import register_classifier, train_classifier


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "train-classifier",
        "Train a supervised classifier (MLP or XGBoost) on an augmented training set and "
        "register it (fraud-classifier, fraud-classifier-gbt).",
    )
    parser.add_argument("--training-set", required=True)
    parser.add_argument("--method", choices=list(OVERSAMPLERS), required=True)
    parser.add_argument("--kind", choices=CLASSIFIER_KINDS, default=CLASSIFIER_KINDS[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=ClassifierConfig.epochs, help="mlp only")
    parser.add_argument("--trees", type=int, default=GbtParams.n_estimators, help="gbt only")
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
        gbt=GbtParams(n_estimators=args.trees, seed=args.seed),
    )
    version = register_classifier(config, trained)
    keep_reference_at_registration(spark, config, trained.model_name, version, trained.artifact)
    print(
        f"registered {trained.model_name}/{version}: {trained.summary()}; monitoring reference kept"
    )
    return 0
