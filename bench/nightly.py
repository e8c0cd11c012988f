"""One night end to end, as a fresh ``fraudspark nightly --date D`` process, on a prepared history.

    python bench/nightly.py [--tx-per-day 30K] [--history-days 180] [--workdir DIR] [--repeat 1]

Preparation (untimed, cached under ``--workdir``; every step is the CLI command as a user runs
it, one fresh process each): ``fraudspark generate`` writes ``history-days + 1`` days of raw
files (customers = tx-per-day / 2, the simulator's mean daily rate per customer being
``tx_per_day_max / 2`` = 2; terminals = 2 x customers); the last day's directory is moved
aside as the night's input; ``ingest`` the history; ``features --full``; ``training-set`` on
the last 14 days of the history; ``train-scorer`` RaPP and the autoencoder on the same days
(two registered champions).

Timed: ``fraudspark nightly --date D --source <the night's raw files>`` from fork to exit (wall,
CPU of the process tree, the cores other processes used meanwhile: bench/timing.py), then each
step's duration as the night recorded it in ``fraud.runs`` (read afterwards with
``fraudspark sql``). The rest of the wall time (process start, session, registration, exit) is
printed as "outside the steps". A second run of the same night would skip every step that
succeeded, so every run passes ``--from-step ingest`` (every step recomputed; the writes are
idempotent), the first included.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from timing import Series, log, machine_line, parse_size, run_process

REPO = Path(__file__).resolve().parent.parent
START = date(2025, 1, 1)
TRAINING_DAYS = 14
SCORERS = ("rapp", "ae")
TARGETS = {30_000: 60.0, 300_000: 150.0}  # issue 12: a night's wall seconds


def cli(args: argparse.Namespace, lakehouse: Path, *command: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "fraudspark.cli",
        *command,
        "--conf",
        args.conf,
        "--lakehouse",
        str(lakehouse),
    ]


def prepare(args: argparse.Namespace, root: Path, env: dict[str, str]) -> tuple[Path, date]:
    """Generate, ingest, featurise, train and register once; returns (night source, night)."""
    tx_per_day = parse_size(args.tx_per_day)
    customers = max(1, tx_per_day // 2)
    lakehouse, raw, nights = root / "lakehouse", root / "raw", root / "nights"
    night = START + timedelta(days=args.history_days)
    marker = root / "prepared.json"
    if marker.exists():
        log(f"reusing {root}")
        return nights / f"day={night}", night
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    last_history = night - timedelta(days=1)
    train_start = last_history - timedelta(days=TRAINING_DAYS - 1)
    steps: list[tuple[str, list[str]]] = [
        (
            "generate",
            [
                *cli(args, lakehouse, "generate", "--out", str(raw), "--customers", str(customers)),
                "--terminals",
                str(2 * customers),
                "--days",
                str(args.history_days + 1),
                "--start-date",
                str(START),
                "--seed",
                "7",
            ],
        ),
        ("move the night aside", []),
        ("ingest", cli(args, lakehouse, "ingest", "--source", str(raw))),
        ("features", cli(args, lakehouse, "features", "--full")),
        (
            "training set",
            [
                *cli(args, lakehouse, "training-set", "--name", "bench-train"),
                "--start",
                str(train_start),
                "--end",
                str(last_history),
            ],
        ),
    ]
    steps += [
        (
            f"train {kind}",
            [
                *cli(args, lakehouse, "train-scorer", "--kind", kind, "--epochs", str(args.epochs)),
                "--start",
                str(train_start),
                "--end",
                str(last_history),
            ],
        )
        for kind in SCORERS
    ]
    for name, command in steps:
        if not command:
            nights.mkdir(parents=True, exist_ok=True)
            shutil.move(str(raw / f"day={night}"), str(nights / f"day={night}"))
            continue
        run = run_process(f"prepare: {name} (untimed)", command, env=env)
        for _, line in run.stdout[-3:]:
            log(f"  {line}")
    marker.write_text(json.dumps({"tx_per_day": tx_per_day, "night": str(night)}))
    return nights / f"day={night}", night


def step_durations(
    args: argparse.Namespace, lakehouse: Path, night: date, env: dict[str, str]
) -> list[dict[str, str]]:
    """The night's latest attempt per step from fraud.runs (read by ``fraudspark sql``)."""
    out = Path(tempfile.mkdtemp()) / "runs.csv"
    query = (
        "SELECT step, max_by(status, started_at) AS status, "
        "max_by(duration_s, started_at) AS duration_s, max(started_at) AS started_at "
        f"FROM fraud.runs WHERE run_date = '{night}' GROUP BY step ORDER BY started_at"
    )
    run_process(
        "read fraud.runs (untimed)",
        cli(args, lakehouse, "sql", query, "--output", str(out)),
        env=env,
        quiet=True,
    )
    rows: list[dict[str, str]] = []
    for part in sorted(out.glob("*.csv")):
        with part.open() as handle:
            rows += list(csv.DictReader(handle))
    shutil.rmtree(out.parent, ignore_errors=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tx-per-day", default="30K", help="transactions per day, e.g. 30K")
    parser.add_argument("--history-days", type=int, default=180)
    parser.add_argument("--epochs", type=int, default=5, help="scorer training epochs (prep)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--workdir", default=str(Path(tempfile.gettempdir()) / "fraudspark-bench-nightly")
    )
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="prepare (and cache) the history, time nothing: run the timed part later, quietly",
    )
    args = parser.parse_args()
    command = "python bench/nightly.py " + " ".join(sys.argv[1:])
    tx_per_day = parse_size(args.tx_per_day)
    root = Path(args.workdir).resolve() / f"tx{tx_per_day}-d{args.history_days}"
    env = dict(os.environ, PYTHONPATH=str(REPO), TZ="UTC")
    log(machine_line())
    source, night = prepare(args, root, env)
    if args.prepare_only:
        log(f"prepared {root}; night {night} from {source}")
        return 0
    lakehouse = root / "lakehouse"
    series = Series()
    steps: list[dict[str, str]] = []
    for attempt in range(args.repeat):
        # Every run recomputes every step: without --from-step, a night the prepared lakehouse
        # already ran (an earlier bench) is "already complete" and would time a no-op.
        night_command = cli(
            args, lakehouse, "nightly", "--date", str(night), "--source", str(source),
            "--from-step", "ingest",
        )  # fmt: skip
        run = run_process(f"nightly --date {night} (run {attempt + 1})", night_command, env=env)
        series.add(run.sample)
        steps = step_durations(args, lakehouse, night, env)
    print()
    print(f"# {command}")
    print(f"# {machine_line()}")
    print(f"# {tx_per_day:,} transactions a day, {args.history_days}-day history; night {night}")
    print(f"{'step (last run, from fraud.runs)':<34} {'status':>10} {'seconds':>8}")
    total = 0.0
    for row in steps:
        seconds = float(row["duration_s"])
        total += seconds
        print(f"{row['step']:<34} {row['status']:>10} {seconds:>8.1f}")
    last = series.samples[-1]
    print(f"{'outside the steps (start, exit)':<34} {'':>10} {last.wall_s - total:>8.1f}")
    print(
        f"whole process: {series.wall:.1f} s wall (median of {len(series.samples)}), "
        f"{series.cpu:.1f} s CPU; other processes used {series.others_cores:.2f} cores"
    )
    monitor = sum(float(r["duration_s"]) for r in steps if r["step"] == "monitor")
    target = TARGETS.get(tx_per_day)
    if target is not None:
        verdict = "met" if series.wall <= target else "MISSED"
        print(f"target: a night <= {target:.0f} s: {series.wall:.1f} s {verdict}")
    share = monitor / last.wall_s if last.wall_s else 0.0
    print(f"target: monitor <= 20% of the night: {share:.0%} {'met' if share <= 0.2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
