"""The evaluation job: the protocol for anomaly scorers or oversampling methods.

Results are MERGEd into ``fraud.evaluations``: re-running an evaluation replaces its rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.evaluation.protocol import (
    EVALUATED_CLASSIFIERS,
    EVALUATED_MODELS,
    Evaluation,
    EvaluationResult,
    ProtocolWindow,
    _settings_hash,
    artifact_fingerprint,
    classifier_evaluation_name,
    detection_metrics,
    evaluation_id,
    evaluation_training_set_name,
    exclude_known_compromised,
    known_frauds,
)
from fraudspark.features.model_inputs import model_inputs
from fraudspark.features.store import current_versions, feature_rows, model_feature_columns
from fraudspark.features.training_data import augmented_frame
from fraudspark.lakehouse.io import upsert
from fraudspark.lakehouse.tables import EVALUATIONS
from fraudspark.models.batch_scoring import score_feature_rows
from fraudspark.models.classifiers.gbt import GbtClassifier, GbtParams
from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.models.training import TrainingConfig
from fraudspark.oversampling import OVERSAMPLERS
from fraudspark.oversampling.base import check_sampling_ratio
from fraudspark.pipelines.oversample import oversample_training_set
from fraudspark.pipelines.train import train_classifier, train_scorer
from fraudspark.pipelines.training_sets import build_training_set

log = logging.getLogger(__name__)


def evaluate_models(
    spark: SparkSession,
    config: Config,
    window: ProtocolWindow,
    models: Sequence[str],
    seeds: Sequence[int] = (0,),
    training: TrainingConfig | None = None,
    target_alert_rate: float | None = None,
) -> Evaluation:
    """Run the protocol for each model and seed; training and test rows from pinned versions.

    Each model trains on the training days without their known frauds (as ``train-scorer``
    does) and scores the test days through the Spark scoring path. Test rows without a label
    are left out of the metrics.
    """
    unknown = [model for model in models if model not in EVALUATED_MODELS]
    if unknown or not models:
        raise ValueError(f"models must be among {sorted(EVALUATED_MODELS)}, got {list(models)}")
    training = training or TrainingConfig()
    if target_alert_rate is None:
        target_alert_rate = config.scoring.target_alert_rate
    versions = current_versions(spark, config)
    features = model_feature_columns(config)
    frauds = known_frauds(spark, config, window, versions)
    test_rows = feature_rows(spark, config, window.test_start, window.test_end, versions).cache()
    evaluation = Evaluation(
        evaluation_id(window, versions, training, target_alert_rate), window, versions
    )
    try:
        for model in models:
            kind, score_columns = EVALUATED_MODELS[model]
            for seed in seeds:
                began = time.perf_counter()
                trained = train_scorer(
                    spark,
                    config,
                    kind,
                    window.train_start,
                    window.train_end,
                    training=dataclasses.replace(training, seed=seed),
                    target_alert_rate=target_alert_rate,
                    versions=versions,
                )
                train_seconds = time.perf_counter() - began
                scored = (
                    score_feature_rows(test_rows, trained.artifact, features)
                    .where(F.col("is_fraud").isNotNull())
                    .select("customer_id", "tx_date", "is_fraud", *score_columns.values())
                    .toPandas()
                )
                kept = exclude_known_compromised(scored, frauds, window)
                for name, column in score_columns.items():
                    evaluation.results.append(
                        EvaluationResult(
                            model=name,
                            oversampling="none",
                            seed=seed,
                            metrics=detection_metrics(kept, column),
                            model_version=artifact_fingerprint(trained.artifact),
                            train_rows=int(trained.artifact.metadata["extra"]["training_rows"]),
                            test_rows=len(kept),
                            test_frauds=int(kept["is_fraud"].sum()),
                            train_seconds=train_seconds,
                        )
                    )
                log.info("evaluated %s (seed %d)", model, seed)
    finally:
        test_rows.unpersist()
    return evaluation


def _fit_gbt(
    spark: SparkSession,
    config: Config,
    training_set: str,
    method: str,
    params: GbtParams,
) -> tuple[GbtClassifier, str, int]:
    """XGBoost on an augmented training set: the model, its fingerprint, its training rows."""
    frame, _ = augmented_frame(spark, config, training_set, method)
    features = model_feature_columns(config)
    model = GbtClassifier(params).fit(frame[features], frame["is_fraud"].to_numpy())
    digest = hashlib.sha256(model.to_json().encode()).hexdigest()[:16]
    return model, f"sha256:{digest}", len(frame)


def evaluate_oversampling(
    spark: SparkSession,
    config: Config,
    window: ProtocolWindow,
    methods: Sequence[str],
    seeds: Sequence[int] = (0,),
    *,
    ratios: Sequence[float] | None = None,
    steps: int | None = None,
    classifiers: Sequence[str] = ("mlp",),
    classifier: ClassifierConfig | None = None,
    gbt: GbtParams | None = None,
) -> Evaluation:
    """The oversampling leaderboard: every method x ratio x seed oversamples the same training
    days (written as training set :func:`evaluation_training_set_name`; generators not
    registered), then every classifier of ``classifiers`` (``mlp``, ``gbt``) trains on that
    output with the seed and scores the same test days. One result per
    (classifier, method, ratio, seed), ``model_name`` ``classifier-<kind>``.

    ``ratios`` default to ``[config.oversampling.sampling_ratio]``; ``none`` ignores the ratio,
    so it runs once per seed (its rows carry ratio None). ``steps`` is every generative method's
    training length (default ``config.oversampling.steps``). ``train_seconds`` is the wall time
    to oversample plus to train that classifier.

    Test rows are scored in process: they are a few days and the classifiers are small. Frauds
    known at training time stay in (the classifiers need them); test rows of customers already
    known compromised are left out as for the scorers. Raises ValueError for an unknown method
    or classifier, or a ratio outside (0, 1].
    """
    unknown = [method for method in methods if method not in OVERSAMPLERS]
    if unknown or not methods:
        raise ValueError(f"methods must be among {list(OVERSAMPLERS)}, got {list(methods)}")
    wrong = [kind for kind in classifiers if kind not in EVALUATED_CLASSIFIERS]
    if wrong or not classifiers:
        raise ValueError(
            f"classifiers must be among {list(EVALUATED_CLASSIFIERS)}, got {list(classifiers)}"
        )
    ratios = list(ratios) if ratios else [config.oversampling.sampling_ratio]
    for asked in ratios:
        check_sampling_ratio(asked)
    steps = config.oversampling.steps if steps is None else steps
    classifier = classifier or ClassifierConfig()
    gbt = gbt or GbtParams()
    training_set = evaluation_training_set_name(window)
    built = build_training_set(spark, config, training_set, window.train_start, window.train_end)
    versions = built.versions
    features = model_feature_columns(config)
    test = (
        model_inputs(
            feature_rows(spark, config, window.test_start, window.test_end, versions), features
        )
        .where(F.col("is_fraud").isNotNull())
        .select("customer_id", "tx_date", "is_fraud", *features)
        .toPandas()
    )
    test = exclude_known_compromised(test, known_frauds(spark, config, window, versions), window)
    settings = {
        "steps": steps,
        "mlp": dataclasses.asdict(classifier),
        "gbt": {**dataclasses.asdict(gbt), "extra": dict(gbt.extra)},
    }
    evaluation = Evaluation(
        _settings_hash({"window": dataclasses.asdict(window), "data_versions": dict(versions),
                        "oversampling": {**settings, "seed": None}}),
        window,
        dict(versions),
    )  # fmt: skip
    runs: list[tuple[str, float | None]] = [("none", None)] if "none" in methods else []
    runs += [(method, value) for value in ratios for method in methods if method != "none"]
    for method, ratio in runs:
        for seed in seeds:
            began = time.perf_counter()
            report = oversample_training_set(
                spark, config, training_set, method,
                ratio=ratio, seed=seed, steps=steps, register=False,
            )  # fmt: skip
            oversample_seconds = time.perf_counter() - began
            for kind in classifiers:
                began = time.perf_counter()
                if kind == "mlp":
                    trained = train_classifier(
                        spark, config, training_set, method,
                        training=dataclasses.replace(classifier, seed=seed),
                    )  # fmt: skip
                    score = trained.classifier.predict_proba(test[features])
                    fingerprint = artifact_fingerprint(trained.artifact)
                    train_rows = int(trained.artifact.metadata["extra"]["training_rows"])
                else:
                    model, fingerprint, train_rows = _fit_gbt(
                        spark, config, training_set, method, dataclasses.replace(gbt, seed=seed)
                    )
                    score = model.predict_proba(test[features])
                train_seconds = oversample_seconds + time.perf_counter() - began
                scored = test.assign(score=score)
                evaluation.results.append(
                    EvaluationResult(
                        model=classifier_evaluation_name(kind),
                        oversampling=method,
                        seed=seed,
                        metrics=detection_metrics(scored, "score"),
                        model_version=fingerprint,
                        train_rows=train_rows,
                        test_rows=len(scored),
                        test_frauds=int(scored["is_fraud"].sum()),
                        train_seconds=train_seconds,
                        quality=report.quality.summary() if report.quality else {},
                        ratio=ratio,
                    )
                )
                log.info(
                    "evaluated oversampling %s ratio %s x %s (seed %d) in %.0f s",
                    method, ratio, kind, seed, train_seconds,
                )  # fmt: skip
    return evaluation


def write_evaluations(spark: SparkSession, config: Config, evaluation: Evaluation) -> None:
    """MERGE the results into ``fraud.evaluations``: re-running an evaluation replaces its rows."""
    now = datetime.now(timezone.utc)
    w = evaluation.window
    records: list[tuple[Any, ...]] = [
        (
            evaluation.evaluation_id,
            r.model,
            r.oversampling,
            r.ratio,
            r.seed,
            r.metrics.auc_roc,
            r.metrics.average_precision,
            r.metrics.cp_at_100,
            r.metrics.cp_at_100_per_day,
            w.train_start,
            w.train_end,
            w.test_start,
            w.test_end,
            w.delay_days,
            r.train_rows,
            r.test_rows,
            r.test_frauds,
            r.train_seconds,
            r.quality.get("two_sample_auc"),
            r.quality.get("tstr_average_precision"),
            None if "invalid_rows" not in r.quality else int(r.quality["invalid_rows"]),
            r.model_version,
            evaluation.data_versions,
            now,
        )
        for r in evaluation.results
    ]
    upsert(spark, config, EVALUATIONS, spark.createDataFrame(records, EVALUATIONS.schema))
