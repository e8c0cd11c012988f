# Databricks notebook source
# MAGIC %md
# MAGIC # Scoring with RaPP: train, register, score a day, read the alerts
# MAGIC
# MAGIC RaPP (Kim et al., ICLR 2020) feeds an autoencoder's reconstruction back through its
# MAGIC encoder and compares, layer by layer, how the transaction and its reconstruction are
# MAGIC seen: **SAP** is the squared size of those differences, **NAP** the same after whitening
# MAGIC them with the training rows' principal directions (NAP is the `score`). The model learns
# MAGIC only what normal traffic looks like: known frauds are left out of its training rows. It
# MAGIC alerts on the share of training rows that `scoring.target_alert_rate` in `conf/*.yaml`
# MAGIC sets.
# MAGIC
# MAGIC Needs the feature store (notebook 01 shows it). Parameters (widgets on Databricks,
# MAGIC `FRAUDSPARK_<NAME>` elsewhere): `score_day` (empty: the latest day with features),
# MAGIC `train_days` (the days before `score_day` RaPP trains on), `epochs`, `seed`.

# COMMAND ----------

# ruff: noqa: E402
import os
from datetime import date, timedelta

from fraudspark.config import load_config
from fraudspark.notebooks import widget
from fraudspark.session import build_spark

config = load_config(lakehouse=os.environ.get("FRAUDSPARK_LAKEHOUSE", "./lakehouse"))
spark = build_spark(config)

