"""The evaluation protocol of the Fraud Detection Handbook (Le Borgne et al.), on the lakehouse.

Models train on ``train_days`` days from ``train_start``; the next ``delay_days`` are skipped
(their labels are not known yet when the model would go live); the ``test_days`` after them are
scored. On each test day T the transactions of customers already known to be compromised are
left out: customers with a fraud during the training days or on any later day up to
T - delay - 1, whose labels are known by T. On what remains: AUC ROC and average precision over
all test rows, and card precision@100 per day (customers ranked by their day's maximum score;
customers it detects are removed from later days), averaged over the days.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.classifier import ClassifierConfig, train_classifier
from fraudspark.config import Config
from fraudspark.features.store import (
    build_training_set,
    current_versions,
    feature_rows,
    model_feature_columns,
)
from fraudspark.lakehouse.io import ensure_table, read_table_as_of
from fraudspark.lakehouse.tables import EVALUATIONS, TRANSACTIONS, table_path
from fraudspark.oversampling import OVERSAMPLERS
from fraudspark.oversampling.job import (
    DEFAULT_GAN_EPOCHS,
    DEFAULT_SAMPLING_RATIO,
    oversample_training_set,
)
from fraudspark.scoring.base import TrainingConfig
from fraudspark.scoring.export import ScorerArtifact
from fraudspark.scoring.spark import (
    DEFAULT_TARGET_ALERT_RATE,
    model_inputs,
    score_feature_rows,
    train_scorer,
)

log = logging.getLogger(__name__)

CARD_PRECISION_K = 100
CLASSIFIER_EVALUATION_NAME = "classifier-mlp"  # model name of oversampling evaluation rows
# Synthetic-row quality shown on the oversampling leaderboard (see QualityReport).
LEADERBOARD_QUALITY = ("two_sample_auc", "tstr_average_precision", "invalid_rows")
# --models entry -> (scorer kind trained, {result row's model name: score column evaluated}).
EVALUATED_MODELS: dict[str, tuple[str, dict[str, str]]] = {
    "ae": ("ae", {"ae": "score"}),
    "vae": ("vae", {"vae": "score"}),
    "rapp": ("rapp", {"rapp-sap": "sap", "rapp-nap": "nap"}),
}


@dataclass(frozen=True)
class ProtocolWindow:
    """Training days, the label delay after them, then the test days."""

    train_start: date
    train_days: int = 7
    delay_days: int = 7
    test_days: int = 7

    def __post_init__(self) -> None:
        if self.train_days < 1 or self.test_days < 1 or self.delay_days < 0:
            raise ValueError(
                "train_days and test_days must be positive and delay_days non-negative, got "
                f"{self.train_days}, {self.test_days}, {self.delay_days}"
            )

    @property
    def train_end(self) -> date:
        return self.train_start + timedelta(days=self.train_days - 1)

    @property
    def test_start(self) -> date:
        return self.train_start + timedelta(days=self.train_days + self.delay_days)

    @property
    def test_end(self) -> date:
        return self.test_start + timedelta(days=self.test_days - 1)


def exclude_known_compromised(
    test: pd.DataFrame, frauds: pd.DataFrame, window: ProtocolWindow
) -> pd.DataFrame:
    """The test rows of customers not yet known to be compromised on the row's day.

    ``test`` and ``frauds`` (the fraudulent transactions of any days) have ``customer_id`` and
    ``tx_date``. A customer is known on day T from a fraud dated ``train_start`` .. T - delay - 1.
    """
    known = frauds[pd.to_datetime(frauds["tx_date"]) >= pd.Timestamp(window.train_start)]
    first_fraud = pd.to_datetime(known.groupby("customer_id")["tx_date"].min())
    known_from = test["customer_id"].map(first_fraud + pd.Timedelta(days=window.delay_days + 1))
    kept = known_from.isna() | (pd.to_datetime(test["tx_date"]) < known_from)
    return test[kept.to_numpy()]


def card_precision_at_k(
    test: pd.DataFrame, score_column: str, k: int = CARD_PRECISION_K
) -> tuple[float, list[float]]:
    """Mean card precision@k over the test days, and each day's value.

    Per day (in date order): each customer's maximum score and whether any of its transactions
    that day is fraud; the k highest-scoring customers (ties: lower ``customer_id`` first); the
    share of them with a fraud. Customers detected so are left out of later days.
    """
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    detected: set[int] = set()
    per_day: list[float] = []
    for _, day in test.groupby("tx_date", sort=True):
        day = day[~day["customer_id"].isin(detected)]
        cards = day.groupby("customer_id", as_index=False).agg(
            score=(score_column, "max"), is_fraud=("is_fraud", "max")
        )
        top = cards.sort_values(["score", "customer_id"], ascending=[False, True]).head(k)
        found = top.loc[top["is_fraud"] == 1, "customer_id"]
        per_day.append(len(found) / k)
        detected.update(int(customer) for customer in found)
    return (float(np.mean(per_day)) if per_day else float("nan")), per_day


@dataclass(frozen=True)
class DetectionMetrics:
    """AUC ROC and average precision are None when the test rows hold a single class."""

    auc_roc: float | None
    average_precision: float | None
    cp_at_100: float
    cp_at_100_per_day: list[float]


def detection_metrics(test: pd.DataFrame, score_column: str) -> DetectionMetrics:
    """The protocol's metrics on already filtered test rows (``is_fraud`` 0/1, a score)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = test["is_fraud"].to_numpy()
    scores = test[score_column].to_numpy()
    both_classes = len(np.unique(labels)) == 2
    cp, per_day = card_precision_at_k(test, score_column)
    return DetectionMetrics(
        auc_roc=float(roc_auc_score(labels, scores)) if both_classes else None,
        average_precision=float(average_precision_score(labels, scores)) if both_classes else None,
        cp_at_100=cp,
        cp_at_100_per_day=per_day,
    )


