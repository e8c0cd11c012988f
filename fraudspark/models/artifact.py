"""Models as files, not pickles: one artifact type for every kind of model.

A :class:`ModelArtifact` is the model's bytes (TorchScript today; a gradient-boosted model's own
text/JSON format fits the same slot) plus JSON metadata whose ``format`` names the loader
(feature names and order, input transform, alert threshold, training settings and metrics, the
training data's Delta versions). On disk it is ``model.pt`` + ``metadata.json``; loading never
unpickles a Python object. :class:`LoadedModel` is the scoring surface every loaded model shares;
:func:`fraudspark.models.loader.load_model` is the one loader.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fraudspark.models.attribution import top_feature_attributions
from fraudspark.models.inputs import FeatureData, aligned_feature_matrix, check_feature_names

MODEL_FILE = "model.pt"


METADATA_FILE = "metadata.json"


@dataclass(frozen=True)
class ModelArtifact:
    """An exported model in memory: its bytes (TorchScript, or a library's own format such as
    XGBoost's JSON model, as the metadata's ``format`` says) and JSON-compatible metadata."""

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
    def read(cls, directory: str | Path) -> ModelArtifact:
        path = Path(directory)
        return cls((path / MODEL_FILE).read_bytes(), json.loads((path / METADATA_FILE).read_text()))


class LoadedModel:
    """An exported model loaded for scoring: build once, call :meth:`score` per batch.

    The scorers and the classifier share this surface (feature names, alert threshold, score
    columns and per-feature shares), so the Spark job and the monitor run either without
    knowing which. A subclass names its ``artifact_format`` and implements
    :meth:`score_matrix`.
    """

    artifact_format = ""

    def __init__(self, artifact: ModelArtifact) -> None:
        if artifact.metadata.get("format") != self.artifact_format:
            raise ValueError(
                f"not a {self.artifact_format} artifact: format {artifact.metadata.get('format')!r}"
            )
        self.metadata = artifact.metadata
        self.feature_names: list[str] = list(artifact.metadata["feature_names"])
        self.score_columns: list[str] = list(artifact.metadata["score_columns"])
        self.threshold = float(artifact.metadata["threshold"])
        self.load_model_bytes(artifact.model_bytes)

    def load_model_bytes(self, model_bytes: bytes) -> None:
        """Load the artifact's model bytes: TorchScript here (``self.module``); a model kept in
        another library's own format (e.g. XGBoost's JSON) overrides this."""
        self.module = torch.jit.load(  # type: ignore[no-untyped-call]
            io.BytesIO(model_bytes), map_location="cpu"
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
        :func:`~fraudspark.models.inputs.aligned_feature_matrix`.
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
