"""Anomaly scorers on Spark: training from the feature store, and the batch scoring job.

Both paths feed the model through :func:`model_inputs` (features as non-null doubles, a missing
monthly value as 0, which its ``*_month_missing`` indicator flags), so training and scoring
impute alike. Scoring runs the exported TorchScript graph in ``mapInArrow``: the artifact goes
to the executors as a broadcast (bytes + JSON metadata), is loaded once per partition, and each
Arrow batch becomes one float64 matrix, one forward pass and Arrow columns back, with no pandas
conversion on the way (the fastest of the three UDF styles measured in ``bench/scoring.py``).
The same job scores the supervised classifier (:mod:`fraudspark.classifier`): the artifact's
``format`` picks the loader, and the classifier adds an integrated-gradients pass per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import Config
from fraudspark.features.store import current_versions, feature_rows, model_feature_columns
from fraudspark.lakehouse.io import ensure_table, merge_insert_new, read_table, table_version
from fraudspark.lakehouse.tables import SCORES, table_path
from fraudspark.registry import ModelSpec, registered_artifact
from fraudspark.scoring.autoencoder import AutoencoderScorer
from fraudspark.scoring.base import ReconstructionScorer, TrainingConfig, one_torch_thread
from fraudspark.scoring.export import LoadedModel, LoadedScorer, ScorerArtifact, export_artifact
from fraudspark.scoring.rapp import RappScorer
from fraudspark.scoring.vae import VaeScorer

log = logging.getLogger(__name__)

# Scorer kind (as on the command line) -> scorer class.
SCORER_KINDS: dict[str, type[ReconstructionScorer[Any]]] = {
    "ae": AutoencoderScorer,
    "vae": VaeScorer,
    "rapp": RappScorer,
}
MISSING_FEATURE_VALUE = 0.0
# Share of training rows above the alert threshold, unless a command says otherwise.
DEFAULT_TARGET_ALERT_RATE = 0.01
ATTRIBUTION_COLUMNS = ("is_alert", "top_features", "top_feature_shares")


def model_inputs(rows: DataFrame, feature_names: Sequence[str]) -> DataFrame:
    """``rows`` with every feature column a non-null double; null becomes 0.

    Nulls occur in the monthly columns when a month is missing, and the ``*_month_missing``
    indicator already tells the model, so 0 adds no false information. Training and scoring
    both go through here.
    """
    missing = [name for name in feature_names if name not in rows.columns]
    if missing:
        raise ValueError(f"the rows lack feature columns {missing}")
    features = set(feature_names)
    return rows.select(
        *[
            F.coalesce(F.col(name).cast("double"), F.lit(MISSING_FEATURE_VALUE)).alias(name)
            if name in features
            else F.col(name)
            for name in rows.columns
        ]
    )


def new_scorer(
    kind: str, training: TrainingConfig, target_alert_rate: float
) -> ReconstructionScorer[Any]:
    """An unfitted scorer of a kind: ``ae``, ``vae`` or ``rapp`` (NAP; its graph gives SAP too)."""
    if kind not in SCORER_KINDS:
        raise ValueError(f"unknown scorer kind {kind!r}: expected one of {sorted(SCORER_KINDS)}")
    return SCORER_KINDS[kind](training=training, target_alert_rate=target_alert_rate)


@dataclass(frozen=True)
class TrainedScorer:
    """A fitted scorer, its export, and the run parameters worth registering with it."""

    scorer: ReconstructionScorer[Any]
    artifact: ScorerArtifact
    params: dict[str, str]


def training_frame(
    spark: SparkSession,
    config: Config,
    start: date,
    end: date,
    versions: Mapping[str, int],
    include_known_frauds: bool = False,
) -> pd.DataFrame:
    """Model inputs of the transactions dated ``start``..``end``, collected for training.

    Without ``include_known_frauds``, rows labelled fraud in the pinned table versions are left
    out (unlabelled rows stay): the scorers learn what normal traffic looks like.
    """
    rows = feature_rows(spark, config, start, end, dict(versions))
    if not include_known_frauds:
        rows = rows.where(F.col("is_fraud").isNull() | (F.col("is_fraud") != 1))
    features = model_feature_columns(config)
    return model_inputs(rows, features).select(*features).toPandas()


def train_scorer(
    spark: SparkSession,
    config: Config,
    kind: str,
    start: date,
    end: date,
    *,
    training: TrainingConfig | None = None,
    target_alert_rate: float = DEFAULT_TARGET_ALERT_RATE,
    include_known_frauds: bool = False,
    versions: Mapping[str, int] | None = None,
) -> TrainedScorer:
    """Fit a scorer on the feature store's rows for ``start``..``end`` and export it.

    ``versions`` pins the source tables (default: their current versions); they are recorded in
    the artifact's metadata (``extra.data_versions``) with the range and the imputation. The
    alert threshold is the training scores' (1 - ``target_alert_rate``) quantile.
    """
    if start > end:
        raise ValueError(f"training start {start} is after its end {end}")
    training = training or TrainingConfig()
    scorer = new_scorer(kind, training, target_alert_rate)
    versions = dict(versions or current_versions(spark, config))
    frame = training_frame(spark, config, start, end, versions, include_known_frauds)
    if frame.empty:
        raise ValueError(f"no feature-store rows to train on between {start} and {end}")
    with one_torch_thread():
        scorer.fit(frame)
    params = {
        "kind": kind,
        "training_start": start.isoformat(),
        "training_end": end.isoformat(),
        "include_known_frauds": str(include_known_frauds).lower(),
        "seed": str(training.seed),
        "epochs": str(training.epochs),
        "target_alert_rate": str(target_alert_rate),
    }
    extra = {
        **params,
        "data_versions": versions,
        "training_rows": len(frame),
        "missing_feature_value": MISSING_FEATURE_VALUE,
    }
    log.info("trained %s on %d rows from %s..%s", kind, len(frame), start, end)
    return TrainedScorer(scorer, export_artifact(scorer, extra), params)


def scored_schema(
    rows: DataFrame, feature_names: Sequence[str], score_columns: Sequence[str]
) -> T.StructType:
    """The rows' non-feature columns, then the score columns and the attributions."""
    features = set(feature_names)
    return T.StructType(
        [field for field in rows.schema.fields if field.name not in features]
        + [T.StructField(name, T.DoubleType(), False) for name in score_columns]
        + [
            T.StructField("is_alert", T.BooleanType(), False),
            T.StructField("top_features", T.ArrayType(T.StringType(), False), False),
            T.StructField("top_feature_shares", T.ArrayType(T.DoubleType(), False), False),
        ]
    )


