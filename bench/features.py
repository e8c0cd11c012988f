"""Feature benchmark: the Spark feature job against one DuckDB SQL query, on the same data.

    python bench/features.py [--sizes 1M,5M] [--workdir DIR] [--skip-nightly] [--repeat N]

For each size it simulates ``customers x days`` of payments (5,000 customers, 10,000 terminals,
180 days; the daily rate is calibrated so the table holds about the size asked for), ingests
them into ``fraud.transactions`` (Delta) once, caches the result under ``--workdir`` and then,
in one Spark session (``local[*]``) and one DuckDB connection (``threads = <Spark's cores>``):

* **Spark full job** -- ``compute_features(spark, config)``: read ``fraud.transactions``
  (Delta), compute the windowed and the monthly features, overwrite
  ``fraud.features_windowed`` and ``fraud.features_monthly`` (Delta, partitioned), then count
  the rows written (the job's own report).
* **Spark windowed only** -- ``windowed_features(...)`` on the same Delta input, written as a
  Delta table partitioned by ``tx_date`` as ``compute_features`` writes
  ``fraud.features_windowed`` (same partition count, session settings and table properties),
  no monthly.
* **Spark monthly only** -- ``monthly_features(...)`` written as Delta (for the breakdown).
* **DuckDB** -- the same windowed features as one SQL query with ``RANGE`` frames, reading the
  Parquet files of the current ``fraud.transactions`` version (the very files Spark reads) and
  writing Parquet partitioned by ``tx_date`` (``COPY ... PARTITION_BY``).

It then compares Spark's ``fraud.features_windowed`` with DuckDB's output on every row (full
outer join on ``tx_id``; counts and flags exact, means and risks within 1e-9 relative).

Nightly: after the full job on the largest size, ``compute_features(spark, config, D, D)`` for
the last day D (median of ``--nightly-repeat`` runs) against the full job; then the same on a
dataset with twice the history (360 days, same customers and daily rate, same last day D).

Session start-up, data generation and ingest are not timed as part of the comparison (ingest is
timed and printed for information); every timed code path first runs once, untimed, on 40 days
(JVM warm-up). Each timing reports wall seconds and the CPU seconds of this process tree (the
DuckDB threads, the Spark JVM and its Python workers), plus the 1-minute load average before
it: other processes may share the cores, and CPU time is the figure that survives that.
Results also go to ``<workdir>/results-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from duckdb_process import duckdb_connect, duckdb_run
from pyspark.sql import SparkSession
from timing import Sample, log, machine_line, measure, parse_size, run_process

# The DuckDB reference lives with the tests (tests/duckdb_reference.py), which use it too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fraudspark.config import Config, load_config
from fraudspark.features.monthly import monthly_features
from fraudspark.features.windowed import tuned_session, windowed_features
from fraudspark.lakehouse.io import overwrite_table, read_table
from fraudspark.lakehouse.tables import (
    FEATURES_MONTHLY,
    FEATURES_WINDOWED,
    TRANSACTIONS,
    table_path,
)
from fraudspark.pipelines.features import compute_features, feature_partitions
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.session import build_spark
from fraudspark.simulate.generator import (
    customer_profiles,
    generate_transactions,
    terminal_locations,
    write_raw,
)
from tests.duckdb_reference import (
    Agreement,
    agreement_line,
    compare,
    compare_monthly,
    duckdb_monthly_query,
    duckdb_windowed_query,
    table_files,
)

REPO = Path(__file__).resolve().parent.parent
# The DuckDB side of the whole-process mode: a script that imports DuckDB only.
DUCKDB_PROCESS = Path(__file__).resolve().with_name("duckdb_process.py")
CUSTOMERS = 5_000
TERMINALS = 10_000
DAYS = 180
SEED = 42
# Every dataset ends on this day, so a nightly run for it reads the same calendar month.
LAST_DAY = date(2025, 6, 29)


# --------------------------------------------------------------------------- small helpers


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    load_before: list[float] = field(default_factory=list)
    others_cores: list[float] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.seconds.append(sample.wall_s)
        self.cpu_seconds.append(sample.cpu_s)
        self.load_before.append(sample.load_before)
        self.others_cores.append(sample.others_cores)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_seconds)


def timed(label: str, action: Callable[[], Any], timing: Timing | None = None) -> Any:
    """Run ``action`` in this process (bench/timing.py: wall, CPU of this process tree, the
    CPU other processes used meanwhile) and add the sample to ``timing``."""
    result, sample = measure(label, action)
    if timing is not None:
        timing.add(sample)
    return result


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class DatasetSpec:
    label: str
    target_rows: int
    customers: int
    terminals: int
    days: int

    @property
    def start_date(self) -> date:
        return LAST_DAY - timedelta(days=self.days - 1)

    @property
    def name(self) -> str:
        return f"{self.label}-c{self.customers}-t{self.terminals}-d{self.days}-s{SEED}"


@dataclass
class Dataset:
    spec: DatasetSpec
    root: Path
    config: Config
    tx_per_day_max: float
    rows: int
    generate_seconds: float | None
    ingest_seconds: float | None


def calibrate_rate(spark: SparkSession, config: Config, spec: DatasetSpec) -> float:
    """``tx_per_day_max`` giving ``spec.target_rows`` genuine payments in expectation.

    A customer's daily rate is ``u * tx_per_day_max`` with ``u`` uniform in [0, 1] drawn from
    its own stream, and a customer with no terminal within the radius pays nothing; so the
    expected row count is ``days * tx_per_day_max * sum(u over customers with a terminal)``
    (plus a few card-testing and account-takeover payments, ignored here).
    """
    unit = config.generator.model_copy(update={"tx_per_day_max": 1.0})
    profiles: pd.DataFrame = (
        customer_profiles(spark, unit, customers=spec.customers, seed=SEED)
        .select("x_customer", "y_customer", "mean_tx_per_day")
        .toPandas()
    )
    terminals = terminal_locations(unit, terminals=spec.terminals, seed=SEED)
    radius = unit.terminal_radius
    covered = np.zeros(len(profiles), dtype=bool)
    xy = profiles[["x_customer", "y_customer"]].to_numpy()
    for start in range(0, len(xy), 500):
        block = xy[start : start + 500]
        squared = ((block[:, None, :] - terminals[None, :, :]) ** 2).sum(axis=2)
        covered[start : start + 500] = (squared <= radius * radius).any(axis=1)
    rate_sum = float(profiles["mean_tx_per_day"].to_numpy()[covered].sum())
    log(
        f"{spec.label}: {covered.mean():.1%} of customers have a terminal in reach; "
        f"sum of unit rates {rate_sum:.1f}"
    )
    return spec.target_rows / (spec.days * rate_sum)


def prepare_dataset(
    spark: SparkSession,
    base: Config,
    spec: DatasetSpec,
    workdir: Path,
    rate: float | None = None,
) -> Dataset:
    """Generate, write raw Parquet and ingest once; reuse the result when it is there.

    ``rate`` is ``tx_per_day_max``; by default it is calibrated to ``spec.target_rows``."""
    root = workdir / spec.name
    marker = root / "dataset.json"
    config = base.with_lakehouse(str(root / "lakehouse"))
    if marker.exists():
        info = json.loads(marker.read_text())
        log(f"{spec.label}: reusing {root} ({info['rows']:,} rows)")
        return Dataset(spec, root, config, info["tx_per_day_max"], info["rows"], None, None)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    if rate is None:
        rate = calibrate_rate(spark, config, spec)
    params = config.generator.model_copy(update={"tx_per_day_max": rate})
    log(f"{spec.label}: generating with tx_per_day_max = {rate:.4f}")
    raw = root / "raw"

    def generate() -> None:
        frame = generate_transactions(
            spark,
            params,
            customers=spec.customers,
            terminals=spec.terminals,
            days=spec.days,
            start_date=spec.start_date,
            seed=SEED,
        )
        write_raw(frame, str(raw), "parquet")

    generate_timing, ingest_timing = Timing(), Timing()
    timed(f"{spec.label}: generate + write raw Parquet", generate, generate_timing)
    report = timed(
        f"{spec.label}: ingest into fraud.transactions",
        lambda: ingest_transactions(spark, config, str(raw), "parquet"),
        ingest_timing,
    )
    log(f"{spec.label}: ingest {report.summary()}")
    if report.quarantined or report.accepted != report.read:
        raise RuntimeError(f"unexpected ingest outcome: {report}")
    info = {
        "rows": report.accepted,
        "tx_per_day_max": rate,
        "spec": asdict(spec),
        "generate_seconds": generate_timing.seconds[0],
        "ingest_seconds": ingest_timing.seconds[0],
    }
    marker.write_text(json.dumps(info, indent=2))
    return Dataset(
        spec, root, config, rate, report.accepted, info["generate_seconds"], info["ingest_seconds"]
    )


def transaction_files(spark: SparkSession, config: Config) -> list[str]:
    """The Parquet files of the current version of ``fraud.transactions``."""
    files = read_table(spark, config, TRANSACTIONS).inputFiles()
    return sorted(f.removeprefix("file://").removeprefix("file:") for f in files)


# --------------------------------------------------------------------------- Spark side


def spark_windowed_only(spark: SparkSession, config: Config, out: Path) -> None:
    """The windowed features written as ``compute_features`` writes them: the same partition
    count, session settings and table properties (``out`` must not exist, so the write creates
    the table with them)."""
    transactions = read_table(spark, config, TRANSACTIONS)
    frame = windowed_features(
        transactions,
        config.features,
        feature_partitions(spark, transactions.count()),
        time_zone=config.ingest.business_time_zone,
    )
    with tuned_session(spark, config.features):
        (
            frame.write.format("delta")
            .mode("overwrite")
            .options(**FEATURES_WINDOWED.properties)
            .partitionBy(*FEATURES_WINDOWED.partition_by)
            .save(str(out))
        )


def spark_monthly_only(spark: SparkSession, config: Config, out: Path) -> None:
    frame = monthly_features(read_table(spark, config, TRANSACTIONS), config.features)
    (
        frame.write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .partitionBy("entity_type")
        .save(str(out))
    )


def warm_up(
    spark: SparkSession, con: duckdb.DuckDBPyConnection, dataset: Dataset, workdir: Path
) -> None:
    """Run every timed code path once, untimed, on 40 days of the first dataset copied into a
    scratch lakehouse, so JVM warm-up (class loading, JIT, Python workers) does not land on
    the first timed run."""
    config = dataset.config
    scratch = config.with_lakehouse(str(workdir / "warmup-lakehouse"))
    last = dataset.spec.start_date + timedelta(days=39)
    small = read_table(spark, config, TRANSACTIONS).where(f"tx_date <= '{last}'")
    log("warm-up (untimed): full job, windowed, monthly and nightly on 40 days; DuckDB")
    overwrite_table(spark, scratch, TRANSACTIONS, small)
    compute_features(spark, scratch)
    compute_features(spark, scratch, last, last)
    shutil.rmtree(workdir / "warmup-windowed", ignore_errors=True)
    spark_windowed_only(spark, scratch, workdir / "warmup-windowed")
    spark_monthly_only(spark, scratch, workdir / "warmup-monthly")
    files = transaction_files(spark, scratch)
    duckdb_run(con, duckdb_windowed_query(config.features, files), workdir / "warmup-duckdb")
    duckdb_run(
        con,
        duckdb_monthly_query(config.features, files),
        workdir / "warmup-duckdb-monthly",
        "entity_type",
    )


@dataclass
class SizeResult:
    label: str
    rows: int
    tx_per_day_max: float
    input_files: int
    spark_full: Timing
    spark_windowed: Timing
    spark_monthly: Timing
    duckdb: Timing
    duckdb_monthly: Timing
    agreement: Agreement
    monthly_agreement: Agreement
    ingest_seconds: float | None

    @property
    def duckdb_both(self) -> tuple[float, float]:
        """DuckDB windowed + monthly (medians), wall and cpu: what the full job compares to."""
        return (
            self.duckdb.median + self.duckdb_monthly.median,
            self.duckdb.cpu + self.duckdb_monthly.cpu,
        )


def drop_feature_tables(config: Config) -> None:
    """Remove the feature tables (untimed) so every full job writes into the same empty state.

    An overwrite keeps the replaced files' tombstones in the Delta log until they expire
    (7 days), and a log full of earlier runs' tombstones slows every later nightly run."""
    for table in (FEATURES_WINDOWED, FEATURES_MONTHLY):
        shutil.rmtree(table_path(config, table), ignore_errors=True)


