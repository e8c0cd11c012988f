"""What every job shares: the common arguments and the session it runs in."""

from __future__ import annotations

import argparse
import logging
from datetime import date

from pyspark.sql import SparkSession

from fraudspark.config import Config, load_config
from fraudspark.session import build_spark


def job_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every command takes: --conf and --lakehouse."""
    parser = argparse.ArgumentParser(prog=f"fraudspark {prog}", description=description)
    parser.add_argument(
        "--conf",
        default=None,
        help="YAML configuration (default: $FRAUDSPARK_CONF or conf/local.yaml)",
    )
    parser.add_argument("--lakehouse", default=None, help="lakehouse root, overrides the config")
    return parser


def job_config(args: argparse.Namespace) -> Config:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return load_config(args.conf, lakehouse=args.lakehouse)


def job_session(config: Config, catalog: bool = False) -> SparkSession:
    """The job's Spark session; ``catalog`` registers every ``fraud.*`` table first (for
    commands that run SQL on table names: the others read and write by path)."""
    return build_spark(config, register=catalog)


def iso_date(text: str) -> date:
    """argparse type for YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
