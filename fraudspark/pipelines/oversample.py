"""The oversampling job: a training set plus synthetic fraud rows, in Spark, and their quality.

The generator trains on the driver, on the training set's fraud rows (few: one node is enough)
plus a sample of normal rows, which only the class-conditional GANs learn from. Its pickle-free
bytes are then broadcast and the synthetic rows produced in ``mapInArrow``, in chunks of
``CHUNK_ROWS`` rows with a seed each, so a large ratio scales out with the executors and the rows
do not depend on the number of partitions. SMOTE has no generator: imbalanced-learn
interpolates on the driver (driver memory grows with the synthetic row count) and the rows go to
Spark from there. ``none`` writes the original rows only.

Synthetic rows follow the feature store's convention: a monthly value is null where its
``*_month_missing`` flag is 1 (:func:`~fraudspark.features.model_inputs.model_inputs` imputes it
again).
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from pyspark.broadcast import Broadcast
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudspark.config import Config
from fraudspark.features.definitions import feature_groups
from fraudspark.features.store import missing_indicator, model_feature_columns
from fraudspark.lakehouse.io import (
    ensure_table,
    read_table,
    read_table_as_of,
    replace_partitions,
    table_version,
)
from fraudspark.lakehouse.tables import (
    AUGMENTED_TRAINING_SETS,
    OVERSAMPLING_QUALITY,
    TRAINING_SETS,
    sql_quote,
)
from fraudspark.models.training import one_torch_thread
from fraudspark.oversampling import OVERSAMPLERS, load_generator, make_oversampler
from fraudspark.oversampling.base import check_sampling_ratio, synthetic_row_count
from fraudspark.oversampling.quality import (
    ALL_FEATURES,
    QUALITY_SAMPLE_ROWS,
    QualityReport,
    _normal_sample,
    count_invalid_rows,
    feature_matrix,
    synthetic_quality,
)
from fraudspark.registry import register_files

log = logging.getLogger(__name__)


CHUNK_ROWS = 20_000


# Normal rows the class-conditional GANs see per fraud row (unconditional ones ignore them).
NORMALS_PER_FRAUD = 10


GENERATOR_FILE = "generator.zip"


def generator_model_name(method: str) -> str:
    """The registered model a method's generators are versions of: ``fraud-generator-<method>``
    (a GAN or the diffusion model)."""
    return f"fraud-generator-{method}"


def has_generator(method: str) -> bool:
    return method not in ("none", "smote")


def training_set_rows(spark: SparkSession, config: Config, name: str) -> tuple[DataFrame, int]:
    """A training set's rows from ``fraud.training_sets``, pinned at its current Delta version."""
    version = table_version(spark, config, TRAINING_SETS)
    rows = read_table_as_of(spark, config, TRAINING_SETS, version).where(
        F.col("training_set") == name
    )
    return rows, version


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of chunk ``chunk`` of :func:`generated_rows`."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


def _sample_chunks(
    batches: Iterable[pa.RecordBatch],
    shared: Broadcast[bytes],
    n_rows: int,
    chunk_rows: int,
    seed: int,
    schema: pa.Schema,
) -> Iterator[pa.RecordBatch]:
    torch.set_num_threads(1)  # Spark already runs a task per core
    generator = load_generator(shared.value)
    for batch in batches:
        for chunk in batch.column("id").to_pylist():
            first = chunk * chunk_rows
            count = min(chunk_rows, n_rows - first)
            rows = generator.sample(count, seed=chunk_seed(seed, chunk))
            ids = pa.array(np.arange(first, first + count, dtype=np.int64))
            columns = [pa.array(rows[:, index]) for index in range(rows.shape[1])]
            yield pa.RecordBatch.from_arrays([ids, *columns], schema=schema)


