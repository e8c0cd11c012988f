"""A real Spark standalone cluster on 127.0.0.1 for tests: a master, workers, spark-submit.

The daemons are plain ``spark-class`` JVMs started by the test (``spark-class`` execs java, so
each ``Popen`` pid is the daemon's JVM: a test can kill one). ``worker_python`` makes a Python
that sees every package of this interpreter's environment except fraudspark, so that a job
only runs when the package is shipped with ``--py-files``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pyspark

from fraudspark.session import DELTA_CATALOG, DELTA_SQL_EXTENSION, delta_package

REPO = Path(__file__).resolve().parent.parent
SPARK_HOME = Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster_env(python: str = sys.executable, keep_pythonpath: bool = True) -> dict[str, str]:
    """The environment for daemons and spark-submit; without PYTHONPATH unless kept (a
    PYTHONPATH pointing at the checkout would let executors import fraudspark unshipped)."""
    env = dict(os.environ)
    if not keep_pythonpath:
        env.pop("PYTHONPATH", None)
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_DAEMON_MEMORY="256m",
        PYSPARK_PYTHON=python,
        PYSPARK_DRIVER_PYTHON=python,
    )
    return env


def master_state(ui_port: int) -> dict[str, object]:
    """The master's JSON status page (workers, running and completed applications)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as reply:
            return dict(json.load(reply))
    except OSError:
        return {}


def worker_python(directory: Path) -> str:
    """A venv at ``directory`` whose only site entry is this environment's site-packages, read
    as a plain path: the ``.pth`` files there (fraudspark's editable install) are not run, so
    fraudspark cannot be imported. Takes under a second (no pip). Returns its python."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True, timeout=60
    )
    python = directory / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    parent = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "parent-site-packages.pth").write_text(parent + "\n")
    probe = subprocess.run(
        [str(python), "-c", "import fraudspark"], capture_output=True, env=cluster_env(
            str(python), keep_pythonpath=False), cwd=directory,
    )  # fmt: skip
    if probe.returncode == 0:
        raise RuntimeError(f"{python} can import fraudspark: the test would prove nothing")
    return str(python)


def build_dist(directory: Path, python: str = sys.executable) -> Path:
    """``make dist`` into ``directory``; returns the .zip for ``--py-files``."""
    subprocess.run(
        ["make", "-s", "dist", f"DIST={directory}", f"DIST_PYTHON={python}"],
        cwd=REPO, check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    (zipped,) = directory.glob("fraudspark-*.zip")
    return zipped


class StandaloneCluster:
    """A master and ``workers`` one-core workers on 127.0.0.1, started by :meth:`start`."""

    def __init__(
        self,
        logs: Path,
        workers: int = 2,
        python: str = sys.executable,
        worker_memory: str = "1g",
        keep_pythonpath: bool = True,
    ) -> None:
        self.logs = logs
        self.python = python
        self.env = cluster_env(python, keep_pythonpath)
        self.port, self.ui_port = free_port(), free_port()
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self.worker_memory = worker_memory
        self.count = workers
        self.master: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def _daemon(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("w")
        command = [str(SPARK_HOME / "bin" / "spark-class"), *args]
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)

    def start_worker(self, replace: int | None = None) -> subprocess.Popen[bytes]:
        """Start a worker; ``replace``: the index of a stopped worker it stands in for."""
        i = len(self.workers) if replace is None else replace
        worker = self._daemon(f"worker{i}-{time.monotonic_ns()}", [
            "org.apache.spark.deploy.worker.Worker", self.master_url, "--host", "127.0.0.1",
            "--cores", "1", "--memory", self.worker_memory, "--webui-port", str(free_port()),
            "--work-dir", str(self.logs / f"work{i}"),
        ])  # fmt: skip
        if replace is None:
            self.workers.append(worker)
        else:
            self.workers[replace] = worker
        return worker

    def alive_workers(self) -> int:
        return int(master_state(self.ui_port).get("aliveworkers", 0))  # type: ignore[call-overload]

    def start(self, timeout: float = 300) -> StandaloneCluster:
        self.master = self._daemon("master", [
            "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
            "--port", str(self.port), "--webui-port", str(self.ui_port),
        ])  # fmt: skip
        time.sleep(2)
        for _ in range(self.count):
            self.start_worker()
        deadline = time.monotonic() + timeout
        while self.alive_workers() != self.count:
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"cluster did not come up; see logs in {self.logs}")
            time.sleep(1)
        return self

    def submit_command(
        self, script: Path, args: Sequence[str], py_files: Path | None = None,
        conf: dict[str, str] | None = None,
    ) -> list[str]:  # fmt: skip
        """The spark-submit command line running ``script`` on this cluster."""
        settings = {
            "spark.sql.extensions": DELTA_SQL_EXTENSION,
            "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
            "spark.driver.host": "127.0.0.1",
            "spark.executor.memory": "512m",
            "spark.cores.max": str(self.count),
            "spark.pyspark.python": self.python,
            "spark.pyspark.driver.python": self.python,
            **(conf or {}),
        }
        command = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", self.master_url,
                   "--packages", delta_package()]  # fmt: skip
        for key, value in settings.items():
            command += ["--conf", f"{key}={value}"]
        if py_files is not None:
            command += ["--py-files", str(py_files)]
        return [*command, str(script), *args]

    def submit(
        self, script: Path, args: Sequence[str], cwd: Path, py_files: Path | None = None,
        conf: dict[str, str] | None = None, timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run ``script`` with spark-submit on this cluster and wait for it."""
        return subprocess.run(
            self.submit_command(script, args, py_files, conf), env=self.env,
            capture_output=True, text=True, timeout=timeout, cwd=cwd,
        )  # fmt: skip

    def stop(self) -> None:
        processes = [*self.workers, *([self.master] if self.master else [])]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
