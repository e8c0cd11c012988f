"""The demo: the whole story on simulated payments, short by default, long with ``full``.

Generate payments (amounts drift x1.5 on the last ``drift_days``), ingest and featurise all but
the last ``nights`` days, build a training set of the ``training_days`` before the nights,
train and register a RaPP scorer, (long version only) run the small oversampling leaderboard,
oversample the training set, train and register the classifier (XGBoost), then run the last
days as nightly runs (ingest, features, score, monitor; the maintain step after the last). The
result holds what the tour shows: the tables with their counts, the last night's top alerts with
their reasons, the drift, the report path and an example query. Each step reports
``[elapsed s] title`` to ``progress``. Every step is idempotent, so running the demo again
leaves the same tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.evaluation.protocol import ProtocolWindow
from fraudspark.lakehouse.io import read_table, table_exists
from fraudspark.lakehouse.tables import ALL_TABLES, RETRAIN_HINTS, qualified_name
from fraudspark.models.classifiers.gbt import GbtParams
from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.evaluate import evaluate_oversampling, write_evaluations
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.pipelines.nightly import backfill
from fraudspark.pipelines.oversample import oversample_training_set
from fraudspark.pipelines.score import alert_reasons
from fraudspark.pipelines.train import register_classifier, train_classifier, train_scorer
from fraudspark.pipelines.training_sets import build_training_set
from fraudspark.registry import (
    CLASSIFIER_MODEL_NAMES,
    MODEL_NAMES,
    champion_version,
    has_champion,
    register_model,
)
from fraudspark.simulate.generator import generate_transactions, write_raw

log = logging.getLogger(__name__)

START = date(2025, 1, 1)
TRAINING_SET = "demo-train"
EXAMPLE_QUERY = """
SELECT tx_date,
       count(*)                                   AS transactions,
       sum(is_fraud)                              AS frauds,
       round(100 * avg(is_fraud), 2)              AS fraud_pct,
       round(sum(tx_amount), 2)                   AS volume
FROM fraud.transactions
WHERE tx_date >= date_sub((SELECT max(tx_date) FROM fraud.transactions), 6)
GROUP BY tx_date
ORDER BY tx_date
""".strip()

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoSettings:
    """The demo's size. The default is the short demo (``make demo``); :meth:`full` the long one.

    ``leaderboard_methods`` empty skips the oversampling leaderboard; ``gan_method`` oversamples
    the classifier's training set (``"smote"`` needs no training steps).
    """

    customers: int = 1000
    terminals: int = 2000
    days: int = 60
    nights: int = 2  # the last days run as nightly runs
    drift_days: int = 1  # amounts drift x1.5 on the last of them
    training_days: int = 14  # the scorer, the oversampler and the classifier train on these
    scorer_epochs: int = 5
    gan_method: str = "wgan-gp"
    # XGBoost: the best classifier of bench/detection.py on the Handbook-like preset.
    classifier_kind: str = "gbt"
    gan_steps: int = 200  # generator updates (config oversampling.steps is the full length)
    leaderboard_methods: tuple[str, ...] = ()
    seed: int = 1

    @classmethod
    def full(cls) -> DemoSettings:
        """The long demo (``fraudspark demo --full``): ~1M payments, 7 nights, the leaderboard."""
        return cls(
            customers=5000,
            terminals=10000,
            days=90,
            nights=7,
            drift_days=2,
            scorer_epochs=10,
            gan_steps=300,
            leaderboard_methods=("none", "smote", "wgan-gp"),
        )

    def __post_init__(self) -> None:
        if self.classifier_kind not in CLASSIFIER_MODEL_NAMES:
            raise ValueError(
                f"unknown classifier kind {self.classifier_kind!r}: "
                f"one of {list(CLASSIFIER_MODEL_NAMES)}"
            )
        if self.nights < 1 or not 0 <= self.drift_days <= self.nights:
            raise ValueError(f"need 1 <= nights and 0 <= drift_days <= nights, got {self}")
        if self.days < self.nights + self.training_days:
            raise ValueError(
                f"days ({self.days}) must cover the training days ({self.training_days}) and "
                f"the nights ({self.nights})"
            )


@dataclass(frozen=True)
class DemoResult:
    """What the demo's tour shows (the CLI prints it)."""

    first_night: date
    last_night: date
    table_counts: list[tuple[str, int, str]]  # qualified name, rows, description
    alerts: pd.DataFrame  # the last night's top alerts: tx_id, model, score, reasons ...
    drift: pd.DataFrame  # fraud.retrain_hints of the nights: date, model, drifted features
    report: Path | None  # the last night's monitoring report
    example_query: str
    example_result: pd.DataFrame
    summaries: list[str] = field(default_factory=list)  # each step's one-line summary


def demo_sampling_ratio(configured: float, frauds: int, normals: int) -> float:
    """The configured fraud / normal ratio, raised to twice the training set's own (capped at
    1) when the simulated days hold more fraud than the configuration expects: small demo data
    can, and a ratio already reached is refused by the oversampler."""
    own = frauds / normals if normals else 1.0
    return min(1.0, max(configured, 2 * own))


