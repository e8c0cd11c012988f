"""A real Spark standalone cluster on 127.0.0.1: master, two workers, spark-submit of ingest."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession

from fraudspark.session import DELTA_CATALOG, DELTA_SQL_EXTENSION, delta_package

REPO = Path(__file__).resolve().parent.parent
SPARK_HOME = Path(pyspark.__file__).parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_DAEMON_MEMORY="256m",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    return env


def master_state(ui_port: int) -> dict[str, object]:
    """The master's JSON status page (workers, running and completed applications)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as reply:
            return dict(json.load(reply))
    except OSError:
        return {}


@pytest.fixture(scope="module")
def standalone_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, int]]:
    """Start a master and two one-core workers; yield (master URL, UI port); stop them all."""
    logs = tmp_path_factory.mktemp("cluster")
    port, ui_port = free_port(), free_port()
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    master_url = f"spark://127.0.0.1:{port}"
    commands = [
        [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui_port),
        ],
    ] + [
        [
            spark_class,
            "org.apache.spark.deploy.worker.Worker",
            master_url,
            "--host",
            "127.0.0.1",
            "--cores",
            "1",
            "--memory",
            "1g",
            "--webui-port",
            str(free_port()),
            "--work-dir",
            str(logs / f"work{i}"),
        ]
        for i in range(2)
    ]
    processes = []
    try:
        for i, command in enumerate(commands):
            log = (logs / f"daemon{i}.log").open("w")
            processes.append(
                subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=cluster_env())
            )
            if i == 0:
                time.sleep(2)
        deadline = time.monotonic() + 120
        while master_state(ui_port).get("aliveworkers", 0) != 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster did not come up; see logs in {logs}")
            time.sleep(1)
        yield master_url, ui_port
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_spark_submit_ingest_on_standalone_cluster(
    standalone_cluster: tuple[str, int], spark: SparkSession, tmp_path: Path
) -> None:
    source = tmp_path / "raw" / "day.csv"
    source.parent.mkdir()
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tx_id", "tx_ts", "customer_id", "terminal_id", "tx_amount", "is_fraud"])
        writer.writerows(
            [[i, f"2025-01-0{1 + i % 3} 12:00:00", i % 5, i % 7, 10.0 + i, 0] for i in range(30)]
            + [[99, "2025-01-01 12:00:00", 1, 1, -5.0, 0]]
        )
    master_url, ui_port = standalone_cluster
    lakehouse = tmp_path / "lakehouse"
    command = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master", master_url,
        "--packages", delta_package(),
        "--conf", f"spark.sql.extensions={DELTA_SQL_EXTENSION}",
        "--conf", f"spark.sql.catalog.spark_catalog={DELTA_CATALOG}",
        "--conf", "spark.driver.host=127.0.0.1",
        "--conf", "spark.executor.memory=512m",
        "--conf", "spark.cores.max=2",
        str(REPO / "jobs" / "ingest.py"),
        "--source", str(source.parent), "--format", "csv", "--lakehouse", str(lakehouse),
    ]  # fmt: skip
    result = subprocess.run(
        command, env=cluster_env(), capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "read 31, accepted 30, quarantined 1, already present 0" in result.stdout
    # The application really ran on the cluster, not in a local master.
    completed = master_state(ui_port).get("completedapps")
    assert isinstance(completed, list) and [app["name"] for app in completed] == ["fraudspark"]
    table = spark.read.format("delta").load(str(lakehouse / "transactions"))
    assert table.count() == 30
    assert sorted(r[0] for r in table.select("tx_id").collect()) == list(range(30))
