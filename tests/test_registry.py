"""The model registry: versions, the champion alias, promotion, loading by spec."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudspark.config import Config
from fraudspark.models.anomaly.autoencoder import AutoencoderScorer
from fraudspark.models.anomaly.base import export_artifact, load_scorer
from fraudspark.models.artifact import ModelArtifact
from fraudspark.models.training import TrainingConfig
from fraudspark.registry import (
    ModelSpec,
    champion_version,
    load_registered,
    promote,
    register_model,
    registered_artifact,
    tracking_uri,
)

FEATURES = ["tx_amount", "cust_nb_tx_1d", "term_risk_7d"]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(200, len(FEATURES))), columns=FEATURES)


@pytest.fixture(scope="module")
def artifacts(rows: pd.DataFrame) -> list[ModelArtifact]:
    """Two autoencoders that differ by their seed."""
    return [
        export_artifact(
            AutoencoderScorer(
                training=TrainingConfig(hidden_dims=(4,), latent_dim=2, epochs=2, seed=seed)
            ).fit(rows),
            {"data_versions": {"transactions": 3}},
        )
        for seed in (1, 2)
    ]


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised, empty MLflow SQLite store: creating one takes seconds, copying it none."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def config(base_config: Config, tmp_path: Path, empty_store: Path) -> Config:
    """A lakehouse of its own, with a fresh copy of the empty store where the registry looks."""
    config = base_config.with_lakehouse(str(tmp_path / "lakehouse"))
    (tmp_path / "lakehouse" / "_mlflow").mkdir(parents=True)
    shutil.copy(empty_store, tmp_path / "lakehouse" / "_mlflow" / "mlflow.db")
    return config


def test_versions_increment_and_the_first_is_champion(
    config: Config, artifacts: list[ModelArtifact], rows: pd.DataFrame
) -> None:
    versions = [register_model(config, "fraud-ae", artifact) for artifact in artifacts]

    assert versions == [1, 2]
    assert champion_version(config, "fraud-ae") == 1
    second, version = load_registered(config, "fraud-ae/2")
    assert version == 2
    pd.testing.assert_frame_equal(second.score(rows), load_scorer(artifacts[1]).score(rows))


def test_promote_moves_the_champion_alias(config: Config, artifacts: list[ModelArtifact]) -> None:
    for artifact in artifacts:
        register_model(config, "fraud-ae", artifact)

    promote(config, "fraud-ae", 2)

    for spec in ["fraud-ae", "fraud-ae@champion"]:
        registered = registered_artifact(config, spec)
        assert registered.version == 2
        assert registered.artifact == artifacts[1]
    assert registered_artifact(config, "fraud-ae/1").artifact == artifacts[0]
    with pytest.raises(ValueError, match="no registered model version fraud-ae/5"):
        promote(config, "fraud-ae", 5)
    assert champion_version(config, "fraud-ae") == 2


def test_registration_keeps_the_artifact_under_the_lakehouse(
    config: Config, artifacts: list[ModelArtifact]
) -> None:
    from mlflow import MlflowClient

    register_model(config, "fraud-rapp", artifacts[0], {"seed": 1})

    root = Path(config.lakehouse_root) / "_mlflow"
    assert tracking_uri(config) == f"sqlite:///{root / 'mlflow.db'}"
    stored = sorted(p.name for p in (root / "artifacts").rglob("*") if p.is_file())
    assert stored == ["metadata.json", "model.pt"]
    client = MlflowClient(tracking_uri(config))
    run = client.get_run(client.get_model_version("fraud-rapp", "1").run_id).data
    assert run.params == {"seed": "1"}
    assert run.tags["data_version.transactions"] == "3"
    assert run.metrics["n_training_rows"] == 200


def test_unknown_models_fail_clearly(config: Config) -> None:
    with pytest.raises(ValueError, match="no registered model version fraud-vae@champion"):
        load_registered(config, "fraud-vae")


def test_model_specs() -> None:
    assert ModelSpec.parse("fraud-ae") == ModelSpec("fraud-ae", alias="champion")
    assert ModelSpec.parse("fraud-ae@challenger") == ModelSpec("fraud-ae", alias="challenger")
    assert ModelSpec.parse("fraud-rapp/12") == ModelSpec("fraud-rapp", version=12)
    assert str(ModelSpec.parse("fraud-rapp/12")) == "fraud-rapp/12"
    # MLflow's model URIs, as MLflow parses them.
    assert ModelSpec.parse("models:/fraud-rapp/12") == ModelSpec("fraud-rapp", version=12)
    assert ModelSpec.parse("models:/fraud-ae@champion") == ModelSpec("fraud-ae", alias="champion")
    assert ModelSpec.parse("fraud-ae@challenger").uri == "models:/fraud-ae@challenger"
    for bad in ["", "fraud-ae/", "fraud-ae@", "fraud-ae/v2", "fraud ae"]:
        with pytest.raises(ValueError, match="NAME, NAME@ALIAS, NAME/VERSION or models:/"):
            ModelSpec.parse(bad)


def test_a_remote_lakehouse_needs_a_tracking_uri(base_config: Config) -> None:
    remote = base_config.with_lakehouse("s3a://bucket/lakehouse")
    with pytest.raises(ValueError, match=r"set registry\.tracking_uri"):
        tracking_uri(remote)
    server = remote.registry.model_copy(update={"tracking_uri": "http://127.0.0.1:5000"})
    assert tracking_uri(remote.model_copy(update={"registry": server})) == "http://127.0.0.1:5000"
