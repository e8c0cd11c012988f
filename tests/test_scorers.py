"""Anomaly scorers: RaPP by hand on a tiny network, NAP's training-only SVD, VAE's score,
reproducibility, and that the models learn (anomalies off the normal manifold score higher)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from fraudspark.models.anomaly.autoencoder import AutoencoderNetwork, AutoencoderScorer
from fraudspark.models.anomaly.base import ReconstructionScorer
from fraudspark.models.anomaly.rapp import (
    NapBasis,
    RappScorer,
    RappScoring,
    rapp_differences,
    rapp_nap_score,
)
from fraudspark.models.anomaly.vae import VaeScorer
from fraudspark.models.inputs import FeatureMismatchError, Standardiser
from fraudspark.models.training import TrainingConfig

FEATURES = [
    "tx_amount",
    "customer_mean_amount_7d",
    "customer_tx_count_1d",
    "terminal_risk_7d",
    "terminal_tx_count_1d",
    "seconds_since_last_tx",
]
TINY = TrainingConfig(
    hidden_dims=(8,), latent_dim=2, epochs=40, batch_size=32, learning_rate=1e-2, seed=1
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def manifold_rows(n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Normal traffic: six features driven by two latent factors, plus a little noise."""
    mixing = np.random.default_rng(42).normal(size=(2, len(FEATURES)))
    rows = rng.normal(size=(n_rows, 2)) @ mixing + 0.05 * rng.normal(size=(n_rows, len(FEATURES)))
    return pd.DataFrame(rows, columns=FEATURES)


@pytest.fixture(scope="module")
def training_rows() -> pd.DataFrame:
    return manifold_rows(400, np.random.default_rng(0))


@pytest.fixture(scope="module")
def labelled_rows() -> tuple[pd.DataFrame, np.ndarray]:
    """200 normal rows and 20 anomalies pushed off the manifold in random directions."""
    rng = np.random.default_rng(1)
    anomalies = manifold_rows(20, rng) + rng.normal(size=(20, len(FEATURES)))
    rows = pd.concat([manifold_rows(200, rng), anomalies], ignore_index=True)
    return rows, np.r_[np.zeros(200), np.ones(20)]


@pytest.fixture(scope="module")
def rapp(training_rows: pd.DataFrame) -> RappScorer:
    return RappScorer(training=TINY).fit(training_rows)


# --- RaPP on a network whose weights are set by hand -------------------------------------------


def hand_network() -> AutoencoderNetwork:
    """Encoder g_1: 2 → 2 (ReLU), g_2: 2 → 1; decoder f: 1 → 2; all linear maps set by hand.

    g_1(x) = relu(x_0, 0.5 x_0 - x_1 + 0.5),  g_2(h) = h_0 + h_1,  f(z) = (z, 0.5 z).
    """
    layer_1, layer_2, decoder = nn.Linear(2, 2), nn.Linear(2, 1), nn.Linear(1, 2)
    with torch.no_grad():
        layer_1.weight.copy_(torch.tensor([[1.0, 0.0], [0.5, -1.0]]))
        layer_1.bias.copy_(torch.tensor([0.0, 0.5]))
        layer_2.weight.copy_(torch.tensor([[1.0, 1.0]]))
        layer_2.bias.zero_()
        decoder.weight.copy_(torch.tensor([[1.0], [0.5]]))
        decoder.bias.zero_()
    return AutoencoderNetwork([nn.Sequential(layer_1, nn.ReLU()), layer_2], decoder).double()


