"""The Spark scoring job: same scores as in-process, feature checks, idempotent writes, CLI."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudspark.cli import promote as promote_job
from fraudspark.cli import score as score_job
from fraudspark.cli import train_scorer as train_scorer_job
from fraudspark.config import HANDBOOK_INPUTS, HANDBOOK_RATIOS, Config, ModelInputsConfig
from fraudspark.features.model_inputs import model_inputs
from fraudspark.features.store import current_versions, feature_rows, model_feature_columns
from fraudspark.features.training_data import training_frame
from fraudspark.features.transforms import InputTransform
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import MONITORING_REFERENCES, SCORES
from fraudspark.models.anomaly.autoencoder import AutoencoderScorer
from fraudspark.models.anomaly.base import export_artifact
from fraudspark.models.anomaly.kinds import SCORER_KINDS, export_anomaly_scorer, new_scorer
from fraudspark.models.artifact import ModelArtifact
from fraudspark.models.batch_scoring import score_feature_rows
from fraudspark.models.inputs import FeatureMismatchError
from fraudspark.models.loader import load_model
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.score import alert_reasons, score_days
from fraudspark.pipelines.train import train_scorer
from fraudspark.registry import champion_version, promote, register_model
from tests.frames import assert_frames_equal, assert_rows_equal
from tests.synthetic_store import write_feature_store

START = date(2025, 2, 1)
TINY = TrainingConfig(hidden_dims=(8,), latent_dim=3, epochs=3, batch_size=64, seed=5)


# Spark end to end with trained models: tens of seconds a test (make test runs them).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def store(spark: SparkSession, module_config: Config) -> Config:
    """Three days of 30 customers' payments (a few frauds); half the customers lack a month."""
    config = module_config
    write_feature_store(spark, config, START, 3, frauds_from={3: 1, 4: 1})
    return config


@pytest.fixture(scope="module")
def artifacts(spark: SparkSession, store: Config) -> dict[str, ModelArtifact]:
    """One tiny scorer of each kind, trained on the first day's rows without its frauds."""
    frame = training_frame(spark, store, START, START, current_versions(spark, store))
    return {
        kind: export_anomaly_scorer(new_scorer(kind, TINY, target_alert_rate=0.1).fit(frame))
        for kind in SCORER_KINDS
    }


@pytest.fixture(scope="module")
def rows(spark: SparkSession, store: Config) -> DataFrame:
    return feature_rows(spark, store, START, date(2025, 2, 3)).drop("is_fraud")


@pytest.mark.parametrize("kind", sorted(SCORER_KINDS))
def test_spark_scores_equal_in_process_scores(
    store: Config, rows: DataFrame, artifacts: dict[str, ModelArtifact], kind: str
) -> None:
    artifact, features = artifacts[kind], model_feature_columns(store)

    got = score_feature_rows(rows, artifact, features).toPandas()

    inputs = model_inputs(rows, features).toPandas().sort_values("tx_id", ignore_index=True)
    expected = load_model(artifact).score(inputs[features])
    got = got.sort_values("tx_id", ignore_index=True)
    assert list(got.columns) == [
        *[c for c in rows.columns if c not in features],
        *artifact.metadata["score_columns"],
        "is_alert",
        "top_features",
        "top_feature_shares",
    ]
    assert got["tx_id"].tolist() == inputs["tx_id"].tolist()
    for column in artifact.metadata["score_columns"]:
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-12, atol=0)
    assert got["is_alert"].tolist() == expected["is_alert"].tolist()
    assert got["top_features"].map(list).tolist() == expected["top_features"].tolist()
    np.testing.assert_allclose(
        np.stack(got["top_feature_shares"]), np.stack(expected["top_feature_shares"]), rtol=1e-12
    )


