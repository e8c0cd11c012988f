"""fraudspark backfill --start D --end D [--raw DIR] [--format F | --mapping M]"""

from __future__ import annotations

from collections.abc import Sequence

from fraudspark.cli.common import (
    MAPPING_HELP,
    NIGHT_MODULES,
    iso_date,
    job_config,
    job_parser,
    job_session,
)
from fraudspark.ingest.sources import SOURCE_FORMATS
from fraudspark.lakehouse.lock import night_lock
from fraudspark.pipelines.nightly import backfill, last_statuses


def main(argv: Sequence[str]) -> int:
    parser = job_parser("backfill", "Run the nightly pipeline for each day of a range, in order.")
    parser.add_argument("--start", type=iso_date, required=True)
    parser.add_argument("--end", type=iso_date, required=True)
    parser.add_argument("--raw", help="raw root laid out as day=YYYY-MM-DD (ingests each day)")
    reader = parser.add_mutually_exclusive_group()
    reader.add_argument(
        "--format", choices=SOURCE_FORMATS, help="contract layout (default parquet)"
    )
    reader.add_argument("--mapping", help=MAPPING_HELP)
    args = parser.parse_args(argv)
    config = job_config(args)
    # Announced before the session starts, as `fraudspark nightly` does.
    first_lock = night_lock(config, args.start)
    first_lock.announce()
    spark = job_session(
        config,
        preload=NIGHT_MODULES,
        warm_up=lambda spark: last_statuses(spark, config, args.start),  # as `nightly` does
    )
    backfill(
        spark, config, args.start, args.end, args.raw, args.format, args.mapping, progress=print,
        first_lock=first_lock,
    )  # fmt: skip
    return 0