def _top_attributions(
    shares: np.ndarray, feature_names: pa.Array, top_k: int
) -> tuple[pa.ListArray, pa.ListArray]:
    """Per row, the ``top_k`` largest error shares and their feature names, as Arrow lists.

    Ordered as :func:`~fraudspark.scoring.export.top_feature_attributions` orders them (stable
    argsort), so Spark and in-process scoring name the same features.
    """
    order = np.argsort(-shares, axis=1, kind="stable")[:, :top_k]
    width = order.shape[1]
    offsets = pa.array(np.arange(0, len(order) * width + 1, width, dtype=np.int32))
    names = pa.ListArray.from_arrays(offsets, feature_names.take(pa.array(order.ravel())))
    values = pa.ListArray.from_arrays(
        offsets, pa.array(np.take_along_axis(shares, order, axis=1).ravel())
    )
    return names, values


def load_model(artifact: ScorerArtifact) -> LoadedModel:
    """The loaded scorer or classifier that the artifact's ``format`` names."""
    # Imported here: the classifier module imports this one (model_inputs) when loaded.
    from fraudspark.classifier import LoadedClassifier

    loaders: dict[str, type[LoadedModel]] = {
        loader.artifact_format: loader for loader in (LoadedScorer, LoadedClassifier)
    }
    artifact_format = artifact.metadata.get("format")
    if artifact_format not in loaders:
        raise ValueError(f"unknown model format {artifact_format!r}: one of {sorted(loaders)}")
    return loaders[artifact_format](artifact)


