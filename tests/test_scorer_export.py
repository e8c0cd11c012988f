"""Exported scorers: TorchScript + metadata.json round trips, feature checks, scoring output."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from fraudspark.models.anomaly.autoencoder import AutoencoderScorer
from fraudspark.models.anomaly.base import (
    ReconstructionScorer,
    export_artifact,
    export_scorer,
    load_scorer,
)
from fraudspark.models.anomaly.rapp import RappScorer
from fraudspark.models.anomaly.vae import VaeScorer
from fraudspark.models.artifact import ModelArtifact
from fraudspark.models.inputs import FeatureMismatchError
from fraudspark.models.training import TrainingConfig

FEATURES = ["tx_amount", "customer_tx_count_1d", "terminal_risk_7d", "seconds_since_last_tx"]
TINY = TrainingConfig(hidden_dims=(6,), latent_dim=2, epochs=5, batch_size=64, seed=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(300, 2))
    return pd.DataFrame(latent @ rng.normal(size=(2, len(FEATURES))) + 3.0, columns=FEATURES)


@pytest.fixture(scope="module", params=[AutoencoderScorer, VaeScorer, RappScorer])
def scorer(request: pytest.FixtureRequest, rows: pd.DataFrame) -> ReconstructionScorer[Any]:
    scorer_type: type[ReconstructionScorer[Any]] = request.param
    return scorer_type(training=TINY).fit(rows)


def test_directory_round_trip_gives_identical_scores(
    scorer: ReconstructionScorer[Any], rows: pd.DataFrame, tmp_path: Path
) -> None:
    directory = export_scorer(scorer, tmp_path / "model", {"transactions_version": 12})

    scored = load_scorer(directory).score(rows)

    assert sorted(p.name for p in directory.iterdir()) == ["metadata.json", "model.pt"]
    in_memory = scorer.score_outputs(rows)
    for column in ["score", *{"sap", "nap"} & set(scored.columns)]:
        np.testing.assert_array_equal(scored[column].to_numpy(), in_memory[column])
    np.testing.assert_array_equal(scored["is_alert"], in_memory["score"] > scorer.threshold_)


def test_in_memory_artifact_scores_like_the_directory(
    scorer: ReconstructionScorer[Any], rows: pd.DataFrame, tmp_path: Path
) -> None:
    artifact = export_artifact(scorer)

    from_bytes = load_scorer(artifact).score(rows)
    from_files = load_scorer(artifact.write(tmp_path)).score(rows)

    pd.testing.assert_frame_equal(from_bytes, from_files)


def test_metadata_describes_the_model(rows: pd.DataFrame, tmp_path: Path) -> None:
    rapp = RappScorer(training=TINY, layers=[0, 2]).fit(rows)
    extra = {"training_table_versions": {"fraud.transactions": 7}}

    metadata = json.loads((export_scorer(rapp, tmp_path, extra) / "metadata.json").read_text())

    assert metadata["model_type"] == "rapp"
    assert metadata["score_name"] == "rapp_nap"
    assert metadata["score_columns"] == ["score", "sap", "nap"]
    assert metadata["feature_names"] == FEATURES
    assert metadata["standardiser"]["mean"] == pytest.approx(rows.mean().tolist())
    assert metadata["threshold"] == rapp.threshold_
    assert metadata["target_alert_rate"] == 0.01
    assert metadata["training_config"]["seed"] == 3
    assert metadata["training_metrics"]["n_training_rows"] == 300
    assert metadata["rapp"]["layers"] == [0, 2]
    assert np.array_equal(metadata["rapp"]["nap"]["components"], rapp.nap_basis_.components)
    assert metadata["rapp"]["nap"]["singular_values"] == rapp.nap_basis_.singular_values.tolist()
    assert metadata["extra"] == extra


def test_model_file_needs_only_torch_jit_and_json(rows: pd.DataFrame, tmp_path: Path) -> None:
    rapp = RappScorer(training=TINY).fit(rows)
    directory = export_scorer(rapp, tmp_path)

    model_bytes = (directory / "model.pt").read_bytes()
    module = torch.jit.load(io.BytesIO(model_bytes))  # type: ignore[no-untyped-call]
    feature_names = json.loads((directory / "metadata.json").read_text())["feature_names"]
    outputs = module(torch.tensor(rows[feature_names].to_numpy()))

    np.testing.assert_array_equal(outputs["nap"].numpy(), rapp.decision_function(rows))


def test_feature_mismatch_names_missing_and_extra_features(
    rows: pd.DataFrame, tmp_path: Path
) -> None:
    loaded = load_scorer(export_scorer(AutoencoderScorer(training=TINY).fit(rows), tmp_path))
    renamed = rows.rename(columns={"terminal_risk_7d": "terminal_risk_30d"})
    message = r"missing \['terminal_risk_7d'\], extra \['terminal_risk_30d'\]"

    with pytest.raises(FeatureMismatchError, match=message):
        loaded.score(renamed)
    with pytest.raises(FeatureMismatchError, match=message):
        loaded.score(renamed.to_numpy(), feature_names=list(renamed.columns))
    with pytest.raises(FeatureMismatchError, match=r"missing \['tx_amount'\], extra \[\]"):
        loaded.check_features(FEATURES[1:])


def test_columns_in_another_order_are_matched_by_name(rows: pd.DataFrame, tmp_path: Path) -> None:
    loaded = load_scorer(export_scorer(AutoencoderScorer(training=TINY).fit(rows), tmp_path))
    reordered = FEATURES[::-1]

    from_array = loaded.score(rows[reordered].to_numpy(), feature_names=reordered)

    pd.testing.assert_frame_equal(from_array, loaded.score(rows))


def test_scores_carry_top_feature_attributions(rows: pd.DataFrame, tmp_path: Path) -> None:
    loaded = load_scorer(export_scorer(AutoencoderScorer(training=TINY).fit(rows), tmp_path))
    batch = rows.iloc[:4].copy()
    batch.loc[batch.index[2], "seconds_since_last_tx"] += 50.0

    scored = loaded.score(batch, top_k=2)

    assert list(scored.columns) == [
        "score",
        "is_alert",
        "top_features",
        "top_feature_shares",
    ]
    assert scored.index.equals(batch.index)
    assert scored["top_features"].map(len).tolist() == [2, 2, 2, 2]
    assert scored.loc[batch.index[2], "top_features"][0] == "seconds_since_last_tx"
    assert scored.loc[batch.index[2], "is_alert"]
    for shares in scored["top_feature_shares"]:
        assert shares[0] >= shares[1]


def test_an_empty_batch_scores_to_an_empty_frame(rows: pd.DataFrame, tmp_path: Path) -> None:
    loaded = load_scorer(export_scorer(RappScorer(training=TINY).fit(rows), tmp_path))

    scored = loaded.score(rows.iloc[:0])

    assert scored.empty
    assert list(scored.columns) == [
        "score",
        "sap",
        "nap",
        "is_alert",
        "top_features",
        "top_feature_shares",
    ]


def test_extra_metadata_must_be_json(rows: pd.DataFrame) -> None:
    scorer = AutoencoderScorer(training=TINY).fit(rows)

    with pytest.raises(TypeError, match="not JSON serializable"):
        export_artifact(scorer, {"trained_on": object()})


def test_an_artifact_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not a fraudspark\.scorer/1 artifact"):
        load_scorer(ModelArtifact(b"", {"format": "pickle"}))
