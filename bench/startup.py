"""The fixed cost of a fresh ``fraudspark`` process, phase by phase.

    python bench/startup.py --lakehouse DIR [--rounds 3] [--variant LABEL=SRC[:CONF]] ...

``DIR`` is a lakehouse holding the tables (e.g. one that ``fraudspark demo`` or
``bench/nightly.py`` wrote). Each round runs, for every variant (a source tree of fraudspark
and a configuration file; by default this checkout with ``conf/local.yaml``):

* **probe**: a fresh Python process doing what ``fraudspark sql "SELECT 1"`` does, with a time
  stamp after each phase: the interpreter's start, importing ``fraudspark.jobs.sql`` (pyspark
  with it), loading the configuration, launching the JVM (``spark-submit``: the launcher, the
  JVM, Ivy's resolution of ``spark.jars.packages``, the Py4J gateway), creating the
  SparkContext and SparkSession (Delta's extension and catalog), registering the tables, the
  first query (``SELECT 1``), a second query on ``fraud.transactions`` (``count(*)``; it pays
  whatever registration left for later), and the process's exit. Ivy's share is read from
  the time stamps of its own log lines on stderr.
* **cli**: the real ``python -m fraudspark.cli sql "SELECT 1" --lakehouse DIR``, timed from
  fork to exit.

Every run reports wall seconds, the CPU seconds of the process tree (Python, JVM, workers) and
how many cores other processes used meanwhile (bench/timing.py). Variants interleave within a
round, so they share the machine's load. ``SRC`` lets a baseline run from another tree, e.g.
``git archive dccb447 | tar -x -C ../base`` then ``--variant before=../base``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from timing import ProcessRun, log, machine_line, run_process

REPO = Path(__file__).resolve().parent.parent
PROBE_QUERY = "SELECT 1"
TABLE_QUERY = "SELECT count(*) FROM {database}.transactions"

# (key, label); consecutive keys bound each phase.
PHASES = [
    ("python_ready", "interpreter start"),
    ("imported", "import fraudspark.jobs.sql (+ pyspark)"),
    ("configured", "load configuration"),
    ("gateway", "launch JVM + Py4J gateway (spark-submit)"),
    ("context", "SparkContext + SparkSession (Delta)"),
    ("register_start", "session settings"),
    ("register_end", "register tables"),
    ("session", "rest of build_spark"),
    ("query", f"first query ({PROBE_QUERY})"),
    ("table_query", "query fraud.transactions (count)"),
    ("exit", "process exit"),
]


# --------------------------------------------------------------------------- child process


def probe(lakehouse: str, conf: str) -> None:
    """Run in a fresh process: time each phase of ``fraudspark sql``; print JSON: per phase
    the epoch seconds at its end and the CPU seconds of this process tree by then."""
    import psutil

    me = psutil.Process()
    marks: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def mark(key: str) -> None:
        marks[key] = time.time()
        total = 0.0
        for process in [me, *me.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        cpu[key] = total

    mark("python_ready")
    import fraudspark.jobs.sql  # noqa: F401  (what the CLI imports for this command)

    import fraudspark.session as session_module
    from fraudspark.config import load_config

    mark("imported")
    config = load_config(conf, lakehouse=lakehouse)
    mark("configured")

    import pyspark.core.context as context_module
    from pyspark.sql import SparkSession

    launch = context_module.launch_gateway

    def timed_launch(*args: object, **kwargs: object) -> object:
        gateway = launch(*args, **kwargs)  # type: ignore[arg-type]
        mark("gateway")
        return gateway

    context_module.launch_gateway = timed_launch  # type: ignore[assignment]
    get_or_create = SparkSession.Builder.getOrCreate

    def timed_get_or_create(self: SparkSession.Builder) -> SparkSession:
        session = get_or_create(self)
        mark("context")
        return session

    SparkSession.Builder.getOrCreate = timed_get_or_create  # type: ignore[method-assign]
    register = session_module.register_tables

    def timed_register(*args: object, **kwargs: object) -> object:
        mark("register_start")
        result = register(*args, **kwargs)  # type: ignore[arg-type]
        mark("register_end")
        return result

    session_module.register_tables = timed_register  # type: ignore[assignment]
    spark = session_module.build_spark(config)
    mark("session")
    spark.sql(PROBE_QUERY).collect()
    mark("query")
    spark.sql(TABLE_QUERY.format(database=config.lakehouse.database)).collect()
    mark("table_query")
    print("PROBE " + json.dumps({"marks": marks, "cpu": cpu}), flush=True)


# --------------------------------------------------------------------------- parent


@dataclass(frozen=True)
class Variant:
    label: str
    source: Path
    conf: Path


@dataclass
class VariantResult:
    phases: dict[str, list[float]] = field(default_factory=dict)
    phases_cpu: dict[str, list[float]] = field(default_factory=dict)
    ivy: list[float] = field(default_factory=list)
    probe_wall: list[float] = field(default_factory=list)
    probe_cpu: list[float] = field(default_factory=list)
    cli_wall: list[float] = field(default_factory=list)
    cli_cpu: list[float] = field(default_factory=list)
    others_cores: list[float] = field(default_factory=list)


def parse_variant(text: str) -> Variant:
    label, _, rest = text.partition("=")
    source, _, conf = rest.partition(":")
    source_path = Path(source or REPO).resolve()
    return Variant(label, source_path, Path(conf or source_path / "conf" / "local.yaml").resolve())


def environment(variant: Variant) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(variant.source)
    env["FRAUDSPARK_CONF"] = str(variant.conf)
    return env


def ivy_seconds(run: ProcessRun) -> float | None:
    """From Ivy's first log line to its last (``:: loading settings`` .. ``retrieved``)."""
    start = run.first(":: loading settings")
    end = run.last("already retrieved")
    return None if start is None or end is None else end - start


