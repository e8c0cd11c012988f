"""What every job shares: the common arguments and the session it runs in."""

from __future__ import annotations

import argparse
import atexit
import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import date

from pyspark.sql import SparkSession

from fraudspark.config import Config, load_config
from fraudspark.session import build_spark

log = logging.getLogger(__name__)

MAPPING_HELP = (
    "a source mapping (config `sources:` or <config dir>/sources/NAME.yaml: contract, "
    "fraudfinder, sparkov); it decides the reader, so it cannot be combined with --format"
)

# Imported by a fresh `fraudspark nightly` after its session started, each a few seconds
# (py-spy): MLflow's client with its SQLite stores (about 2.4 s) and torch (about 2.5 s).
MLFLOW_MODULES = (
    "mlflow",
    "mlflow.artifacts",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "fraudspark.registry",
)
SCORING_MODULES = (
    "torch",
    "fraudspark.models.batch_scoring",
    *MLFLOW_MODULES,
    "fraudspark.pipelines.score",
)

# What the nightly steps import when they run, in the order they run.
NIGHT_MODULES = (
    "fraudspark.pipelines.ingest",
    "fraudspark.pipelines.features",
    "fraudspark.features.store",
    *SCORING_MODULES,
    "fraudspark.pipelines.monitor",
    "fraudspark.pipelines.maintain",
)


def job_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every command takes: --conf and --lakehouse."""
    parser = argparse.ArgumentParser(prog=f"fraudspark {prog}", description=description)
    parser.add_argument(
        "--conf",
        default=None,
        help="YAML configuration (default: $FRAUDSPARK_CONF or conf/local.yaml)",
    )
    parser.add_argument("--lakehouse", default=None, help="lakehouse root, overrides the config")
    return parser


def job_config(args: argparse.Namespace) -> Config:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return load_config(args.conf, lakehouse=args.lakehouse)


def job_session(
    config: Config,
    catalog: bool = False,
    preload: Sequence[str] = (),
    warm_up: Callable[[SparkSession], object] | None = None,
) -> SparkSession:
    """The job's Spark session; ``catalog`` registers every ``fraud.*`` table first (for
    commands that run SQL on table names: the others read and write by path).

    ``preload`` names the modules the job will import (its pipeline, torch, MLflow): a thread
    imports them (:func:`preload_modules`) while the JVM starts and, if given, ``warm_up``
    runs the job's first Spark read (seconds in a cold JVM), when this process's Python only
    waits. The session is returned once that thread has finished: a job importing the same
    packages at the same time could deadlock with it (importlib then raises
    ``_DeadlockError``, e.g. for ``pkg.sub`` imported while the other thread is inside
    ``pkg``'s ``__init__``).
    """
    preloading = preload_modules(preload) if preload else None
    spark = build_spark(config, register=catalog)
    if warm_up is not None:
        warm_up(spark)
    if preloading is not None:
        preloading.join()
    return spark


def preload_modules(modules: Sequence[str]) -> threading.Thread:
    """Import ``modules`` in order in a background (daemon) thread; returns the started thread.

    Join the thread before importing any of them (see :func:`job_session`). An import that
    fails here is only logged at debug level: the job's own import raises the error where the
    module is used. The process waits for the thread at exit (at most 60 s), so the
    interpreter never shuts down in the middle of an import.
    """

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception as error:  # raised again by the job's own import
                log.debug("preloading %s failed: %s", name, error)

    thread = threading.Thread(target=run, name="fraudspark-preload", daemon=True)
    thread.start()
    atexit.register(thread.join, 60)
    return thread


def iso_date(text: str) -> date:
    """argparse type for YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
