"""The nightly pipeline: ingest, labels, features, score, monitor, logged in ``fraud.runs``.

Every step is idempotent, so re-running a night changes no table. A night that failed part-way
resumes at the first step that has not succeeded; ``from_step`` re-runs a step and all after
it, ``only`` a single step. Each attempt appends one row per step to ``fraud.runs``.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.lakehouse.io import append_new_rows, read_table, table_exists, table_version
from fraudspark.lakehouse.lock import NightLock, night_lock
from fraudspark.lakehouse.tables import RUNS

log = logging.getLogger(__name__)

STEPS = ("ingest", "labels", "features", "score", "monitor", "maintain")


@dataclass(frozen=True)
class NightInputs:
    day: date
    source: str | None = None  # the day's raw transaction files
    labels: str | None = None  # late labels (tx_id, is_fraud) that arrived today
    source_format: str | None = None  # contract layout; default parquet
    mapping: str | None = None  # a source mapping (for the source and the labels)
    maintain: bool = False  # run the maintain step even when nightly.maintain is off


@dataclass(frozen=True)
class StepOutcome:
    status: str = "succeeded"  # or "skipped" (nothing to do)
    rows_in: int | None = None
    rows_out: int | None = None
    details: dict[str, str] = field(default_factory=dict)


StepFunction = Callable[[SparkSession, Config, NightInputs], StepOutcome]


def _ingest(spark: SparkSession, config: Config, night: NightInputs) -> StepOutcome:
    from fraudspark.errors import DataCheckError
    from fraudspark.monitoring.data_checks import run_checks, verdict
    from fraudspark.pipelines.ingest import ingest_transactions, night_input_stats

    if night.source is None:
        return StepOutcome("skipped", details={"reason": "no --source for this night"})
    report = ingest_transactions(
        spark, config, night.source, night.source_format, mapping=night.mapping
    )
    # The night's input checks (thresholds in config.data_checks), recorded with the step.
    checks = run_checks(night_input_stats(spark, config, night.day, report), config.data_checks)
    status = verdict(checks)
    details = {
        "summary": report.summary(),
        "quarantined": str(report.quarantined),
        "data_checks": status,
        **{f"check.{check.name}": check.message for check in checks},
    }
    if status == "fail":
        failed = "; ".join(c.message for c in checks if c.status == "fail")
        raise DataCheckError(
            f"night {night.day}: the input failed its data checks: {failed}. The rows are "
            f"ingested; fix the feed and run the night again, or accept it with "
            f"--from-step labels",
            details,
        )
    for check in checks:
        if check.status == "warn":
            log.warning("night %s: data check %s", night.day, check.message)
    return StepOutcome(rows_in=report.read, rows_out=report.accepted, details=details)


def _labels(spark: SparkSession, config: Config, night: NightInputs) -> StepOutcome:
    from fraudspark.pipelines.ingest import ingest_labels

    if night.labels is None:
        return StepOutcome("skipped", details={"reason": "no --labels for this night"})
    report = ingest_labels(spark, config, night.labels, mapping=night.mapping)
    return StepOutcome(
        rows_in=report.read, rows_out=report.updated, details={"summary": report.summary()}
    )


def _features(spark: SparkSession, config: Config, night: NightInputs) -> StepOutcome:
    from fraudspark.lakehouse.tables import TRANSACTIONS
    from fraudspark.pipelines.features import compute_features

    report = compute_features(spark, config, night.day, night.day)
    return StepOutcome(
        rows_in=report.transactions_read,
        rows_out=report.windowed_rows,
        details={
            "summary": report.summary(),
            "transactions_version": str(table_version(spark, config, TRANSACTIONS)),
        },
    )


def _score(spark: SparkSession, config: Config, night: NightInputs) -> StepOutcome:
    from fraudspark.features.store import feature_rows
    from fraudspark.pipelines.score import score_days
    from fraudspark.registry import champions

    models = champions(config)
    if not models:
        return StepOutcome("skipped", details={"reason": "no registered model"})
    rows_in = rows_out = 0
    details = {}
    # The night's feature-store rows, assembled once for every champion.
    store_rows = feature_rows(spark, config, night.day, night.day, labels=False).cache()
    try:
        for champion in models:
            report = score_days(
                spark, config, str(champion), night.day, night.day, store_rows=store_rows
            )
            rows_in += report.rows_scored
            rows_out += report.rows_inserted
            details[champion.name] = f"version {champion.version}: {report.summary()}"
    finally:
        store_rows.unpersist()
    return StepOutcome(rows_in=rows_in, rows_out=rows_out, details=details)


def _monitor(spark: SparkSession, config: Config, night: NightInputs) -> StepOutcome:
    from fraudspark.pipelines.monitor import monitor_day

    results = monitor_day(spark, config, night.day)
    if not results:
        return StepOutcome("skipped", details={"reason": "no registered model"})
    details = {
        f"{r.model}/{r.version}": ", ".join(r.drifted_features) or "no drift" for r in results
    }
    reports = [str(r.report) for r in results if r.report]
    if reports:
        details["report"] = reports[0]
    return StepOutcome(details=details)


def _maintain(spark: SparkSession, config: Config, night: NightInputs) -> StepOutcome:
    from fraudspark.pipelines.maintain import maintain

    if not (config.nightly.maintain or night.maintain):
        return StepOutcome("skipped", details={"reason": "nightly.maintain is off"})
    report = maintain(spark, config)
    details = {table.table: table.summary() for table in report.tables}
    return StepOutcome(rows_in=len(report.tables), details=details)


STEP_FUNCTIONS: Mapping[str, StepFunction] = {
    "ingest": _ingest,
    "labels": _labels,
    "features": _features,
    "score": _score,
    "monitor": _monitor,
    "maintain": _maintain,
}


def last_statuses(spark: SparkSession, config: Config, day: date) -> dict[str, str]:
    """Each step's status in its latest attempt for ``day`` (steps never run are absent)."""
    if not table_exists(spark, config, RUNS):
        return {}
    runs = read_table(spark, config, RUNS).where(F.col("run_date") == F.lit(day))
    latest = runs.groupBy("step").agg(F.max_by("status", "started_at").alias("status"))
    return {row["step"]: row["status"] for row in latest.collect()}


