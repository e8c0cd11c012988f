"""The monitor's HTML report: the page, its images, and the terminal summary."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.image import imread

from fraudspark.monitoring.report import format_summary, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUMMARY = pd.DataFrame(
    {
        "feature": ["amount", "weekend", "distance"],
        "metric": ["psi", "linf", "ks"],
        "value": [0.97, 0.30, 0.02],
        "threshold": [0.2, 0.1, 0.1],
        "drifted": [True, True, False],
    }
)


def _write(directory: Path) -> Path:
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-04-20", periods=12, freq="D")
    return write_report(
        directory,
        date=date(2024, 5, 1),
        model="rapp_nap v3",
        summary=SUMMARY,
        distributions={
            "amount": (rng.normal(0, 1, 500), rng.normal(1, 1, 500)),
            "weekend": (rng.random(500) < 0.3, rng.random(500) < 0.6),
        },
        scores=(rng.exponential(1.0, 500), rng.exponential(1.5, 500)),
        daily_alerts=pd.DataFrame({"date": days.date, "alerts": rng.integers(5, 30, days.size)}),
        importance_trend=pd.DataFrame(
            {
                "date": np.repeat(days.date, 2),
                "feature": ["amount", "weekend"] * days.size,
                "importance": rng.random(2 * days.size),
            }
        ),
    )


def test_report_page_links_non_empty_png_plots(tmp_path: Path) -> None:
    page = _write(tmp_path / "reports")
    assert page == tmp_path / "reports" / "2024-05-01" / "index.html"
    text = page.read_text(encoding="utf-8")
    images = re.findall(r'<img src="([^"]+)"', text)
    assert images == [
        "scores.png",
        "daily_alerts.png",
        "distribution_00_amount.png",
        "distribution_01_weekend.png",
        "importance_trend.png",
    ]
    for name in images:
        path = page.parent / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        pixels = imread(path)
        # A drawn plot, not a blank canvas: many distinct colours.
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 10
    assert "Drift report — rapp_nap v3 — 2024-05-01" in text
    assert "2 of 3 monitored columns drifted: amount, weekend" in text
    assert "<td>distance</td>" in text


def test_rerun_replaces_the_previous_plots(tmp_path: Path) -> None:
    stale = tmp_path / "2024-05-01" / "distribution_00_amount.png"
    stale.parent.mkdir()
    stale.write_bytes(PNG_SIGNATURE)
    page = write_report(
        tmp_path,
        date=date(2024, 5, 1),
        summary=SUMMARY.assign(drifted=False),
        distributions={},
        scores=([0.1, 0.2, 0.3], [0.1, 0.2, 0.4]),
        daily_alerts=pd.DataFrame(columns=["date", "alerts"]),
        importance_trend=pd.DataFrame(columns=["date", "feature", "importance"]),
    )
    assert sorted(p.name for p in page.parent.iterdir()) == ["index.html", "scores.png"]
    text = page.read_text(encoding="utf-8")
    assert "No feature drifted." in text and "No alert history yet." in text


def test_format_summary_names_drifted_features_then_the_table() -> None:
    lines = format_summary(SUMMARY).splitlines()
    assert lines[0] == "2 of 3 monitored columns drifted: amount, weekend"
    assert lines[1].split() == ["feature", "metric", "value", "threshold", "drifted"]
    assert lines[2].split() == ["amount", "psi", "0.9700", "0.2000", "True"]


def test_format_summary_shows_the_first_rows_and_counts_the_rest() -> None:
    lines = format_summary(SUMMARY, max_rows=1).splitlines()
    assert lines[0] == "2 of 3 monitored columns drifted: amount, weekend"
    assert [line.split()[0] for line in lines[2:-1]] == ["amount"]
    assert lines[-1] == "... 2 more in fraud.drift"
