"""Training pipelines: fit a scorer or a classifier on feature-store rows and export it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.features.model_inputs import MISSING_FEATURE_VALUE, model_input_spec
from fraudspark.features.store import current_versions, model_feature_columns
from fraudspark.features.training_data import augmented_frame, training_frame
from fraudspark.features.transforms import InputTransform
from fraudspark.lakehouse.tables import AUGMENTED_TRAINING_SETS
from fraudspark.models.anomaly.kinds import AnomalyScorer, export_anomaly_scorer, new_scorer
from fraudspark.models.artifact import ModelArtifact
from fraudspark.models.classifiers import CLASSIFIER_KINDS
from fraudspark.models.classifiers.gbt import GbtClassifier, GbtParams
from fraudspark.models.classifiers.mlp import ClassifierConfig, MLPClassifier
from fraudspark.models.training import TrainingConfig, one_torch_thread
from fraudspark.registry import CLASSIFIER_MODEL_NAMES, register_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedScorer:
    """A fitted scorer, its export, the run parameters worth registering with it, and the
    fitted input transform (None when ``models.<kind>.transform`` is off).

    In process, ``scorer`` scores :meth:`model_inputs` of raw store rows; the artifact does the
    same from the raw rows alone.
    """

    scorer: AnomalyScorer
    artifact: ModelArtifact
    params: dict[str, str]
    input_transform: InputTransform | None = None

    def model_inputs(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The scorer's input columns from raw store rows (model-input imputation applied)."""
        if self.input_transform is None:
            return rows[list(self.scorer.feature_names_)]
        return self.input_transform.transform_frame(rows)


def train_scorer(
    spark: SparkSession,
    config: Config,
    kind: str,
    start: date,
    end: date,
    *,
    training: TrainingConfig | None = None,
    target_alert_rate: float | None = None,
    include_known_frauds: bool = False,
    versions: Mapping[str, int] | None = None,
) -> TrainedScorer:
    """Fit a scorer on the feature store's rows for ``start``..``end`` and export it.

    The scorer reads the inputs of ``models.<kind>`` in the configuration (checked first: an
    unknown feature or ratio raises ValueError with the names, before any data is read); with
    ``transform`` on, the kind-driven input transform is fitted on the training rows and
    exported with the model. Known frauds are left out (unless ``include_known_frauds``);
    early stopping, when ``training`` sets it, holds out a validation split of those rows.
    ``versions`` pins the source tables (default: their current versions); they are recorded in
    the artifact's metadata (``extra.data_versions``) with the range and the imputation. The
    alert threshold is the training scores' (1 - ``target_alert_rate``) quantile.
    """
    if start > end:
        raise ValueError(f"training start {start} is after its end {end}")
    spec = model_input_spec(config, kind)
    training = training or TrainingConfig()
    if target_alert_rate is None:
        target_alert_rate = config.scoring.target_alert_rate
    scorer = new_scorer(kind, training, target_alert_rate)
    versions = dict(versions or current_versions(spark, config))
    frame = training_frame(
        spark, config, start, end, versions, include_known_frauds, spec.raw_columns
    )
    if frame.empty:
        raise ValueError(f"no feature-store rows to train on between {start} and {end}")
    transform = (
        InputTransform.fit(frame, spec.kinds, spec.features, spec.ratios)
        if spec.transform
        else None
    )
    inputs = frame[list(spec.features)] if transform is None else transform.transform_frame(frame)
    with one_torch_thread():
        scorer.fit(inputs)
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
    log.info(
        "trained %s on %d rows from %s..%s, inputs %s",
        kind,
        len(frame),
        start,
        end,
        list(inputs.columns),
    )
    artifact = export_anomaly_scorer(scorer, extra, transform)
    return TrainedScorer(scorer, artifact, params, transform)


@dataclass(frozen=True)
class TrainedClassifier:
    classifier: MLPClassifier | GbtClassifier
    artifact: ModelArtifact
    params: dict[str, str]

    @property
    def model_name(self) -> str:
        """The registered name of this kind: ``fraud-classifier``, ``fraud-classifier-gbt``."""
        return CLASSIFIER_MODEL_NAMES[self.params["kind"]]

    def summary(self) -> str:
        metadata = self.artifact.metadata
        extra = metadata["extra"]
        fitted = (
            f"final loss {metadata['final_loss']:.5f}"
            if "final_loss" in metadata
            else f"{metadata['training_config']['n_estimators']} trees"
        )
        return (
            f"{self.params['kind']} classifier on {extra['training_set']!r} / {extra['method']}: "
            f"{extra['training_rows']} rows ({extra['fraud_rows']} fraud, "
            f"{extra['synthetic_rows']} synthetic), {fitted}"
        )


def train_classifier(
    spark: SparkSession,
    config: Config,
    training_set: str,
    method: str,
    *,
    kind: str = "mlp",
    training: ClassifierConfig | None = None,
    gbt: GbtParams | None = None,
    target_alert_rate: float | None = None,
) -> TrainedClassifier:
    """Fit a classifier of ``kind`` (``mlp``: :class:`MLPClassifier` with ``training``;
    ``gbt``: XGBoost's :class:`GbtClassifier` with ``gbt``) on the (``training_set``,
    ``method``) rows of ``fraud.augmented_training_sets`` and export it with the table version
    it read. Raises ValueError for an unknown kind.

    The alert threshold lets ``target_alert_rate`` (default: ``scoring.target_alert_rate``)
    of the real training rows alert, as the scorers' thresholds do.
    """
    if kind not in CLASSIFIER_KINDS:
        raise ValueError(f"unknown classifier kind {kind!r}: one of {list(CLASSIFIER_KINDS)}")
    rate = config.scoring.target_alert_rate if target_alert_rate is None else target_alert_rate
    frame, version = augmented_frame(spark, config, training_set, method)
    features = model_feature_columns(config)
    labels = frame["is_fraud"].to_numpy()
    synthetic = frame["is_synthetic"].to_numpy()
    classifier: MLPClassifier | GbtClassifier
    if kind == "gbt":
        gbt = gbt or GbtParams()
        classifier = GbtClassifier(gbt, rate).fit(frame[features], labels, is_synthetic=synthetic)
        params = {"kind": kind, "seed": str(gbt.seed), "n_estimators": str(gbt.n_estimators)}
    else:
        training = training or ClassifierConfig()
        with one_torch_thread():
            classifier = MLPClassifier(training, rate).fit(frame[features], labels, synthetic)
        params = {"kind": kind, "seed": str(training.seed), "epochs": str(training.epochs)}
    params |= {"training_set": training_set, "method": method, "target_alert_rate": str(rate)}
    extra = {
        **params,
        "data_versions": {AUGMENTED_TRAINING_SETS.name: version},
        "training_rows": len(frame),
        "fraud_rows": int(frame["is_fraud"].sum()),
        "synthetic_rows": int(frame["is_synthetic"].sum()),
    }
    trained = TrainedClassifier(classifier, classifier.export(extra), params)
    log.info(trained.summary())
    return trained


def register_classifier(config: Config, trained: TrainedClassifier) -> int:
    """Register the export as a new version of its kind's name (``fraud-classifier`` for the
    MLP, ``fraud-classifier-gbt`` for XGBoost); returns the version."""
    return register_model(
        config,
        trained.model_name,
        trained.artifact,
        trained.params,
        description=f"fraudspark supervised fraud classifier ({trained.params['kind']})",
    )
