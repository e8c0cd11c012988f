"""The model registry: exported models as MLflow registered models with versions and aliases.

Layout: one MLflow experiment ``fraudspark-models``; each registration is a run holding the
exported files (``model/model.pt`` + ``model/metadata.json`` for a scorer or a classifier, the
generator's files for an oversampler) with its parameters, training metrics and data versions,
and a version of the registered model (``fraud-ae``, ``fraud-vae``, ``fraud-rapp``,
``fraud-classifier`` (MLP), ``fraud-classifier-gbt`` (XGBoost), ``fraud-gan-<method>``)
pointing at it. Runs registered before the experiment was renamed stay in
``fraudspark-scorers``; their versions resolve as before. The
``champion`` alias marks the version that scoring uses by default; a model's first version
becomes champion, :func:`promote` moves it.

``config.registry.tracking_uri`` picks the store (e.g. a tracking server on a cluster); unset or
empty means ``sqlite:///<lakehouse root>/_mlflow/mlflow.db`` with artifacts beside it under
``<lakehouse root>/_mlflow/artifacts``, so the lakehouse directory stays the whole state.

Model specs name a version: ``NAME`` (its champion), ``NAME@ALIAS`` or ``NAME/VERSION``.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudspark.config import Config
from fraudspark.errors import ModelFilesError
from fraudspark.models.artifact import LoadedModel, ModelArtifact
from fraudspark.models.loader import load_model

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

EXPERIMENT = "fraudspark-models"
ARTIFACT_PATH = "model"
CHAMPION = "champion"
# Scorer kind (as on the command line) -> registered model name.
MODEL_NAMES: dict[str, str] = {
    "ae": "fraud-ae",
    "vae": "fraud-vae",
    "rapp": "fraud-rapp",
    "mahalanobis": "fraud-mahalanobis",
}
# Classifier kind (train-classifier --kind) -> registered model name: each kind has a champion.
CLASSIFIER_MODEL_NAMES: dict[str, str] = {"mlp": "fraud-classifier", "gbt": "fraud-classifier-gbt"}
CLASSIFIER_MODEL_NAME = CLASSIFIER_MODEL_NAMES["mlp"]
# The models a night scores and monitors, in report order: RaPP leads the report.
NIGHTLY_MODELS: tuple[str, ...] = (
    MODEL_NAMES["rapp"],
    MODEL_NAMES["ae"],
    MODEL_NAMES["vae"],
    CLASSIFIER_MODEL_NAMES["mlp"],
    CLASSIFIER_MODEL_NAMES["gbt"],
)


# The registered names fraudspark gives: fraud-rapp, fraud-gan-wgan-gp, ...
_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")


@dataclass(frozen=True)
class ModelSpec:
    """Which registered model version to use, as MLflow's model URI ``models:/NAME@ALIAS`` or
    ``models:/NAME/VERSION``; a bare ``NAME`` means its champion.

    :meth:`parse` also takes the short forms the command line uses, ``NAME@ALIAS`` and
    ``NAME/VERSION``; MLflow parses and resolves the URI (:func:`_resolve`).
    """

    name: str
    alias: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """``NAME``, ``NAME@ALIAS``, ``NAME/VERSION`` or a ``models:/`` URI; ValueError else."""
        from mlflow.exceptions import MlflowException
        from mlflow.store.artifact.utils.models import _parse_model_uri

        text = text.strip()
        uri = text if text.startswith("models:/") else f"models:/{text}"
        if "@" not in uri and uri.count("/") == 1:
            uri = f"{uri}@{CHAMPION}"
        try:
            parsed = _parse_model_uri(uri)
        except MlflowException:
            parsed = None
        if (
            parsed is None
            or _NAME.fullmatch(str(parsed.name)) is None
            or parsed.stage
            or not (parsed.version or parsed.alias)
        ):
            raise ValueError(
                f"model spec must be NAME, NAME@ALIAS, NAME/VERSION or models:/..., got {text!r}"
            )
        version = int(parsed.version) if parsed.version else None
        return cls(str(parsed.name), parsed.alias, version)

    @property
    def uri(self) -> str:
        """MLflow's model URI."""
        return f"models:/{self}"

    def __str__(self) -> str:
        return (
            f"{self.name}/{self.version}"
            if self.version is not None
            else f"{self.name}@{self.alias}"
        )


