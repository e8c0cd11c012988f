# Databricks notebook source
# MAGIC %md
# MAGIC # Your own data: from a foreign file to scores named by its own ids
# MAGIC
# MAGIC A file in someone else's layout (Sparkov's pipe-delimited export, FraudFinder's CSV...)
# MAGIC is read with a *source mapping* (`conf/sources/<name>.yaml`), featurised, used to train
# MAGIC an anomaly scorer and the classifier, and a day is scored. String ids (Sparkov's hex
# MAGIC `trans_num`, its card numbers, merchant names) become BIGINT keys from
# MAGIC `fraud.id_dictionary`; `fraud.transactions` keeps them as the source wrote them in
# MAGIC `source_tx_id`, `source_customer_id` and `source_terminal_id` (card numbers as keyed
# MAGIC tokens: set `FRAUDSPARK_TOKEN_KEY` first). Use a lakehouse of its own.

# COMMAND ----------

# ruff: noqa: E402
import os
from datetime import date, timedelta

from fraudspark.config import load_config
from fraudspark.lakehouse.io import register_tables
from fraudspark.notebooks import widget
from fraudspark.session import build_spark

source = widget("source", "../shared/data/sparkov-300cards-2023h1.csv.gz", "file or folder")
mapping = widget("mapping", "sparkov", "source mapping")
lakehouse = widget("lakehouse", os.environ.get("FRAUDSPARK_LAKEHOUSE", "./lakehouse-own-data"))
score_day_text = widget("score_day", "", "day to score (default: the last full day)")
train_days = int(widget("train_days", "21"))
epochs = int(widget("epochs", "5"))
classifier_epochs = int(widget("classifier_epochs", "10"))

config = load_config(lakehouse=lakehouse)
spark = build_spark(config)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Ingest with the mapping
# MAGIC `read = accepted + quarantined + already present`; re-running accepts nothing new.

# COMMAND ----------

from fraudspark.pipelines.ingest import ingest_transactions

ingest = ingest_transactions(spark, config, source, mapping=mapping)
register_tables(spark, config)
print(ingest.summary())

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT id_kind, count(*) AS ids, min(id) AS first_key, max(id) AS last_key
# MAGIC FROM fraud.id_dictionary
# MAGIC GROUP BY id_kind

# COMMAND ----------

# MAGIC %md
# MAGIC ## Features, a scorer and the classifier

# COMMAND ----------

from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.oversample import oversample_training_set
from fraudspark.pipelines.train import register_classifier, train_classifier, train_scorer
from fraudspark.pipelines.training_sets import build_training_set
from fraudspark.registry import CLASSIFIER_MODEL_NAME, MODEL_NAMES, register_model

print(compute_features(spark, config).summary())
last_day: date = spark.sql("SELECT max(tx_date) FROM fraud.transactions").first()[0]
score_day = date.fromisoformat(score_day_text) if score_day_text else last_day - timedelta(days=1)
train_end = score_day - timedelta(days=7)  # labels of the last week are not known yet
train_start = train_end - timedelta(days=train_days - 1)

trained = train_scorer(
    spark, config, "ae", train_start, train_end, training=TrainingConfig(epochs=epochs, seed=1)
)
scorer_version = register_model(config, MODEL_NAMES["ae"], trained.artifact, trained.params)
print(build_training_set(spark, config, "own-data", train_start, train_end).summary())
print(oversample_training_set(spark, config, "own-data", "smote", ratio=0.2, seed=0).summary())
classifier = train_classifier(
    spark, config, "own-data", "smote", training=ClassifierConfig(epochs=classifier_epochs, seed=1)
)
classifier_version = register_classifier(config, classifier)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Score a day

# COMMAND ----------

from fraudspark.pipelines.score import score_days

scoring = {
    model: score_days(spark, config, model, score_day, score_day)
    for model in (MODEL_NAMES["ae"], CLASSIFIER_MODEL_NAME)
}
for report in scoring.values():
    print(report.summary())

# COMMAND ----------

# MAGIC %md
# MAGIC ## The day's alerts under the source's own ids

# COMMAND ----------

alerts = spark.sql(
    f"""
    SELECT t.source_tx_id, t.source_customer_id, t.source_terminal_id, t.tx_ts, t.tx_amount,
           s.model_name, s.score, s.top_features
    FROM fraud.scores s
    JOIN fraud.transactions t ON t.tx_id = s.tx_id AND t.tx_date = s.tx_date
    WHERE s.tx_date = '{score_day}' AND s.is_alert
    ORDER BY s.score DESC
    """
)
alerts.show(10, truncate=False)
