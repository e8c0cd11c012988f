"""The oversampling job: idempotent partitions, flagged and valid synthetic rows, generator
versions, the quality report, and generation in Spark."""

from __future__ import annotations

import tempfile
from datetime import date

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession

from fraudspark.cli import oversample as oversample_job
from fraudspark.config import Config
from fraudspark.evaluation.leaderboard import QUALITY_COLUMNS
from fraudspark.features.store import model_feature_columns
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import AUGMENTED_TRAINING_SETS, OVERSAMPLING_QUALITY, TRAINING_SETS
from fraudspark.oversampling import load_generator, make_oversampler
from fraudspark.oversampling.quality import ALL_FEATURES, count_invalid_rows
from fraudspark.pipelines.oversample import (
    GENERATOR_FILE,
    chunk_seed,
    generated_rows,
    generator_model_name,
    oversample_training_set,
)
from fraudspark.pipelines.training_sets import build_training_set
from fraudspark.registry import download_registered_files
from tests.frames import assert_frames_equal
from tests.synthetic_store import write_feature_store

START = date(2025, 2, 1)
GAN = {"ratio": 0.3, "seed": 4, "steps": 3}


# Spark end to end with trained models: tens of seconds a test (make test runs them).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def store(spark: SparkSession, module_config: Config) -> Config:
    """Six days of 30 customers' payments, five of them defrauded daily; two training sets."""
    config = module_config
    write_feature_store(spark, config, START, 6, frauds_from={c: 0 for c in range(5)})
    build_training_set(spark, config, "early", START, date(2025, 2, 3))
    build_training_set(spark, config, "late", date(2025, 2, 4), date(2025, 2, 6))
    return config


def partition(spark: SparkSession, config: Config, training_set: str, method: str) -> DataFrame:
    return read_table(spark, config, AUGMENTED_TRAINING_SETS).where(
        f"training_set = '{training_set}' AND method = '{method}'"
    )


def test_rerunning_replaces_its_partition_and_nothing_else(
    spark: SparkSession, store: Config
) -> None:
    oversample_training_set(spark, store, "late", "smote", ratio=0.3, seed=1)
    oversample_training_set(spark, store, "early", "none")
    first = oversample_training_set(spark, store, "early", "smote", ratio=0.3, seed=1)
    others = read_table(spark, store, AUGMENTED_TRAINING_SETS).where(
        "NOT (training_set = 'early' AND method = 'smote')"
    )
    kept = others.toPandas()

    again = oversample_training_set(spark, store, "early", "smote", ratio=0.3, seed=1)

    assert (
        again.partition_rows
        == first.partition_rows
        == partition(spark, store, "early", "smote").count()
    )
    assert again.synthetic_rows == first.synthetic_rows > 0
    assert again.other_rows == first.other_rows == len(kept) > 0
    assert_frames_equal(others, kept)
    quality = read_table(spark, store, OVERSAMPLING_QUALITY).where("method = 'smote'")
    assert (
        quality.where("training_set = 'early'").count() == len(model_feature_columns(store)) * 2 + 6
    )
    assert quality.where("training_set = 'late'").count() > 0


def test_none_keeps_the_training_set_as_it_is(spark: SparkSession, store: Config) -> None:
    report = oversample_training_set(spark, store, "late", "none")

    rows = partition(spark, store, "late", "none")
    training = read_table(spark, store, TRAINING_SETS).where("training_set = 'late'")
    assert report.synthetic_rows == 0 and report.quality is None
    assert rows.where("is_synthetic").count() == 0
    assert_frames_equal(rows.select(*training.columns), training)


def test_synthetic_rows_are_flagged_valid_fraud_with_their_generator_version(
    spark: SparkSession, store: Config
) -> None:
    report = oversample_training_set(spark, store, "early", "wgan-gp", **GAN)

    rows = partition(spark, store, "early", "wgan-gp")
    synthetic = rows.where("is_synthetic")
    original = spark.sql("SELECT * FROM fraud.training_sets WHERE training_set = 'early'")
    normals = original.where("is_fraud = 0").count()
    assert report.synthetic_rows == synthetic.count() == int(0.3 * normals) - report.original_frauds
    assert report.original_rows == rows.where("NOT is_synthetic").count() == original.count()
    assert synthetic.where("is_fraud = 1 AND tx_id IS NULL").count() == report.synthetic_rows
    assert sorted(r[0] for r in synthetic.select("synthetic_id").collect()) == list(
        range(report.synthetic_rows)
    )
    assert count_invalid_rows(synthetic, model_feature_columns(store)) == 0
    assert report.quality is not None and report.quality.invalid_rows == 0
    # Months flagged missing stay null, as in the feature store.
    assert synthetic.where("cust_month_missing = 1 AND cust_month_nb_tx IS NOT NULL").count() == 0

    name, version = generator_model_name("wgan-gp"), int(report.generator.split("/")[1])
    assert report.generator == f"{name}/{version}"
    assert {r[0] for r in synthetic.select("generator_version").distinct().collect()} == {version}
    assert rows.where("NOT is_synthetic AND generator_version IS NOT NULL").count() == 0
    with tempfile.TemporaryDirectory() as directory:
        registered, path = download_registered_files(store, name, directory)
        generator = load_generator((path / GENERATOR_FILE).read_bytes())
    assert registered == version
    assert generator.feature_names == model_feature_columns(store)


