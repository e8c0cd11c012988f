"""Feature definitions: the one place that names every feature and feature group.

Window lengths and the label delay come from :class:`~fraudspark.config.FeatureConfig`; adding a
15-day or a 2-hour window is a configuration change. Both the full and the incremental paths,
the feature store and the models read their column lists from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

from fraudspark.config import FeatureConfig

MICROS_PER_MINUTE = 60 * 1_000_000
MICROS_PER_DAY = 24 * 60 * MICROS_PER_MINUTE

# Columns every feature row carries besides its features.
TRANSACTION_KEYS = ("tx_id", "tx_ts", "tx_date", "customer_id", "terminal_id", "tx_amount")
CALENDAR_FEATURES = ("tx_during_weekend", "tx_during_night")
MONTHLY_MEASURES = ("nb_tx", "avg_amount", "std_amount", "nb_counterparties", "fraud_rate")


# A feature's kind decides its model transform (fraudspark.features.transforms) and its validity
# rule (fraudspark.oversampling.tabular): ``amount`` >= 0, heavy-tailed; ``count`` an integer
# >= 0; ``ratio`` a derived quotient (1 = as usual); ``risk`` a fraud share in [0, 1]; ``flag``
# 0/1; ``missing`` a 0/1 missing-value indicator.
FeatureKind = Literal["amount", "count", "ratio", "risk", "flag", "missing"]
FEATURE_KINDS: tuple[str, ...] = get_args(FeatureKind)

# The declared kind of every store column, by its measure: the column name without its window
# suffix (``cust_nb_tx`` for ``cust_nb_tx_7d`` and ``cust_nb_tx_15m``). A store column whose
# measure is not declared here fails ``feature_fields`` (and tests/test_features.py).
_MONTHLY_KINDS: tuple[tuple[str, FeatureKind], ...] = (
    ("nb_tx", "count"),
    ("avg_amount", "amount"),
    ("std_amount", "amount"),
    ("nb_counterparties", "count"),
    ("fraud_rate", "risk"),
    ("missing", "missing"),
)
MEASURE_KINDS: dict[str, FeatureKind] = {
    "tx_amount": "amount",
    "tx_during_weekend": "flag",
    "tx_during_night": "flag",
    "cust_nb_tx": "count",
    "cust_avg_amount": "amount",
    "term_nb_tx": "count",
    "term_avg_amount": "amount",
    "term_risk": "risk",
    **{
        f"{prefix}_month_{measure}": kind
        for prefix in ("cust", "term")
        for measure, kind in _MONTHLY_KINDS
    },
}
_WINDOW_SUFFIX = re.compile(r"_\d+[md]$")


def declared_kind(name: str) -> FeatureKind | None:
    """The declared kind of a feature-store column (see :data:`MEASURE_KINDS`), else None."""
    if name in MEASURE_KINDS:
        return MEASURE_KINDS[name]
    return MEASURE_KINDS.get(_WINDOW_SUFFIX.sub("", name))


def column_kind(name: str) -> FeatureKind:
    """The declared kind of a feature-store column; ValueError for an undeclared column."""
    kind = declared_kind(name)
    if kind is None:
        raise ValueError(
            f"feature {name!r} has no declared kind: declare its measure in "
            "fraudspark.features.definitions.MEASURE_KINDS"
        )
    return kind


@dataclass(frozen=True)
class FeatureField:
    """One store column: name, Spark SQL type and declared kind."""

    name: str
    dtype: str
    kind: FeatureKind


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

    @property
    def lookback_micros(self) -> int:
        """:attr:`lookback` in microseconds (the unit of ``tx_ts`` in the per-entity pass)."""
        return max(
            (w.length_micros + w.lag_micros for w in self.amount_windows + self.risk_windows),
            default=0,
        )


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


def monthly_missing_indicator(entity: Literal["customer", "terminal"]) -> str:
    """``cust_month_missing`` / ``term_month_missing``: 1 when the monthly values are null."""
    return f"{'cust' if entity == 'customer' else 'term'}_month_missing"


# Spark SQL types of the store columns: counts, flags and indicators are ints, the rest doubles.
_KIND_DTYPES: dict[FeatureKind, str] = {
    "amount": "double",
    "count": "int",
    "ratio": "double",
    "risk": "double",
    "flag": "int",
    "missing": "int",
}


def feature_fields(config: FeatureConfig) -> tuple[FeatureField, ...]:
    """Every numeric model input of the feature store, in store order, with its declared kind.

    ``tx_amount``, the windowed columns, then per entity the monthly columns and their missing
    indicator (the order of :func:`fraudspark.features.store.model_feature_columns`). Raises
    ValueError naming a column whose measure has no declared kind.
    """
    names = ["tx_amount"]
    for group in feature_groups(config):
        names += list(group.columns)
        if group.frequency == "monthly":
            assert group.entity != "transaction"
            names.append(monthly_missing_indicator(group.entity))
    fields = []
    for name in names:
        kind = column_kind(name)
        fields.append(FeatureField(name, _KIND_DTYPES[kind], kind))
    return tuple(fields)