@dataclass(frozen=True)
class EvaluationResult:
    """One row of ``fraud.evaluations``."""

    model: str
    oversampling: str
    seed: int
    metrics: DetectionMetrics
    model_version: str
    train_rows: int
    test_rows: int
    test_frauds: int
    train_seconds: float | None = None  # wall time to oversample and train
    # Synthetic rows' quality (QualityReport.summary()) for oversampling methods that add rows.
    quality: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    evaluation_id: str
    window: ProtocolWindow
    data_versions: dict[str, int]
    results: list[EvaluationResult] = field(default_factory=list)

    def table(self) -> str:
        """The results as a text table, one line per (model, oversampling, seed)."""
        frame = pd.DataFrame(
            [
                {
                    "model": r.model,
                    "oversampling": r.oversampling,
                    "seed": r.seed,
                    "auc_roc": r.metrics.auc_roc,
                    "average_precision": r.metrics.average_precision,
                    "cp_at_100": r.metrics.cp_at_100,
                    "test_rows": r.test_rows,
                    "test_frauds": r.test_frauds,
                    "train_s": r.train_seconds,
                    "model_version": r.model_version,
                }
                for r in self.results
            ]
        )
        rows: str = frame.to_string(index=False, float_format="{:.3f}".format)
        w = self.window
        text = (
            f"evaluation {self.evaluation_id}: train {w.train_start} .. {w.train_end}, "
            f"delay {w.delay_days} days, test {w.test_start} .. {w.test_end}, "
            f"data versions {self.data_versions}\n{rows}"
        )
        if frame["seed"].nunique() > 1:
            text += "\n\nmean ± std over seeds:\n" + self.leaderboard().to_string(index=False)
        return text

    def leaderboard(self) -> pd.DataFrame:
        """Mean ± std (population) over seeds per (model, oversampling), in evaluation order."""
        metrics = ["auc_roc", "average_precision", "cp_at_100", "train_seconds"]
        quality = [q for q in LEADERBOARD_QUALITY if any(q in r.quality for r in self.results)]
        frame = pd.DataFrame(
            [
                {
                    "model": r.model,
                    "oversampling": r.oversampling,
                    "auc_roc": r.metrics.auc_roc,
                    "average_precision": r.metrics.average_precision,
                    "cp_at_100": r.metrics.cp_at_100,
                    "train_seconds": r.train_seconds,
                    **{q: r.quality.get(q, np.nan) for q in quality},
                }
                for r in self.results
            ]
        )
        metrics += quality
        rows = []
        for (model, oversampling), group in frame.groupby(["model", "oversampling"], sort=False):
            row: dict[str, Any] = {"model": model, "oversampling": oversampling}
            for metric in metrics:
                values = group[metric].dropna().astype(float)
                row[metric] = (
                    f"{values.mean():.3f} ± {values.std(ddof=0):.3f}" if len(values) else "–"
                )
            row["seeds"] = len(group)
            rows.append(row)
        return pd.DataFrame(rows)


def artifact_fingerprint(artifact: ScorerArtifact) -> str:
    """``sha256:<16 hex>`` of an artifact's TorchScript bytes and metadata."""
    digest = hashlib.sha256(artifact.model_bytes)
    digest.update(json.dumps(artifact.metadata, sort_keys=True).encode())
    return f"sha256:{digest.hexdigest()[:16]}"


def evaluation_id(
    window: ProtocolWindow,
    versions: Mapping[str, int],
    training: TrainingConfig,
    target_alert_rate: float,
) -> str:
    """A hash of everything that fixes the results but the model and seed (its row keys)."""
    return _settings_hash(
        {
            "window": dataclasses.asdict(window),
            "data_versions": dict(versions),
            "training": {**dataclasses.asdict(training), "seed": None},
            "target_alert_rate": target_alert_rate,
        }
    )