@pytest.mark.parametrize("kind", ["rapp", "mahalanobis"])
def test_a_scorer_with_transformed_inputs_scores_in_spark_as_in_process(
    spark: SparkSession, store: Config, rows: DataFrame, kind: str
) -> None:
    trained = train_scorer(spark, store, kind, START, START, training=TINY, target_alert_rate=0.1)
    metadata = trained.artifact.metadata
    features = model_feature_columns(store)
    # The configured inputs: the Handbook's 15, plus three ratios for RaPP.
    assert metadata["feature_names"] == list(HANDBOOK_INPUTS)
    ratios = list(HANDBOOK_RATIOS) if kind == "rapp" else []
    assert metadata["input_names"] == [*HANDBOOK_INPUTS, *ratios]
    assert InputTransform.from_dict(metadata["input_transform"]) is not None

    got = score_feature_rows(rows, trained.artifact, features).toPandas()

    inputs = model_inputs(rows, features).toPandas()
    in_process = trained.scorer.decision_function(trained.model_inputs(inputs))
    expected = pd.Series(in_process, index=inputs["tx_id"]).loc[got["tx_id"]].to_numpy()
    # Equal to the last bits: Spark scores each Arrow batch as its own matrix, the in-process
    # call all rows in one, and the CPU's matrix kernels may round a row's dot products
    # differently by the matrix's row count (seen here: 1 ulp on 3 rows of 282 on an AMD EPYC).
    np.testing.assert_allclose(got["score"].to_numpy(), expected, rtol=1e-12, atol=0)
    named = {name for names in got["top_features"] for name in names}
    assert named and named <= set(metadata["input_names"])


def test_a_scorer_with_unknown_inputs_fails_with_their_names(
    spark: SparkSession, store: Config
) -> None:
    models = store.models.model_copy(
        update={"ae": ModelInputsConfig(features=["tx_amount", "tx_velocity"], ratios=["nope"])}
    )
    config = store.model_copy(update={"models": models})
    with pytest.raises(
        ValueError,
        match=r"models\.ae: unknown features \['tx_velocity'\].*unknown ratios \['nope'\]",
    ):
        train_scorer(spark, config, "ae", START, START, training=TINY)


def test_missing_monthly_values_enter_the_model_as_zero(spark: SparkSession) -> None:
    rows = spark.createDataFrame(
        [(1, 20.0, None, 1), (2, 35.5, 3, 0)],
        "tx_id long, tx_amount double, cust_month_nb_tx int, cust_month_missing int",
    )
    features = ["tx_amount", "cust_month_nb_tx", "cust_month_missing"]

    got = model_inputs(rows, features)

    assert_rows_equal(got, ["tx_id", *features], [(1, 20.0, 0.0, 1.0), (2, 35.5, 3.0, 0.0)])
    assert dict(got.dtypes) == {
        "tx_id": "bigint", "tx_amount": "double", "cust_month_nb_tx": "double",
        "cust_month_missing": "double",
    }  # fmt: skip


def test_a_feature_mismatch_fails_before_scoring(spark: SparkSession, store: Config) -> None:
    features = model_feature_columns(store)
    trained_on = [f for f in features if f != "term_risk_7d"] + ["seconds_since_last_tx"]
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(64, len(trained_on))))
    other = AutoencoderScorer(training=TINY).fit(frame.to_numpy(), feature_names=trained_on)
    register_model(store, "fraud-vae", export_artifact(other))
    message = r"missing \['seconds_since_last_tx'\], extra \['term_risk_7d'\]"

    with pytest.raises(FeatureMismatchError, match=message):
        score_feature_rows(
            feature_rows(spark, store, START, START), export_artifact(other), features
        )
    with pytest.raises(FeatureMismatchError, match=message):
        score_days(spark, store, "fraud-vae", START, START)


def test_rescoring_a_date_changes_nothing(
    spark: SparkSession, store: Config, artifacts: dict[str, ModelArtifact]
) -> None:
    version = register_model(store, "fraud-rapp", artifacts["rapp"])
    days = (date(2025, 2, 2), date(2025, 2, 3))

    def rapp_scores() -> DataFrame:
        scores = read_table(spark, store, SCORES)
        return scores.where(f"model_name = 'fraud-rapp' AND model_version = {version}")

    first = score_days(spark, store, f"fraud-rapp/{version}", *days)
    table = rapp_scores().toPandas().sort_values("tx_id", ignore_index=True)
    promote(store, "fraud-rapp", version)  # whatever this module registered before
    again = score_days(spark, store, "fraud-rapp", *days)  # the champion: the same version

    n = feature_rows(spark, store, *days).count()
    assert again.model == first.model == f"fraud-rapp/{version}"
    assert (first.rows_scored, first.rows_inserted) == (n, n)
    assert (again.rows_scored, again.rows_inserted) == (n, 0)
    assert_frames_equal(rapp_scores(), table)
    assert len(table) == n and table["tx_id"].is_unique
    assert table[["sap", "nap"]].notna().all().all()
    assert table[["reconstruction_error", "kl_divergence"]].isna().all().all()
    assert (table["score"] == table["nap"]).all()
    assert table["top_features"].map(len).eq(3).all()
    assert first.alerts == again.alerts == int(table["is_alert"].sum()) > 0

    reasons = alert_reasons(spark, store, *days, model=f"fraud-rapp/{version}").collect()
    assert len(reasons) == first.alerts
    assert reasons[0]["score"] == table["score"].max()
    names, shares = table.loc[table["score"].idxmax(), ["top_features", "top_feature_shares"]]
    assert reasons[0]["reasons"] == ", ".join(
        f"{name} {100 * share:.0f}%" for name, share in zip(names, shares, strict=True)
    )


