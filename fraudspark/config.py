"""Typed configuration loaded from YAML.

One file per environment (``conf/local.yaml``, ``conf/cluster.yaml``); every key has a default
here, so a file only states what differs. ``${VAR}`` and ``${VAR:-default}`` are expanded from the
environment. An unknown key or a bad value raises :class:`ConfigError` naming the file and key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONF = Path(__file__).resolve().parent.parent / "conf" / "local.yaml"


class ConfigError(ValueError):
    """A configuration file could not be read or failed validation."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The HotSpot JIT compiles a method with C2 after 5,000 calls (Tier4InvocationThreshold). A
# nightly run lives a minute and touches tens of thousands of Spark and Delta methods, so on a
# few cores C2's compiler threads take CPU from the work for code that never runs long enough to
# pay back. Ten times the tier-4 thresholds leaves C2 for the code that stays hot (a long job's
# inner loops), and the serial collector saves G1's concurrent threads on a small heap. Measured
# by bench/jvm_options.py (docs/benchmarks.md): both the 30k night and the 7M `features --full`
# are faster with these options than with the JVM's defaults on 2 cores.
DRIVER_JAVA_OPTIONS = (
    "-XX:+UseSerialGC -XX:Tier4InvocationThreshold=50000 -XX:Tier4MinInvocationThreshold=6000 "
    "-XX:Tier4CompileThreshold=150000 -XX:Tier4BackEdgeThreshold=400000"
)


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
    # JVM options of the driver an embedded session starts (in local mode it runs the tasks
    # too); under spark-submit use its --driver-java-options. See DRIVER_JAVA_OPTIONS.
    driver_java_options: str | None = DRIVER_JAVA_OPTIONS
    # Keep a class-data sharing archive of the driver JVM beside the cached jars (written by the
    # first session, about 190 MB): later sessions start seconds sooner. See class_sharing.py.
    class_data_sharing: bool = True
    # Anything else Spark accepts, passed through verbatim (spark.driver.extraJavaOptions here
    # replaces driver_java_options).
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
    # The zone whose calendar day is `tx_date` (the business day a nightly run covers).
    business_time_zone: str = "UTC"
    # Card-number tokens: HMAC-SHA-256 keyed by this environment variable, or by the first line
    # of this file (never a key in the repository).
    token_key_env: str = "FRAUDSPARK_TOKEN_KEY"
    token_key_file: str | None = None

    @field_validator("business_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)


def _check_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (an IANA name such as Europe/Paris)"
        ) from None
    return value


class TimestampMapping(_Strict):
    """How a source's timestamp is built: exactly one of ``column``, ``date_column`` (with
    ``time_column``) or ``epoch_column``. Naive values are read in ``time_zone``."""

    column: str | None = None
    # A Spark datetime pattern; None: ISO 8601 (what a cast to timestamp accepts).
    format: str | None = None
    date_column: str | None = None
    time_column: str | None = None
    epoch_column: str | None = None
    epoch_unit: Literal["s", "ms"] = "s"
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)

    def model_post_init(self, context: Any, /) -> None:
        chosen = [x is not None for x in (self.column, self.date_column, self.epoch_column)]
        if sum(chosen) != 1:
            raise ValueError(
                "give exactly one of column, date_column (+ time_column), epoch_column"
            )
        if (self.date_column is None) != (self.time_column is None):
            raise ValueError("date_column and time_column go together")


IdKind = Literal["integer", "string"]


