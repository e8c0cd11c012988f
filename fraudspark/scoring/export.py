"""Scorers as files, not pickles: a TorchScript scoring graph plus JSON metadata.

A directory holds ``model.pt`` (``torch.jit.save`` of the float64 scoring graph, standardisation
and RaPP's μ/V/Σ included, so it alone maps raw feature rows to scores) and ``metadata.json``
(feature names and order, standardiser, RaPP's μ/V/Σ, alert threshold, training configuration
and metrics, the caller's ``extra`` dict such as the training tables' Delta versions). Loading is
``torch.jit.load`` from bytes plus ``json``: no Python object is unpickled, and no fraudspark
class is needed to run the model.

For Spark, read the artifact once on the driver, broadcast it (two plain values: bytes and a
dict) and build a :class:`LoadedScorer` once per partition::

    artifact = ScorerArtifact.read(model_dir)
    scorer = load_scorer(artifact)                 # inside mapInPandas, once per partition
    scored = scorer.score(batch[scorer.feature_names])
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fraudspark.scoring.base import (
    FeatureData,
    ReconstructionScorer,
    aligned_feature_matrix,
    check_feature_names,
)

ARTIFACT_FORMAT = "fraudspark.scorer/1"
MODEL_FILE = "model.pt"
METADATA_FILE = "metadata.json"


@dataclass(frozen=True)
class ScorerArtifact:
    """An exported scorer in memory: TorchScript bytes and JSON-compatible metadata."""

    model_bytes: bytes
    metadata: dict[str, Any]

    def write(self, directory: str | Path) -> Path:
        """Write ``model.pt`` and ``metadata.json`` into ``directory``; returns it."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / MODEL_FILE).write_bytes(self.model_bytes)
        (path / METADATA_FILE).write_text(json.dumps(self.metadata, indent=2) + "\n")
        return path

    @classmethod
    def read(cls, directory: str | Path) -> ScorerArtifact:
        path = Path(directory)
        return cls((path / MODEL_FILE).read_bytes(), json.loads((path / METADATA_FILE).read_text()))


def export_artifact(
    scorer: ReconstructionScorer[Any], extra_metadata: Mapping[str, Any] | None = None
) -> ScorerArtifact:
    """Script a fitted scorer's scoring graph and gather its metadata.

    ``extra_metadata`` must be JSON-serialisable (e.g. ``{"training_table_versions": {...}}``).
    """
    scripted = torch.jit.script(scorer.scoring_module_)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        probe = scripted(torch.zeros(1, len(scorer.feature_names_), dtype=torch.float64))
    metadata = {
        "format": ARTIFACT_FORMAT,
        "model_type": scorer.model_type,
        "score_name": scorer.score_name,
        "score_columns": [name for name in probe if name != "feature_error_share"],
        "feature_names": scorer.feature_names_,
        "standardiser": scorer.standardiser_.to_metadata(),
        "threshold": scorer.threshold_,
        "target_alert_rate": scorer.target_alert_rate,
        "training_config": dataclasses.asdict(scorer.training),
        "training_metrics": scorer.training_metrics_,
        **scorer.model_metadata(),
        "torch_version": torch.__version__,
        "extra": dict(extra_metadata or {}),
    }
    # The JSON round trip turns tuples into lists and fails here, not at write time.
    return ScorerArtifact(buffer.getvalue(), json.loads(json.dumps(metadata)))


def export_scorer(
    scorer: ReconstructionScorer[Any],
    directory: str | Path,
    extra_metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a fitted scorer as ``directory/model.pt`` + ``directory/metadata.json``."""
    return export_artifact(scorer, extra_metadata).write(directory)


def top_feature_attributions(
    shares: np.ndarray, feature_names: Sequence[str], top_k: int
) -> tuple[list[list[str]], list[list[float]]]:
    """Per row, the ``top_k`` features with the largest error share, and those shares."""
    if top_k < 0:
        raise ValueError(f"top_k must be non-negative, got {top_k}")
    order = np.argsort(-shares, axis=1, kind="stable")[:, :top_k]
    names = np.asarray(feature_names, dtype=object)[order]
    return names.tolist(), np.take_along_axis(shares, order, axis=1).tolist()


class LoadedModel:
    """An exported model loaded for scoring: build once, call :meth:`score` per batch.

    The scorers and the classifier share this surface (feature names, alert threshold, score
    columns and per-feature shares), so the Spark job and the monitor run either without
    knowing which. A subclass names its ``artifact_format`` and implements
    :meth:`score_matrix`.
    """

    artifact_format = ""

    def __init__(self, artifact: ScorerArtifact) -> None:
        if artifact.metadata.get("format") != self.artifact_format:
            raise ValueError(
                f"not a {self.artifact_format} artifact: format {artifact.metadata.get('format')!r}"
            )
        self.metadata = artifact.metadata
        self.feature_names: list[str] = list(artifact.metadata["feature_names"])
        self.score_columns: list[str] = list(artifact.metadata["score_columns"])
        self.threshold = float(artifact.metadata["threshold"])
        self.module = torch.jit.load(  # type: ignore[no-untyped-call]
            io.BytesIO(artifact.model_bytes), map_location="cpu"
        )

    def check_features(self, feature_names: Sequence[str]) -> None:
        """Fail fast (e.g. on the Spark driver) with the missing and extra feature names."""
        check_feature_names(list(feature_names), self.feature_names)

    def score_matrix(self, matrix: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Raw float64 rows in ``feature_names`` order to (score columns, per-feature shares)."""
        raise NotImplementedError

    def score(
        self, data: FeatureData, feature_names: Sequence[str] | None = None, top_k: int = 3
    ) -> pd.DataFrame:
        """Score rows; one output row per input row (a DataFrame input keeps its index).

        Columns: the metadata's ``score_columns`` (``score`` first, then e.g. ``sap``/``nap``),
        ``is_alert`` (score > threshold), ``top_features`` and ``top_feature_shares`` (lists,
        largest share first). Features are matched by name, see
        :func:`~fraudspark.scoring.base.aligned_feature_matrix`.
        """
        matrix = aligned_feature_matrix(data, self.feature_names, feature_names)
        scores, shares = self.score_matrix(matrix)
        index = data.index if isinstance(data, pd.DataFrame) else None
        scored = pd.DataFrame({name: scores[name] for name in self.score_columns}, index=index)
        scored["is_alert"] = scored["score"] > self.threshold
        names, top_shares = top_feature_attributions(shares, self.feature_names, top_k)
        scored["top_features"] = pd.Series(names, index=scored.index, dtype=object)
        scored["top_feature_shares"] = pd.Series(top_shares, index=scored.index, dtype=object)
        return scored


class LoadedScorer(LoadedModel):
    """An exported anomaly scorer; its shares are those of the input-space squared
    reconstruction error."""

    artifact_format = ARTIFACT_FORMAT

    def score_matrix(self, matrix: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        with torch.no_grad():
            outputs = self.module(torch.tensor(matrix))
        scores = {name: outputs[name].numpy() for name in self.score_columns}
        return scores, outputs["feature_error_share"].numpy()


def load_scorer(source: str | Path | ScorerArtifact) -> LoadedScorer:
    """A :class:`LoadedScorer` from an export directory or an in-memory artifact."""
    artifact = source if isinstance(source, ScorerArtifact) else ScorerArtifact.read(source)
    return LoadedScorer(artifact)