def bench_size(
    spark: SparkSession, con: duckdb.DuckDBPyConnection, dataset: Dataset, repeat: int
) -> SizeResult:
    config, root, label = dataset.config, dataset.root, dataset.spec.label
    files = transaction_files(spark, config)
    log(f"{label}: {dataset.rows:,} rows in {len(files)} Parquet files")
    full, windowed, monthly = Timing(), Timing(), Timing()
    duck, duck_monthly = Timing(), Timing()
    query = duckdb_windowed_query(config.features, files)
    monthly_query = duckdb_monthly_query(config.features, files)
    duck_out, duck_monthly_out = root / "duckdb_windowed", root / "duckdb_monthly"
    for i in range(repeat):
        run = f" (run {i + 1}/{repeat})" if repeat > 1 else ""
        drop_feature_tables(config)
        report = timed(
            f"{label}: Spark full job{run}", lambda: compute_features(spark, config), full
        )
        log(f"{label}: {report.summary()}")
        shutil.rmtree(root / "spark_windowed_only", ignore_errors=True)  # untimed
        timed(
            f"{label}: Spark windowed only{run}",
            lambda: spark_windowed_only(spark, config, root / "spark_windowed_only"),
            windowed,
        )
        timed(
            f"{label}: Spark monthly only{run}",
            lambda: spark_monthly_only(spark, config, root / "spark_monthly_only"),
            monthly,
        )
        timed(f"{label}: DuckDB windowed{run}", lambda: duckdb_run(con, query, duck_out), duck)
        timed(
            f"{label}: DuckDB monthly{run}",
            lambda: duckdb_run(con, monthly_query, duck_monthly_out, "entity_type"),
            duck_monthly,
        )
    spark_files = [
        f.removeprefix("file://").removeprefix("file:")
        for f in read_table(spark, config, FEATURES_WINDOWED).inputFiles()
    ]
    agreement = compare(con, spark_files, duck_out, config.features)
    monthly_files = [
        f.removeprefix("file://").removeprefix("file:")
        for f in read_table(spark, config, FEATURES_MONTHLY).inputFiles()
    ]
    monthly_agreement = compare_monthly(con, monthly_files, duck_monthly_out)
    log(f"{label}: {agreement_line('windowed results', agreement)}")
    log(f"{label}: {agreement_line('monthly results', monthly_agreement)}")
    return SizeResult(
        label,
        dataset.rows,
        dataset.tx_per_day_max,
        len(files),
        full,
        windowed,
        monthly,
        duck,
        duck_monthly,
        agreement,
        monthly_agreement,
        dataset.ingest_seconds,
    )