class SourceMapping(_Strict):
    """How one feed maps to the transaction contract (see fraudspark.ingest.sources).

    ``columns`` maps a contract field (tx_id, customer_id, terminal_id, tx_amount, is_fraud;
    tx_ts unless ``timestamp`` says otherwise) to the source column, matched case-insensitively;
    a field not named maps to the column of its own name. ``extra`` lists the source columns
    kept in the ``extra`` map (None: every column not mapped). ``card_number_columns`` are
    replaced by keyed tokens wherever they appear. ``tx_id_scope`` lists the source columns
    that make a transaction id unique together with it, for feeds whose id repeats across
    cards (the Sparkov simulator draws ``trans_num`` per profile file: in our 135,013-row sample
    21,505 ids name two different payments); the stored ``source_tx_id`` is then the id and
    those columns' values joined by ``|`` (card numbers as their tokens). It needs a string
    ``tx_id``; a label file read with such a mapping carries the scope columns too.
    """

    format: Literal["parquet", "csv", "json"] = "csv"
    options: dict[str, str] = Field(default_factory=dict)
    columns: dict[str, str] = Field(default_factory=dict)
    timestamp: TimestampMapping | None = None
    ids: dict[Literal["tx_id", "customer_id", "terminal_id"], IdKind] = Field(default_factory=dict)
    extra: list[str] | None = None
    card_number_columns: list[str] = Field(default_factory=list)
    tx_id_scope: list[str] = Field(default_factory=list)

    @field_validator("columns")
    @classmethod
    def _contract_fields(cls, value: dict[str, str]) -> dict[str, str]:
        fields = {"tx_id", "tx_ts", "customer_id", "terminal_id", "tx_amount", "is_fraud"}
        unknown = sorted(set(value) - fields)
        if unknown:
            raise ValueError(f"not contract fields: {', '.join(unknown)}")
        return value

    def id_kind(self, field: Literal["tx_id", "customer_id", "terminal_id"]) -> IdKind:
        return self.ids.get(field, "integer")

    def model_post_init(self, context: Any, /) -> None:
        if self.tx_id_scope and self.id_kind("tx_id") != "string":
            raise ValueError("tx_id_scope makes a composite id: set ids: {tx_id: string}")


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
    # A skewed world (generate --hot-terminal-share): each payment goes to terminal 0 (an online
    # merchant, reachable from anywhere) with this probability. 0: every terminal is alike.
    hot_terminal_share: float = Field(default=0.0, ge=0, le=1)


class FeatureConfig(_Strict):
    customer_day_windows: list[int] = Field(default_factory=lambda: [1, 7, 30])
    terminal_day_windows: list[int] = Field(default_factory=lambda: [1, 7, 30])
    minute_windows: list[int] = Field(default_factory=lambda: [15, 30, 60])
    # Fraud labels of a transaction are assumed known this many days after it.
    label_delay_days: int = Field(default=7, ge=0)
    # A monthly value is forward-filled for at most this many months, then null.
    monthly_staleness_months: int = Field(default=2, ge=0)
    # Rows of one task of the windowed features (one Arrow table in one Python worker, about
    # 0.8 KB a row at peak: docs/scaling.md); the job uses more partitions to stay under it.
    rows_per_partition: int = Field(default=1_000_000, ge=1)
    # An entity with more rows than this in one pass (an online merchant) is split by time into
    # pieces of about this many rows, each with the windows' look-back rows before it, so that
    # no task holds the whole entity; null never splits.
    split_entity_rows: int | None = Field(default=500_000, ge=1)

    @field_validator("customer_day_windows", "terminal_day_windows", "minute_windows")
    @classmethod
    def _positive_unique(cls, value: list[int]) -> list[int]:
        if not value or any(w <= 0 for w in value) or len(set(value)) != len(value):
            raise ValueError("must be a non-empty list of distinct positive integers")
        return sorted(value)


class DriftThresholdConfig(_Strict):
    """A value strictly above its threshold is drift when the two-sample test behind it has a
    p-value of at most ``significance`` (see fraudspark.monitoring.drift; 1 turns it off)."""

    psi: float = Field(default=0.2, gt=0)
    js: float = Field(default=0.1, gt=0)
    ks: float = Field(default=0.1, gt=0)
    linf: float = Field(default=0.1, gt=0)
    missing_share: float = Field(default=0.05, gt=0)
    significance: float = Field(default=0.01, gt=0, le=1)


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


# Share of training rows above a model's alert threshold: the one default, which models built
# outside a configuration (notebooks, tests) take too.
DEFAULT_TARGET_ALERT_RATE = 0.01


