"""Scale benchmark: generate, ingest and the full feature job on a local standalone cluster.

    python bench/scaling.py [--sizes 5M,10M,20M] [--workers 2,1] [--days 183]
                            [--workdir DIR] [--executor-memory 3g]

A Spark standalone master and two one-core workers on 127.0.0.1 (``tests/cluster.py``, as the
cluster tests start them). For each size, the simulated world is sized to hold about that many
payments over ``--days`` days (customers = size / (days x 1.91 payments a customer-day, the
simulator's mean), terminals = 2 x customers, the shape of issue 12's 7M run), and then, each
step one fresh ``spark-submit`` process of the job a user runs:

1. ``jobs/generate.py`` on both workers: the raw Parquet files (timed, once per size);
2. ``jobs/ingest.py`` on both workers: raw files -> ``fraud.transactions`` (timed, once);
3. for each worker count W in ``--workers`` (``spark.cores.max = W``: W one-core executors),
   ``jobs/features.py --full`` (``fraud.features_windowed`` and ``fraud.features_monthly``),
   after deleting the feature tables.

Every step reports wall seconds, the CPU seconds of the job (the ``spark-submit`` driver's
process tree and the worker daemons' trees: the executors and their Python workers are
children of the workers), and the machine's busy cores during it (all processes). Run it on a
quiet machine: with another job sharing the cores, wall time doubled and even the CPU seconds
rose by half (5M features: 249 s against 167 s quiet).

The feature job is split by its Delta commits: the
seconds from the process start to the ``features_windowed`` commit (session start, read,
both entity passes, write), from there to the ``features_monthly`` commit, and the rest
(the job's report and the process exit). Results go to ``<workdir>/scaling-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from timing import CORES, TreeCpu, log, machine_line, parse_size, run_process

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.cluster import StandaloneCluster  # noqa: E402

PAYMENTS_PER_CUSTOMER_DAY = 1.91  # the simulator's mean (issue 12: 7.0M for 20,000 x 183 days)


@dataclass
class Step:
    size: str
    workers: int
    step: str
    wall_s: float
    cpu_s: float
    busy_cores: float
    load_before: float
    detail: dict[str, float]


def last_commit_ms(table: Path) -> int:
    """The timestamp (ms since the epoch) of the table's latest Delta commit."""
    commits = sorted((table / "_delta_log").glob("*.json"))
    for line in commits[-1].read_text().splitlines():
        entry = json.loads(line)
        if "commitInfo" in entry:
            return int(entry["commitInfo"]["timestamp"])
    raise RuntimeError(f"no commitInfo in {commits[-1]}")


def run_step(
    cluster: StandaloneCluster,
    size: str,
    workers: int,
    step: str,
    script: str,
    args: list[str],
    conf: dict[str, str],
    cwd: Path,
) -> tuple[Step, float]:
    """One fresh spark-submit of ``jobs/<script>`` on ``workers`` executors; returns the step
    and its start (epoch seconds)."""
    command = cluster.submit_command(
        REPO / "jobs" / script, args, conf={**conf, "spark.cores.max": str(workers)}
    )
    started = time.time()
    # The executors and their Python workers are children of the worker daemons.
    meters = [TreeCpu(worker.pid) for worker in cluster.workers]
    for meter in meters:
        meter.__enter__()
    try:
        run = run_process(f"{size} x {workers} worker(s): {step}", command, cluster.env, str(cwd))
    finally:
        for meter in meters:
            meter.stop()
    # The job's own report (rows read and written), not its log lines.
    for line in run.stdout_text.strip().splitlines():
        if not line[:4].isdigit():
            log(f"  | {line}")
    sample = run.sample
    cpu = sample.cpu_s + sum(meter.seconds for meter in meters)
    busy = (sample.cpu_s + sample.others_cpu_s) / sample.wall_s
    log(f"  CPU of the driver, the executors and their Python workers: {cpu:.1f} s")
    step = Step(size, workers, step, sample.wall_s, cpu, busy, sample.load_before, {})
    return step, started


def feature_limits(limits: str | None) -> dict[str, str]:
    """Spark settings capping the feature job's executors: the JVM heap and each Python
    worker's address space, with the allocator settings that let a numpy/pyarrow worker fit
    under such a cap (docs/scaling.md)."""
    if limits is None:
        return {}
    executor, python = limits.split(",")
    return {
        "spark.executor.memory": executor,
        "spark.executor.pyspark.memory": python,
        "spark.executorEnv.MALLOC_ARENA_MAX": "2",
        "spark.executorEnv.ARROW_DEFAULT_MEMORY_POOL": "system",
    }


def megabytes(text: str) -> int:
    """``"3g"`` -> 3072, ``"512m"`` -> 512."""
    return int(text[:-1]) * (1024 if text[-1].lower() == "g" else 1)


