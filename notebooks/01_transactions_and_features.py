# Databricks notebook source
# MAGIC %md
# MAGIC # Transactions, features and the feature store
# MAGIC
# MAGIC What landed last night, what the quarantine caught, and what the models will see.
# MAGIC Runs on Databricks (the `spark` session exists) and locally (`build_spark` starts one);
# MAGIC the lakehouse root comes from `FRAUDSPARK_LAKEHOUSE` or `./lakehouse`.

# COMMAND ----------

# ruff: noqa: E402
import os
from datetime import timedelta

from fraudspark.config import load_config
from fraudspark.session import build_spark

config = load_config(lakehouse=os.environ.get("FRAUDSPARK_LAKEHOUSE", "./lakehouse"))
spark = build_spark(config)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Daily volume and fraud rate

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT tx_date, count(*) AS transactions, sum(is_fraud) AS frauds,
# MAGIC        round(100 * avg(is_fraud), 2) AS fraud_pct, round(sum(tx_amount), 2) AS volume
# MAGIC FROM fraud.transactions
# MAGIC GROUP BY tx_date
# MAGIC ORDER BY tx_date DESC
# MAGIC LIMIT 14

# COMMAND ----------

# MAGIC %md
# MAGIC ## Fraud by scenario
# MAGIC The simulator records its scenario in the `extra` map (analysis only, never a model input).

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT extra['tx_fraud_scenario'] AS scenario, count(*) AS transactions,
# MAGIC        round(avg(tx_amount), 2) AS mean_amount
# MAGIC FROM fraud.transactions
# MAGIC GROUP BY 1
# MAGIC ORDER BY 1

# COMMAND ----------

# MAGIC %md
# MAGIC ## Quarantine: what ingest refused, and why

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT record_kind, reason, count(*) AS rows, max(ingested_at) AS last_seen
# MAGIC FROM fraud.transactions_quarantine
# MAGIC GROUP BY record_kind, reason
# MAGIC ORDER BY rows DESC

# COMMAND ----------

# MAGIC %md
# MAGIC ## Windowed features: card-testing bursts stand out in the 15-minute counts

# COMMAND ----------

bursts = spark.sql(
    """
    SELECT f.tx_id, f.tx_ts, f.customer_id, f.tx_amount, f.cust_nb_tx_15m,
           f.cust_avg_amount_15m, f.cust_nb_tx_1d, t.is_fraud
    FROM fraud.features_windowed f JOIN fraud.transactions t USING (tx_id, tx_date)
    WHERE f.cust_nb_tx_15m >= 4
    ORDER BY f.cust_nb_tx_15m DESC, f.tx_ts
    """
)
bursts.show(10, truncate=False)
bursts.groupBy("is_fraud").count().show()

# COMMAND ----------

# MAGIC %md
# MAGIC ## The feature store: point-in-time rows for the last week
# MAGIC Windowed features joined with the customer's and terminal's latest *visible* monthly
# MAGIC values (forward-filled up to the staleness limit; `*_month_missing` flags the rest).

# COMMAND ----------

from fraudspark.features.store import feature_rows, model_feature_columns

last_day = spark.sql("SELECT max(tx_date) FROM fraud.transactions").first()[0]
week = feature_rows(spark, config, last_day - timedelta(days=6), last_day)
print(f"{week.count()} rows, {len(model_feature_columns(config))} model features")
week.select(
    "tx_id",
    "tx_ts",
    "term_risk_7d",
    "cust_month_avg_amount",
    "term_month_fraud_rate",
    "cust_month_missing",
).show(5, truncate=False)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Training sets and the table versions they were built from

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT training_set, start_date, end_date, row_count, fraud_count, source_versions
# MAGIC FROM fraud.training_set_catalog