class ScoringConfig(_Strict):
    # The alert threshold is fixed at training so that this share of training rows alerts.
    target_alert_rate: float = Field(default=DEFAULT_TARGET_ALERT_RATE, gt=0, lt=1)


class OversamplingConfig(_Strict):
    """Defaults of ``fraudspark oversample`` / ``evaluate --oversampling`` and the benchmarks."""

    # Fraud / normal rows after oversampling (imbalanced-learn's float sampling_strategy).
    sampling_ratio: float = Field(default=0.1, gt=0, le=1)
    # Training length of every generative method (each GAN and the diffusion model), in
    # optimiser steps of the generator (GANs) or the denoiser (diffusion): one unit for all.
    steps: int = Field(default=3000, ge=1)


# The Fraud Detection Handbook's 15 inputs (Le Borgne et al., 2022, chapter 3): the amount, the
# calendar flags, the customer's counts and mean amounts over 1/7/30 days and the terminal's
# delayed counts and risks over 1/7/30 days. With these inputs a Mahalanobis distance and a plain
# autoencoder beat every scorer on all 44 store columns (docs/benchmarks.md, detection research).
HANDBOOK_INPUTS: tuple[str, ...] = (
    "tx_amount",
    "tx_during_weekend",
    "tx_during_night",
    "cust_nb_tx_1d",
    "cust_avg_amount_1d",
    "cust_nb_tx_7d",
    "cust_avg_amount_7d",
    "cust_nb_tx_30d",
    "cust_avg_amount_30d",
    "term_nb_tx_1d",
    "term_risk_1d",
    "term_nb_tx_7d",
    "term_risk_7d",
    "term_nb_tx_30d",
    "term_risk_30d",
)
# Ratios (by name, fraudspark.features.transforms.DEFAULT_RATIOS) added to the Handbook inputs.
# amount_over_term_avg_30d is left out: the store has no 30-day terminal mean amount (terminal
# amount windows are the minute windows).
HANDBOOK_RATIOS: tuple[str, ...] = (
    "amount_over_cust_avg_7d",
    "amount_over_cust_avg_30d",
    "cust_nb_tx_1d_over_daily_30d",
)


class ModelInputsConfig(_Strict):
    """What one kind of model reads: feature-store columns and derived ratios.

    ``features`` None means every store column (``model_feature_columns``). With ``transform``
    the fitted kind-driven input transform (log1p, ratios, robust scaling:
    fraudspark.features.transforms) goes into the model's export and is applied before it.
    Names are checked against the feature definitions when a model is trained.
    """

    features: list[str] | None = Field(default_factory=lambda: list(HANDBOOK_INPUTS))
    ratios: list[str] = Field(default_factory=lambda: list(HANDBOOK_RATIOS))
    transform: bool = True

    @field_validator("features", "ratios")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not all(value) or len(set(value)) != len(value)):
            raise ValueError("must be distinct, non-empty names")
        return value


class ModelsConfig(_Strict):
    """Model inputs per model kind (as ``train-scorer --kind`` / ``train-classifier --kind``)."""

    ae: ModelInputsConfig = Field(default_factory=ModelInputsConfig)
    vae: ModelInputsConfig = Field(default_factory=ModelInputsConfig)
    rapp: ModelInputsConfig = Field(default_factory=ModelInputsConfig)
    # The Handbook inputs without ratios: measured best for the Mahalanobis distance.
    mahalanobis: ModelInputsConfig = Field(default_factory=lambda: ModelInputsConfig(ratios=[]))
    # The MLP classifier keeps every store column and its own log1p of amounts and counts.
    mlp: ModelInputsConfig = Field(
        default_factory=lambda: ModelInputsConfig(features=None, ratios=[], transform=False)
    )
    gbt: ModelInputsConfig = Field(default_factory=ModelInputsConfig)

    def for_kind(self, kind: str) -> ModelInputsConfig:
        """The inputs of a model kind; ValueError naming the known kinds."""
        if kind not in type(self).model_fields:
            raise ValueError(
                f"no model inputs for kind {kind!r}: one of {sorted(type(self).model_fields)}"
            )
        inputs: ModelInputsConfig = getattr(self, kind)
        return inputs


