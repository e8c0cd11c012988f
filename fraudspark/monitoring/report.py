"""The monitor's visual report: ``<reports>/<date>/index.html`` beside its PNG plots.

The page links its images by relative path, so it opens from disk in a browser, no server. Plots
are plain matplotlib ``Figure`` objects drawn on the Agg canvas: no pyplot, so nothing global
(no backend switch in a notebook, no figure registry to close).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import date as Date
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

# A column with at most this many distinct values is drawn as bars of value shares.
DISCRETE_MAX_VALUES = 10
HISTOGRAM_BINS = 40
# The importance plot keeps the features most important on the last date, to stay readable.
TREND_FEATURES = 10

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { display: block; max-width: 100%; margin: 1em 0; }
.none { color: #777; font-style: italic; }
"""


def format_summary(summary: pd.DataFrame, max_rows: int | None = None) -> str:
    """The summary as terminal text: a headline naming the drifted features, then the table
    (its first ``max_rows`` rows, drifted and most severe first, when given).

    ``summary`` has at least ``feature`` and ``drifted`` columns (as from ``drift_summary``).
    """
    drifted = summary.loc[summary["drifted"].astype(bool), "feature"].unique().tolist()
    features = summary["feature"].nunique()
    named = f": {', '.join(map(str, drifted))}" if drifted else ""
    headline = f"{len(drifted)} of {features} monitored columns drifted{named}"
    if summary.empty:
        return headline
    shown = summary if max_rows is None else summary.head(max_rows)
    table = shown.to_string(index=False, float_format="{:.4f}".format)
    if len(shown) < len(summary):
        table += f"\n... {len(summary) - len(shown)} more in fraud.drift"
    return f"{headline}\n{table}"


def write_report(
    directory: str | Path,
    *,
    date: Date,
    summary: pd.DataFrame,
    distributions: Mapping[str, tuple[ArrayLike, ArrayLike]],
    scores: tuple[ArrayLike, ArrayLike],
    daily_alerts: pd.DataFrame,
    importance_trend: pd.DataFrame,
    model: str | None = None,
) -> Path:
    """Write ``directory/<date>/index.html`` and its PNGs; return the path of ``index.html``.

    ``distributions`` maps each column to plot (the drifted ones) to its (reference, current)
    values; ``daily_alerts`` has ``date, alerts``; ``importance_trend`` has
    ``date, feature, importance``. An empty frame gives a "no data" note instead of a plot.
    Re-running for a date replaces that date's report, deleting its previous PNGs.
    """
    out = Path(directory) / date.isoformat()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.png"):
        stale.unlink()

    title = " — ".join(["Drift report", *([model] if model else []), date.isoformat()])
    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Summary</h2>", _summary_html(summary)]

    body.append("<h2>Score distribution</h2>")
    _save(_distribution_figure("score", *scores), out / "scores.png")
    body.append(_image("scores.png", "reference and current score distributions"))

    body.append("<h2>Daily alerts</h2>")
    if daily_alerts.empty:
        body.append('<p class="none">No alert history yet.</p>')
    else:
        _save(_daily_alerts_figure(daily_alerts), out / "daily_alerts.png")
        body.append(_image("daily_alerts.png", "alerts per day"))

    body.append("<h2>Drifted features</h2>")
    if not distributions:
        body.append('<p class="none">No feature drifted.</p>')
    for index, (feature, (reference, current)) in enumerate(distributions.items()):
        name = f"distribution_{index:02d}_{re.sub(r'[^A-Za-z0-9_.-]', '_', feature)}.png"
        _save(_distribution_figure(feature, reference, current), out / name)
        body.append(_image(name, f"reference and current distributions of {feature}"))

    body.append("<h2>Feature importance trend</h2>")
    if importance_trend.empty:
        body.append('<p class="none">No importance history yet.</p>')
    else:
        _save(_importance_figure(importance_trend), out / "importance_trend.png")
        body.append(_image("importance_trend.png", "feature importance per day"))

    page = out / "index.html"
    page.write_text(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n",
        encoding="utf-8",
    )
    return page


def _summary_html(summary: pd.DataFrame) -> str:
    headline = html.escape(format_summary(summary).splitlines()[0])
    table = summary.to_html(index=False, float_format="{:.4f}".format, border=0)
    return f"<p>{headline}</p>\n{table}"


def _image(name: str, alt: str) -> str:
    return f'<img src="{html.escape(name)}" alt="{html.escape(alt)}">'


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100)


def _new_figure() -> Figure:
    return Figure(figsize=(8, 3.5), layout="constrained")


def _distribution_figure(name: str, reference: ArrayLike, current: ArrayLike) -> Figure:
    """Reference vs current: bars of value shares if discrete, else density histograms."""
    ref_values = pd.Series(np.asarray(reference).ravel()).dropna().to_numpy()
    cur_values = pd.Series(np.asarray(current).ravel()).dropna().to_numpy()
    figure = _new_figure()
    axes = figure.subplots()
    values = np.unique(np.concatenate([ref_values, cur_values]))
    if values.size <= DISCRETE_MAX_VALUES:
        positions = np.arange(values.size)
        for offset, label, sample in (
            (-0.2, "reference", ref_values),
            (0.2, "current", cur_values),
        ):
            shares = pd.Series(sample).value_counts(normalize=True).reindex(values, fill_value=0)
            axes.bar(positions + offset, shares.to_numpy(), width=0.4, label=label)
        axes.set_xticks(positions, [str(value) for value in values])
        axes.set_ylabel("share of rows")
    else:
        edges = np.histogram_bin_edges(values.astype(np.float64), bins=HISTOGRAM_BINS).tolist()
        for label, sample in (("reference", ref_values), ("current", cur_values)):
            axes.hist(
                sample, bins=edges, density=True, histtype="stepfilled", alpha=0.45, label=label
            )
        axes.set_ylabel("density")
    axes.set_title(name)
    axes.legend()
    return figure


def _daily_alerts_figure(daily_alerts: pd.DataFrame) -> Figure:
    frame = daily_alerts.assign(date=pd.to_datetime(daily_alerts["date"])).sort_values("date")
    figure = _new_figure()
    axes = figure.subplots()
    axes.plot(frame["date"], frame["alerts"], marker="o")
    axes.set_title("alerts per day")
    axes.set_ylabel("alerts")
    axes.set_ylim(bottom=0)
    figure.autofmt_xdate()
    return figure


def _importance_figure(importance_trend: pd.DataFrame) -> Figure:
    trend = importance_trend.assign(date=pd.to_datetime(importance_trend["date"])).pivot_table(
        index="date", columns="feature", values="importance"
    )
    latest = trend.ffill().iloc[-1].sort_values(ascending=False)
    figure = _new_figure()
    axes = figure.subplots()
    for feature in latest.index[:TREND_FEATURES]:
        axes.plot(trend.index, trend[feature], marker=".", label=str(feature))
    axes.set_title(f"feature importance (top {min(TREND_FEATURES, latest.size)} on the last day)")
    axes.set_ylabel("importance")
    axes.legend(fontsize="small", loc="center left", bbox_to_anchor=(1, 0.5))
    figure.autofmt_xdate()
    return figure