@dataclass
class NightlyResult:
    label: str
    days: int
    rows: int
    last_day: date
    full: Timing
    nightly: Timing


def bench_nightly(
    spark: SparkSession, dataset: Dataset, repeat: int, full: Timing | None
) -> NightlyResult:
    config, label = dataset.config, dataset.spec.label
    if full is None:
        full = Timing()
        drop_feature_tables(config)
        report = timed(f"{label}: Spark full job", lambda: compute_features(spark, config), full)
        log(f"{label}: {report.summary()}")
    nightly = Timing()
    for i in range(repeat):
        report = timed(
            f"{label}: nightly --date {LAST_DAY} (run {i + 1}/{repeat})",
            lambda: compute_features(spark, config, LAST_DAY, LAST_DAY),
            nightly,
        )
        log(f"{label}: {report.summary()}")
    return NightlyResult(label, dataset.spec.days, dataset.rows, LAST_DAY, full, nightly)


# --------------------------------------------------------------------------- whole processes


@dataclass
class ProcessResult:
    label: str
    rows: int
    fraudspark: Timing
    duckdb: Timing
    agreement: Agreement
    monthly_agreement: Agreement
    # Seconds of each query inside the DuckDB process (its wall time is the figure compared).
    duckdb_windowed_s: list[float] = field(default_factory=list)
    duckdb_monthly_s: list[float] = field(default_factory=list)