def run_round(
    variants: list[Variant], lakehouse: str, results: dict[str, VariantResult], with_cli: bool
) -> None:
    for variant in variants:
        env = environment(variant)
        result = results[variant.label]
        started = time.time()
        command = [sys.executable, __file__, "probe", lakehouse, str(variant.conf)]
        run = run_process(f"{variant.label}: probe", command, env=env, cwd=tempfile.gettempdir())
        line = next(text for _, text in run.stdout if text.startswith("PROBE "))
        payload = json.loads(line.removeprefix("PROBE "))
        marks, cpu = payload["marks"], payload["cpu"]
        marks["exit"] = started + run.sample.wall_s
        cpu["exit"] = run.sample.cpu_s
        previous, previous_cpu = started, 0.0
        for key, _ in PHASES:
            if key in marks:
                result.phases.setdefault(key, []).append(marks[key] - previous)
                result.phases_cpu.setdefault(key, []).append(cpu[key] - previous_cpu)
                previous, previous_cpu = marks[key], cpu[key]
        ivy = ivy_seconds(run)
        if ivy is not None:
            result.ivy.append(ivy)
        result.probe_wall.append(run.sample.wall_s)
        result.probe_cpu.append(run.sample.cpu_s)
        result.others_cores.append(run.sample.others_cores)
        if not with_cli:
            continue
        command = [sys.executable, "-m", "fraudspark.cli", "sql", PROBE_QUERY]
        command += ["--lakehouse", lakehouse]
        cli = run_process(f"{variant.label}: cli", command, env=env, cwd=tempfile.gettempdir())
        result.cli_wall.append(cli.sample.wall_s)
        result.cli_cpu.append(cli.sample.cpu_s)
        result.others_cores.append(cli.sample.others_cores)


def median(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f}" if values else "     -"


def report(variants: list[Variant], results: dict[str, VariantResult], command: str) -> None:
    print()
    print(f"# {command}")
    print(f"# {machine_line()}; medians over rounds, seconds")
    labels = [v.label for v in variants]
    width = max(44, *(len(label) for _, label in PHASES))
    print(
        f"{'phase (wall / CPU of the process tree)':<{width}} "
        + " ".join(f"{label:>15}" for label in labels)
    )
    for key, label in PHASES:
        cells = [
            f"{median(results[v].phases.get(key, []))}/{median(results[v].phases_cpu.get(key, []))}"
            for v in labels
        ]
        print(f"{label:<{width}} " + " ".join(f"{cell:>15}" for cell in cells))
    rows = [
        ("  of which Ivy resolution (from its log lines)", "ivy"),
        ("probe process, wall", "probe_wall"),
        ("probe process, CPU of the tree", "probe_cpu"),
        ('fraudspark sql "SELECT 1", wall', "cli_wall"),
        ('fraudspark sql "SELECT 1", CPU of the tree', "cli_cpu"),
        ("cores used by other processes (mean)", "others_cores"),
    ]
    for label, attribute in rows:
        values = [getattr(results[v], attribute) for v in labels]
        print(f"{label:<{width}} " + " ".join(f"{median(x):>15}" for x in values))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["probe"]:
        probe(args[1], args[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lakehouse", required=True, help="a lakehouse with the tables")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-cli", action="store_true", help="only the probe processes")
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        help="LABEL=SRC[:CONF]: a fraudspark source tree and configuration (repeatable)",
    )
    parsed = parser.parse_args(args)
    variants = parsed.variant or [parse_variant(f"current={REPO}")]
    lakehouse = str(Path(parsed.lakehouse).resolve())
    results = {variant.label: VariantResult() for variant in variants}
    log(f"{machine_line()}; variants: {', '.join(v.label for v in variants)}")
    for number in range(1, parsed.rounds + 1):
        log(f"round {number} of {parsed.rounds}")
        run_round(variants, lakehouse, results, not parsed.no_cli)
        # After every round, so a long run on a busy machine still reports what it measured.
        report(variants, results, "python bench/startup.py " + " ".join(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
