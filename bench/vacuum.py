"""VACUUM of every table of a lakehouse: Spark's default file-listing parallelism beside the
settings ``fraudspark maintain`` uses (:func:`fraudspark.pipelines.maintain.vacuum_settings`).

    python bench/vacuum.py --lakehouse LAKEHOUSE [--retain-hours 168]

Each side is one fresh process (session start included), timed from fork to exit
(bench/timing.py), that runs ``VACUUM delta.`<table>` RETAIN N HOURS`` on every table of
``fraudspark.lakehouse.tables.ALL_TABLES`` present and prints each table's seconds. Delta 4.0
lists a table's files with ``spark.sql.sources.parallelPartitionDiscovery.parallelism`` tasks
(10,000 by default), so the baseline pays a fixed cost per table whatever its size. VACUUM with
a retention of at least the tables' own deletes nothing that time travel still needs; run it on
a copy of a lakehouse you care about.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from timing import log, machine_line, run_process

REPO = Path(__file__).resolve().parent.parent
SIDES = ("spark-default", "fraudspark")


def child(lakehouse: str, side: str, retain_hours: int) -> None:
    from fraudspark.config import load_config
    from fraudspark.lakehouse.io import table_exists
    from fraudspark.lakehouse.tables import ALL_TABLES, table_path
    from fraudspark.pipelines.maintain import vacuum_settings
    from fraudspark.session import build_spark, spark_settings

    config = load_config(lakehouse=lakehouse)
    spark = build_spark(config, register=False)
    settings = vacuum_settings(spark) if side == "fraudspark" else {}
    total = 0.0
    with spark_settings(spark, settings):
        for table in ALL_TABLES:
            if not table_exists(spark, config, table):
                continue
            path = table_path(config, table).replace("`", "``")
            started = time.perf_counter()
            spark.sql(f"VACUUM delta.`{path}` RETAIN {retain_hours} HOURS").collect()
            seconds = time.perf_counter() - started
            total += seconds
            print(f"  {table.name:<28} {seconds:7.1f} s", flush=True)
    print(f"  {side}: VACUUM of every table {total:.1f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lakehouse", required=True)
    parser.add_argument("--retain-hours", type=int, default=168)
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.lakehouse, args.child, args.retain_hours)
        return 0
    log(machine_line())
    env = dict(os.environ, PYTHONPATH=str(REPO))
    walls = {}
    for side in SIDES:
        command = [sys.executable, __file__, "--lakehouse", args.lakehouse, "--child", side]
        command += ["--retain-hours", str(args.retain_hours)]
        run = run_process(f"vacuum, {side}", command, env=env)
        for _, line in run.stdout:
            if line.startswith("  "):
                print(line)
        walls[side] = run.sample.wall_s
    print(f"\n# python bench/vacuum.py --lakehouse {args.lakehouse}")
    print(f"# {machine_line()}")
    for side in SIDES:
        print(f"{side:<14} whole process {walls[side]:7.1f} s")
    print(f"speed-up {walls['spark-default'] / walls['fraudspark']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