@dataclass(frozen=True)
class RegisteredModel:
    """One registered model version and its exported artifact."""

    name: str
    version: int
    artifact: ModelArtifact

    def __str__(self) -> str:
        return f"{self.name}/{self.version}"


def tracking_uri(config: Config) -> str:
    """The MLflow tracking (and registry) URI: the configured one, else SQLite in the lakehouse."""
    if config.registry.tracking_uri:
        return config.registry.tracking_uri
    root = config.lakehouse_root
    if "://" in root:
        raise ValueError(
            f"the lakehouse root {root} is not a local directory: set registry.tracking_uri"
        )
    directory = Path(root) / "_mlflow"
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'mlflow.db'}"


def _client(config: Config) -> MlflowClient:
    from mlflow import MlflowClient

    uri = tracking_uri(config)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client: MlflowClient, config: Config) -> str:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return str(experiment.experiment_id)
    # Only the lakehouse default places artifacts; a tracking server decides for itself.
    location = None
    if not config.registry.tracking_uri:
        location = (Path(config.lakehouse_root) / "_mlflow" / "artifacts").as_uri()
    return str(client.create_experiment(EXPERIMENT, artifact_location=location))


def register_model(
    config: Config,
    name: str,
    artifact: ModelArtifact,
    params: Mapping[str, Any] | None = None,
    description: str = "",
) -> int:
    """Register an exported model (any kind) as a new version of ``name``; returns the version.

    The artifact's files are logged as an MLflow run; ``params`` (e.g. the training range and
    seed) become run parameters, its ``training_metrics`` run metrics and its
    ``extra.data_versions`` tags. A version registered while ``name`` has no champion alias
    becomes its champion.
    """
    metadata = artifact.metadata
    with tempfile.TemporaryDirectory() as directory:
        return register_files(
            config,
            name,
            artifact.write(directory),
            params,
            description=description or f"fraudspark {metadata.get('model_type', 'model')}",
            metrics=metadata.get("training_metrics", {}),
            data_versions=metadata.get("extra", {}).get("data_versions", {}),
            tags={
                "model_type": str(metadata.get("model_type", "")),
                "format": str(metadata.get("format", "")),
            },
        )


def _new_version(
    client: MlflowClient,
    name: str,
    run_id: str,
    source: str,
    description: str,
    tags: dict[str, str] | None = None,
) -> int:
    """End the run and register ``source`` as a new version of ``name`` (created if new).

    A version registered while ``name`` has no champion alias becomes its champion.
    """
    from mlflow.exceptions import MlflowException

    client.set_terminated(run_id)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=description)
    model_version = client.create_model_version(name, source=source, run_id=run_id, tags=tags)
    version = int(model_version.version)
    if CHAMPION not in client.get_registered_model(name).aliases:
        client.set_registered_model_alias(name, CHAMPION, str(version))
    log.info("registered %s/%d (run %s)", name, version, run_id)
    return version


def _resolve(client: MlflowClient, spec: ModelSpec) -> tuple[int, str]:
    """The version number and artifact source a spec names (resolved by MLflow from its
    ``models:/`` URI); ValueError if there is none."""
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    try:
        name, version = get_model_name_and_version(client, spec.uri)  # type: ignore[no-untyped-call]
        source = client.get_model_version(name, version).source
    except MlflowException as exc:
        raise ValueError(f"no registered model version {spec}: {exc.message}") from None
    return int(version), str(source)