def steps_to_run(
    statuses: Mapping[str, str], from_step: str | None = None, only: str | None = None
) -> list[str]:
    """The steps a run executes: ``only``; or ``from_step`` onwards; or from the first step
    whose latest attempt did not succeed or skip (nothing if the night is complete)."""
    for name in (from_step, only):
        if name is not None and name not in STEPS:
            raise ValueError(f"unknown step {name!r}; steps are {', '.join(STEPS)}")
    if only is not None:
        return [only]
    if from_step is None:
        done = {"succeeded", "skipped"}
        pending = [i for i, step in enumerate(STEPS) if statuses.get(step) not in done]
        return list(STEPS[pending[0] :]) if pending else []
    return list(STEPS[STEPS.index(from_step) :])


def run_night(
    spark: SparkSession,
    config: Config,
    night: NightInputs,
    from_step: str | None = None,
    only: str | None = None,
    step_functions: Mapping[str, StepFunction] = STEP_FUNCTIONS,
    progress: Callable[[str], None] | None = None,
    lock: NightLock | None = None,
) -> list[str]:
    """Run the night's pending steps in order under the nightly lock; return the steps run.

    ``lock`` is the night's lock when the caller announced it before building its session
    (:meth:`~fraudspark.lakehouse.lock.NightLock.announce`); by default one is made here.

    A failing step is logged as ``failed`` with its error, and the exception propagates (later
    steps do not run). Raises NightLockedError when another night holds the lock for longer
    than ``config.nightly.lock_wait_seconds`` (see :mod:`fraudspark.lakehouse.lock`). Each
    step's outcome line (``night 2025-03-31: features succeeded (12.1 s)``) goes to
    ``progress`` if given (the CLI prints it), else to the log at INFO level.
    """
    if lock is None:
        lock = night_lock(config, night.day)
    elif lock.night != night.day:
        raise ValueError(f"the lock given is night {lock.night}'s, not {night.day}'s")
    lock.announce()
    if lock.settle_remaining() > 0:
        # The settle delay is idle time; spend it on this JVM's first Delta read (seconds when
        # cold: bench/nightly.py) of a table read anyway. The answer is read again under the lock.
        last_statuses(spark, config, night.day)
    with lock:
        return _run_night_locked(spark, config, night, from_step, only, step_functions, progress)


