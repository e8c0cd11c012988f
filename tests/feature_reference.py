"""A deliberately naive reference for the windowed features: one boolean mask per row.

Written from the feature definitions alone (no prefix sums, no binary search), so agreeing with
it on random data is evidence that the fast path is exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudspark.config import FeatureConfig


def reference_windowed_features(tx: pd.DataFrame, config: FeatureConfig) -> pd.DataFrame:
    """tx: tx_id, tx_ts (datetime64), customer_id, terminal_id, tx_amount, is_fraud (nullable)."""
    out = pd.DataFrame({"tx_id": tx["tx_id"].to_numpy()})
    ts = tx["tx_ts"].to_numpy()
    fraud = tx["is_fraud"].fillna(0).to_numpy(dtype=float)
    amount = tx["tx_amount"].to_numpy(dtype=float)
    out["tx_during_weekend"] = (tx["tx_ts"].dt.dayofweek >= 5).astype(int).to_numpy()
    out["tx_during_night"] = (tx["tx_ts"].dt.hour <= 6).astype(int).to_numpy()
    delay = np.timedelta64(config.label_delay_days, "D")

    def windows(entity: str, prefix: str, lengths: list[np.timedelta64], suffixes: list[str],
                lag: np.timedelta64, risk: bool) -> None:  # fmt: skip
        keys = tx[entity].to_numpy()
        for length, suffix in zip(lengths, suffixes, strict=True):
            counts, values = [], []
            for i in range(len(tx)):
                upper = ts[i] - lag
                mask = (keys == keys[i]) & (ts > upper - length) & (ts <= upper)
                n = int(mask.sum())
                counts.append(n)
                if risk:
                    values.append(fraud[mask].sum() / n if n else 0.0)
                else:
                    values.append(amount[mask].mean())
            out[f"{prefix}_nb_tx_{suffix}"] = counts
            out[f"{prefix}_{'risk' if risk else 'avg_amount'}_{suffix}"] = values

    zero = np.timedelta64(0, "m")
    days = [np.timedelta64(d, "D") for d in config.customer_day_windows]
    minutes = [np.timedelta64(m, "m") for m in config.minute_windows]
    windows("customer_id", "cust", days, [f"{d}d" for d in config.customer_day_windows],
            zero, risk=False)  # fmt: skip
    windows("customer_id", "cust", minutes, [f"{m}m" for m in config.minute_windows],
            zero, risk=False)  # fmt: skip
    term_days = [np.timedelta64(d, "D") for d in config.terminal_day_windows]
    windows("terminal_id", "term", term_days, [f"{d}d" for d in config.terminal_day_windows],
            delay, risk=True)  # fmt: skip
    windows("terminal_id", "term", minutes, [f"{m}m" for m in config.minute_windows],
            zero, risk=False)  # fmt: skip
    return out
