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

from fraudspark.features.transforms import InputTransform
from fraudspark.models.attribution import top_feature_attributions
from fraudspark.models.inputs import (
    FeatureData,
    FeatureMismatchError,
    aligned_feature_matrix,
    check_feature_names,
)

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


# Metadata keys of a model whose inputs are transformed (see fraudspark.features.transforms):
# the fitted transform (its JSON dict) and the names of the transformed columns the model's
# network reads, which the attributions name. ``feature_names`` then lists the raw store columns
# the transform reads.
INPUT_TRANSFORM_KEY = "input_transform"
INPUT_NAMES_KEY = "input_names"


def input_transform_metadata(transform: InputTransform | None) -> dict[str, Any]:
    """The metadata entries of an input transform (none without one)."""
    if transform is None:
        return {}
    return {INPUT_TRANSFORM_KEY: transform.to_dict(), INPUT_NAMES_KEY: transform.columns}


class LoadedModel:
    """An exported model loaded for scoring: build once, call :meth:`score` per batch.

    The scorers and the classifier share this surface (feature names, alert threshold, score
    columns and per-feature shares), so the Spark job and the monitor run either without
    knowing which. A subclass names its ``artifact_format`` and implements
    :meth:`score_matrix` (and :meth:`load_payload` when its bytes are not TorchScript).

    With an ``input_transform`` in the metadata, :meth:`score_raw` applies it (in numpy, the
    same code that fitted it, so exported and in-process scores agree bit for bit) between the
    raw ``feature_names`` columns and :meth:`score_matrix`; ``input_names`` (what the
    attributions name) are then the transformed columns.
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
        self.input_transform: InputTransform | None = None
        self.input_names: list[str] = self.feature_names
        if INPUT_TRANSFORM_KEY in artifact.metadata:
            self.input_transform = InputTransform.from_dict(artifact.metadata[INPUT_TRANSFORM_KEY])
            self.input_names = list(artifact.metadata[INPUT_NAMES_KEY])
        self.module = self.load_payload(artifact.model_bytes)

    def load_payload(self, model_bytes: bytes) -> Any:
        """The scoring object the bytes hold (TorchScript by default)."""
        return torch.jit.load(  # type: ignore[no-untyped-call]
            io.BytesIO(model_bytes), map_location="cpu"
        )

    def check_features(self, feature_names: Sequence[str]) -> None:
        """Fail fast (e.g. on the Spark driver) with the missing and extra feature names.

        A model with an input transform reads its columns from wider rows: only missing names
        fail. Otherwise the names must be the model's exactly.
        """
        if self.input_transform is None:
            check_feature_names(list(feature_names), self.feature_names)
            return
        missing = [name for name in self.feature_names if name not in feature_names]
        if missing:
            raise FeatureMismatchError(missing, [])

    def score_matrix(self, matrix: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Model-input rows (float64, ``input_names`` order) to (score columns, per-input
        shares)."""
        raise NotImplementedError

    def model_inputs(self, matrix: np.ndarray) -> np.ndarray:
        """Raw float64 rows in ``feature_names`` order to the model's input rows."""
        if self.input_transform is None:
            return matrix
        return self.input_transform.transform(pd.DataFrame(matrix, columns=self.feature_names))

    def score_raw(self, matrix: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Raw float64 rows in ``feature_names`` order to (score columns, per-input shares)."""
        return self.score_matrix(self.model_inputs(matrix))

    def score(
        self, data: FeatureData, feature_names: Sequence[str] | None = None, top_k: int = 3
    ) -> pd.DataFrame:
        """Score rows; one output row per input row (a DataFrame input keeps its index).

        Columns: the metadata's ``score_columns`` (``score`` first, then e.g. ``sap``/``nap``),
        ``is_alert`` (score > threshold), ``top_features`` and ``top_feature_shares`` (lists,
        largest share first). Features are matched by name, see
        :func:`~fraudspark.models.inputs.aligned_feature_matrix`.
        """
        if self.input_transform is not None and isinstance(data, pd.DataFrame):
            # A model with declared inputs picks its columns from wider rows.
            self.check_features([str(column) for column in data.columns])
            data = data[self.feature_names]
        matrix = aligned_feature_matrix(data, self.feature_names, feature_names)
        scores, shares = self.score_raw(matrix)
        index = data.index if isinstance(data, pd.DataFrame) else None
        scored = pd.DataFrame({name: scores[name] for name in self.score_columns}, index=index)
        scored["is_alert"] = scored["score"] > self.threshold
        names, top_shares = top_feature_attributions(shares, self.input_names, top_k)
        scored["top_features"] = pd.Series(names, index=scored.index, dtype=object)
        scored["top_feature_shares"] = pd.Series(top_shares, index=scored.index, dtype=object)
        return scored