def bench_processes(
    dataset: Dataset, files: list[str], repeat: int, conf: str, threads: int, workdir: Path
) -> ProcessResult:
    """Each side as one fresh OS process started from here, as a user starts it: the CLI
    ``fraudspark features --full`` (session start, JVM warm-up and all) and a Python process
    running the DuckDB windowed query and then the monthly one (``bench/duckdb_process.py``,
    which imports DuckDB only). The feature tables are deleted (untimed) before each run."""
    config, root, label = dataset.config, dataset.root, dataset.spec.label
    env = dict(os.environ, PYTHONPATH=str(REPO), FRAUDSPARK_CONF=conf, TZ="UTC")
    windowed_file, monthly_file = root / "duckdb_windowed.sql", root / "duckdb_monthly.sql"
    windowed_file.write_text(duckdb_windowed_query(config.features, files))
    monthly_file.write_text(duckdb_monthly_query(config.features, files))
    duck_out = root / "duckdb_windowed_process"
    duck_monthly_out = root / "duckdb_monthly_process"
    fraudspark_timing, duck_timing = Timing(), Timing()
    windowed_s: list[float] = []
    monthly_s: list[float] = []
    for i in range(repeat):
        run_label = f" (run {i + 1}/{repeat})" if repeat > 1 else ""
        drop_feature_tables(config)
        command = [sys.executable, "-m", "fraudspark.cli", "features", "--full"]
        command += ["--conf", conf, "--lakehouse", config.lakehouse_root]
        run = run_process(f"{label}: fraudspark features --full process{run_label}", command, env)
        fraudspark_timing.add(run.sample)
        log(f"{label}: {run.stdout_text.strip().splitlines()[-1] if run.stdout else ''}")
        command = [sys.executable, str(DUCKDB_PROCESS), str(windowed_file)]
        command += [str(monthly_file), str(duck_out), str(duck_monthly_out)]
        command += [str(threads), str(workdir)]
        run = run_process(f"{label}: DuckDB process{run_label}", command, env)
        duck_timing.add(run.sample)
        seconds = json.loads(run.stdout_text.strip().splitlines()[-1])
        windowed_s.append(seconds["windowed"])
        monthly_s.append(seconds["monthly"])
        log(
            f"{label}: inside the DuckDB process: windowed {seconds['windowed']:.1f} s, "
            f"monthly {seconds['monthly']:.1f} s"
        )
    con = duckdb_connect(threads, workdir)
    agreement = compare(
        con, table_files(Path(table_path(config, FEATURES_WINDOWED))), duck_out, config.features
    )
    monthly_agreement = compare_monthly(
        con, table_files(Path(table_path(config, FEATURES_MONTHLY))), duck_monthly_out
    )
    con.close()
    log(f"{label}: {agreement_line('whole-process windowed results', agreement)}")
    log(f"{label}: {agreement_line('whole-process monthly results', monthly_agreement)}")
    return ProcessResult(
        label,
        dataset.rows,
        fraudspark_timing,
        duck_timing,
        agreement,
        monthly_agreement,
        windowed_s,
        monthly_s,
    )