def generated_rows(
    spark: SparkSession,
    generator_bytes: bytes,
    n_rows: int,
    seed: int,
    chunk_rows: int = CHUNK_ROWS,
) -> DataFrame:
    """``n_rows`` rows of a serialised generator, sampled in Spark tasks.

    Returns ``synthetic_id`` (0 .. n_rows - 1) and the generator's features as doubles. Chunk
    ``k`` (rows ``k * chunk_rows`` onwards) is sampled with a seed of ``(seed, k)``: the same
    arguments give the same rows on any cluster.
    """
    names = load_generator(generator_bytes).feature_names
    schema = T.StructType(
        [T.StructField("synthetic_id", T.LongType(), False)]
        + [T.StructField(name, T.DoubleType(), False) for name in names]
    )
    arrow_schema = pa.schema(
        [pa.field("synthetic_id", pa.int64(), False)]
        + [pa.field(name, pa.float64(), False) for name in names]
    )
    shared = spark.sparkContext.broadcast(generator_bytes)
    n_chunks = math.ceil(n_rows / chunk_rows)
    partitions = max(1, min(n_chunks, spark.sparkContext.defaultParallelism))

    def sample_partition(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        return _sample_chunks(batches, shared, n_rows, chunk_rows, seed, arrow_schema)

    return spark.range(n_chunks, numPartitions=partitions).mapInArrow(sample_partition, schema)


def _missing_months_as_null(rows: DataFrame, config: Config) -> DataFrame:
    """Monthly values set to null where their group's ``*_month_missing`` flag is 1."""
    replaced: dict[str, Any] = {}
    for group in feature_groups(config.features):
        if group.frequency != "monthly":
            continue
        flag = F.col(missing_indicator(group.entity))  # type: ignore[arg-type]
        for column in group.columns:
            replaced[column] = F.when(flag == 1, F.lit(None)).otherwise(F.col(column))
    return rows.withColumns(replaced)


def _as_training_rows(
    synthetic: DataFrame, originals: DataFrame, config: Config, features: Sequence[str]
) -> DataFrame:
    """Synthetic fraud rows in the original rows' schema: no transaction keys, label 1."""
    types = {field.name: field.dataType for field in originals.schema.fields}
    feature_set = set(features)
    synthetic = _missing_months_as_null(synthetic, config)
    return synthetic.select(
        *[
            F.col(name).cast(types[name]).alias(name)
            if name in feature_set
            else (F.lit(1) if name == "is_fraud" else F.lit(None)).cast(types[name]).alias(name)
            for name in originals.columns
            if name != "training_set"
        ],
        "synthetic_id",
    )


@dataclass(frozen=True)
class OversamplingReport:
    """What one run wrote: ``partition_rows`` is its partition after the write, of which
    ``synthetic_rows`` are synthetic; ``other_rows`` are the table's other partitions, untouched."""

    training_set: str
    method: str
    ratio: float
    seed: int
    original_rows: int
    original_frauds: int
    synthetic_rows: int
    partition_rows: int
    other_rows: int
    generator: str | None  # NAME/VERSION in the registry
    training_set_version: int
    quality: QualityReport | None = field(default=None, repr=False)

    def summary(self) -> str:
        generator = f", generator {self.generator}" if self.generator else ""
        return (
            f"augmented training set {self.training_set!r} / {self.method}: "
            f"{self.original_rows} original rows ({self.original_frauds} frauds) + "
            f"{self.synthetic_rows} synthetic = {self.partition_rows} rows written{generator}; "
            f"{self.other_rows} rows in other partitions untouched"
        )


def _register_generator(
    config: Config, method: str, generator_bytes: bytes, params: dict[str, str]
) -> int:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / GENERATOR_FILE).write_bytes(generator_bytes)
        return register_files(
            config,
            generator_model_name(method),
            directory,
            params,
            description=f"fraudspark {method} generator of synthetic fraud rows",
        )


@dataclass(frozen=True)
class _Synthesis:
    """A method's synthetic rows (in the training set's schema, not yet computed) and the rows
    its quality is measured against."""

    rows: DataFrame
    real: np.ndarray
    normal: np.ndarray
    generator_version: int | None


