"""The short demo, shrunk further: what it writes and what the CLI's tour prints."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest
from pyspark.sql import SparkSession

from fraudspark.cli.demo import print_tour
from fraudspark.config import Config
from fraudspark.pipelines.demo import DemoSettings, demo_sampling_ratio, run_demo
from fraudspark.registry import CLASSIFIER_MODEL_NAMES, MODEL_NAMES


@pytest.mark.parametrize(
    ("frauds", "normals", "expected"),
    [
        (10, 1000, 0.1),  # 1% fraud: the configured 0.1 is above it
        (511, 3345, 2 * 511 / 3345),  # 15% fraud: twice its own share
        (600, 1000, 1.0),  # capped at one fraud per normal row
        (5, 0, 1.0),
    ],
)
def test_the_demo_ratio_is_above_the_training_sets_own(
    frauds: int, normals: int, expected: float
) -> None:
    assert demo_sampling_ratio(0.1, frauds, normals) == pytest.approx(expected)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_short_demo_writes_the_tables_and_prints_the_tour(
    spark: SparkSession, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = DemoSettings(
        customers=200, terminals=400, days=24, nights=2, drift_days=1, training_days=10,
        scorer_epochs=1, gan_method="smote",
    )  # fmt: skip
    reports = tmp_path / "reports"
    config = config.model_copy(
        update={"monitoring": config.monitoring.model_copy(update={"reports_dir": str(reports)})}
    )
    lines: list[str] = []
    result = run_demo(spark, config, str(tmp_path / "raw"), settings, progress=lines.append)

    # Every progress line carries its elapsed seconds; each night reports each step.
    assert all(line.startswith("[") and " s] " in line for line in lines)
    for day in ("2025-01-23", "2025-01-24"):
        for step in ("ingest", "features", "score", "monitor"):
            assert any(f"night {day}: {step} succeeded" in line for line in lines), (day, step)
    # Maintenance once, after the last night.
    assert any("night 2025-01-23: maintain skipped" in line for line in lines), lines
    assert any("night 2025-01-24: maintain succeeded" in line for line in lines), lines

    # Nothing lost: every generated row is in fraud.transactions, every night's row scored
    # once by each of the two models.
    raw = ds.dataset(tmp_path / "raw", format="parquet").count_rows()
    counts = {name: rows for name, rows, _ in result.table_counts}
    assert counts["fraud.transactions"] == raw
    nights = spark.sql(
        "SELECT count(*) FROM fraud.features_windowed WHERE tx_date >= '2025-01-23'"
    ).collect()[0][0]
    assert nights > 0
    assert counts["fraud.scores"] == 2 * nights
    models = {(r.model_name) for r in spark.table("fraud.scores").select("model_name").collect()}
    assert models == {MODEL_NAMES["rapp"], CLASSIFIER_MODEL_NAMES["gbt"]}
    # The drifted night (amounts x1.5) alarms on the amount for the scorer.
    drifted = result.drift[result.drift["monitor_date"].astype(str) == "2025-01-24"]
    assert any("tx_amount" in list(row) for row in drifted["drifted_features"])
    assert result.report == reports / "2025-01-24" / "index.html"
    assert result.report.exists()
    assert list(result.example_result["tx_date"].astype(str))[-2:] == ["2025-01-23", "2025-01-24"]

    print_tour(result, config.lakehouse_root)
    out = capsys.readouterr().out
    for heading in ("== tables", "== the last night's top alerts (2025-01-24)", "== drift",
                    "== monitoring report: ", "== an analyst's question in SQL"):  # fmt: skip
        assert heading in out
    assert "fraud.scores" in out and "tx_amount" in out
