"""Timing for every benchmark script: wall time, CPU time of a process tree, and machine load.

The machine is shared, so a wall time alone says little. Every measurement therefore records

* ``wall_s`` -- elapsed seconds (``time.perf_counter``);
* ``cpu_s`` -- CPU seconds (user + system) of the measured process and all its descendants:
  the benchmark itself and Spark's JVM and Python workers for an in-process measurement
  (:func:`measure`), or a fresh OS process and its descendants (:func:`run_process`);
* ``others_cpu_s`` -- CPU seconds every *other* process on the machine used meanwhile (the
  machine's busy time from ``/proc/stat`` minus ``cpu_s``); ``others_cpu_s / wall_s`` is how
  many cores other work kept busy on average, the figure to quote as "machine load";
* ``load_before`` -- the 1-minute load average just before.

Spark's Python daemon ignores SIGCHLD, so the CPU of a worker that exits is added to no parent;
the tree is therefore sampled every ``interval`` seconds (psutil) and the last reading of each
process kept: at most one interval of a process that exits between two samples is lost.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, TypeVar

import psutil

T = TypeVar("T")
CORES = psutil.cpu_count() or 1
SIZE_UNITS = {"K": 1_000, "M": 1_000_000}


def log(message: str) -> None:
    """Print ``[HH:MM:SS] message`` and flush (benchmarks are watched while they run)."""
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def parse_size(text: str) -> int:
    """``"1M"`` -> 1_000_000, ``"300K"`` -> 300_000, ``"5000"`` -> 5000."""
    text = text.strip().upper()
    if text[-1:] in SIZE_UNITS:
        return int(float(text[:-1]) * SIZE_UNITS[text[-1]])
    return int(text)


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _own_cpu(process: psutil.Process) -> float:
    cpu = process.cpu_times()
    return float(cpu.user + cpu.system)


class TreeCpu:
    """CPU seconds used by ``root`` and its descendants while the meter runs (a thread)."""

    def __init__(self, root: int | None = None, interval: float = 0.1) -> None:
        self.root = os.getpid() if root is None else root
        self.interval = interval
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> dict[int, float]:
        try:
            root = psutil.Process(self.root)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return {}
        readings: dict[int, float] = {}
        for process in processes:
            try:
                readings[process.pid] = _own_cpu(process)
            except psutil.Error:
                continue
        return readings

    def _sample(self) -> None:
        self._last.update(self._tree())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> TreeCpu:
        self._start = self._tree()
        self._last = dict(self._start)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling (a last sample is taken first)."""
        if not self._stop.is_set():
            self._sample()
            self._stop.set()
            self._thread.join()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def seconds(self) -> float:
        return sum(last - self._start.get(pid, 0.0) for pid, last in self._last.items())


@dataclass(frozen=True)
class Sample:
    """One timed run."""

    label: str
    wall_s: float
    cpu_s: float
    others_cpu_s: float
    load_before: float

    @property
    def others_cores(self) -> float:
        """Cores other processes kept busy on average during the run (0 .. CORES)."""
        return self.others_cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def line(self) -> str:
        return (
            f"{self.label}: {self.wall_s:.1f} s wall, {self.cpu_s:.1f} s CPU; machine: other "
            f"processes used {self.others_cores:.2f} of {CORES} cores, load before "
            f"{self.load_before:.2f}"
        )


class _Machine:
    """Busy time of the machine around a run, to separate our CPU from everyone else's."""

    def __init__(self) -> None:
        self.load_before = os.getloadavg()[0]
        self.busy_before = _busy_seconds()

    def others(self, own_cpu: float) -> float:
        return max(0.0, _busy_seconds() - self.busy_before - own_cpu)


def measure(label: str, action: Callable[[], T], quiet: bool = False) -> tuple[T, Sample]:
    """Run ``action`` in this process and time it (this process tree's CPU: Spark's JVM and its
    Python workers included). Logs the sample unless ``quiet``."""
    machine = _Machine()
    with TreeCpu() as meter:
        started = time.perf_counter()
        result = action()
        wall = time.perf_counter() - started
    sample = Sample(label, wall, meter.seconds, machine.others(meter.seconds), machine.load_before)
    if not quiet:
        log(sample.line())
    return result, sample