latest = spark.sql("SELECT max(tx_date) FROM fraud.features_windowed").first()[0]
score_day = date.fromisoformat(widget("score_day", "") or latest.isoformat())
train_days = int(widget("train_days", "14"))
epochs = int(widget("epochs", "10"))
seed = int(widget("seed", "1"))
train_start, train_end = score_day - timedelta(days=train_days), score_day - timedelta(days=1)
print(f"train on {train_start} .. {train_end}, score {score_day}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Train RaPP on the feature store
# MAGIC The rows are read at pinned Delta versions, recorded in the model's metadata with the
# MAGIC date range, so the exact training data can be read again later (monitoring does).
# MAGIC The alert threshold is the training scores' (1 - `target_alert_rate`) quantile.

# COMMAND ----------

from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.train import train_scorer

trained = train_scorer(
    spark, config, "rapp", train_start, train_end,
    training=TrainingConfig(epochs=epochs, seed=seed),
    target_alert_rate=config.scoring.target_alert_rate,
)  # fmt: skip
metadata = trained.artifact.metadata
print(f"alert threshold (NAP): {metadata['threshold']:.4f}")
print(f"score columns: {metadata['score_columns']}")
print(f"data versions: {metadata['extra']['data_versions']}")
for metric, value in sorted(metadata["training_metrics"].items()):
    print(f"  {metric:<24} {value:.4f}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Register it
# MAGIC A new version of `fraud-rapp` in the MLflow registry, with its run's parameters, metrics
# MAGIC and data versions. The model's first version becomes its `champion` (the version the
# MAGIC nightly run scores with); later ones are promoted with `fraudspark promote`. Here the
# MAGIC day is scored with the version just registered, champion or not.

# COMMAND ----------

from fraudspark.registry import MODEL_NAMES, champion_version, register_model

name = MODEL_NAMES["rapp"]
version = register_model(config, name, trained.artifact, trained.params)
model = f"{name}/{version}"
print(f"registered {model}; champion is version {champion_version(config, name)}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Score the day into `fraud.scores`
# MAGIC The Spark scoring job: the exported TorchScript graph runs on the executors. A transaction
# MAGIC keeps the first score a model version gave it, so scoring a day again changes nothing.

# COMMAND ----------

from fraudspark.pipelines.score import score_days

scoring = score_days(spark, config, model, score_day, score_day)
print(scoring.summary())

# COMMAND ----------

# MAGIC %md
# MAGIC ## SAP and NAP: scored rows and alerts per model version and day
# MAGIC NAP is the `score`; SAP is kept beside it. They usually rank alike; NAP's whitening keeps
# MAGIC directions that already vary a lot on normal traffic from dominating.

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT tx_date, model_name, model_version, count(*) AS scored,
# MAGIC        sum(CAST(is_alert AS INT)) AS alerts,
# MAGIC        round(avg(sap), 3) AS mean_sap, round(avg(nap), 3) AS mean_nap,
# MAGIC        round(corr(sap, nap), 3) AS sap_nap_corr
# MAGIC FROM fraud.scores
# MAGIC WHERE model_name = 'fraud-rapp'
# MAGIC GROUP BY tx_date, model_name, model_version
# MAGIC ORDER BY tx_date DESC, model_version DESC
# MAGIC LIMIT 14

# COMMAND ----------

# MAGIC %md
# MAGIC ## Do frauds score higher? Scores beside the labels known so far

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT s.model_version, t.is_fraud, count(*) AS transactions,
# MAGIC        round(avg(s.sap), 3) AS mean_sap, round(avg(s.nap), 3) AS mean_nap,
# MAGIC        round(100 * avg(CAST(s.is_alert AS INT)), 2) AS alert_pct
# MAGIC FROM fraud.scores s JOIN fraud.transactions t USING (tx_id, tx_date)
# MAGIC WHERE s.model_name = 'fraud-rapp'
# MAGIC   AND s.tx_date = (SELECT max(tx_date) FROM fraud.scores WHERE model_name = 'fraud-rapp')
# MAGIC GROUP BY s.model_version, t.is_fraud
# MAGIC ORDER BY s.model_version DESC, t.is_fraud

# COMMAND ----------

# MAGIC %md
# MAGIC ## Today's alerts and why
# MAGIC Each alert names the features with the largest shares of its reconstruction error.

# COMMAND ----------

from fraudspark.pipelines.score import alert_reasons

alerts = alert_reasons(spark, config, score_day, score_day, model)
alerts.show(10, truncate=False)

# COMMAND ----------

# MAGIC %md
# MAGIC The same from SQL: which features explain the day's alerts most often.

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT model_name, model_version, top_features[0] AS main_reason, count(*) AS alerts,
# MAGIC        round(avg(top_feature_shares[0]), 2) AS mean_share
# MAGIC FROM fraud.scores
# MAGIC WHERE is_alert AND tx_date = (SELECT max(tx_date) FROM fraud.scores)
# MAGIC GROUP BY model_name, model_version, main_reason
# MAGIC ORDER BY alerts DESC

# COMMAND ----------

# MAGIC %md
# MAGIC ## A small evaluation: autoencoder vs RaPP
# MAGIC The Fraud Detection Handbook's protocol on the three weeks ending on `score_day`: train
# MAGIC on the first week, skip a week (labels arrive late), test on the last; customers already
# MAGIC known to be compromised are left out of the test. Card precision@100 is the share of
# MAGIC frauded cards among the day's 100 most suspicious. One seed here: the `evaluate` job
# MAGIC averages several.

# COMMAND ----------

from fraudspark.evaluation.protocol import ProtocolWindow
from fraudspark.pipelines.evaluate import evaluate_models, write_evaluations

window = ProtocolWindow(score_day - timedelta(days=20), train_days=7, delay_days=7, test_days=7)
evaluation = evaluate_models(
    spark, config, window, ["ae", "rapp"], seeds=[seed], training=TrainingConfig(epochs=epochs)
)
write_evaluations(spark, config, evaluation)
print(evaluation.table())

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT model_name, oversampling, seed, round(auc_roc, 3) AS auc_roc,
# MAGIC        round(average_precision, 3) AS average_precision, round(cp_at_100, 3) AS cp_at_100,
# MAGIC        test_start, test_end, test_frauds, evaluated_at
# MAGIC FROM fraud.evaluations
# MAGIC WHERE oversampling = 'none'
# MAGIC ORDER BY evaluated_at DESC, model_name
# MAGIC LIMIT 10
