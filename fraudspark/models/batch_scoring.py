"""Scoring feature rows in Spark: the per-partition Arrow kernel (no table IO).

Scoring runs the exported model in ``mapInArrow``: the artifact goes to the executors as a
broadcast (bytes + JSON metadata), is loaded once per partition by the one loader, and each Arrow
batch becomes one float64 matrix, one forward pass and Arrow columns back, with no pandas
conversion on the way (the fastest of the three UDF styles measured in ``bench/scoring.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import torch
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from fraudspark.features.model_inputs import model_inputs
from fraudspark.models.artifact import ModelArtifact
from fraudspark.models.loader import load_model

ATTRIBUTION_COLUMNS = ("is_alert", "top_features", "top_feature_shares")


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

    Ordered as :func:`~fraudspark.models.attribution.top_feature_attributions` orders them (stable
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


def score_arrow_batches(
    batches: Iterable[pa.RecordBatch],
    artifact: ModelArtifact,
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
    # The attributions name the model's inputs (the transformed columns, with a transform).
    input_names = pa.array(model.input_names, pa.string())
    names = list(output_names)
    passthrough = names[: len(names) - len(model.score_columns) - len(ATTRIBUTION_COLUMNS)]
    for batch in batches:
        matrix = np.column_stack(
            [batch.column(name).to_numpy(zero_copy_only=False) for name in model.feature_names]
        )
        scores, shares = model.score_raw(matrix)
        top_names, top_shares = _top_attributions(shares, input_names, top_k)
        columns = [batch.column(name) for name in passthrough]
        columns += [pa.array(scores[name]) for name in model.score_columns]
        columns += [pa.array(scores["score"] > model.threshold), top_names, top_shares]
        yield pa.RecordBatch.from_arrays(columns, names=names)


def score_feature_rows(
    rows: DataFrame, artifact: ModelArtifact, feature_names: Sequence[str], top_k: int = 3
) -> DataFrame:
    """Score feature-store rows with an exported scorer or classifier, in Spark.

    ``feature_names`` are the rows' feature columns; they must be the model's (in any order; a
    model with an input transform reads its own columns among them), else
    :class:`~fraudspark.models.inputs.FeatureMismatchError` names the missing and extra ones
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
    # Only the features the model reads cross to Python: moving a column between the JVM and
    # the Python worker costs more than scoring it (bench/scoring.py).
    features = set(feature_names)
    inputs = rows.select(
        *[name for name in rows.columns if name not in features], *model.feature_names
    )
    shared = rows.sparkSession.sparkContext.broadcast((artifact.model_bytes, artifact.metadata))
    output_names = schema.names

    def score_partition(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        # One thread per task: Spark already runs a task per core.
        torch.set_num_threads(1)
        return score_arrow_batches(batches, ModelArtifact(*shared.value), output_names, top_k)

    return model_inputs(inputs, model.feature_names).mapInArrow(score_partition, schema)
