"""``fraudspark <command> ...``: one entry point that dispatches to the job modules."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from fraudspark.config import ConfigError
from fraudspark.errors import FraudsparkError

# command -> module in fraudspark.cli (each has main(argv) -> int)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("generate", "write simulated raw transaction files"),
    "ingest": ("ingest", "load raw transaction files into fraud.transactions"),
    "ingest-labels": (
        "ingest_labels",
        "merge late fraud labels into fraud.transactions",
    ),
    "sql": ("sql", "run a SQL query against the lakehouse and print the result"),
    "features": ("features", "compute windowed and monthly features (full or by day)"),
    "training-set": ("training_set", "materialise feature-store rows for model training"),
    "train-scorer": ("train_scorer", "train, export and register an anomaly scorer"),
    "oversample": ("oversample", "add synthetic fraud rows to a training set, report quality"),
    "train-classifier": ("train_classifier", "train and register the supervised classifier"),
    "promote": ("promote", "move a registered model's champion alias to a version"),
    "score": ("score", "score feature-store rows into fraud.scores"),
    "evaluate": ("evaluate", "the Fraud Detection Handbook's evaluation protocol"),
    "monitor": ("monitor", "drift, importance trend and report for a scored day"),
    "nightly": ("nightly", "one night: ingest, labels, features, score, monitor"),
    "backfill": ("backfill", "run the nightly pipeline for a range of days"),
    "demo": ("demo", "the README's end-to-end demonstration"),
    "maintain": ("maintain", "OPTIMIZE and VACUUM the tables, keeping recorded versions"),
    "migrate": ("migrate", "bring an existing lakehouse to the current table schemas"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: fraudspark <command> [options]   (fraudspark <command> --help)",
        "",
        "commands:",
    ]
    lines += [f"  {name.ljust(width)}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"fraudspark: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"fraudspark.cli.{COMMANDS[command][0]}")
    try:
        return int(module.main(rest) or 0)
    except FraudsparkError as exc:
        print(f"fraudspark {command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (ConfigError, ValueError) as exc:
        print(f"fraudspark {command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