def _synthesise(
    spark: SparkSession,
    config: Config,
    rows: DataFrame,
    training_set: tuple[str, int],
    method: str,
    wanted: int,
    *,
    seed: int,
    steps: int,
    register: bool,
) -> _Synthesis:
    """Fit the method on the driver (fraud rows + a normal sample); ``wanted`` synthetic rows."""
    name, version = training_set
    features = model_feature_columns(config)
    real = feature_matrix(rows.where(F.col("is_fraud") == 1), features)
    # SMOTE must output every synthetic row; a GAN's driver output is only a by-product.
    sample_size = len(real) + wanted if method == "smote" else NORMALS_PER_FRAUD * len(real)
    normals = rows.where(F.col("is_fraud") == 0).count()
    normal = _normal_sample(rows, features, min(normals, max(sample_size, len(real) + 1)), seed)
    params: dict[str, Any] = {"random_state": seed, "feature_names": features}
    if has_generator(method):
        params["steps"] = steps  # every generative method counts training in steps
    sampler = make_oversampler(method, sampling_ratio=1.0, **params)
    with one_torch_thread():
        resampled, _ = sampler.fit_resample(
            np.vstack([real, normal]), np.r_[np.ones(len(real)), np.zeros(len(normal))]
        )
    generator_version = None
    if has_generator(method):
        generator_bytes = sampler.generator_bytes()
        if register:
            run = {"training_set": name, "training_set_version": str(version)}
            run |= {"seed": str(seed), "steps": str(steps)}
            generator_version = _register_generator(config, method, generator_bytes, run)
        synthetic = generated_rows(spark, generator_bytes, wanted, seed)
    else:
        smote_rows = pd.DataFrame(resampled[len(real) + len(normal) :], columns=features)
        smote_rows.insert(0, "synthetic_id", np.arange(len(smote_rows), dtype=np.int64))
        synthetic = spark.createDataFrame(smote_rows)
    training_rows = _as_training_rows(synthetic, rows, config, features).withColumns(
        {
            "training_set": F.lit(name),
            "is_synthetic": F.lit(True),
            "generator_version": F.lit(generator_version).cast("int"),
        }
    )
    return _Synthesis(training_rows, real, normal[:QUALITY_SAMPLE_ROWS], generator_version)


def _label_counts(rows: DataFrame, training_set: str) -> tuple[int, int]:
    """(normal, fraud) labelled rows; ValueError unless both are there."""
    labelled = rows.where(F.col("is_fraud").isNotNull()).groupBy("is_fraud").count().collect()
    counts = {int(label): int(count) for label, count in labelled}
    if not counts.get(0) or not counts.get(1):
        raise ValueError(
            f"training set {training_set!r} needs labelled fraud and normal rows, has "
            f"{counts.get(1, 0)} and {counts.get(0, 0)}"
        )
    return counts[0], counts[1]


