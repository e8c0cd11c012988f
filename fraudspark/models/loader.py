"""The one model loader: an artifact's ``format`` picks the loaded-model class.

Every kind of model (anomaly scorers, classifiers) is a :class:`~fraudspark.models.artifact.
ModelArtifact`; the Spark scoring kernel, the monitor and the notebooks load it here, without
knowing its kind.
"""

from __future__ import annotations

from pathlib import Path

from fraudspark.models.anomaly.base import LoadedScorer
from fraudspark.models.anomaly.baselines import LoadedMahalanobis
from fraudspark.models.artifact import LoadedModel, ModelArtifact
from fraudspark.models.classifiers.gbt import LoadedGbt
from fraudspark.models.classifiers.mlp import LoadedClassifier

LOADERS: dict[str, type[LoadedModel]] = {
    loader.artifact_format: loader
    for loader in (LoadedScorer, LoadedMahalanobis, LoadedClassifier, LoadedGbt)
}
# The supervised models: trained on an augmented training set, monitored against its real rows.
CLASSIFIER_FORMATS = frozenset({LoadedClassifier.artifact_format, LoadedGbt.artifact_format})


def load_model(source: ModelArtifact | str | Path) -> LoadedModel:
    """The loaded model an artifact (or an export directory) holds, by its ``format``.

    Raises ValueError naming the known formats when the metadata's ``format`` is unknown.
    """
    artifact = source if isinstance(source, ModelArtifact) else ModelArtifact.read(source)
    artifact_format = artifact.metadata.get("format")
    if artifact_format not in LOADERS:
        raise ValueError(f"unknown model format {artifact_format!r}: one of {sorted(LOADERS)}")
    return LOADERS[str(artifact_format)](artifact)
