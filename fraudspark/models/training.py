"""The one training loop of fraudspark's torch models, its settings, and its reproducibility.

The anomaly scorers and the MLP classifier train through :func:`train_network` (Adam on shuffled
minibatches, optional early stopping on a held-out split), seeded by :func:`reproducible`, on one
thread (:func:`one_torch_thread`). :func:`alert_threshold` is the one alert rule: the
(1 - target alert rate) quantile of the training scores.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    pass

NetworkT = TypeVar("NetworkT", bound=nn.Module)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Train on one intra-op thread: on minibatches of these small networks, extra threads cost
    more in synchronisation than they save (several times slower on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def alert_threshold(training_scores: np.ndarray, target_alert_rate: float) -> float:
    """The (1 - target_alert_rate) quantile of training scores: about that share alerts."""
    if not 0.0 < target_alert_rate < 1.0:
        raise ValueError(f"target_alert_rate must be in (0, 1), got {target_alert_rate}")
    return float(np.quantile(training_scores, 1.0 - target_alert_rate))


@dataclass(frozen=True)
class TrainingConfig:
    """Network shape and optimisation; ``seed`` fixes initialisation, shuffling and sampling.

    ``hidden_dims`` are the encoder's hidden widths (the decoder mirrors them) and ``latent_dim``
    the bottleneck. With ``early_stopping_patience`` set (the default: 5 epochs),
    ``validation_fraction`` of the rows is held out and the weights of the best validation epoch
    are kept; ``epochs`` is then a ceiling (100: the detection research found 50 epochs
    undertrained, best epoch = last). None trains every epoch on every row.
    """

    hidden_dims: tuple[int, ...] = (32, 16)
    latent_dim: int = 4
    epochs: int = 100
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    early_stopping_patience: int | None = 5
    validation_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latent_dim < 1 or any(width < 1 for width in self.hidden_dims):
            raise ValueError(
                f"layer widths must be positive: {self.hidden_dims}, {self.latent_dim}"
            )
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("epochs, batch_size and learning_rate must be positive")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError(
                f"early_stopping_patience must be positive: {self.early_stopping_patience}"
            )
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1): {self.validation_fraction}")


@contextmanager
def reproducible(seed: int) -> Iterator[None]:
    """Seed torch's global RNG and require deterministic kernels, restoring both afterwards."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic)


@dataclass(frozen=True)
class TrainingHistory:
    """What :func:`train_network` reports: ``metrics`` (``epochs_run``,
    ``last_epoch_training_loss``, with early stopping ``best_epoch`` and
    ``best_validation_loss``) and the mean training loss of each epoch."""

    metrics: dict[str, float]
    epoch_losses: list[float]


def train_network(
    network: NetworkT,
    inputs: Tensor,
    loss: Callable[[NetworkT, Tensor, torch.Generator], Tensor],
    config: TrainingConfig,
) -> TrainingHistory:
    """Adam (with ``config.weight_decay``) on shuffled minibatches: the one training loop of the
    scorers and the classifier; returns the training metrics and the loss of every epoch.

    Shuffling, the validation split and any sampling inside ``loss`` draw from one generator
    seeded with ``config.seed``, so a seed gives the same weights on the same machine.
    """
    generator = torch.Generator().manual_seed(config.seed)
    training, validation = inputs, None
    if config.early_stopping_patience is not None:
        order = torch.randperm(len(inputs), generator=generator)
        n_validation = max(1, round(len(inputs) * config.validation_fraction))
        validation, training = inputs[order[:n_validation]], inputs[order[n_validation:]]
    optimiser = torch.optim.Adam(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    losses: list[float] = []
    best_loss, best_state, stale_epochs = math.inf, None, 0
    metrics: dict[str, float] = {}
    for epoch in range(1, config.epochs + 1):
        network.train()
        epoch_loss = 0.0
        shuffled = torch.randperm(len(training), generator=generator)
        for batch_rows in torch.split(shuffled, config.batch_size):
            batch_loss = loss(network, training[batch_rows], generator)
            optimiser.zero_grad()
            batch_loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            epoch_loss += batch_loss.item() * len(batch_rows)
        losses.append(epoch_loss / len(training))
        metrics.update(epochs_run=epoch, last_epoch_training_loss=losses[-1])
        if validation is None or config.early_stopping_patience is None:
            continue
        network.eval()
        with torch.no_grad():
            validation_loss = loss(network, validation, generator).item()
        if validation_loss < best_loss:
            best_loss, best_state = validation_loss, copy.deepcopy(network.state_dict())
            stale_epochs = 0
            metrics.update(best_epoch=epoch, best_validation_loss=validation_loss)
        else:
            stale_epochs += 1
            if stale_epochs >= config.early_stopping_patience:
                break
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return TrainingHistory(metrics, losses)