def _run_night_locked(
    spark: SparkSession,
    config: Config,
    night: NightInputs,
    from_step: str | None,
    only: str | None,
    step_functions: Mapping[str, StepFunction],
    progress: Callable[[str], None] | None,
) -> list[str]:
    def tell(message: str) -> None:
        if progress is not None:  # the caller shows it (the CLI prints it): not twice
            progress(message)
        else:
            log.info(message)

    steps = steps_to_run(last_statuses(spark, config, night.day), from_step, only)
    run_id = uuid.uuid4().hex
    if not steps:
        tell(f"night {night.day}: already complete (use --from-step or --only to re-run)")
    for step in steps:
        started = datetime.now(timezone.utc)
        began = time.monotonic()
        try:
            outcome = step_functions[step](spark, config, night)
        except Exception as exc:
            # A FraudsparkError may carry what the step measured before it failed.
            failed = StepOutcome("failed", details=getattr(exc, "details", None) or {})
            _log_step(spark, config, run_id, night.day, step, started, began, failed,
                      "".join(traceback.format_exception_only(exc)).strip())  # fmt: skip
            tell(f"night {night.day}: {step} failed: {exc}")
            raise
        _log_step(spark, config, run_id, night.day, step, started, began, outcome, None)
        tell(f"night {night.day}: {step} {outcome.status} ({time.monotonic() - began:.1f} s)")
    return steps


def _log_step(
    spark: SparkSession,
    config: Config,
    run_id: str,
    day: date,
    step: str,
    started: datetime,
    began: float,
    outcome: StepOutcome,
    error: str | None,
) -> None:
    row = (
        run_id,
        day,
        step,
        outcome.status,
        started,
        time.monotonic() - began,
        outcome.rows_in,
        outcome.rows_out,
        None if outcome.status == "failed" and not outcome.details else outcome.details,
        error,
    )
    # A plain append, not a MERGE on (run_id, step): run_id is new to this run and each step is
    # logged once in it, so the key cannot be present (a MERGE cost ~3 s a step, measured).
    append_new_rows(spark, config, RUNS, spark.createDataFrame([row], RUNS.schema))


def day_source(raw_root: str | None, day: date) -> str | None:
    """The day's directory under a raw root laid out as ``day=YYYY-MM-DD`` (None if absent)."""
    if raw_root is None:
        return None
    path = Path(raw_root) / f"day={day}"
    return str(path) if path.exists() else None


def backfill(
    spark: SparkSession,
    config: Config,
    start: date,
    end: date,
    raw_root: str | None = None,
    source_format: str | None = None,
    mapping: str | None = None,
    progress: Callable[[str], None] | None = None,
    maintain: bool = False,
    first_lock: NightLock | None = None,
) -> None:
    """Run the nights ``start``..``end`` in order, each resuming where it stopped; each
    night's raw files are read in ``source_format`` or with the source ``mapping``;
    ``maintain`` runs the last night's maintain step even when ``nightly.maintain`` is off (once
    for the range: the tables are compacted after their last write); ``first_lock`` is
    ``start``'s lock if the caller announced it (see :func:`run_night`).

    Only the first night waits the lock's settle delay: it exists so that processes started
    together see each other's tickets, and any started with this one left theirs during the
    first night."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    day = start
    while day <= end:
        night = NightInputs(
            day, day_source(raw_root, day), None, source_format, mapping,
            maintain=maintain and day == end,
        )  # fmt: skip
        lock = first_lock if day == start else night_lock(config, day, settle=False)
        run_night(spark, config, night, progress=progress, lock=lock)
        day += timedelta(days=1)
