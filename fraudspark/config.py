"""Typed configuration loaded from YAML.

One file per environment (``conf/local.yaml``, ``conf/cluster.yaml``); every key has a default
here, so a file only states what differs. ``${VAR}`` and ``${VAR:-default}`` are expanded from the
environment. An unknown key or a bad value raises :class:`ConfigError` naming the file and key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONF = Path(__file__).resolve().parent.parent / "conf" / "local.yaml"


class ConfigError(ValueError):
    """A configuration file could not be read or failed validation."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConfig(_Strict):
    master: str = "local[*]"
    app_name: str = "fraudspark"
    driver_host: str = "127.0.0.1"
    shuffle_partitions: int = Field(default=8, ge=1)
    driver_memory: str = "4g"
    ui_enabled: bool = False
    # Where the Delta jars are kept once Ivy has resolved them (spark.jars.packages) on the first
    # start; later starts pass them as spark.jars and skip Ivy. None: resolve with Ivy every time.
    jars_dir: str | None = "~/.cache/fraudspark/jars"
    # Anything else Spark accepts, passed through verbatim.
    extra: dict[str, str] = Field(default_factory=dict)


class LakehouseConfig(_Strict):
    root: str = "./lakehouse"
    database: str = "fraud"

    @field_validator("database")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"not a SQL identifier: {value!r}")
        return value


class IngestConfig(_Strict):
    # A transaction stamped later than ingest time + this is impossible and quarantined.
    max_future_seconds: int = Field(default=86_400, ge=0)


class GeneratorConfig(_Strict):
    """Parameters of the payment simulator (after the Fraud Detection Handbook's)."""

    area_size: float = Field(default=100.0, gt=0)
    terminal_radius: float = Field(default=5.0, gt=0)
    amount_mean_min: float = Field(default=5.0, gt=0)
    amount_mean_max: float = Field(default=100.0, gt=0)
    tx_per_day_max: float = Field(default=4.0, gt=0)
    # Scenario 1: every amount above this is fraud.
    high_amount_threshold: float = Field(default=220.0, gt=0)
    # Scenario 2: terminals compromised per day; all their transactions for the period are fraud.
    compromised_terminals_per_day: float = Field(default=2.0, ge=0)
    compromised_terminal_days: int = Field(default=28, ge=1)
    # Scenario 3: customers compromised per day; a share of their transactions are fraud, x5.
    compromised_customers_per_day: float = Field(default=3.0, ge=0)
    compromised_customer_days: int = Field(default=14, ge=1)
    compromised_customer_share: float = Field(default=1 / 3, ge=0, le=1)
    compromised_customer_amount_factor: float = Field(default=5.0, gt=0)
    # Scenario 4: card testing, a burst of small payments within minutes, per customer-day.
    card_testing_rate: float = Field(default=0.0005, ge=0, le=1)
    card_testing_burst_min: int = Field(default=4, ge=1)
    card_testing_burst_max: int = Field(default=8, ge=1)
    card_testing_max_amount: float = Field(default=3.0, gt=0)
    card_testing_span_minutes: float = Field(default=10.0, gt=0)
    # Scenario 5: account takeover, payments at terminals far from home, per customer-day.
    account_takeover_rate: float = Field(default=0.0005, ge=0, le=1)
    account_takeover_tx_min: int = Field(default=2, ge=1)
    account_takeover_tx_max: int = Field(default=5, ge=1)
    account_takeover_min_distance: float = Field(default=40.0, ge=0)
    # Injected drift (generate --drift-from D): amounts are multiplied by this from day D.
    drift_amount_factor: float = Field(default=1.5, gt=0)


class FeatureConfig(_Strict):
    customer_day_windows: list[int] = Field(default_factory=lambda: [1, 7, 30])
    terminal_day_windows: list[int] = Field(default_factory=lambda: [1, 7, 30])
    minute_windows: list[int] = Field(default_factory=lambda: [15, 30, 60])
    # Fraud labels of a transaction are assumed known this many days after it.
    label_delay_days: int = Field(default=7, ge=0)
    # A monthly value is forward-filled for at most this many months, then null.
    monthly_staleness_months: int = Field(default=2, ge=0)

    @field_validator("customer_day_windows", "terminal_day_windows", "minute_windows")
    @classmethod
    def _positive_unique(cls, value: list[int]) -> list[int]:
        if not value or any(w <= 0 for w in value) or len(set(value)) != len(value):
            raise ValueError("must be a non-empty list of distinct positive integers")
        return sorted(value)


class DriftThresholdConfig(_Strict):
    """A value strictly above its threshold is drift (see fraudspark.monitoring.drift)."""

    psi: float = Field(default=0.2, gt=0)
    js: float = Field(default=0.1, gt=0)
    ks: float = Field(default=0.1, gt=0)
    linf: float = Field(default=0.1, gt=0)
    missing_share: float = Field(default=0.05, gt=0)


class MonitoringConfig(_Strict):
    thresholds: DriftThresholdConfig = Field(default_factory=DriftThresholdConfig)
    # Per-column overrides, e.g. a 1% alert rate needs a much tighter L-infinity threshold.
    feature_thresholds: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {"is_alert": {"linf": 0.005}}
    )
    bins: int = Field(default=10, ge=2)
    # The rolling comparison window, besides the scored day itself.
    window_days: int = Field(default=7, ge=1)
    reports_dir: str = "reports"


class ScoringConfig(_Strict):
    # The alert threshold is fixed at training so that this share of training rows alerts.
    target_alert_rate: float = Field(default=0.01, gt=0, lt=1)


class RegistryConfig(_Strict):
    # None: a SQLite-backed MLflow store under the lakehouse root.
    tracking_uri: str | None = None


class Config(_Strict):
    spark: SparkConfig = Field(default_factory=SparkConfig)
    lakehouse: LakehouseConfig = Field(default_factory=LakehouseConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    source: str = Field(default="<defaults>", exclude=True)

    def with_lakehouse(self, root: str | None) -> Config:
        """Return a copy whose lakehouse root is ``root`` (unchanged when None)."""
        if root is None:
            return self
        lakehouse = self.lakehouse.model_copy(update={"root": root})
        return self.model_copy(update={"lakehouse": lakehouse})

    @property
    def lakehouse_root(self) -> str:
        """The lakehouse root as an absolute path or URI (relative paths are made absolute)."""
        root = self.lakehouse.root
        if "://" in root:
            return root.rstrip("/")
        return str(Path(root).expanduser().resolve())


_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(text: str, path: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name, default)
        if value is None:
            raise ConfigError(f"{path}: environment variable ${{{name}}} is not set")
        return value

    return _ENV_PATTERN.sub(substitute, text)


def load_config(path: str | Path | None = None, lakehouse: str | None = None) -> Config:
    """Load and validate a YAML configuration file.

    ``path`` defaults to ``$FRAUDSPARK_CONF`` or ``conf/local.yaml``; ``lakehouse`` overrides the
    lakehouse root. Raises :class:`ConfigError` with ``<file>: <dotted.key>: <problem>``.
    """
    path = Path(path or os.environ.get("FRAUDSPARK_CONF") or DEFAULT_CONF)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from exc
    try:
        raw: Any = yaml.safe_load(_expand_env(text, str(path))) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    try:
        config = Config.model_validate({**raw, "source": str(path)})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
    return config.with_lakehouse(lakehouse)