class RegistryConfig(_Strict):
    # None: a SQLite-backed MLflow store under the lakehouse root.
    tracking_uri: str | None = None


class DataCheckConfig(_Strict):
    """Thresholds of the night's input checks (see fraudspark.monitoring.data_checks); a value
    strictly above ``*_warn`` warns, above ``*_fail`` fails the night."""

    # Today's volume against the same weekday of the trailing weeks: |today / median - 1|.
    volume_weeks: int = Field(default=4, ge=1)
    volume_min_weeks: int = Field(default=2, ge=1)
    volume_warn: float = Field(default=0.3, gt=0)
    volume_fail: float = Field(default=0.6, gt=0)
    # Share of the rows read that were quarantined.
    quarantine_share_warn: float = Field(default=0.01, ge=0, le=1)
    quarantine_share_fail: float = Field(default=0.05, ge=0, le=1)
    # Share of accepted transactions by customers never seen before the day.
    unknown_customer_share_warn: float = Field(default=0.05, ge=0, le=1)
    unknown_customer_share_fail: float = Field(default=0.2, ge=0, le=1)


class NightlyConfig(_Strict):
    """The run lock that serialises nights (see fraudspark.lakehouse.lock)."""

    # A night that finds another running waits this long, then exits with code 75.
    lock_wait_seconds: float = Field(default=6 * 3600, ge=0)
    # A holder whose heartbeat is older than this is dead (its process on this host is checked
    # directly); must exceed lock_heartbeat_seconds by a safe margin.
    lock_stale_seconds: float = Field(default=120, gt=0)
    lock_heartbeat_seconds: float = Field(default=10, gt=0)
    # Waiters wait this long before competing, so nights started together run in date order.
    lock_settle_seconds: float = Field(default=5, ge=0)
    # None: <lakehouse root>/_locks (the root must then be a file system path).
    lock_dir: str | None = None
    # Run table maintenance (OPTIMIZE, then VACUUM that keeps every recorded version readable)
    # as the night's last step; `fraudspark maintain` runs it on demand.
    maintain: bool = False


class Config(_Strict):
    spark: SparkConfig = Field(default_factory=SparkConfig)
    lakehouse: LakehouseConfig = Field(default_factory=LakehouseConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    oversampling: OversamplingConfig = Field(default_factory=OversamplingConfig)

    models: ModelsConfig = Field(default_factory=ModelsConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    nightly: NightlyConfig = Field(default_factory=NightlyConfig)
    data_checks: DataCheckConfig = Field(default_factory=DataCheckConfig)
    # Named source mappings; more in <config dir>/sources/<name>.yaml.
    sources: dict[str, SourceMapping] = Field(default_factory=dict)
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


def load_mapping(config: Config, name: str) -> SourceMapping:
    """The source mapping ``name``: from the config's ``sources:`` section, else from
    ``sources/<name>.yaml`` next to the config file (not the working directory).

    Raises :class:`ConfigError` naming the places looked in, or the file and key at fault.
    """
    if name in config.sources:
        return config.sources[name]
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise ConfigError(f"invalid mapping name {name!r}")
    base = DEFAULT_CONF if config.source == "<defaults>" else Path(config.source)
    path = base.resolve().parent / "sources" / f"{name}.yaml"
    if not path.exists():
        known = sorted({*config.sources, *(p.stem for p in path.parent.glob("*.yaml"))})
        raise ConfigError(
            f"unknown source mapping {name!r}: not in {config.source} `sources:` nor at {path} "
            f"(known: {', '.join(known) or 'none'})"
        )
    try:
        raw: Any = yaml.safe_load(_expand_env(path.read_text(), str(path))) or {}
        return SourceMapping.model_validate(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()
    )


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
        raise ConfigError(f"{path}: {_problems(exc)}") from None
    return config.with_lakehouse(lakehouse)
