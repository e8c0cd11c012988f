# Databricks notebook source
# MAGIC %md
# MAGIC # Monitoring: drift, attributions, retrain hints, the nightly runs
# MAGIC
# MAGIC Each registered model's champion has its scored days compared with its own training
# MAGIC data, read again at the Delta versions it was trained on: every input, the score and the
# MAGIC alert rate, with PSI, Jensen-Shannon, Kolmogorov-Smirnov and L∞ (thresholds in
# MAGIC `conf/*.yaml`). The mean attribution per feature is tracked beside its value at training.
# MAGIC Drift leaves a retrain hint naming the features, and the first champion (RaPP) gets an
# MAGIC HTML report.
# MAGIC
# MAGIC Needs a registered scorer and a scored day (notebook 02). Parameters (widgets on
# MAGIC Databricks, `FRAUDSPARK_<NAME>` elsewhere): `day`, the scored day to monitor (empty: the
# MAGIC latest in `fraud.scores`); `night`, the night to run through the nightly pipeline
# MAGIC (empty: the latest ingested day); `source`, that night's raw transaction files if they
# MAGIC are not ingested yet (empty: none), and their `source_format`.
# MAGIC
# MAGIC On a small lakehouse expect noise: with n rows on a day, an unchanged feature's PSI is
# MAGIC already about 9 / n (10 bins).

# COMMAND ----------

# ruff: noqa: E402
import os
from datetime import date

from fraudspark.config import load_config
from fraudspark.notebooks import widget
from fraudspark.session import build_spark

config = load_config(lakehouse=os.environ.get("FRAUDSPARK_LAKEHOUSE", "./lakehouse"))
spark = build_spark(config)

last_scored = spark.sql("SELECT max(tx_date) FROM fraud.scores").first()[0]
last_ingested = spark.sql("SELECT max(tx_date) FROM fraud.transactions").first()[0]
day = date.fromisoformat(widget("day", "") or last_scored.isoformat())
night = date.fromisoformat(widget("night", "") or last_ingested.isoformat())
source = widget("source", "") or None
source_format = widget("source_format", "parquet")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Monitor a scored day
# MAGIC Writes the day's rows of `fraud.drift`, `fraud.feature_importance` and
# MAGIC `fraud.retrain_hints` (re-running replaces them) and `reports/<day>/index.html`.

# COMMAND ----------

from fraudspark.pipelines.monitor import monitor_day

results = monitor_day(spark, config, day)
for result in results:
    drifted = ", ".join(result.drifted_features) or "nothing"
    print(f"{result.model}/{result.version} on {day}: drifted {drifted} "
          f"(severity {result.severity:.2f})")  # fmt: skip
    if result.report is not None:
        print(f"  report: {result.report.resolve()}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The night through the nightly pipeline
# MAGIC What the scheduled `fraudspark nightly` job runs: ingest the night's files, apply late
# MAGIC labels, compute the day's features, score with every champion, monitor. Each step is
# MAGIC logged in `fraud.runs`; a night resumes at its first unfinished step, and a complete
# MAGIC night is left alone.

# COMMAND ----------

from fraudspark.pipelines.nightly import NightInputs, run_night

steps = run_night(spark, config, NightInputs(night, source=source, source_format=source_format))
print(f"ran {', '.join(steps) or 'nothing'} for {night}")

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT run_date, step, status, round(duration_s, 1) AS seconds, rows_in, rows_out,
# MAGIC        coalesce(error, details['summary'], details['report'], details['reason']) AS note,
# MAGIC        started_at
# MAGIC FROM fraud.runs
# MAGIC ORDER BY started_at DESC
# MAGIC LIMIT 15

# COMMAND ----------

# MAGIC %md
# MAGIC ## Which features drifted
# MAGIC Day by day, the features over a threshold on the scored day alone (`window_days = 1`),
# MAGIC with the metrics that flagged them; `severity` is the worst value / threshold. The
# MAGIC `tx_during_weekend` flag is compared only over the rolling window of whole weeks: a single
# MAGIC day is all weekend or all weekday.

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT monitor_date, model_name, model_version, feature,
# MAGIC        concat_ws(', ', collect_list(metric)) AS metrics,
# MAGIC        round(max(value / threshold), 2) AS severity
# MAGIC FROM fraud.drift
# MAGIC WHERE window_days = 1 AND drifted
# MAGIC GROUP BY monitor_date, model_name, model_version, feature
# MAGIC ORDER BY monitor_date DESC, severity DESC
# MAGIC LIMIT 20

# COMMAND ----------

# MAGIC %md
# MAGIC The score and the alert rate are monitored like inputs: a score distribution moving away
# MAGIC from training, or an alert rate well off its target, is the first thing to look at.

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT monitor_date, model_name, window_days, feature, metric, round(value, 4) AS value,
# MAGIC        threshold, drifted
# MAGIC FROM fraud.drift
# MAGIC WHERE feature IN ('score', 'is_alert') AND metric IN ('psi', 'ks', 'linf')
# MAGIC ORDER BY monitor_date DESC, model_name, window_days, feature, metric

# COMMAND ----------

# MAGIC %md
# MAGIC ## Retrain hints

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT monitor_date, model_name, model_version, round(severity, 2) AS severity,
# MAGIC        drifted_features, max_by_metric
# MAGIC FROM fraud.retrain_hints
# MAGIC ORDER BY monitor_date DESC, severity DESC

# COMMAND ----------

# MAGIC %md
# MAGIC ## Feature importance trend
# MAGIC The mean share of the reconstruction error each feature explains, per day, beside the same
# MAGIC on the training data: a feature that suddenly explains much more (or less) of the alerts
# MAGIC is attribution drift even when its own distribution looks stable.

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT importance_date, model_name, feature, round(importance, 3) AS importance,
# MAGIC        round(training_importance, 3) AS at_training,
# MAGIC        round(importance - training_importance, 3) AS change
# MAGIC FROM fraud.feature_importance
# MAGIC WHERE importance >= 0.05 OR training_importance >= 0.05
# MAGIC ORDER BY model_name, feature, importance_date

# COMMAND ----------

# MAGIC %md
# MAGIC ## The reports
# MAGIC One HTML page per monitored day (summary, score distributions, daily alerts, the drifted
# MAGIC features' distributions, the importance trend), beside its PNG plots: open it from disk.

# COMMAND ----------

from pathlib import Path

reports = sorted(Path(config.monitoring.reports_dir).glob("*/index.html"))
for report in reports[-7:]:
    print(report.resolve())