def score_arrow_batches(
    batches: Iterable[pa.RecordBatch],
    artifact: ScorerArtifact,
    output_names: Sequence[str],
    top_k: int = 3,
) -> Iterator[pa.RecordBatch]:
    """Score Arrow batches of model inputs: the Spark job's kernel, usable without Spark.

    ``output_names`` are the pass-through columns, then the metadata's ``score_columns``,
    ``is_alert``, ``top_features`` and ``top_feature_shares`` (see :func:`scored_schema`). Feature
    columns must be non-null (see :func:`model_inputs`). The model (a scorer or the classifier,
    see :func:`load_model`) is loaded once per call.
    """
    model = load_model(artifact)
    feature_names = pa.array(model.feature_names, pa.string())
    names = list(output_names)
    passthrough = names[: len(names) - len(model.score_columns) - len(ATTRIBUTION_COLUMNS)]
    for batch in batches:
        matrix = np.column_stack(
            [batch.column(name).to_numpy(zero_copy_only=False) for name in model.feature_names]
        )
        scores, shares = model.score_matrix(matrix)
        top_names, top_shares = _top_attributions(shares, feature_names, top_k)
        columns = [batch.column(name) for name in passthrough]
        columns += [pa.array(scores[name]) for name in model.score_columns]
        columns += [pa.array(scores["score"] > model.threshold), top_names, top_shares]
        yield pa.RecordBatch.from_arrays(columns, names=names)