@dataclass
class ProcessRun:
    """A fresh OS process run by :func:`run_process`: its timing and its output lines, each with
    the seconds since the process was started at which the line arrived."""

    sample: Sample
    returncode: int
    stdout: list[tuple[float, str]]
    stderr: list[tuple[float, str]]

    @property
    def stdout_text(self) -> str:
        return "\n".join(line for _, line in self.stdout)

    def first(self, needle: str, stream: str = "stderr") -> float | None:
        """Seconds after start at which the first line containing ``needle`` arrived."""
        for at, line in self.stdout if stream == "stdout" else self.stderr:
            if needle in line:
                return at
        return None

    def last(self, needle: str, stream: str = "stderr") -> float | None:
        found = None
        for at, line in self.stdout if stream == "stdout" else self.stderr:
            if needle in line:
                found = at
        return found


def _collect(
    stream: IO[str], started: float, into: list[tuple[float, str]], echo: bool, prefix: str
) -> None:
    for line in stream:
        into.append((time.perf_counter() - started, line.rstrip("\n")))
        if echo:
            print(f"{prefix}{line}", end="", flush=True)


def run_process(
    label: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    echo: bool = False,
    check: bool = True,
    quiet: bool = False,
) -> ProcessRun:
    """Run ``argv`` as a fresh OS process and time it from ``fork`` to exit.

    CPU is that of the process and all its descendants (e.g. the CLI's Python, the JVM it
    starts and the JVM's Python workers). Every output line is kept with its arrival time, so
    phases can be read from log lines. Raises ``RuntimeError`` with the tail of stderr when the
    process fails and ``check`` is true.
    """
    full_env = dict(os.environ if env is None else env)
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    machine = _Machine()
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv),
        env=full_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    out: list[tuple[float, str]] = []
    err: list[tuple[float, str]] = []
    assert process.stdout is not None and process.stderr is not None
    readers = [
        threading.Thread(target=_collect, args=(process.stdout, started, out, echo, "  | ")),
        threading.Thread(target=_collect, args=(process.stderr, started, err, False, "")),
    ]
    with TreeCpu(process.pid) as meter:
        for reader in readers:
            reader.start()
        # Sample the tree until the root exits; its last readings are the ones kept.
        while process.poll() is None:
            time.sleep(0.05)
        wall = time.perf_counter() - started
    for reader in readers:
        reader.join()
    sample = Sample(label, wall, meter.seconds, machine.others(meter.seconds), machine.load_before)
    if not quiet:
        log(sample.line())
    if check and process.returncode != 0:
        tail = "\n".join(line for _, line in err[-30:])
        raise RuntimeError(f"{label}: {' '.join(argv)} exited with {process.returncode}:\n{tail}")
    return ProcessRun(sample, process.returncode, out, err)


@dataclass
class Series:
    """Several samples of one variant: medians of wall and CPU time."""

    samples: list[Sample] = field(default_factory=list)

    def add(self, sample: Sample) -> Sample:
        self.samples.append(sample)
        return sample

    @property
    def wall(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu_s for s in self.samples)

    @property
    def others_cores(self) -> float:
        return statistics.mean(s.others_cores for s in self.samples)

    @property
    def load_before(self) -> float:
        return statistics.mean(s.load_before for s in self.samples)

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": [s.wall_s for s in self.samples],
            "cpu_s": [s.cpu_s for s in self.samples],
            "others_cpu_s": [s.others_cpu_s for s in self.samples],
            "load_before": [s.load_before for s in self.samples],
        }


def machine_line() -> str:
    """Cores, memory and the load averages now."""
    memory = psutil.virtual_memory().total / 2**30
    loads = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{CORES} cores, {memory:.0f} GiB RAM, load average {loads}"