def _settings_hash(settings: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def known_frauds(
    spark: SparkSession, config: Config, window: ProtocolWindow, versions: Mapping[str, int]
) -> pd.DataFrame:
    """(customer_id, tx_date) of the frauds whose labels are known by the last test day."""
    known_by_end = window.test_end - timedelta(days=window.delay_days + 1)
    frauds: pd.DataFrame = (
        read_table_as_of(spark, config, TRANSACTIONS, versions["transactions"])
        .where(
            (F.col("is_fraud") == 1)
            & F.col("tx_date").between(F.lit(window.train_start), F.lit(known_by_end))
        )
        .select("customer_id", "tx_date")
        .distinct()
        .toPandas()
    )
    return frauds


def evaluate_models(
    spark: SparkSession,
    config: Config,
    window: ProtocolWindow,
    models: Sequence[str],
    seeds: Sequence[int] = (0,),
    training: TrainingConfig | None = None,
    target_alert_rate: float = DEFAULT_TARGET_ALERT_RATE,
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


def evaluation_training_set_name(window: ProtocolWindow) -> str:
    """The ``fraud.training_sets`` name an oversampling evaluation trains on."""
    return f"evaluation-{window.train_start}-{window.train_days}d"


def evaluate_oversampling(
    spark: SparkSession,
    config: Config,
    window: ProtocolWindow,
    methods: Sequence[str],
    seeds: Sequence[int] = (0,),
    *,
    ratio: float = DEFAULT_SAMPLING_RATIO,
    gan_epochs: int = DEFAULT_GAN_EPOCHS,
    classifier: ClassifierConfig | None = None,
) -> Evaluation:
    """The oversampling leaderboard: for each method and seed, the same training days (written
    as training set :func:`evaluation_training_set_name`), the oversampling job (generators not
    registered), the same MLP classifier on its output, the same test days.

    Test rows are scored in process: they are a few days and the classifier is small. Frauds
    known at training time stay in (the classifier needs them); test rows of customers already
    known compromised are left out as for the scorers.
    """
    unknown = [method for method in methods if method not in OVERSAMPLERS]
    if unknown or not methods:
        raise ValueError(f"methods must be among {list(OVERSAMPLERS)}, got {list(methods)}")
    classifier = classifier or ClassifierConfig()
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
    settings = {"ratio": ratio, "gan_epochs": gan_epochs, **dataclasses.asdict(classifier)}
    evaluation = Evaluation(
        _settings_hash({"window": dataclasses.asdict(window), "data_versions": dict(versions),
                        "oversampling": {**settings, "seed": None}}),
        window,
        dict(versions),
    )  # fmt: skip
    for method in methods:
        for seed in seeds:
            began = time.perf_counter()
            report = oversample_training_set(
                spark, config, training_set, method,
                ratio=ratio, seed=seed, epochs=gan_epochs, register=False,
            )  # fmt: skip
            trained = train_classifier(
                spark, config, training_set, method,
                training=dataclasses.replace(classifier, seed=seed),
            )  # fmt: skip
            train_seconds = time.perf_counter() - began
            scored = test.assign(score=trained.classifier.predict_proba(test[features]))
            evaluation.results.append(
                EvaluationResult(
                    model=CLASSIFIER_EVALUATION_NAME,
                    oversampling=method,
                    seed=seed,
                    metrics=detection_metrics(scored, "score"),
                    model_version=artifact_fingerprint(trained.artifact),
                    train_rows=int(trained.artifact.metadata["extra"]["training_rows"]),
                    test_rows=len(scored),
                    test_frauds=int(scored["is_fraud"].sum()),
                    train_seconds=train_seconds,
                    quality=report.quality.summary() if report.quality else {},
                )
            )
            log.info("evaluated oversampling %s (seed %d) in %.0f s", method, seed, train_seconds)
    return evaluation


def write_evaluations(spark: SparkSession, config: Config, evaluation: Evaluation) -> None:
    """MERGE the results into ``fraud.evaluations``: re-running an evaluation replaces its rows."""
    from delta.tables import DeltaTable

    now = datetime.now(timezone.utc)
    w = evaluation.window
    records: list[tuple[Any, ...]] = [
        (
            evaluation.evaluation_id,
            r.model,
            r.oversampling,
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
            r.model_version,
            evaluation.data_versions,
            now,
        )
        for r in evaluation.results
    ]
    ensure_table(spark, config, EVALUATIONS)
    condition = " AND ".join(f"t.{key} = s.{key}" for key in EVALUATIONS.keys)
    (
        DeltaTable.forPath(spark, table_path(config, EVALUATIONS))
        .alias("t")
        .merge(spark.createDataFrame(records, EVALUATIONS.schema).alias("s"), condition)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