def test_the_command_oversamples_with_diffusion_in_steps_and_registers_its_generator(
    spark: SparkSession, store: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--lakehouse", store.lakehouse_root, "--training-set", "early"]

    assert (
        oversample_job.main([*argv, "--method", "diffusion", "--ratio", "0.3", "--steps", "2"]) == 0
    )

    first = capsys.readouterr().out.splitlines()[0]
    synthetic = partition(spark, store, "early", "diffusion").where("is_synthetic")
    original = spark.sql("SELECT * FROM fraud.training_sets WHERE training_set = 'early'")
    wanted = (
        int(0.3 * original.where("is_fraud = 0").count()) - original.where("is_fraud = 1").count()
    )
    assert synthetic.count() == wanted > 0
    assert count_invalid_rows(synthetic, model_feature_columns(store)) == 0
    versions = {r[0] for r in synthetic.select("generator_version").distinct().collect()}
    assert len(versions) == 1
    version = versions.pop()
    assert f"generator fraud-generator-diffusion/{version};" in first
    with tempfile.TemporaryDirectory() as directory:
        registered, path = download_registered_files(store, "fraud-generator-diffusion", directory)
        generator = load_generator((path / GENERATOR_FILE).read_bytes())
    assert registered == version
    assert type(generator).__name__ == "DiffusionRowGenerator"
    assert generator.feature_names == model_feature_columns(store)


def test_a_ratio_already_reached_is_refused_by_the_one_check(
    spark: SparkSession, store: Config
) -> None:
    with pytest.raises(
        ValueError, match=r"training set 'early': sampling ratio 0\.0001 is already"
    ):
        oversample_training_set(spark, store, "early", "smote", ratio=0.0001)
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\]"):
        oversample_training_set(spark, store, "early", "gan", ratio=1.5)


def test_the_command_prints_the_counts_and_the_leaderboard(
    spark: SparkSession, store: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    # Its own SMOTE partition, whatever else ran: the leaderboard must rank both methods.
    oversample_training_set(spark, store, "late", "smote", ratio=0.3, seed=1)
    argv = ["--lakehouse", store.lakehouse_root, "--training-set", "late", "--method", "cgan"]

    assert oversample_job.main([*argv, "--ratio", "0.3", "--steps", "2"]) == 0

    out = capsys.readouterr().out.splitlines()
    # The counts, every one read back from the tables.
    every = read_table(spark, store, AUGMENTED_TRAINING_SETS)
    written = partition(spark, store, "late", "cgan")
    training = read_table(spark, store, TRAINING_SETS).where("training_set = 'late'")
    original, frauds = training.count(), training.where("is_fraud = 1").count()
    synthetic = written.where("is_synthetic")
    versions = [r[0] for r in synthetic.select("generator_version").distinct().collect()]
    assert len(versions) == 1
    n_synthetic = synthetic.count()
    assert n_synthetic == int(0.3 * training.where("is_fraud = 0").count()) - frauds > 0
    assert out[0] == (
        f"augmented training set 'late' / cgan: {original} original rows ({frauds} frauds) "
        f"+ {n_synthetic} synthetic = {written.count()} rows written, generator "
        f"fraud-generator-cgan/{versions[0]}; {every.count() - written.count()} rows in other "
        f"partitions untouched"
    )
    assert written.count() == original + n_synthetic
    # The leaderboard: both methods, closest two-sample AUC to 0.5 first, as in the table.
    assert out[1] == "oversampling quality for 'late' (two-sample AUC 0.5 is ideal):"
    quality = (
        read_table(spark, store, OVERSAMPLING_QUALITY)
        .where(f"training_set = 'late' AND feature = '{ALL_FEATURES}'")
        .where("metric = 'two_sample_auc'")
        .toPandas()
    )
    auc = dict(zip(quality["method"], quality["value"], strict=True))
    assert set(auc) == {"smote", "cgan"}
    assert out[2].split() == ["metric", *QUALITY_COLUMNS]
    assert out[3].split() == ["method"]
    ranked = sorted(auc, key=lambda method: abs(auc[method] - 0.5))
    assert [line.split()[:2] for line in out[4:]] == [
        [method, f"{auc[method]:.3f}"] for method in ranked
    ]


def test_generated_rows_depend_on_the_seed_not_the_partitions(spark: SparkSession) -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.lognormal(3, 1, 300), rng.integers(0, 5, 300)])
    y = np.r_[np.zeros(270), np.ones(30)]
    sampler = make_oversampler(
        "gan", sampling_ratio=0.5, random_state=0, feature_names=["tx_amount", "nb_tx"], steps=2
    )
    sampler.fit_resample(X, y)
    payload = sampler.generator_bytes()  # type: ignore[attr-defined]

    rows = generated_rows(spark, payload, 25, seed=9, chunk_rows=10).toPandas()

    generator = load_generator(payload)
    expected = np.vstack(
        [generator.sample(n, seed=chunk_seed(9, chunk)) for chunk, n in enumerate((10, 10, 5))]
    )
    assert rows["synthetic_id"].tolist() == list(range(25))
    np.testing.assert_array_equal(rows[["tx_amount", "nb_tx"]].to_numpy(), expected)
