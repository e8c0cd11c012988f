"""The driver JVM's options against the JVM's defaults: one fraudspark command, fresh processes.

    python bench/jvm_options.py --lakehouse DIR --command "features --full" [--repeat 2]
    python bench/jvm_options.py --lakehouse DIR --repeat 2 \\
        --command "nightly --date 2025-06-30 --source DIR/nights/day=2025-06-30 --from-step ingest"

Runs ``fraudspark <command> --conf <variant> --lakehouse DIR`` as a fresh process per variant,
the variants alternating within each round (so a change of the machine's load falls on all of
them), and prints each variant's median wall and CPU seconds (bench/timing.py: the process
tree, Spark's JVM and Python workers included) beside the JVM's defaults. A variant's
configuration is ``--conf`` with only ``spark.driver_java_options`` and
``spark.class_data_sharing`` changed:

* ``default``: none (the JVM's defaults: tiered C1/C2 compilation, G1), no class archive;
* ``tuned``: fraudspark's defaults, ``fraudspark.config.DRIVER_JAVA_OPTIONS`` and the class-data
  sharing archive (fraudspark/class_sharing.py; written by the first run if absent, so run
  the command once before timing);
* ``tuned-no-cds``: ``DRIVER_JAVA_OPTIONS`` without the archive;
* ``serial``: the serial collector alone;
* ``c1``: the client compiler alone and the serial collector (what the tests' JVMs use,
  tests/jvm.py).

The data is prepared beforehand (bench/nightly.py --prepare-only, bench/features.py --mode
prepare) and not timed. A command that writes must be idempotent to be repeated (``features
--full`` overwrites; a night needs ``--from-step ingest``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

import yaml
from timing import Series, log, machine_line, run_process

from fraudspark.config import DRIVER_JAVA_OPTIONS

REPO = Path(__file__).resolve().parent.parent
# name -> (spark.driver_java_options, spark.class_data_sharing)
VARIANTS: dict[str, tuple[str | None, bool]] = {
    "default": (None, False),
    "tuned": (DRIVER_JAVA_OPTIONS, True),
    "tuned-no-cds": (DRIVER_JAVA_OPTIONS, False),
    "serial": ("-XX:+UseSerialGC", False),
    "c1": ("-XX:TieredStopAtLevel=1 -XX:+UseSerialGC", False),
}


def variant_conf(base: Path, name: str, folder: Path) -> Path:
    """``base`` with variant ``name``'s JVM settings, written under ``folder``."""
    settings = yaml.safe_load(base.read_text()) or {}
    options, sharing = VARIANTS[name]
    settings.setdefault("spark", {}).update(driver_java_options=options, class_data_sharing=sharing)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lakehouse", required=True, help="a prepared lakehouse")
    parser.add_argument("--command", required=True, help='e.g. "features --full"')
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--variants", default="default,tuned", help=",".join(VARIANTS))
    parser.add_argument("--repeat", type=int, default=1, help="rounds (each runs every variant)")
    args = parser.parse_args()
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}: one of {', '.join(VARIANTS)}")
    env = dict(os.environ, PYTHONPATH=str(REPO), TZ="UTC")
    folder = Path(tempfile.mkdtemp(prefix="fraudspark-jvm-options-"))
    confs = {name: variant_conf(Path(args.conf), name, folder) for name in names}
    series = {name: Series() for name in names}
    log(machine_line())
    for round_ in range(args.repeat):
        for name in names:
            command = [
                sys.executable,
                "-m",
                "fraudspark.cli",
                *shlex.split(args.command),
                "--conf",
                str(confs[name]),
                "--lakehouse",
                args.lakehouse,
            ]
            run = run_process(f"{name} (round {round_ + 1})", command, env=env)
            series[name].add(run.sample)
    print()
    print(f"# python bench/jvm_options.py {' '.join(shlex.quote(a) for a in sys.argv[1:])}")
    print(f"# {machine_line()}")
    print("| driver JVM options | wall s (median) | CPU s (median) | others' cores | runs |")
    print("|---|---|---|---|---|")
    baseline = series.get("default")
    for name in names:
        runs = series[name]
        ratio = ""
        if baseline is not None and name != "default":
            ratio = f" ({runs.wall / baseline.wall:.2f}x default)"
        print(
            f"| {name}: `{VARIANTS[name][0] or 'JVM defaults'}`"
            f"{', class archive' if VARIANTS[name][1] else ''} | {runs.wall:.1f}{ratio} | "
            f"{runs.cpu:.1f} | {runs.others_cores:.2f} | "
            f"{len(runs.samples)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
