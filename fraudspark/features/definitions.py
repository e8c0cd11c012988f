"""Feature definitions: the one place that names every feature and feature group.

Window lengths and the label delay come from :class:`~fraudspark.config.FeatureConfig`; adding a
15-day or a 2-hour window is a configuration change. Both the full and the incremental paths,
the feature store and the models read their column lists from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from fraudspark.config import FeatureConfig

MICROS_PER_MINUTE = 60 * 1_000_000
MICROS_PER_DAY = 24 * 60 * MICROS_PER_MINUTE

# Columns every feature row carries besides its features.
TRANSACTION_KEYS = ("tx_id", "tx_ts", "tx_date", "customer_id", "terminal_id", "tx_amount")
CALENDAR_FEATURES = ("tx_during_weekend", "tx_during_night")
MONTHLY_MEASURES = ("nb_tx", "avg_amount", "std_amount", "nb_counterparties", "fraud_rate")


# A feature's kind decides its model transform and its validity rule (see
# fraudspark.oversampling.tabular): flag 0/1, count (integer >= 0), ratio in [0, 1],
# amount >= 0 (heavy-tailed), real (anything finite).
ColumnKind = Literal["flag", "count", "ratio", "amount", "real"]

# First match wins; a name matching none is "real".
KIND_PATTERNS: tuple[tuple[ColumnKind, re.Pattern[str]], ...] = (
    ("flag", re.compile(r"^(tx_during|is)_|_missing$")),
    ("count", re.compile(r"(^|_)nb(_|$)")),
    ("ratio", re.compile(r"(^|_)(risk|rate)(_|$)")),
    ("amount", re.compile(r"(^|_)amount(_|$)")),
)


def column_kind(name: str) -> ColumnKind:
    """The kind of a feature column, from its name (see the module table)."""
    for kind, pattern in KIND_PATTERNS:
        if pattern.search(name):
            return kind
    return "real"


@dataclass(frozen=True)
class Window:
    """A sliding window over event time: (t - lag - length, t - lag]."""

    length_minutes: int
    lag_minutes: int = 0

    @property
    def suffix(self) -> str:
        """``7d`` for whole days, ``15m`` otherwise (as in ``cust_nb_tx_7d``)."""
        if self.length_minutes % (24 * 60) == 0:
            return f"{self.length_minutes // (24 * 60)}d"
        return f"{self.length_minutes}m"

    @property
    def length_micros(self) -> int:
        return self.length_minutes * MICROS_PER_MINUTE

    @property
    def lag_micros(self) -> int:
        return self.lag_minutes * MICROS_PER_MINUTE

    @property
    def lookback(self) -> timedelta:
        """How far before t the window reaches."""
        return timedelta(minutes=self.length_minutes + self.lag_minutes)


@dataclass(frozen=True)
class WindowSpec:
    """The sliding windows of one entity, and the columns they produce."""

    entity: Literal["customer", "terminal"]
    # Amount windows: count and mean amount, over (t - W, t].
    amount_windows: tuple[Window, ...]
    # Risk windows: count and fraud share, over (t - delay - W, t - delay].
    risk_windows: tuple[Window, ...]

    @property
    def prefix(self) -> str:
        return "cust" if self.entity == "customer" else "term"

    @property
    def key(self) -> str:
        return f"{self.entity}_id"

    def count_column(self, window: Window) -> str:
        return f"{self.prefix}_nb_tx_{window.suffix}"

    def amount_column(self, window: Window) -> str:
        return f"{self.prefix}_avg_amount_{window.suffix}"

    def risk_column(self, window: Window) -> str:
        return f"{self.prefix}_risk_{window.suffix}"

    @property
    def columns(self) -> list[str]:
        names: list[str] = []
        for window in self.risk_windows:
            names += [self.count_column(window), self.risk_column(window)]
        for window in self.amount_windows:
            names += [self.count_column(window), self.amount_column(window)]
        return names

    @property
    def lookback(self) -> timedelta:
        windows = self.amount_windows + self.risk_windows
        return max((w.lookback for w in windows), default=timedelta(0))


def customer_windows(config: FeatureConfig) -> WindowSpec:
    days = tuple(Window(d * 24 * 60) for d in config.customer_day_windows)
    minutes = tuple(Window(m) for m in config.minute_windows)
    return WindowSpec("customer", amount_windows=days + minutes, risk_windows=())


def terminal_windows(config: FeatureConfig) -> WindowSpec:
    delay = config.label_delay_days * 24 * 60
    days = tuple(Window(d * 24 * 60, lag_minutes=delay) for d in config.terminal_day_windows)
    minutes = tuple(Window(m) for m in config.minute_windows)
    return WindowSpec("terminal", amount_windows=minutes, risk_windows=days)


def windowed_feature_columns(config: FeatureConfig) -> list[str]:
    """The feature columns of ``fraud.features_windowed``, in table order."""
    return [
        *CALENDAR_FEATURES,
        *customer_windows(config).columns,
        *terminal_windows(config).columns,
    ]


def history_needed(config: FeatureConfig) -> timedelta:
    """How much history before a day the windowed features of that day read."""
    return max(customer_windows(config).lookback, terminal_windows(config).lookback)


def monthly_feature_columns(entity: Literal["customer", "terminal"]) -> list[str]:
    """Feature-store columns taken from ``fraud.features_monthly`` for one entity."""
    prefix = "cust" if entity == "customer" else "term"
    measures = MONTHLY_MEASURES if entity == "terminal" else MONTHLY_MEASURES[:-1]
    return [f"{prefix}_month_{m}" for m in measures]


@dataclass(frozen=True)
class FeatureGroup:
    """A described set of features: where it lives, what it is keyed and timed by."""

    name: str
    table: str
    entity: Literal["transaction", "customer", "terminal"]
    entity_key: str
    timestamp: str
    frequency: Literal["per_transaction", "monthly"]
    columns: tuple[str, ...]


def feature_groups(config: FeatureConfig) -> tuple[FeatureGroup, ...]:
    """The feature groups the feature store assembles, in column order."""
    return (
        FeatureGroup(
            name="windowed",
            table="features_windowed",
            entity="transaction",
            entity_key="tx_id",
            timestamp="tx_ts",
            frequency="per_transaction",
            columns=tuple(windowed_feature_columns(config)),
        ),
        FeatureGroup(
            name="customer_monthly",
            table="features_monthly",
            entity="customer",
            entity_key="customer_id",
            timestamp="visible_from",
            frequency="monthly",
            columns=tuple(monthly_feature_columns("customer")),
        ),
        FeatureGroup(
            name="terminal_monthly",
            table="features_monthly",
            entity="terminal",
            entity_key="terminal_id",
            timestamp="visible_from",
            frequency="monthly",
            columns=tuple(monthly_feature_columns("terminal")),
        ),
    )
