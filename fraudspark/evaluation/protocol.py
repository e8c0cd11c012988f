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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.evaluation.leaderboard import (
    LEADERBOARD_COLUMNS,
    QUALITY_COLUMNS,
    format_leaderboard,
    leaderboard,
)
from fraudspark.lakehouse.io import read_table_as_of
from fraudspark.lakehouse.tables import TRANSACTIONS
from fraudspark.models.artifact import ModelArtifact
from fraudspark.models.training import TrainingConfig

CARD_PRECISION_K = 100


# Classifiers an oversampling evaluation trains on every method's output.
EVALUATED_CLASSIFIERS = ("mlp", "gbt")


def classifier_evaluation_name(kind: str) -> str:
    """The ``model_name`` of an oversampling evaluation's rows: ``classifier-<kind>``."""
    return f"classifier-{kind}"


CLASSIFIER_EVALUATION_NAME = classifier_evaluation_name("mlp")


# --models entry -> (scorer kind trained, {result row's model name: score column evaluated}).
EVALUATED_MODELS: dict[str, tuple[str, dict[str, str]]] = {
    "ae": ("ae", {"ae": "score"}),
    "vae": ("vae", {"vae": "score"}),
    "rapp": ("rapp", {"rapp-sap": "sap", "rapp-nap": "nap"}),
    # The classical reference every generative scorer is reported beside (issue 13).
    "mahalanobis": ("mahalanobis", {"mahalanobis": "score"}),
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
    # Fraud / normal rows after oversampling; None for ``none`` and the anomaly scorers.
    ratio: float | None = None


@dataclass(frozen=True)
class Evaluation:
    evaluation_id: str
    window: ProtocolWindow
    data_versions: dict[str, int]
    results: list[EvaluationResult] = field(default_factory=list)

    def rows(self) -> pd.DataFrame:
        """One row per result with ``fraud.evaluations``' column names: ``model_name``,
        ``oversampling``, ``ratio``, ``seed``, :data:`LEADERBOARD_COLUMNS`, ``test_rows``,
        ``test_frauds``, ``model_fingerprint``."""
        return pd.DataFrame(
            [
                {
                    "model_name": r.model,
                    "oversampling": r.oversampling,
                    "ratio": r.ratio,
                    "seed": r.seed,
                    "auc_roc": r.metrics.auc_roc,
                    "average_precision": r.metrics.average_precision,
                    "cp_at_100": r.metrics.cp_at_100,
                    **{q: r.quality.get(q) for q in QUALITY_COLUMNS},
                    "train_seconds": r.train_seconds,
                    "test_rows": r.test_rows,
                    "test_frauds": r.test_frauds,
                    "model_fingerprint": r.model_version,
                }
                for r in self.results
            ],
            columns=[
                "model_name", "oversampling", "ratio", "seed", *LEADERBOARD_COLUMNS,
                "test_rows", "test_frauds", "model_fingerprint",
            ],
        )  # fmt: skip

    def table(self) -> str:
        """The results as a text table, one line per (model, oversampling, ratio, seed); with
        several seeds, the leaderboard after it."""
        frame = self.rows().drop(columns=list(QUALITY_COLUMNS))
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
        """The one leaderboard (:mod:`fraudspark.evaluation.leaderboard`) of these results:
        mean ± std (population) over seeds per (model, oversampling, ratio), as text cells."""
        return format_leaderboard(leaderboard(self.rows()))


def artifact_fingerprint(artifact: ModelArtifact) -> str:
    """``sha256:<16 hex>`` of an artifact's model bytes and metadata."""
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


def evaluation_training_set_name(window: ProtocolWindow) -> str:
    """The ``fraud.training_sets`` name an oversampling evaluation trains on."""
    return f"evaluation-{window.train_start}-{window.train_days}d"