def registered_artifact(config: Config, spec: str | ModelSpec) -> RegisteredModel:
    """Download the exported artifact a model spec names (read as JSON + TorchScript bytes).

    Raises ValueError when no such version is registered, and ModelFilesError when its files
    are missing or do not load (checked here, before any table is written with it).
    """
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    client = _client(config)
    version, source = _resolve(client, spec)
    try:
        with tempfile.TemporaryDirectory() as directory:
            path = download_artifacts(
                artifact_uri=source, dst_path=directory, tracking_uri=tracking_uri(config)
            )
            artifact = ModelArtifact.read(path)
        load_model(artifact)
    # Any failure to read or load the files (OSError, JSON, TorchScript, MLflow) is the same
    # operator problem: this version's files are damaged.
    except (OSError, ValueError, RuntimeError, KeyError, MlflowException) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise ModelFilesError(
            f"model {spec.name}/{version}: its registered files at {source} are missing or "
            f"corrupted ({type(exc).__name__}: {reason}); register it again or promote another "
            f"version (fraudspark promote {spec.name} VERSION)"
        ) from exc
    return RegisteredModel(spec.name, version, artifact)


def load_registered(config: Config, spec: str | ModelSpec) -> tuple[LoadedModel, int]:
    """The model a spec names, loaded by the one loader and ready to score; and its version."""
    registered = registered_artifact(config, spec)
    return load_model(registered.artifact), registered.version


def promote(config: Config, name: str, version: int) -> None:
    """Point ``name``'s champion alias at ``version`` (which must exist)."""
    client = _client(config)
    _resolve(client, ModelSpec(name, version=version))
    client.set_registered_model_alias(name, CHAMPION, str(version))
    log.info("%s@%s -> version %d", name, CHAMPION, version)


def champion_version(config: Config, name: str) -> int:
    """The version ``name``'s champion alias points at."""
    version, _ = _resolve(_client(config), ModelSpec(name, alias=CHAMPION))
    return version


def has_champion(config: Config, name: str) -> bool:
    """Whether ``name`` is registered with a champion version."""
    try:
        champion_version(config, name)
    except ValueError:
        return False
    return True


def register_files(
    config: Config,
    name: str,
    directory: str | Path,
    params: Mapping[str, Any] | None = None,
    description: str = "",
    metrics: Mapping[str, float] | None = None,
    data_versions: Mapping[str, int] | None = None,
    tags: Mapping[str, str] | None = None,
) -> int:
    """Log every file of ``directory`` as an MLflow run and register it as a new version of
    ``name`` (created if new): the one registration path, which :func:`register_model` and the
    oversampling generators use. Returns the new version number.

    ``params`` become run parameters, ``metrics`` run metrics, ``data_versions`` the tags
    ``data_version.<table>``; a version registered while ``name`` has no champion becomes it.
    """
    from mlflow.entities import Metric, Param, RunTag

    client = _client(config)
    run = client.create_run(
        _experiment_id(client, config),
        run_name=name,
        tags={"model_name": name, **dict(tags or {})},
    )
    run_id = run.info.run_id
    now_ms = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(key, float(value), now_ms, 0) for key, value in (metrics or {}).items()],
        params=[Param(key, str(value)) for key, value in (params or {}).items()],
        tags=[
            RunTag(f"data_version.{table}", str(v)) for table, v in (data_versions or {}).items()
        ],
    )
    client.log_artifacts(run_id, str(directory), ARTIFACT_PATH)
    return _new_version(
        client,
        name,
        run_id,
        f"{run.info.artifact_uri}/{ARTIFACT_PATH}",
        description,
        dict(tags or {}),
    )


def download_registered_files(
    config: Config, spec: str | ModelSpec, destination: str | Path
) -> tuple[int, Path]:
    """Download the files a model spec names into ``destination``: (version, their directory)."""
    from mlflow.artifacts import download_artifacts

    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    version, source = _resolve(_client(config), spec)
    path = download_artifacts(
        artifact_uri=source, dst_path=str(destination), tracking_uri=tracking_uri(config)
    )
    return version, Path(path)


def champions(config: Config) -> list[RegisteredModel]:
    """The champion of every model a night scores (:data:`NIGHTLY_MODELS`, in that order);
    models never registered are skipped."""
    found = []
    for name in NIGHTLY_MODELS:
        try:
            found.append(registered_artifact(config, name))
        except ValueError:
            continue  # never registered
    return found
