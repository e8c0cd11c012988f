"""A trained generator as a standalone object: sample valid rows anywhere, ship it as bytes.

The bytes are a zip archive with no pickle inside, so loading runs no foreign code::

    generator.json          format, version, architecture ("gan" or "diffusion"), method,
                            labels, the network's shape, the transform's parameters
    weights/<name>.npy      one array per network tensor (numpy format, allow_pickle=False);
                            a profile-conditioned diffusion model adds its context rows
                            (``context_rows``, float64) here, so a task samples from a seed alone

Version 2 names the ``architecture``; version 1 archives (GANs only) still load.

A Spark job broadcasts the bytes, calls :func:`load_generator` once per partition and
``sample(n, seed=partition_seed)`` there.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from fraudspark.oversampling.modes import ModeSpecificTransform
from fraudspark.oversampling.networks import Generator, one_hot
from fraudspark.oversampling.tabular import TabularTransform

FORMAT = "fraudspark-generator"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


class RowGenerator(Protocol):
    """What a Spark task needs of a trained generator, whatever its architecture."""

    @property
    def feature_names(self) -> list[str]: ...

    def sample(self, n: int, seed: int, label: int | None = None) -> np.ndarray: ...

    def to_bytes(self) -> bytes: ...


def write_archive(metadata: dict[str, Any], state: Mapping[str, torch.Tensor]) -> bytes:
    """``metadata`` (JSON-able, ``architecture`` among its keys) and a state dict as a zip
    archive of JSON and ``.npy`` files (see the module docstring)."""
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, **metadata}
    metadata["weights"] = list(state)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("generator.json", json.dumps(metadata, indent=2))
        for name, tensor in state.items():
            array = io.BytesIO()
            np.save(array, tensor.detach().cpu().numpy(), allow_pickle=False)
            archive.writestr(f"weights/{name}.npy", array.getvalue())
    return buffer.getvalue()


def read_archive(data: bytes) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The metadata and state dict of :func:`write_archive` output, without pickle.

    Raises ValueError for another format or version.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        metadata: dict[str, Any] = json.loads(archive.read("generator.json"))
        if metadata.get("format") != FORMAT or metadata.get("format_version") not in (
            READABLE_VERSIONS
        ):
            raise ValueError(
                f"not a {FORMAT} archive of version {READABLE_VERSIONS}: "
                f"{metadata.get('format')} v{metadata.get('format_version')}"
            )
        state = {
            name: torch.from_numpy(
                np.load(io.BytesIO(archive.read(f"weights/{name}.npy")), allow_pickle=False)
            )
            for name in metadata["weights"]
        }
    metadata.setdefault("architecture", "gan")  # version 1
    return metadata, state


class SyntheticRowGenerator:
    """A trained generator network plus the inverse transform that makes its output valid rows.

    ``labels`` are the values a conditional generator accepts (class labels or fraud sub-type
    numbers; the one label of an unconditional generator is the class it generates);
    ``label_weights`` is how often each is drawn when ``sample`` is not given one.
    """

    def __init__(
        self,
        network: Generator,
        transform: TabularTransform | ModeSpecificTransform,
        labels: Sequence[int],
        label_weights: Sequence[float],
        *,
        method: str,
        conditional: bool,
        hidden_dims: Sequence[int],
    ) -> None:
        self.network = network
        self.transform = transform
        self.labels = list(labels)
        self.label_weights = list(label_weights)
        self.method = method
        self.conditional = conditional
        self.hidden_dims = list(hidden_dims)

    @property
    def feature_names(self) -> list[str]:
        return self.transform.schema.names

    def sample(self, n: int, seed: int, label: int | None = None) -> np.ndarray:
        """Return ``n`` valid rows (float64, in feature order); equal seeds give equal rows.

        ``label`` asks a conditional generator for one class or sub-type; None draws labels with
        ``label_weights``.
        """
        if n < 0:
            raise ValueError(f"cannot sample {n} rows")
        if n == 0:  # an empty Spark partition
            return np.empty((0, len(self.feature_names)))
        if label is not None and label not in self.labels:
            raise ValueError(f"label {label!r} is not one of this generator's {self.labels}")
        rng = torch.Generator().manual_seed(seed)
        noise = torch.randn(n, self.network.noise_dim, generator=rng)
        if label is None:
            weights = torch.tensor(self.label_weights, dtype=torch.float64)
            codes = torch.multinomial(weights, n, replacement=True, generator=rng)
        else:
            codes = torch.full((n,), self.labels.index(label))
        condition = one_hot(codes, len(self.labels) if self.conditional else 0)
        self.network.eval()  # BatchNorm must use its running statistics, not this batch's
        with torch.no_grad():
            standard = self.network(noise, condition).double().numpy()
        return self.transform.inverse_transform(standard)

    def to_bytes(self) -> bytes:
        """The generator as a pickle-free zip archive (see the module docstring)."""
        metadata = {
            "architecture": "gan",
            "method": self.method,
            "noise_dim": self.network.noise_dim,
            "hidden_dims": self.hidden_dims,
            "conditional": self.conditional,
            "labels": self.labels,
            "label_weights": self.label_weights,
            "transform": self.transform.to_json(),
        }
        return write_archive(metadata, self.network.state_dict())


def load_generator(data: bytes) -> RowGenerator:
    """Rebuild a generator (GAN or diffusion) from its ``to_bytes`` output, without pickle.

    Raises ValueError for an archive of another format, version or architecture.
    """
    metadata, state = read_archive(data)
    if metadata["architecture"] == "diffusion":
        # Imported here: the diffusion module builds on this one.
        from fraudspark.oversampling.diffusion import DiffusionRowGenerator

        return DiffusionRowGenerator.from_archive(metadata, state)
    if metadata["architecture"] != "gan":
        raise ValueError(f"unknown generator architecture {metadata['architecture']!r}")
    transform: TabularTransform | ModeSpecificTransform
    if metadata["transform"].get("kind") == "mode-specific":
        transform = ModeSpecificTransform.from_json(metadata["transform"])
    else:
        transform = TabularTransform.from_json(metadata["transform"])
    network = Generator(
        metadata["noise_dim"],
        len(metadata["labels"]) if metadata["conditional"] else 0,
        metadata["hidden_dims"],
        transform.n_outputs,
    )
    network.load_state_dict(state)
    network.eval()
    return SyntheticRowGenerator(
        network,
        transform,
        metadata["labels"],
        metadata["label_weights"],
        method=metadata["method"],
        conditional=metadata["conditional"],
        hidden_dims=metadata["hidden_dims"],
    )