def oversample_training_set(
    spark: SparkSession,
    config: Config,
    training_set: str,
    method: str,
    *,
    ratio: float | None = None,
    seed: int = 0,
    steps: int | None = None,
    register: bool = True,
) -> OversamplingReport:
    """Write ``fraud.augmented_training_sets`` partition (``training_set``, ``method``) and its
    rows of ``fraud.oversampling_quality``; re-running replaces both and nothing else.

    ``ratio`` is fraud / normal rows after oversampling (imbalanced-learn's float strategy;
    default ``config.oversampling.sampling_ratio``); ``none`` ignores it. ``steps`` is the
    training length of a GAN or the diffusion model (default ``config.oversampling.steps``).
    A generator is registered as ``fraud-generator-<method>`` and its version written with
    every synthetic row (``register=False`` skips that, for benchmarks).

    Raises ValueError for an unknown method, a bad training-set name, a ratio outside (0, 1]
    or one the training set already reaches (:func:`synthetic_row_count`).
    """
    ratio = config.oversampling.sampling_ratio if ratio is None else ratio
    steps = config.oversampling.steps if steps is None else steps
    if method not in OVERSAMPLERS:
        raise ValueError(f"unknown oversampling method {method!r}: one of {sorted(OVERSAMPLERS)}")
    if not training_set or "'" in training_set:
        raise ValueError(f"invalid training set name: {training_set!r}")
    if method != "none":
        check_sampling_ratio(ratio)
    rows, version = training_set_rows(spark, config, training_set)
    normals, frauds = _label_counts(rows, training_set)
    augmented = rows.withColumns(
        {
            "is_synthetic": F.lit(False),
            "synthetic_id": F.lit(None).cast("long"),
            "generator_version": F.lit(None).cast("int"),
        }
    )
    synthesis = None
    if method != "none":
        try:
            wanted = synthetic_row_count(ratio, frauds, normals)
        except ValueError as error:
            raise ValueError(f"training set {training_set!r}: {error}") from None
        synthesis = _synthesise(
            spark,
            config,
            rows,
            (training_set, version),
            method,
            wanted,
            seed=seed,
            steps=steps,
            register=register,
        )
        augmented = augmented.unionByName(synthesis.rows)
    partition = f"training_set = '{training_set}' AND method = '{method}'"
    replace_partitions(
        spark,
        config,
        AUGMENTED_TRAINING_SETS,
        augmented.withColumn("method", F.lit(method)),
        partition,
    )
    written = read_table(spark, config, AUGMENTED_TRAINING_SETS)
    in_partition = written.where(partition)
    by_kind = {
        bool(kind): int(n) for kind, n in in_partition.groupBy("is_synthetic").count().collect()
    }
    quality = None
    if synthesis is not None:
        features = model_feature_columns(config)
        made = in_partition.where("is_synthetic")
        quality = synthetic_quality(
            synthesis.real,
            feature_matrix(made.limit(QUALITY_SAMPLE_ROWS), features),
            synthesis.normal,
            features,
            invalid_rows=count_invalid_rows(made, features),
            synthetic_rows=by_kind.get(True, 0),
            seed=seed,
        )
        write_quality(spark, config, training_set, method, synthesis.generator_version, quality)
    generator_version = synthesis.generator_version if synthesis else None
    report = OversamplingReport(
        training_set=training_set,
        method=method,
        ratio=ratio,
        seed=seed,
        original_rows=by_kind.get(False, 0),
        original_frauds=frauds,
        synthetic_rows=by_kind.get(True, 0),
        partition_rows=sum(by_kind.values()),
        other_rows=written.count() - sum(by_kind.values()),
        generator=(
            f"{generator_model_name(method)}/{generator_version}" if generator_version else None
        ),
        training_set_version=version,
        quality=quality,
    )
    log.info(report.summary())
    return report


def write_quality(
    spark: SparkSession,
    config: Config,
    training_set: str,
    method: str,
    generator_version: int | None,
    quality: QualityReport,
) -> None:
    """Replace the (training set, method) rows of ``fraud.oversampling_quality``."""
    now = datetime.now(timezone.utc)
    metrics = [
        *[("ks", name, value) for name, value in quality.ks.items()],
        *[("wasserstein", name, value) for name, value in quality.wasserstein.items()],
        *[(metric, ALL_FEATURES, value) for metric, value in quality.summary().items()],
    ]
    records = [
        (
            training_set,
            method,
            generator_version,
            metric,
            feature,
            None if math.isnan(value) else float(value),
            quality.real_rows,
            quality.synthetic_rows,
            now,
        )
        for metric, feature, value in metrics
    ]
    ensure_table(spark, config, OVERSAMPLING_QUALITY)
    replace_partitions(
        spark,
        config,
        OVERSAMPLING_QUALITY,
        spark.createDataFrame(records, OVERSAMPLING_QUALITY.schema),
        f"training_set = {sql_quote([training_set])} AND method = {sql_quote([method])}",
    )
