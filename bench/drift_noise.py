"""Drift alarms on days of third-party data: thresholds alone, the significance test with rows
taken as independent, and with each card's and merchant's rows counted by their design effect
(fraudspark.monitoring.drift).

    python bench/drift_noise.py [--data ../shared/data/sparkov-300cards-2023h1.csv.gz]

The Sparkov sample's genuine payments (frauds left out), each June 2023 day compared with the
May days of the same weekday (as the monitor's weekday-matched reference),
on per-payment columns (log amount, night and online flags) and per-card columns (the card's
payments over the last 7 and 30 days: every row of a card shares them). Then every June day
with its amounts x1.5, to show the test keeps its power. Prints the days flagged per setting,
the design effects of one day, and the per-card activity by month (the sample's cards pay more
often in June than in May: a real shift of the count columns, not noise). No timing: this
checks a modelling claim, on data that is not ours.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from fraudspark.monitoring.drift import DriftThresholds, design_effects, feature_drift

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "sparkov-300cards-2023h1.csv.gz"
COLUMNS = ["log_amt", "card_nb_tx_7d", "card_nb_tx_30d", "night", "online"]
BINARY = ["night", "online"]
CLUSTERS = ("cc_num", "merchant")


def payments(path: Path) -> pd.DataFrame:
    """The sample's payments with the monitored columns, in time order."""
    frame = pd.read_csv(
        path, sep="|", usecols=["cc_num", "merchant", "amt", "unix_time", "category", "is_fraud"]
    )
    ts = pd.to_datetime(frame["unix_time"], unit="s")
    frame = frame.assign(
        ts=ts,
        day=ts.dt.date.astype(str),
        weekday=ts.dt.dayofweek,
        night=((ts.dt.hour >= 22) | (ts.dt.hour < 6)).astype(int),
        online=frame["category"].str.endswith("_net").astype(int),
        log_amt=np.log1p(frame["amt"]),
    )
    frame = frame.sort_values("ts").reset_index(drop=True)
    for days in (7, 30):
        column = f"card_nb_tx_{days}d"
        frame[column] = np.nan
        for _, rows in frame.groupby("cc_num"):
            window = rows.set_index("ts")["amt"].rolling(f"{days}D").count()
            frame.loc[rows.index, column] = window.to_numpy()
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    frame = payments(args.data)
    genuine = frame[frame["is_fraud"] == 0]
    may = genuine[(genuine["day"] >= "2023-05-01") & (genuine["day"] <= "2023-05-28")]
    june = [d for d in sorted(genuine["day"].unique()) if "2023-06-01" <= d <= "2023-06-28"]
    settings = {
        "thresholds only": (DriftThresholds(significance=1.0), ()),
        "p <= 0.01, rows independent": (DriftThresholds(), ()),
        "p <= 0.01, design effect (card, merchant)": (DriftThresholds(), CLUSTERS),
    }

    def compare(day: str, thresholds: DriftThresholds, clusters: tuple[str, ...], scale: float = 1):
        current = genuine[genuine["day"] == day]
        if scale != 1:
            current = current.assign(log_amt=np.log1p(current["amt"] * scale))
        reference = may[may["weekday"] == current["weekday"].iloc[0]]
        return feature_drift(reference, current, COLUMNS, BINARY, thresholds, clusters=clusters)

    print(f"# python bench/drift_noise.py --data {args.data}")
    print(f"# {len(june)} June days (genuine payments), each against the May days of its weekday")
    print(f"{'setting':<45} {'days flagged':>12}  flagged comparisons per column")
    for name, (thresholds, clusters) in settings.items():
        flagged: dict[str, int] = {}
        days = 0
        for day in june:
            drift = compare(day, thresholds, clusters)
            hits = drift[drift["drifted"]]
            days += not hits.empty
            for column in hits["feature"]:
                flagged[column] = flagged.get(column, 0) + 1
        print(f"{name:<45} {days:>12}  {flagged}")
    one = genuine[genuine["day"] == june[0]]
    effects = design_effects(one, COLUMNS, CLUSTERS).round(2).to_dict()
    print(
        f"design effects on {june[0]} ({len(one)} rows, {one['cc_num'].nunique()} cards): {effects}"
    )
    caught = sum(
        bool(compare(day, DriftThresholds(), CLUSTERS, scale=1.5).query("feature == 'log_amt'")
             ["drifted"].any())
        for day in june
    )  # fmt: skip
    print(f"amounts x1.5: log_amt flagged on {caught} of {len(june)} days (design effect on)")
    months = frame.assign(month=frame["day"].str[:7]).groupby("month")
    print("mean per-card activity by month (genuine and fraud rows):")
    print(months[["card_nb_tx_7d", "card_nb_tx_30d"]].mean().round(1).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
