"""The table registry: every Delta table of the lakehouse, its schema, keys and partitioning.

A table ``fraud.<name>`` keeps its data at ``<lakehouse root>/<name>``. Reading and writing
tables is :mod:`fraudspark.lakehouse.io`; this module only declares them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import types as T

if TYPE_CHECKING:
    from fraudspark.config import Config


@dataclass(frozen=True)
class Table:
    """A Delta table of the lakehouse.

    ``schema`` is None for tables whose columns follow configuration (feature tables); they are
    created by their first write. ``properties`` are Delta table properties, set when the table
    is created and restored by :func:`overwrite_table`.
    """

    name: str
    keys: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    schema: T.StructType | None = None
    description: str = ""
    comments: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)


def plain_encoded(*columns: str) -> dict[str, str]:
    """Table properties that turn Parquet's dictionary encoding off for ``columns``.

    ``columns`` are Parquet column paths (``score``; an array's elements are
    ``top_feature_shares.list.element``). Delta hands a table's properties to the Parquet
    writer's Hadoop configuration, and parquet-mr reads ``parquet.enable.dictionary#<path>``
    (parquet-mr ``ParquetProperties``; a write option would not reach it: Delta passes only a
    few options to its writer). For nearly unique values (ids, timestamps, scores) the
    dictionary never pays: parquet-mr builds it for every column chunk, finds it no smaller
    than the plain values and re-encodes them plain. That was 28% of the executors' CPU time in
    a fresh ``fraudspark score`` (Java Flight Recorder, docs/benchmarks.md). Files written
    before keep their encodings; both read the same.
    """
    return {f"parquet.enable.dictionary#{column}": "false" for column in columns}


TRANSACTION_SCHEMA = T.StructType(
    [
        T.StructField("tx_id", T.LongType(), False),
        T.StructField("tx_ts", T.TimestampType(), False),
        T.StructField("customer_id", T.LongType(), False),
        T.StructField("terminal_id", T.LongType(), False),
        T.StructField("tx_amount", T.DoubleType(), False),
        T.StructField("is_fraud", T.IntegerType(), True),
    ]
)

SOURCE_ID_COLUMNS = ("source_tx_id", "source_customer_id", "source_terminal_id")

TRANSACTIONS = Table(
    name="transactions",
    keys=("tx_id",),
    partition_by=("tx_date",),
    schema=T.StructType(
        [
            *TRANSACTION_SCHEMA.fields,
            T.StructField("tx_date", T.DateType(), False),
            # Source columns outside the contract, kept as text so nothing is lost.
            T.StructField("extra", T.MapType(T.StringType(), T.StringType()), True),
            T.StructField("source_file", T.StringType(), True),
            T.StructField("ingested_at", T.TimestampType(), False),
            T.StructField("label_updated_at", T.TimestampType(), True),
            # The ids exactly as a string-id source wrote them (card numbers as their tokens);
            # null for an integer-id feed, whose ids are stored as they came.
            *[T.StructField(name, T.StringType(), True) for name in SOURCE_ID_COLUMNS],
        ]
    ),
    description="Every accepted payment transaction, one row per tx_id.",
)

# The first surrogate key of a string id: integer-id feeds keep ids below it, so the two never
# collide.
FIRST_SURROGATE_KEY = 2**62

ID_DICTIONARY = Table(
    name="id_dictionary",
    keys=("id_kind", "source_id"),
    partition_by=("id_kind",),
    schema=T.StructType(
        [
            T.StructField("id_kind", T.StringType(), False),  # tx | customer | terminal
            T.StructField("source_id", T.StringType(), False),
            T.StructField("id", T.LongType(), False),  # >= FIRST_SURROGATE_KEY, dense per kind
            T.StructField("first_seen", T.TimestampType(), False),
        ]
    ),
    description="The BIGINT surrogate key of every string id of a string-id source, per kind.",
)

QUARANTINE = Table(
    name="transactions_quarantine",
    keys=("quarantine_id",),
    partition_by=("record_kind",),
    schema=T.StructType(
        [
            # sha2 of source file, raw record and its occurrence: re-ingesting adds nothing.
            T.StructField("quarantine_id", T.StringType(), False),
            T.StructField("record_kind", T.StringType(), False),  # transaction | label
            T.StructField("reason", T.StringType(), False),
            T.StructField("raw", T.StringType(), False),  # the whole source row as JSON
            T.StructField("source_file", T.StringType(), True),
            T.StructField("ingested_at", T.TimestampType(), False),
        ]
    ),
    description="Rejected input rows, whole, with the rule that rejected them.",
)

FEATURES_WINDOWED = Table(
    name="features_windowed",
    keys=("tx_id",),
    partition_by=("tx_date",),
    description="Per-transaction customer and terminal features over day and minute windows.",
    # Data-skipping statistics on the keys only: queries filter on them, never on feature
    # values, and statistics on all 26 columns made the write markedly slower.
    properties={"delta.dataSkippingStatsColumns": "tx_id,tx_ts,customer_id,terminal_id"},
)

FEATURES_MONTHLY = Table(
    name="features_monthly",
    keys=("entity_type", "entity_id", "month"),
    partition_by=("entity_type",),
    description="Per customer and terminal, per calendar month; visible from the next month.",
)

TRAINING_SETS = Table(
    name="training_sets",
    keys=("training_set", "tx_id"),
    partition_by=("training_set",),
    description="Feature-store rows materialised for model training, one partition per name.",
)

TRAINING_SET_CATALOG = Table(
    name="training_set_catalog",
    keys=("training_set",),
    schema=T.StructType(
        [
            T.StructField("training_set", T.StringType(), False),
            T.StructField("start_date", T.DateType(), False),
            T.StructField("end_date", T.DateType(), False),
            T.StructField("row_count", T.LongType(), False),
            T.StructField("fraud_count", T.LongType(), False),
            T.StructField("feature_columns", T.ArrayType(T.StringType()), False),
            # {"transactions": 12, "features_windowed": 4, ...}: the Delta versions read.
            T.StructField("source_versions", T.MapType(T.StringType(), T.LongType()), False),
            T.StructField("created_at", T.TimestampType(), False),
        ]
    ),
    description="One row per training set: its range and the Delta versions it was built from.",
)

AUGMENTED_TRAINING_SETS = Table(
    name="augmented_training_sets",
    # Synthetic rows have no transaction: tx_id is null and synthetic_id numbers them.
    keys=("training_set", "method", "tx_id", "synthetic_id"),
    partition_by=("training_set", "method"),
    description=(
        "A training set's rows plus the synthetic fraud rows of one oversampling method "
        "(is_synthetic), with the generator's registry version."
    ),
)

OVERSAMPLING_QUALITY = Table(
    name="oversampling_quality",
    keys=("training_set", "method", "metric", "feature"),
    schema=T.StructType(
        [
            T.StructField("training_set", T.StringType(), False),
            T.StructField("method", T.StringType(), False),
            T.StructField("generator_version", T.IntegerType(), True),
            # ks | wasserstein (per feature); correlation_difference, two_sample_auc,
            # tstr_average_precision, invalid_rows, mean_ks, mean_wasserstein ("*": all features).
            T.StructField("metric", T.StringType(), False),
            T.StructField("feature", T.StringType(), False),
            T.StructField("value", T.DoubleType(), True),
            T.StructField("real_rows", T.LongType(), False),
            T.StructField("synthetic_rows", T.LongType(), False),
            T.StructField("computed_at", T.TimestampType(), False),
        ]
    ),
    description="How close each method's synthetic fraud rows are to the real ones.",
)

# fraud.scores' nearly unique columns: written without a Parquet dictionary (plain_encoded).
SCORE_PLAIN_COLUMNS = (
    "tx_id",
    "tx_ts",
    "score",
    "sap",
    "nap",
    "reconstruction_error",
    "kl_divergence",
    "top_feature_shares.list.element",
)

SCORES = Table(
    name="scores",
    keys=("tx_id", "model_name", "model_version"),
    partition_by=("tx_date",),
    schema=T.StructType(
        [
            T.StructField("tx_id", T.LongType(), False),
            T.StructField("tx_ts", T.TimestampType(), False),
            T.StructField("tx_date", T.DateType(), False),
            T.StructField("customer_id", T.LongType(), False),
            T.StructField("terminal_id", T.LongType(), False),
            T.StructField("model_name", T.StringType(), False),
            T.StructField("model_version", T.IntegerType(), False),
            T.StructField("score", T.DoubleType(), False),  # higher = more anomalous
            # Score terms, null where the model has none: RaPP's SAP and NAP, the VAE's two.
            T.StructField("sap", T.DoubleType(), True),
            T.StructField("nap", T.DoubleType(), True),
            T.StructField("reconstruction_error", T.DoubleType(), True),
            T.StructField("kl_divergence", T.DoubleType(), True),
            T.StructField("is_alert", T.BooleanType(), False),
            # Largest shares of the input-space squared reconstruction error, largest first.
            T.StructField("top_features", T.ArrayType(T.StringType(), False), False),
            T.StructField("top_feature_shares", T.ArrayType(T.DoubleType(), False), False),
            T.StructField("scored_at", T.TimestampType(), False),
        ]
    ),
    description="Every scored transaction: score, alert, top attributions, model version.",
    properties=plain_encoded(*SCORE_PLAIN_COLUMNS),
)

EVALUATIONS = Table(
    name="evaluations",
    keys=("evaluation_id", "model_name", "oversampling", "ratio", "seed"),
    schema=T.StructType(
        [
            # Hash of the protocol, its dates, the data versions and the training settings.
            T.StructField("evaluation_id", T.StringType(), False),
            # ae | vae | rapp-sap | rapp-nap | classifier-mlp | classifier-gbt
            T.StructField("model_name", T.StringType(), False),
            T.StructField("oversampling", T.StringType(), False),  # none | smote | gan ...
            # Fraud / normal rows after oversampling; null for `none` and the anomaly scorers
            # (and for rows written before the column existed: `fraudspark migrate`).
            T.StructField("ratio", T.DoubleType(), True),
            T.StructField("seed", T.IntegerType(), False),
            T.StructField("auc_roc", T.DoubleType(), True),
            T.StructField("average_precision", T.DoubleType(), True),
            T.StructField("cp_at_100", T.DoubleType(), True),
            T.StructField("cp_at_100_per_day", T.ArrayType(T.DoubleType(), False), False),
            T.StructField("train_start", T.DateType(), False),
            T.StructField("train_end", T.DateType(), False),
            T.StructField("test_start", T.DateType(), False),
            T.StructField("test_end", T.DateType(), False),
            T.StructField("delay_days", T.IntegerType(), False),
            T.StructField("train_rows", T.LongType(), False),
            T.StructField("test_rows", T.LongType(), False),
            T.StructField("test_frauds", T.LongType(), False),
            # Wall time to oversample and train (the oversampling leaderboard's cost column).
            T.StructField("train_seconds", T.DoubleType(), True),
            # Synthetic-row quality (oversampling.quality.QualityReport); null without synthetic
            # rows: two-sample AUC synthetic vs real fraud, train-on-synthetic-test-on-real AP,
            # synthetic rows breaking a validity rule.
            T.StructField("two_sample_auc", T.DoubleType(), True),
            T.StructField("tstr_average_precision", T.DoubleType(), True),
            T.StructField("invalid_rows", T.LongType(), True),
            # The trained artifact's fingerprint (sha256 of its bytes and metadata): evaluated
            # models are not registered, so they have no registry version.
            T.StructField("model_fingerprint", T.StringType(), False),
            T.StructField("data_versions", T.MapType(T.StringType(), T.LongType()), False),
            T.StructField("evaluated_at", T.TimestampType(), False),
        ]
    ),
    description=(
        "Evaluation-protocol results: one row per (model, oversampling method, ratio, seed)."
    ),
)

DRIFT = Table(
    name="drift",
    keys=("monitor_date", "model_name", "model_version", "window_days", "feature", "metric"),
    partition_by=("monitor_date",),
    schema=T.StructType(
        [
            T.StructField("monitor_date", T.DateType(), False),
            T.StructField("model_name", T.StringType(), False),
            T.StructField("model_version", T.IntegerType(), False),
            # 1: the scored day against training data; N: the last N days against it.
            T.StructField("window_days", T.IntegerType(), False),
            T.StructField("feature", T.StringType(), False),
            T.StructField("metric", T.StringType(), False),
            T.StructField("value", T.DoubleType(), True),
            T.StructField("threshold", T.DoubleType(), False),
            # The two-sample test's p-value behind `drifted` (fraudspark.monitoring.drift); null
            # for rows with no test (importance shifts, retrain hints) and rows written before.
            T.StructField("p_value", T.DoubleType(), True),
            T.StructField("drifted", T.BooleanType(), False),
        ]
    ),
    description="Drift of each model input, the score and the alert rate against training data.",
)

FEATURE_IMPORTANCE = Table(
    name="feature_importance",
    keys=("importance_date", "model_name", "model_version", "feature"),
    partition_by=("importance_date",),
    schema=T.StructType(
        [
            T.StructField("importance_date", T.DateType(), False),
            T.StructField("model_name", T.StringType(), False),
            T.StructField("model_version", T.IntegerType(), False),
            T.StructField("feature", T.StringType(), False),
            # Mean attribution share over the day's scores (0 where not in a row's top three).
            T.StructField("importance", T.DoubleType(), False),
            T.StructField("training_importance", T.DoubleType(), False),
        ]
    ),
    description="Daily mean attribution per feature and model, beside its value at training.",
)

RETRAIN_HINTS = Table(
    name="retrain_hints",
    keys=("monitor_date", "model_name", "model_version"),
    partition_by=("monitor_date",),
    schema=T.StructType(
        [
            T.StructField("monitor_date", T.DateType(), False),
            T.StructField("model_name", T.StringType(), False),
            T.StructField("model_version", T.IntegerType(), False),
            T.StructField("drifted_features", T.ArrayType(T.StringType()), False),
            # Largest value / threshold among the drifted metrics (1 = at the threshold).
            T.StructField("severity", T.DoubleType(), False),
            T.StructField("max_by_metric", T.MapType(T.StringType(), T.DoubleType()), False),
        ]
    ),
    description="A row per model and day when drift suggests retraining, naming the features.",
)

MONITORING_REFERENCES = Table(
    name="monitoring_references",
    keys=("model_name", "model_version", "row_id"),
    schema=T.StructType(
        [
            T.StructField("model_name", T.StringType(), False),
            T.StructField("model_version", T.IntegerType(), False),
            T.StructField("row_id", T.IntegerType(), False),
            # Spark's dayofweek (1 = Sunday .. 7 = Saturday) of the training row; null if the
            # training rows carry no date.
            T.StructField("weekday", T.IntegerType(), True),
            # The row's customer and terminal: the drift tests' effective sample sizes (rows of
            # one entity are not independent); null in a reference kept before they were.
            T.StructField("customer_id", T.LongType(), True),
            T.StructField("terminal_id", T.LongType(), True),
            T.StructField("features", T.MapType(T.StringType(), T.DoubleType()), False),
            T.StructField("score", T.DoubleType(), False),
            T.StructField("is_alert", T.BooleanType(), False),
            T.StructField("top_features", T.ArrayType(T.StringType()), False),
            T.StructField("top_feature_shares", T.ArrayType(T.DoubleType()), False),
            T.StructField("computed_at", T.TimestampType(), False),
        ]
    ),
    description="Each model version's monitoring reference: sampled training rows, scored.",
)

RUNS = Table(
    name="runs",
    keys=("run_id", "step"),
    partition_by=("run_date",),
    schema=T.StructType(
        [
            T.StructField("run_id", T.StringType(), False),
            T.StructField("run_date", T.DateType(), False),
            T.StructField("step", T.StringType(), False),
            T.StructField("status", T.StringType(), False),  # succeeded | failed | skipped
            T.StructField("started_at", T.TimestampType(), False),
            T.StructField("duration_s", T.DoubleType(), False),
            T.StructField("rows_in", T.LongType(), True),
            T.StructField("rows_out", T.LongType(), True),
            # Model and table versions the step used or produced, and its summary line.
            T.StructField("details", T.MapType(T.StringType(), T.StringType()), True),
            T.StructField("error", T.StringType(), True),
        ]
    ),
    description="The nightly pipeline's log: one row per step attempt.",
)

ALL_TABLES: tuple[Table, ...] = (
    TRANSACTIONS,
    QUARANTINE,
    ID_DICTIONARY,
    FEATURES_WINDOWED,
    FEATURES_MONTHLY,
    TRAINING_SETS,
    TRAINING_SET_CATALOG,
    AUGMENTED_TRAINING_SETS,
    OVERSAMPLING_QUALITY,
    SCORES,
    EVALUATIONS,
    DRIFT,
    FEATURE_IMPORTANCE,
    RETRAIN_HINTS,
    MONITORING_REFERENCES,
    RUNS,
)


def table_path(config: Config, table: Table | str) -> str:
    """Where a table's data lives: ``<lakehouse root>/<table name>``."""
    name = table if isinstance(table, str) else table.name
    return f"{config.lakehouse_root}/{name}"


def qualified_name(config: Config, table: Table | str) -> str:
    """``fraud.<name>``: the name analysts use in SQL."""
    name = table if isinstance(table, str) else table.name
    return f"{config.lakehouse.database}.{name}"


def sql_identifier(name: str) -> str:
    """A name quoted for SQL text (a column, or a table path after ``delta.``), whatever it
    holds: ``a.b`` -> ```a.b```, a backtick doubled."""
    return "`" + name.replace("`", "``") + "`"


def sql_quote(values: Sequence[object]) -> str:
    """A SQL IN-list of literal values: ``'a', 'b'``."""
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)
