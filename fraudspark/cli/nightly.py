"""fraudspark nightly --date D [--source PATH] [--labels PATH] [--format F | --mapping M]
[--from-step S | --only S]"""

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
from fraudspark.pipelines.nightly import STEPS, NightInputs, last_statuses, run_night


def main(argv: Sequence[str]) -> int:
    parser = job_parser(
        "nightly",
        "Ingest, label, featurise, score, monitor and (if configured) maintain one night, "
        "resuming on re-run.",
    )
    parser.add_argument("--date", type=iso_date, required=True, help="the night's business day")
    parser.add_argument("--source", help="the day's raw transaction files (else ingest skips)")
    reader = parser.add_mutually_exclusive_group()
    reader.add_argument(
        "--format", choices=SOURCE_FORMATS, help="contract layout (default parquet)"
    )
    reader.add_argument("--mapping", help=MAPPING_HELP + " (also used for --labels)")
    parser.add_argument("--labels", help="late labels (tx_id, is_fraud) arrived today, CSV")
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument("--from-step", choices=STEPS, help="re-run this step and all after it")
    steps.add_argument("--only", choices=STEPS, help="run just this step")
    args = parser.parse_args(argv)
    config = job_config(args)
    # Announced before the session starts: the lock's settle delay passes while Spark starts.
    lock = night_lock(config, args.date)
    lock.announce()
    # The night's statuses are its first read: a cold JVM takes seconds, the lock's settle
    # delay passes meanwhile, and the imports of the steps overlap it.
    spark = job_session(
        config,
        preload=NIGHT_MODULES,
        warm_up=lambda spark: last_statuses(spark, config, args.date),
    )
    night = NightInputs(args.date, args.source, args.labels, args.format, args.mapping)
    run_night(
        spark, config, night, from_step=args.from_step, only=args.only, progress=print, lock=lock
    )
    return 0
