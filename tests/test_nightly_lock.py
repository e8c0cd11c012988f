"""Three `fraudspark nightly` processes started together on one lakehouse: the later date, the
earlier date and the earlier date again. They run one at a time, in date order, the repeated
night changes nothing, and the tables equal two sequential runs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml
from pyspark.sql import SparkSession

from fraudspark.config import Config
from fraudspark.lakehouse.checksum import table_checksum
from fraudspark.pipelines.nightly import NightInputs, day_source, run_night
from fraudspark.simulate.generator import generate_transactions, write_raw
from tests.jvm import DRIVER_JAVA_OPTIONS

pytestmark = [pytest.mark.slow, pytest.mark.solo]

REPO = Path(__file__).resolve().parent.parent
START = date(2025, 1, 1)
FIRST, SECOND = date(2025, 1, 4), date(2025, 1, 5)
TABLES = {
    "transactions": ("ingested_at", "label_updated_at"),
    "features_windowed": (),
    "features_monthly": (),
}


def test_nights_started_together_run_one_at_a_time_in_date_order(
    spark: SparkSession, config: Config, tmp_path: Path
) -> None:
    frame = generate_transactions(
        spark, Config().generator, customers=100, terminals=50, days=5, start_date=START, seed=9
    )
    raw = tmp_path / "raw"
    write_raw(frame.where(f"tx_ts < '{FIRST}'"), str(tmp_path / "history"), "parquet")
    write_raw(frame.where(f"tx_ts >= '{FIRST}'"), str(raw), "parquet")
    # The history before the first night, ingested by an earlier night.
    run_night(spark, config, NightInputs(date(2025, 1, 3), str(tmp_path / "history")))
    reference = config.with_lakehouse(str(tmp_path / "reference"))
    run_night(spark, reference, NightInputs(date(2025, 1, 3), str(tmp_path / "history")))
    for night in (FIRST, SECOND):
        run_night(spark, reference, NightInputs(night, day_source(str(raw), night)))

    conf = tmp_path / "conf.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                "spark": {
                    "master": "local[1]",
                    "shuffle_partitions": 2,
                    "driver_memory": "1g",
                    "driver_java_options": DRIVER_JAVA_OPTIONS,
                },
                "lakehouse": {"root": config.lakehouse_root},
                "monitoring": {"reports_dir": str(tmp_path / "reports")},
                # Each process leaves its waiting ticket once Python has imported the CLI,
                # before its JVM starts (NightLock.announce); on a loaded machine the three
                # imports can still be seconds apart.
                "nightly": {"lock_settle_seconds": 10, "lock_heartbeat_seconds": 2},
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = {}
    for name, night in [("second", SECOND), ("first", FIRST), ("first-again", FIRST)]:
        command = [sys.executable, "-m", "fraudspark.cli", "nightly", "--date", str(night),
                   "--source", str(day_source(str(raw), night)), "--conf", str(conf)]  # fmt: skip
        processes[name] = subprocess.Popen(
            command, env=env, cwd=tmp_path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
    outputs = {name: p.communicate(timeout=900)[0] for name, p in processes.items()}
    for name, process in processes.items():
        assert process.returncode == 0, outputs[name][-3000:]
    # One of the two runs of the first night ran it, the other found it complete.
    complete = [f"night {FIRST}: already complete" in outputs[n] for n in ("first", "first-again")]
    assert sorted(complete) == [False, True]

    runs = spark.sql(
        f"SELECT run_id, run_date, min(started_at) AS began, "
        f"max(started_at + make_dt_interval(0, 0, 0, duration_s)) AS ended "
        f"FROM delta.`{config.lakehouse_root}/runs` WHERE run_date >= '{FIRST}' "
        f"GROUP BY run_id, run_date ORDER BY began"
    ).collect()
    # Two runs, one per night, the earlier night first, not overlapping.
    assert [r.run_date for r in runs] == [FIRST, SECOND]
    assert runs[0].ended <= runs[1].began
    for table, excluded in TABLES.items():
        assert table_checksum(spark, f"{config.lakehouse_root}/{table}", excluded) == (
            table_checksum(spark, f"{reference.lakehouse_root}/{table}", excluded)
        ), table
