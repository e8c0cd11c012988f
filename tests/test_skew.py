"""A skewed world: one terminal carries a fifth of all payments. The feature job, started as a
fresh process under small memory limits, completes and its ``fraud.features_windowed`` equals
the DuckDB reference on every row.

The windowed features hash rows by entity and load each whole partition into one Arrow table
in a Python worker: about 0.6-0.8 KB a row of that partition at peak (the Arrow table in and
out, ~190 B; the sort, prefix-sum and feature arrays, ~380 B). Unsplit, all of the hot
terminal's rows land in one task (~79,000 rows of 197,200 in 4 partitions, twice the others).
Here ``features.split_entity_rows`` is 15,000, so terminal 0 (~40,000 rows) is computed in
three time pieces, each with the 37 days of look-back before it, and the features must still
equal the reference exactly.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pytest
import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config, GeneratorConfig
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import FEATURES_WINDOWED, TRANSACTIONS, table_path
from fraudspark.simulate.generator import HOT_TERMINAL_ID, generate_transactions
from tests.duckdb_reference import compare, duckdb_windowed_query

pytestmark = [pytest.mark.slow, pytest.mark.solo]

REPO = Path(__file__).resolve().parent.parent
HOT_SHARE = 0.2
# 1,000 customers paying 2 a day on average for 100 days: about 200,000 payments.
WORLD: dict[str, Any] = {
    "customers": 1000,
    "terminals": 1000,
    "days": 100,
    "start_date": date(2025, 1, 1),
}
# The driver is the executor in local mode, so its heap is the JVM's limit. Spark refuses a
# heap under 450 MiB, 1.5 x the 300 MiB it reserves (INVALID_DRIVER_MEMORY: 400m refused, 480m
# accepted on this machine's JDK 17); 512m leaves a little room above that floor.
# spark.executor.pyspark.memory caps each Python worker's address space (RLIMIT_AS), not its
# resident memory: a worker with numpy and pyarrow reserves ~1.4 GiB of addresses (glibc's
# per-thread arenas, Arrow's mimalloc) while ~190 MiB is resident. With one malloc arena pair and
# Arrow on the system allocator it reserves ~400 MiB, and 512m suffices.
LIMITS = {"spark.driver.memory": "512m", "spark.executor.pyspark.memory": "512m"}
SPLIT_ROWS = 15_000
WORKER_ENV = {"MALLOC_ARENA_MAX": "2", "ARROW_DEFAULT_MEMORY_POOL": "system"}


def _files(frame_files: list[str]) -> list[str]:
    return sorted(f.removeprefix("file://").removeprefix("file:") for f in frame_files)


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:  # exited since the listing
        return 0


class TreePeak:
    """Peak resident memory of a process and its descendants, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(self.pid)
                self.peak = max(self.peak, sum(_rss(p) for p in [root, *root.children(True)]))
            time.sleep(0.1)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def write_transactions(spark: SparkSession, config: Config, params: GeneratorConfig) -> None:
    """Simulated payments written straight into ``fraud.transactions``, as ingest would leave
    an integer-id feed (ingesting 200,000 rows takes minutes on a loaded machine)."""
    generated = generate_transactions(spark, params, seed=3, **WORLD)
    derived = {
        "tx_date": F.to_date("tx_ts"),
        "source_file": F.lit("generated"),
        "ingested_at": F.current_timestamp(),
    }
    assert TRANSACTIONS.schema is not None
    columns = [
        (
            F.col(field.name)
            if field.name in generated.columns
            else derived.get(field.name, F.lit(None))
        )
        .cast(field.dataType)
        .alias(field.name)
        for field in TRANSACTIONS.schema.fields
    ]
    (
        generated.select(*columns)
        .write.format("delta")
        .partitionBy(*TRANSACTIONS.partition_by)
        .save(table_path(config, TRANSACTIONS))
    )


def test_feature_job_with_a_hot_terminal_fits_small_memory_and_matches_duckdb(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    write_transactions(spark, config, GeneratorConfig(hot_terminal_share=HOT_SHARE))
    transactions = read_table(spark, config, TRANSACTIONS)
    rows = transactions.count()
    hot = transactions.where(f"terminal_id = {HOT_TERMINAL_ID}").count()
    assert 180_000 < rows < 220_000
    assert abs(hot / rows - HOT_SHARE) < 0.01, hot / rows

    conf = tmp_path / "conf.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                "spark": {
                    "master": "local[2]",
                    "shuffle_partitions": 4,
                    "driver_memory": LIMITS["spark.driver.memory"],
                    "extra": {
                        "spark.executor.pyspark.memory": LIMITS["spark.executor.pyspark.memory"]
                    },
                },
                "lakehouse": {"root": config.lakehouse_root},
                # Terminal 0 (~40,000 rows) is split by time into pieces of ~15,000 rows.
                "features": {"split_entity_rows": SPLIT_ROWS},
            }
        )
    )
    command = [sys.executable, "-m", "fraudspark.cli", "features", "--full", "--conf", str(conf)]
    process = subprocess.Popen(
        command, env={**os.environ, **WORKER_ENV, "PYTHONPATH": str(REPO)}, cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    peak = TreePeak(process.pid)
    output = process.communicate(timeout=600)[0]
    peak_bytes = peak.stop()
    assert process.returncode == 0, output[-3000:]
    assert f"1 terminal(s) above {SPLIT_ROWS} rows split by time, into 3 pieces" in output, output
    # For the record (pytest -s): the JVM and its Python workers together.
    print(f"feature job: {rows} rows, {hot} at terminal 0, peak RSS {peak_bytes / 2**20:.0f} MiB")

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET TimeZone = 'UTC'")
    query = duckdb_windowed_query(config.features, _files(transactions.inputFiles()))
    expected = tmp_path / "duckdb_windowed"
    con.execute(f"COPY ({query}) TO '{expected}' (FORMAT parquet, PARTITION_BY (tx_date))")
    got = _files(read_table(spark, config, FEATURES_WINDOWED).inputFiles())
    agreement = compare(con, got, expected, config.features)
    assert agreement.spark_rows == agreement.duckdb_rows == rows
    assert agreement.mismatching_rows == 0, agreement.by_column