def delta_files(table: Path) -> list[str]:
    """The data files of a Delta table's current version, from its JSON commits (adds minus
    removes; the tables here have no checkpoint)."""
    live: set[str] = set()
    for commit in sorted((table / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            entry = json.loads(line)
            if "add" in entry:
                live.add(entry["add"]["path"])
            elif "remove" in entry:
                live.discard(entry["remove"]["path"])
    return sorted(str(table / unquote(path)) for path in live)


def check_with_duckdb(lakehouse: Path, conf: str | None, workdir: Path) -> str:
    """Compare ``fraud.features_windowed`` with the DuckDB reference on every row."""
    import duckdb

    from fraudspark.config import load_config
    from tests.duckdb_reference import agreement_line, compare, duckdb_windowed_query

    features = load_config(conf, lakehouse=str(lakehouse)).features
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET temp_directory = '{workdir}/duckdb-tmp'")
    query = duckdb_windowed_query(features, delta_files(lakehouse / "transactions"))
    expected = workdir / "duckdb_windowed"
    shutil.rmtree(expected, ignore_errors=True)
    con.execute(f"COPY ({query}) TO '{expected}' (FORMAT parquet, PARTITION_BY (tx_date))")
    got = delta_files(lakehouse / "features_windowed")
    return agreement_line("fraud.features_windowed", compare(con, got, expected, features))


def save(steps: list[Step], out: Path) -> None:
    """Write the steps so far (a long run keeps what it measured if stopped)."""
    out.write_text(json.dumps([asdict(s) for s in steps], indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5M,10M,20M")
    parser.add_argument("--workers", default="2,1", help="worker counts to run, e.g. 2,1")
    parser.add_argument("--days", type=int, default=183)
    parser.add_argument(
        "--workdir", default=str(Path(tempfile.gettempdir()) / "fraudspark-bench-scaling")
    )
    parser.add_argument("--executor-memory", default="3g")
    parser.add_argument("--keep", action="store_true", help="keep each size's data afterwards")
    parser.add_argument(
        "--hot-terminal-share", default=None, help="skew: terminal 0's share of the payments"
    )
    parser.add_argument(
        "--feature-limits",
        default=None,
        help="EXECUTOR,PYTHON memory of the feature job's executors, e.g. 512m,512m "
        "(spark.executor.memory, spark.executor.pyspark.memory)",
    )
    parser.add_argument("--conf", default=None, help="fraudspark YAML for the jobs")
    parser.add_argument(
        "--check", action="store_true", help="compare fraud.features_windowed with DuckDB"
    )
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    counts = [int(w) for w in args.workers.split(",")]
    log(machine_line())
    logs = workdir / "cluster-logs"
    logs.mkdir(exist_ok=True)
    memory_mb = megabytes(args.executor_memory) + 1024
    events = workdir / "events"
    events.mkdir(exist_ok=True)
    cluster = StandaloneCluster(logs, workers=max(counts), worker_memory=f"{memory_mb}m")
    cluster.start()
    conf = {
        "spark.executor.memory": args.executor_memory,
        "spark.driver.memory": "2g",
        "spark.sql.shuffle.partitions": "8",
        # Stage timings for the breakdown, read afterwards with Spark's history tools.
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": str(events),
        "spark.eventLog.compress": "false",
    }
    steps: list[Step] = []
    out = workdir / f"scaling-{datetime.now():%Y%m%d-%H%M%S}.json"
    try:
        for size in args.sizes.split(","):
            rows = parse_size(size)
            customers = max(1, round(rows / (args.days * PAYMENTS_PER_CUSTOMER_DAY)))
            root = workdir / size
            shutil.rmtree(root, ignore_errors=True)
            raw = root / "raw"
            root.mkdir(parents=True)
            log(f"{size}: {customers} customers, {2 * customers} terminals, {args.days} days")
            skew = [] if args.hot_terminal_share is None else [
                "--hot-terminal-share", args.hot_terminal_share]  # fmt: skip
            step, _ = run_step(cluster, size, max(counts), "generate", "generate.py", [
                "--out", str(raw), "--customers", str(customers),
                "--terminals", str(2 * customers), "--days", str(args.days),
                "--start-date", "2025-01-01", *skew,
            ], conf, root)  # fmt: skip
            steps.append(step)
            lakehouse = root / "lakehouse"
            common = ["--lakehouse", str(lakehouse)]
            if args.conf:
                common += ["--conf", str(Path(args.conf).resolve())]
            step, _ = run_step(cluster, size, max(counts), "ingest", "ingest.py",
                               ["--source", str(raw), "--format", "parquet", *common],
                               conf, root)  # fmt: skip
            steps.append(step)
            save(steps, out)
            for workers in counts:
                for table in ("features_windowed", "features_monthly"):
                    shutil.rmtree(lakehouse / table, ignore_errors=True)
                step, started = run_step(
                    cluster,
                    size,
                    workers,
                    "features --full",
                    "features.py",
                    ["--full", *common],
                    {**conf, **feature_limits(args.feature_limits)},
                    root,
                )
                windowed = last_commit_ms(lakehouse / "features_windowed") / 1000 - started
                monthly = last_commit_ms(lakehouse / "features_monthly") / 1000 - started
                step.detail = {
                    "to windowed commit": round(windowed, 1),
                    "monthly": round(monthly - windowed, 1),
                    "report and exit": round(step.wall_s - monthly, 1),
                }
                log(f"  {step.detail}")
                steps.append(step)
                save(steps, out)
                if args.check:
                    conf_path = str(Path(args.conf).resolve()) if args.conf else None
                    log(f"  {check_with_duckdb(lakehouse, conf_path, root)}")
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        cluster.stop()
    print()
    print(f"# Scaling on a standalone cluster ({CORES} cores): {' '.join(sys.argv)}")
    print()
    print("| size | workers | step | wall s | CPU s | busy cores | load before | breakdown |")
    print("|---|---|---|---|---|---|---|---|")
    for s in steps:
        detail = ", ".join(f"{k} {v:.1f}" for k, v in s.detail.items())
        print(
            f"| {s.size} | {s.workers} | {s.step} | {s.wall_s:.1f} | {s.cpu_s:.1f} | "
            f"{s.busy_cores:.2f} | "
            f"{s.load_before:.2f} | {detail} |"
        )
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    raise SystemExit(main())