HAND_TRAINING = torch.tensor([[1.0, 2.0], [2.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
# d(x) = (ĥ_0 - h_0 | ĥ_1 - h_1 | ĥ_2 - h_2), e.g. for x = (1, 2): h_1 = (1, 0), h_2 = 1,
# x̂ = (1, 0.5), ĥ_1 = relu(1, 0.5 - 0.5 + 0.5) = (1, 0.5), ĥ_2 = 1.5.
HAND_DIFFERENCES = np.array(
    [
        [0.0, -1.5, 0.0, 0.5, 0.5],
        [0.5, 0.25, 0.5, 0.0, 0.5],
        [0.0, -1.0, 0.0, 0.5, 0.5],
        [1.0, 1.0, 1.0, -0.5, 0.5],
    ]
)


def test_rapp_differences_follow_the_pathway_by_hand() -> None:
    network = hand_network()

    assert rapp_differences(network, HAND_TRAINING, [0, 1, 2]).numpy() == pytest.approx(
        HAND_DIFFERENCES
    )
    assert rapp_differences(network, HAND_TRAINING, [1]).numpy() == pytest.approx(
        HAND_DIFFERENCES[:, 2:4]
    )


def test_sap_and_nap_match_hand_computation() -> None:
    identity = Standardiser(mean=np.zeros(2), scale=np.ones(2))
    basis = NapBasis.fit(HAND_DIFFERENCES)
    scoring = RappScoring(hand_network(), identity, [0, 1, 2], basis, score="nap")
    # x = (0.5, 3): h_1 = (0.5, 0), h_2 = 0.5, x̂ = (0.5, 0.25), ĥ_1 = (0.5, 0.5), ĥ_2 = 1.
    new_row_difference = np.array([0.0, -2.75, 0.0, 0.5, 0.5])

    with torch.no_grad():
        outputs = scoring(torch.tensor([[1.0, 2.0], [0.5, 3.0]], dtype=torch.float64))

    # SAP = ‖d‖²: 1.5² + 0.5² + 0.5² and 2.75² + 0.5² + 0.5².
    assert outputs["sap"].numpy() == pytest.approx([2.75, 8.0625])
    mean = np.array([0.375, -0.3125, 0.375, 0.125, 0.5])
    assert basis.mean == pytest.approx(mean)
    # NAP = ‖(d - μ)ᵀ V Σ⁻¹‖² = (d - μ)ᵀ ((D - μ)ᵀ(D - μ))⁺ (d - μ): no SVD needed to check it.
    scatter_inverse = np.linalg.pinv((HAND_DIFFERENCES - mean).T @ (HAND_DIFFERENCES - mean))
    centred = np.stack([HAND_DIFFERENCES[0], new_row_difference]) - mean
    expected_nap = np.einsum("ri,ij,rj->r", centred, scatter_inverse, centred)
    assert outputs["nap"].numpy() == pytest.approx(expected_nap)
    assert torch.equal(outputs["score"], outputs["nap"])


def test_nap_drops_directions_without_training_variance() -> None:
    # In D, column 2 = column 0, column 3 = 0.5 - column 0 and column 4 is constant: rank 2 of 5.
    basis = NapBasis.fit(HAND_DIFFERENCES)
    as_tensors = [
        torch.from_numpy(a) for a in (basis.mean, basis.components, basis.singular_values)
    ]
    row = torch.tensor([[0.0, -2.75, 0.0, 0.5, 0.5]], dtype=torch.float64)
    off_training_span = torch.tensor([[1.0, 0.0, -1.0, 0.0, 3.0]], dtype=torch.float64)

    assert len(basis.singular_values) == 2
    assert rapp_nap_score(row + off_training_span, *as_tensors).item() == pytest.approx(
        rapp_nap_score(row, *as_tensors).item()
    )


def test_nap_averages_to_kept_components_over_training_rows(
    rapp: RappScorer, training_rows: pd.DataFrame
) -> None:
    # Σ is not divided by √(N - 1): the training NAPs sum to the number of kept directions.
    nap = rapp.score_outputs(training_rows)["nap"]

    assert nap.sum() == pytest.approx(len(rapp.nap_basis_.singular_values))


def test_nap_uses_only_training_statistics(
    rapp: RappScorer, labelled_rows: tuple[pd.DataFrame, np.ndarray]
) -> None:
    rows, _ = labelled_rows
    basis_before = copy.deepcopy(rapp.nap_basis_)

    alone = rapp.decision_function(rows.iloc[:5])
    in_a_batch_with_anomalies = rapp.decision_function(rows)[:5]

    np.testing.assert_allclose(alone, in_a_batch_with_anomalies, rtol=1e-12)
    np.testing.assert_array_equal(rapp.nap_basis_.components, basis_before.components)


# --- learning, reproducibility, thresholds -----------------------------------------------------


@pytest.mark.parametrize(
    ("scorer_type", "output"),
    [
        (AutoencoderScorer, "score"),
        (RappScorer, "sap"),
        (RappScorer, "nap"),
        (VaeScorer, "score"),
    ],
)
def test_anomalies_off_the_manifold_score_higher(
    scorer_type: type[ReconstructionScorer[Any]],
    output: str,
    training_rows: pd.DataFrame,
    labelled_rows: tuple[pd.DataFrame, np.ndarray],
) -> None:
    rows, is_anomaly = labelled_rows
    scorer = scorer_type(training=TINY).fit(training_rows)

    assert roc_auc_score(is_anomaly, scorer.score_outputs(rows)[output]) > 0.9


def test_a_seed_reproduces_training(training_rows: pd.DataFrame) -> None:
    config = TrainingConfig(hidden_dims=(8,), latent_dim=2, epochs=3, batch_size=64, seed=5)

    first = VaeScorer(training=config).fit(training_rows)
    second = VaeScorer(training=config).fit(training_rows)
    other_seed = VaeScorer(training=dataclasses.replace(config, seed=6))

    for name, weights in first.network_.state_dict().items():
        assert torch.equal(weights, second.network_.state_dict()[name]), name
    np.testing.assert_array_equal(
        first.decision_function(training_rows), second.decision_function(training_rows)
    )
    assert not np.array_equal(
        first.decision_function(training_rows),
        other_seed.fit(training_rows).decision_function(training_rows),
    )


def test_early_stopping_keeps_the_best_validation_epoch(training_rows: pd.DataFrame) -> None:
    config = TrainingConfig(
        hidden_dims=(8,),
        latent_dim=2,
        epochs=200,
        batch_size=64,
        learning_rate=3e-2,
        early_stopping_patience=2,
    )

    metrics = AutoencoderScorer(training=config).fit(training_rows).training_metrics_

    assert metrics["epochs_run"] < 200
    assert metrics["best_epoch"] == metrics["epochs_run"] - 2


def test_alert_threshold_is_the_training_quantile(
    rapp: RappScorer, training_rows: pd.DataFrame
) -> None:
    training_scores = rapp.decision_function(training_rows)

    assert rapp.threshold_ == pytest.approx(np.quantile(training_scores, 0.99))
    assert rapp.training_metrics_["training_alert_rate"] == pytest.approx(0.01)


def test_error_shares_sum_to_one_and_point_at_the_broken_feature(
    rapp: RappScorer, training_rows: pd.DataFrame
) -> None:
    rows = training_rows.iloc[:3].copy()
    rows.loc[rows.index[1], "terminal_risk_7d"] += 10.0

    shares = rapp.score_outputs(rows)["feature_error_share"]

    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert FEATURES[shares[1].argmax()] == "terminal_risk_7d"


def test_columns_are_matched_by_name(rapp: RappScorer, training_rows: pd.DataFrame) -> None:
    rows = training_rows.iloc[:5]

    np.testing.assert_array_equal(
        rapp.decision_function(rows[FEATURES[::-1]]), rapp.decision_function(rows)
    )
    with pytest.raises(FeatureMismatchError, match=r"missing \['tx_amount'\], extra \['amount'\]"):
        rapp.decision_function(rows.rename(columns={"tx_amount": "amount"}))


# --- VAE: negative ELBO at the posterior mean --------------------------------------------------


@pytest.fixture(scope="module")
def vae(training_rows: pd.DataFrame) -> VaeScorer:
    return VaeScorer(training=TINY).fit(training_rows)


def test_vae_score_is_negative_elbo_at_posterior_mean(
    vae: VaeScorer, training_rows: pd.DataFrame
) -> None:
    rows = training_rows.iloc[:10]
    network = copy.deepcopy(vae.network_).double()
    inputs = torch.from_numpy(vae.standardiser_.transform(rows.to_numpy()))
    with torch.no_grad():
        mean, log_var = network.encode(inputs)
        reconstruction = network.decoder(mean)
    # -ELBO = ½‖x - f(μ)‖² + KL(N(μ, σ²) ‖ N(0, I)), unit-variance Gaussian decoder.
    half_squared_error = 0.5 * ((reconstruction - inputs) ** 2).sum(dim=1)
    kl = 0.5 * (mean**2 + log_var.exp() - log_var - 1).sum(dim=1)

    np.testing.assert_allclose(vae.decision_function(rows), half_squared_error + kl, rtol=1e-10)


def test_vae_score_depends_on_the_row_alone(vae: VaeScorer, training_rows: pd.DataFrame) -> None:
    alone = vae.decision_function(training_rows.iloc[[7]])
    again = vae.decision_function(training_rows.iloc[[7]])
    in_a_batch = vae.decision_function(training_rows)[[7]]

    np.testing.assert_array_equal(alone, again)
    np.testing.assert_allclose(alone, in_a_batch, rtol=1e-12)