# Whole process: fraudspark features --full <= 1.5 x a DuckDB process (windowed + monthly).
PROCESS_TARGET = 1.5


def print_process_report(results: list[ProcessResult], threads: int, command: str) -> None:
    print()
    print(f"# Feature benchmark (whole processes): {command}")
    print(f"# {machine_line()}; DuckDB threads = {threads}")
    print(
        "# wall = fork to exit; cpu = CPU seconds of the process tree; others = cores other "
        "processes kept busy meanwhile (the machine's load); DuckDB wind./mon. = each query's "
        "seconds inside the DuckDB process"
    )
    header = (
        f"{'size':<5} {'rows':>10} {'fraudspark wall/cpu':>20} {'DuckDB wall/cpu':>17} "
        f"{'DuckDB wind./mon.':>18} {'ratio wall':>10} {'ratio cpu':>9} {'others':>6} "
        f"{'windowed':>9} {'monthly':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        others = statistics.mean(r.fraudspark.others_cores + r.duckdb.others_cores)
        print(
            f"{r.label:<5} {r.rows:>10,} {r.fraudspark.median:>9.1f}s/{r.fraudspark.cpu:>7.1f}s "
            f"{r.duckdb.median:>8.1f}s/{r.duckdb.cpu:>6.1f}s "
            f"{statistics.median(r.duckdb_windowed_s):>8.1f}s/"
            f"{statistics.median(r.duckdb_monthly_s):>7.1f}s "
            f"{r.fraudspark.median / r.duckdb.median:>10.2f} "
            f"{r.fraudspark.cpu / r.duckdb.cpu:>9.2f} {others:>6.2f} "
            f"{'agree' if r.agreement.agree else 'DISAGREE':>9} "
            f"{'agree' if r.monthly_agreement.agree else 'DISAGREE':>9}"
        )
    print(
        "Both sides compute and write the windowed and the calendar-month features: the "
        "fraudspark job as Delta tables, the DuckDB process as Parquet (two COPY queries)."
    )
    for r in results:
        print(f"{r.label}: {agreement_line('windowed', r.agreement)}")
        print(f"{r.label}: {agreement_line('monthly', r.monthly_agreement)}")
    if results:
        large = results[-1]
        ratio = large.fraudspark.median / large.duckdb.median
        print()
        print("targets:")
        print(
            f"  fraudspark features --full / DuckDB process (windowed + monthly) at "
            f"{large.label} <= {PROCESS_TARGET} (wall): {ratio:.2f} "
            f"{_verdict(ratio, PROCESS_TARGET)}"
        )


# --------------------------------------------------------------------------- report


def _verdict(value: float, limit: float) -> str:
    return "met" if value <= limit else "MISSED"


def print_report(
    sizes: list[SizeResult],
    nightly: list[NightlyResult],
    threads: int,
    command: str,
    shape: tuple[int, int, int] = (CUSTOMERS, TERMINALS, DAYS),
) -> None:
    """The side-by-side tables (wall and CPU seconds) and the targets' verdicts."""
    customers, terminals, days = shape
    print()
    print(f"# Feature benchmark (warm, one session): {command}")
    print(
        f"# Spark local[*] = {threads} cores, DuckDB {duckdb.__version__} threads = {threads}; "
        f"{customers:,} customers, {terminals:,} terminals, {days} days; "
        f"load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print("# wall = elapsed seconds; cpu = CPU seconds of this process tree (JVM, workers, DuckDB)")
    header = (
        f"{'size':<5} {'rows':>10} {'':>4} {'Spark full':>10} {'Spark wind.':>11} "
        f"{'Spark mon.':>10} {'Duck wind.':>10} {'Duck mon.':>9} {'full/Duck':>9} "
        f"{'wind/Duck':>9} {'mon/Duck':>8} {'results':>8} {'mismatch':>8} {'load':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in sizes:
        loads = r.spark_full.load_before + r.duckdb.load_before
        agree = r.agreement.agree and r.monthly_agreement.agree
        verdict = "agree" if agree else "DISAGREE"
        mismatching = r.agreement.mismatching_rows + r.monthly_agreement.mismatching_rows
        for kind in ("wall", "cpu"):

            def pick(t: Timing, kind: str = kind) -> float:
                return t.median if kind == "wall" else t.cpu

            first = kind == "wall"
            both = r.duckdb_both[0 if first else 1]
            print(
                f"{r.label if first else '':<5} {f'{r.rows:,}' if first else '':>10} {kind:>4} "
                f"{pick(r.spark_full):>9.1f}s {pick(r.spark_windowed):>10.1f}s "
                f"{pick(r.spark_monthly):>9.1f}s {pick(r.duckdb):>9.1f}s "
                f"{pick(r.duckdb_monthly):>8.1f}s "
                f"{pick(r.spark_full) / both:>9.2f} "
                f"{pick(r.spark_windowed) / pick(r.duckdb):>9.2f} "
                f"{pick(r.spark_monthly) / pick(r.duckdb_monthly):>8.2f} "
                f"{verdict if first else '':>8} "
                f"{mismatching if first else '':>8} "
                f"{f'{statistics.mean(loads):.2f}' if first else '':>5}"
            )
    print(
        "full/Duck = Spark full job / (DuckDB windowed + DuckDB monthly); wind/Duck and "
        "mon/Duck compare each part alone; results and mismatch cover both tables"
    )
    for r in sizes:
        print(f"{r.label}: {agreement_line('windowed', r.agreement)}")
        print(f"{r.label}: {agreement_line('monthly', r.monthly_agreement)}")
    targets: list[str] = []
    if sizes:
        large = sizes[-1]
        for kind, ratio in (
            ("wall", large.spark_full.median / large.duckdb_both[0]),
            ("cpu", large.spark_full.cpu / large.duckdb_both[1]),
        ):
            targets.append(
                f"Spark full job / DuckDB (windowed + monthly) at {large.label} <= 1.0 "
                f"({kind}): {ratio:.2f} {_verdict(ratio, 1.0)}"
            )
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(
            f"growth {small.label} -> {large.label} (rows x{large.rows / small.rows:.2f}), "
            f"wall: Spark full x{large.spark_full.median / small.spark_full.median:.2f}, "
            f"Spark windowed x{large.spark_windowed.median / small.spark_windowed.median:.2f}, "
            f"DuckDB x{large.duckdb.median / small.duckdb.median:.2f}; "
            f"cpu: Spark full x{large.spark_full.cpu / small.spark_full.cpu:.2f}, "
            f"Spark windowed x{large.spark_windowed.cpu / small.spark_windowed.cpu:.2f}, "
            f"DuckDB x{large.duckdb.cpu / small.duckdb.cpu:.2f}"
        )
        for kind, growth in (
            ("wall", large.spark_full.median / small.spark_full.median),
            ("cpu", large.spark_full.cpu / small.spark_full.cpu),
        ):
            targets.append(
                f"Spark full job growth {small.label} -> {large.label} <= 5.5 ({kind}): "
                f"x{growth:.2f} {_verdict(growth, 5.5)}"
            )
    if nightly:
        print()
        print(
            f"{'nightly':<8} {'days':>5} {'rows':>11} {'full job wall/cpu':>18} "
            f"{'nightly wall/cpu (median)':>26} {'runs (wall)':>20} {'nightly/full':>13} "
            f"{'load':>5}"
        )
        for n in nightly:
            runs = ", ".join(f"{s:.1f}" for s in n.nightly.seconds)
            print(
                f"{n.label:<8} {n.days:>5} {n.rows:>11,} "
                f"{n.full.median:>8.1f}s /{n.full.cpu:>7.1f}s "
                f"{n.nightly.median:>15.1f}s /{n.nightly.cpu:>7.1f}s {runs:>20} "
                f"{n.nightly.median / n.full.median:>6.3f}/{n.nightly.cpu / n.full.cpu:.3f} "
                f"{statistics.mean(n.nightly.load_before):>5.2f}"
            )
        base = nightly[0]
        for kind, ratio in (
            ("wall", base.nightly.median / base.full.median),
            ("cpu", base.nightly.cpu / base.full.cpu),
        ):
            targets.append(
                f"nightly / full job on {base.days} days <= 0.2 ({kind}): {ratio:.3f} "
                f"{_verdict(ratio, 0.2)}"
            )
        if len(nightly) == 2:
            doubled = nightly[1]
            for kind, growth in (
                ("wall", doubled.nightly.median / base.nightly.median),
                ("cpu", doubled.nightly.cpu / base.nightly.cpu),
            ):
                targets.append(
                    f"nightly growth {base.days} -> {doubled.days} days of history "
                    f"<= 1.1, i.e. no growth beyond noise ({kind}): x{growth:.2f} "
                    f"{_verdict(growth, 1.1)}"
                )
    if targets:
        print()
        print("targets:")
        for line in targets:
            print(f"  {line}")


def write_json(
    path: Path, sizes: list[SizeResult], nightly: list[NightlyResult], command: str
) -> None:
    def encode(value: Any) -> Any:
        if isinstance(value, date):
            return value.isoformat()
        raise TypeError(type(value))

    payload = {
        "command": command,
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "loadavg_at_end": os.getloadavg(),
        "duckdb": duckdb.__version__,
        "sizes": [asdict(r) for r in sizes],
        "nightly": [asdict(n) for n in nightly],
    }
    path.write_text(json.dumps(payload, indent=2, default=encode))
    log(f"results written to {path}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", "--rows", default="1M,5M", help="target row counts, e.g. 1M,5M")
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--terminals", type=int, default=TERMINALS)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument(
        "--mode",
        choices=["warm", "process", "both", "prepare"],
        default="warm",
        help="warm: timed code in one session; process: each side one fresh OS process; "
        "prepare: generate and ingest the data (cached) and time nothing",
    )
    parser.add_argument(
        "--workdir",
        default=str(Path(tempfile.gettempdir()) / "fraudspark-bench"),
        help="data cache",
    )
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per size (median)")
    parser.add_argument("--skip-nightly", action="store_true")
    parser.add_argument("--nightly-repeat", type=int, default=3)
    args = parser.parse_args(args_list)
    command = "python bench/features.py " + " ".join(args_list)

    os.environ["TZ"] = "UTC"
    time.tzset()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    base = load_config(args.conf, lakehouse=str(workdir / "unused-lakehouse"))
    shape = (args.customers, args.terminals, args.days)
    specs = sorted(
        (DatasetSpec(label.strip(), parse_size(label), *shape) for label in args.sizes.split(",")),
        key=lambda s: s.target_rows,
    )
    log(f"{machine_line()}; starting Spark ({base.spark.master})")
    spark = build_spark(base)
    threads = spark.sparkContext.defaultParallelism
    log(f"Spark {spark.version} with {threads} cores; DuckDB {duckdb.__version__}")

    datasets = [prepare_dataset(spark, base, spec, workdir) for spec in specs]
    if args.mode == "prepare":
        spark.stop()
        return 0
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    if args.mode in ("warm", "both"):
        con = duckdb_connect(threads, workdir)
        warm_up(spark, con, datasets[0], workdir)
        sizes = [bench_size(spark, con, d, args.repeat) for d in datasets]
        nightly: list[NightlyResult] = []
        if not args.skip_nightly:
            largest, result = datasets[-1], sizes[-1]
            nightly.append(bench_nightly(spark, largest, args.nightly_repeat, result.spark_full))
            doubled_spec = DatasetSpec(
                f"{largest.spec.label}x2d",
                math.ceil(largest.rows * 2),
                largest.spec.customers,
                largest.spec.terminals,
                largest.spec.days * 2,
            )
            # Same customers and daily rate, twice the days: the same traffic, a longer history.
            doubled = prepare_dataset(
                spark, base, doubled_spec, workdir, rate=largest.tx_per_day_max
            )
            nightly.append(bench_nightly(spark, doubled, args.nightly_repeat, None))
        print_report(sizes, nightly, threads, command, shape)
        write_json(workdir / f"results-{stamp}.json", sizes, nightly, command)
        con.close()
    processes: list[ProcessResult] = []
    if args.mode in ("process", "both"):
        files = {d.spec.name: transaction_files(spark, d.config) for d in datasets}
        spark.stop()  # the timed processes start their own; this one would only hold memory
        processes = [
            bench_processes(d, files[d.spec.name], args.repeat, args.conf, threads, workdir)
            for d in datasets
        ]
        print_process_report(processes, threads, command)
        path = workdir / f"results-process-{stamp}.json"
        path.write_text(
            json.dumps(
                {
                    "command": command,
                    "machine": machine_line(),
                    "sizes": [asdict(r) for r in processes],
                },
                indent=2,
            )
        )
        log(f"results written to {path}")
    else:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