def score_feature_rows(
    rows: DataFrame, artifact: ScorerArtifact, feature_names: Sequence[str], top_k: int = 3
) -> DataFrame:
    """Score feature-store rows with an exported scorer or classifier, in Spark.

    ``feature_names`` are the rows' feature columns; they must be the model's (in any order),
    else :class:`~fraudspark.scoring.base.FeatureMismatchError` names the missing and extra ones
    here, before any task runs. Every other column passes through. Adds the metadata's
    ``score_columns`` (``score`` first; RaPP adds ``sap`` and ``nap``), ``is_alert`` (score above
    the training threshold), ``top_features`` and ``top_feature_shares`` (the ``top_k`` largest
    shares: of the input-space squared reconstruction error for a scorer, of the absolute
    integrated-gradients attributions for the classifier, whose score is the fraud probability).
    """
    if top_k < 1:
        raise ValueError(f"top_k must be positive, got {top_k}")
    # Loaded on the driver too, so an unknown or incomplete artifact fails before any task.
    model = load_model(artifact)
    model.check_features(feature_names)
    schema = scored_schema(rows, feature_names, model.score_columns)
    shared = rows.sparkSession.sparkContext.broadcast((artifact.model_bytes, artifact.metadata))
    output_names = schema.names

    def score_partition(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        # One thread per task: Spark already runs a task per core.
        torch.set_num_threads(1)
        return score_arrow_batches(batches, ScorerArtifact(*shared.value), output_names, top_k)

    return model_inputs(rows, feature_names).mapInArrow(score_partition, schema)


@dataclass(frozen=True)
class ScoringReport:
    model: str  # NAME/VERSION
    start: date
    end: date
    rows_scored: int  # the model version's rows for the range in fraud.scores after the run
    rows_inserted: int  # of which this run added
    alerts: int

    def summary(self) -> str:
        return (
            f"{self.model} on {self.start} .. {self.end}: {self.rows_scored} rows in fraud.scores "
            f"({self.rows_inserted} new), {self.alerts} alerts"
        )


def _date_range_condition(column: str, start: date, end: date) -> str:
    return f"{column} >= '{start.isoformat()}' AND {column} <= '{end.isoformat()}'"


def write_scores(
    spark: SparkSession,
    config: Config,
    scored: DataFrame,
    model_name: str,
    model_version: int,
    start: date,
    end: date,
) -> int:
    """MERGE scored rows into ``fraud.scores``, inserting only keys not there yet.

    A transaction keeps the first score a model version gave it, so re-running a date changes
    nothing (``scored_at`` included; Delta then commits nothing). ``start``..``end`` bound the
    dates the MERGE reads. Returns the number of rows inserted.
    """
    from delta.tables import DeltaTable

    assert SCORES.schema is not None
    stamped = scored.withColumns(
        {
            "model_name": F.lit(model_name),
            "model_version": F.lit(model_version).cast("int"),
            "scored_at": F.current_timestamp(),
        }
    )
    # Score terms the model lacks (e.g. RaPP's for an autoencoder) are null.
    rows = stamped.select(
        *[
            F.col(field.name)
            if field.name in stamped.columns
            else F.lit(None).cast(field.dataType).alias(field.name)
            for field in SCORES.schema.fields
        ]
    )
    ensure_table(spark, config, SCORES)
    before = table_version(spark, config, SCORES)
    model = f"t.model_name = '{model_name}' AND t.model_version = {int(model_version)}"
    merge_insert_new(
        spark, config, SCORES, rows, f"{_date_range_condition('t.tx_date', start, end)} AND {model}"
    )
    if table_version(spark, config, SCORES) == before:
        return 0
    history = DeltaTable.forPath(spark, table_path(config, SCORES)).history(1).collect()[0]
    return int(history["operationMetrics"]["numTargetRowsInserted"])


def alert_reasons(
    spark: SparkSession, config: Config, start: date, end: date, model: str | None = None
) -> DataFrame:
    """The alerts of ``fraud.scores`` dated ``start``..``end``, highest score first.

    ``model`` (``NAME/VERSION``) narrows to one model version. ``reasons`` reads e.g.
    ``tx_amount 71%, cust_avg_amount_1d 12%, term_risk_7d 6%``.
    """
    alerts = read_table(spark, config, SCORES).where(
        F.expr(_date_range_condition("tx_date", start, end)) & F.col("is_alert")
    )
    if model is not None:
        spec = ModelSpec.parse(model)
        if spec.version is None:
            raise ValueError(f"give the model as NAME/VERSION, got {model!r}")
        alerts = alerts.where(
            (F.col("model_name") == spec.name) & (F.col("model_version") == spec.version)
        )
    reasons = F.expr(
        "concat_ws(', ', transform(arrays_zip(top_features, top_feature_shares), "
        "x -> format_string('%s %.0f%%', x.top_features, 100 * x.top_feature_shares)))"
    )
    return alerts.select(
        "tx_date",
        "tx_id",
        "tx_ts",
        "customer_id",
        "terminal_id",
        "model_name",
        "model_version",
        "score",
        reasons.alias("reasons"),
    ).orderBy(F.col("score").desc(), "tx_id")


def score_days(
    spark: SparkSession, config: Config, model: str, start: date, end: date, top_k: int = 3
) -> ScoringReport:
    """The scoring job: score the feature store's rows for ``start``..``end`` into fraud.scores.

    ``model`` is ``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION`` from the registry (a scorer such
    as ``fraud-rapp`` or the classifier ``fraud-classifier``); the version it resolves to is
    written with every score. A model trained on other features stops here with the missing
    and extra feature names.
    """
    if start > end:
        raise ValueError(f"scoring start {start} is after its end {end}")
    registered = registered_artifact(config, model)
    rows = feature_rows(spark, config, start, end).drop("is_fraud")
    scored = score_feature_rows(rows, registered.artifact, model_feature_columns(config), top_k)
    inserted = write_scores(spark, config, scored, registered.name, registered.version, start, end)
    written = (
        read_table(spark, config, SCORES)
        .where(
            F.expr(_date_range_condition("tx_date", start, end))
            & (F.col("model_name") == registered.name)
            & (F.col("model_version") == registered.version)
        )
        .agg(F.count("*"), F.sum(F.col("is_alert").cast("int")))
        .collect()[0]
    )
    report = ScoringReport(
        str(registered), start, end, int(written[0]), inserted, int(written[1] or 0)
    )
    log.info(report.summary())
    return report