def test_a_second_model_leaves_the_first_models_rows_and_files_as_they_were(
    spark: SparkSession, store: Config, artifacts: dict[str, ModelArtifact]
) -> None:
    day = date(2025, 2, 1)
    first = register_model(store, "fraud-ae", artifacts["ae"])
    score_days(spark, store, f"fraud-ae/{first}", day, day)

    def first_rows() -> pd.DataFrame:
        scores = read_table(spark, store, SCORES).where(
            f"model_name = 'fraud-ae' AND model_version = {first} AND tx_date = '{day}'"
        )
        return scores.withColumn("file", F.input_file_name()).toPandas()

    before = first_rows()
    second = register_model(store, "fraud-ae", artifacts["ae"])
    report = score_days(spark, store, f"fraud-ae/{second}", day, day)

    assert report.rows_inserted == report.rows_scored == len(before) > 0
    # The first version's rows, scored_at and the files that hold them are untouched.
    assert_frames_equal(first_rows(), before)


def registered_version(out: str) -> int:
    """N from the train-scorer command's last line, ``registered fraud-ae/N ...``."""
    match = re.match(r"registered fraud-ae/(\d+)\b", out.splitlines()[-1])
    assert match is not None, out
    return int(match.group(1))


@pytest.mark.slow
def test_commands_train_register_score_and_promote(
    spark: SparkSession, store: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "test.yaml"
    conf.write_text("spark: {master: 'local[2]', shuffle_partitions: 4}\n")
    common = ["--conf", str(conf), "--lakehouse", store.lakehouse_root]
    train = [*common, "--kind", "ae", "--start", "2025-02-01", "--end", "2025-02-02"]

    assert train_scorer_job.main([*train, "--epochs", "2", "--seed", "1"]) == 0
    first = registered_version(capsys.readouterr().out)
    assert train_scorer_job.main([*train, "--epochs", "2", "--seed", "2"]) == 0
    second = registered_version(capsys.readouterr().out)
    assert second == first + 1
    # Each version's monitoring reference is kept at registration, not at its first night.
    kept = read_table(spark, store, MONITORING_REFERENCES).where("model_name = 'fraud-ae'")
    versions = {row["model_version"] for row in kept.select("model_version").distinct().collect()}
    assert {first, second} <= versions
    # A model's first version becomes its champion; later ones wait for `promote`.
    champion = champion_version(store, "fraud-ae")
    assert champion <= first < second
    assert score_job.main([*common, "--model", "fraud-ae", "--date", "2025-02-03"]) == 0
    n = feature_rows(spark, store, date(2025, 2, 3), date(2025, 2, 3)).count()
    summary = f"fraud-ae/{champion} on 2025-02-03 .. 2025-02-03: {n} rows in fraud.scores"
    assert f"{summary} ({n} new)" in capsys.readouterr().out
    assert promote_job.main([*common, "fraud-ae", str(second)]) == 0

    promoted = capsys.readouterr().out.splitlines()[-1]
    assert promoted == f"fraud-ae@champion: version {champion} -> {second}"
    assert champion_version(store, "fraud-ae") == second
    # The champion may be a version an earlier test in this module scored other days with.
    scored = read_table(spark, store, SCORES).where(
        f"model_name = 'fraud-ae' AND model_version = {champion} AND tx_date = '2025-02-03'"
    )
    assert scored.count() == n