def run_demo(
    spark: SparkSession,
    config: Config,
    raw_root: str,
    settings: DemoSettings | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Run the demo into ``config``'s lakehouse, raw files under ``raw_root``.

    ``progress`` receives one line per step, ``[  12.3 s] title``, and one per nightly step;
    without it they go to the log at INFO level.
    Returns what the tour prints. The classifier and the scorer are trained only if not
    registered yet, so a second run re-trains nothing.
    """
    settings = settings or DemoSettings()
    began = time.monotonic()
    summaries: list[str] = []

    def tell(message: str) -> None:
        line = f"[{time.monotonic() - began:7.1f} s] {message}"
        if progress is not None:  # the caller shows it (the CLI prints it): not twice
            progress(line)
        else:
            log.info(line)

    def done(summary: str) -> None:
        summaries.append(summary)
        tell(f"  {summary}")

    last_day = START + timedelta(days=settings.days - 1)
    first_night = last_day - timedelta(days=settings.nights - 1)
    tell(
        f"generate {settings.days} days for {settings.customers} customers and "
        f"{settings.terminals} terminals -> {raw_root}"
    )
    transactions = generate_transactions(
        spark,
        config.generator,
        customers=settings.customers,
        terminals=settings.terminals,
        days=settings.days,
        start_date=START,
        seed=settings.seed,
        drift_from=(
            last_day - timedelta(days=settings.drift_days - 1) if settings.drift_days else None
        ),
    )
    history_root, nights_root = f"{raw_root}/history", f"{raw_root}/nights"
    tonight = F.col("tx_ts") >= F.lit(str(first_night)).cast("timestamp")
    write_raw(transactions.where(~tonight), history_root, "parquet")
    write_raw(transactions.where(tonight), nights_root, "parquet")

    history_end = first_night - timedelta(days=1)
    tell(f"ingest the history ({START} .. {history_end})")
    done(ingest_transactions(spark, config, history_root, "parquet").summary())

    tell("features: fraud.features_windowed and fraud.features_monthly")
    done(compute_features(spark, config, START, history_end).summary())

    train_start = history_end - timedelta(days=settings.training_days - 1)
    tell(f"feature store: training set {TRAINING_SET!r} ({train_start} .. {history_end})")
    training = build_training_set(spark, config, TRAINING_SET, train_start, history_end)
    done(training.summary())

    name = MODEL_NAMES["rapp"]
    tell(f"train RaPP on {train_start} .. {history_end} (known frauds left out), register it")
    if has_champion(config, name):
        done(f"{name} is registered already: champion is version {champion_version(config, name)}")
    else:
        trained = train_scorer(
            spark, config, "rapp", train_start, history_end,
            training=TrainingConfig(epochs=settings.scorer_epochs, seed=settings.seed),
            target_alert_rate=config.scoring.target_alert_rate,
        )  # fmt: skip
        version = register_model(config, name, trained.artifact, trained.params)
        done(f"registered {name}/{version}")

    if settings.leaderboard_methods:
        window = ProtocolWindow(first_night - timedelta(days=21), 7, 7, 7)
        tell(
            f"oversampling leaderboard: {', '.join(settings.leaderboard_methods)}, the same MLP "
            f"classifier, train {window.train_start} .. {window.train_end}, test "
            f"{window.test_start} .. {window.test_end}"
        )
        evaluation = evaluate_oversampling(
            spark, config, window, list(settings.leaderboard_methods),
            seeds=[settings.seed], steps=settings.gan_steps,
        )  # fmt: skip
        write_evaluations(spark, config, evaluation)
        board = evaluation.leaderboard().drop(columns=["model_name", "seeds"])
        done("leaderboard:\n" + board.to_string(index=False))

    ratio = demo_sampling_ratio(
        config.oversampling.sampling_ratio, training.frauds, training.rows - training.frauds
    )
    tell(
        f"oversample {TRAINING_SET!r} with {settings.gan_method} to {ratio:.2f} frauds per "
        "normal row, train the classifier"
    )
    classifier_name = CLASSIFIER_MODEL_NAMES[settings.classifier_kind]
    if has_champion(config, classifier_name):
        version = champion_version(config, classifier_name)
        done(f"{classifier_name} is registered already: champion is version {version}")
    else:
        report = oversample_training_set(
            spark, config, TRAINING_SET, settings.gan_method,
            ratio=ratio, seed=settings.seed, steps=settings.gan_steps,
        )  # fmt: skip
        done(report.summary())
        classifier = train_classifier(
            spark,
            config,
            TRAINING_SET,
            settings.gan_method,
            kind=settings.classifier_kind,
            training=ClassifierConfig(seed=settings.seed),
            gbt=GbtParams(seed=settings.seed),
        )
        version = register_classifier(config, classifier)
        done(f"registered {classifier_name}/{version}: {classifier.summary()}")

    tell(
        f"nightly runs {first_night} .. {last_day}, maintenance after the last "
        f"(amounts x1.5 on the last {settings.drift_days})"
    )
    backfill(spark, config, first_night, last_day, nights_root, progress=tell, maintain=True)

    tell("the tour: tables, alerts, drift, report, SQL")
    alerts = alert_reasons(spark, config, last_day, last_day).drop("tx_date").limit(10).toPandas()
    drift = pd.DataFrame(columns=["monitor_date", "model_name", "model_version", "severity"])
    if table_exists(spark, config, RETRAIN_HINTS):
        drift = (
            read_table(spark, config, RETRAIN_HINTS)
            .where(F.col("monitor_date").between(F.lit(first_night), F.lit(last_day)))
            .orderBy("monitor_date", "model_name")
            .toPandas()
        )
    report_path = Path(config.monitoring.reports_dir) / str(last_day) / "index.html"
    counts = [
        (
            qualified_name(config, table),
            spark.table(qualified_name(config, table)).count(),
            table.description,
        )
        for table in ALL_TABLES
        if table_exists(spark, config, table)
    ]
    return DemoResult(
        first_night=first_night,
        last_night=last_day,
        table_counts=counts,
        alerts=alerts,
        drift=drift,
        report=report_path if report_path.exists() else None,
        example_query=EXAMPLE_QUERY,
        example_result=spark.sql(EXAMPLE_QUERY).toPandas(),
        summaries=summaries,
    )
