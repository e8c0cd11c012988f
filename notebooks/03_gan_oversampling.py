# Databricks notebook source
# MAGIC %md
# MAGIC # Oversampling the fraud class: SMOTE, GANs and diffusion, their quality, the classifiers
# MAGIC
# MAGIC Frauds are a few percent of the rows. A supervised classifier learns more from them when
# MAGIC the training set gets synthetic fraud rows: SMOTE interpolates between real ones, a GAN
# MAGIC or a denoising diffusion model (TabDDPM-style) learns to generate them. This notebook
# MAGIC builds a training set, oversamples it three ways, compares the synthetic rows with the
# MAGIC real ones, trains and registers the classifier, and runs the leaderboard: an MLP and
# MAGIC gradient-boosted trees trained after each method, on the same days.
# MAGIC
# MAGIC Needs the feature store (notebook 01). Parameters (widgets on Databricks,
# MAGIC `FRAUDSPARK_<NAME>` elsewhere): `training_set`, `train_end` (empty: the latest day with
# MAGIC features), `train_days`, `gan` (one of gan, cgan, wgan, wgan-gp, wcgan, acgan),
# MAGIC `steps` (training steps of the GAN and of diffusion, the same unit for both),
# MAGIC `ratio` (fraud / normal rows after oversampling), `classifier_epochs`, `gbt_trees`,
# MAGIC `seed`.

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
training_set = widget("training_set", "notebook-train")
train_end = date.fromisoformat(widget("train_end", "") or latest.isoformat())
train_days = int(widget("train_days", "14"))
gan = widget("gan", "wgan-gp")
steps = int(widget("steps", "300"))
ratio = float(widget("ratio", "0.2"))
classifier_epochs = int(widget("classifier_epochs", "20"))
gbt_trees = int(widget("gbt_trees", "500"))
seed = int(widget("seed", "1"))
train_start = train_end - timedelta(days=train_days - 1)

# COMMAND ----------

# MAGIC %md
# MAGIC ## A training set from the feature store
# MAGIC Point-in-time feature rows for the range, written as a partition of
# MAGIC `fraud.training_sets` with the source tables' Delta versions in the catalog.

# COMMAND ----------

from fraudspark.pipelines.training_sets import build_training_set

print(build_training_set(spark, config, training_set, train_start, train_end).summary())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Oversample it: SMOTE, a GAN, diffusion
# MAGIC Each run writes the partition (`training_set`, `method`) of
# MAGIC `fraud.augmented_training_sets`: the original rows plus synthetic fraud rows flagged
# MAGIC `is_synthetic`. The GAN and the diffusion model train on the driver for `steps` steps and
# MAGIC generate their rows in Spark tasks; each generator is registered as
# MAGIC `fraud-generator-<method>` and its version kept on every row it made.
# MAGIC `diffusion-profile` copies each row's customer and terminal profile (the monthly
# MAGIC statistics and the windows of 7 days or more) from a real fraud row and generates the
# MAGIC payment given it: the most realistic rows of the leaderboard (docs/benchmarks.md).

# COMMAND ----------

from fraudspark.pipelines.oversample import oversample_training_set

reports = {
    method: oversample_training_set(
        spark, config, training_set, method, ratio=ratio, seed=seed, steps=steps
    )
    for method in ["smote", gan, "diffusion", "diffusion-profile"]
}
for report in reports.values():
    print(report.summary())

# COMMAND ----------

# MAGIC %md
# MAGIC ## How real do the synthetic rows look?
# MAGIC Per method: a classifier's AUC at telling real from synthetic fraud (0.5 is ideal), the
# MAGIC average precision of a model trained on synthetic fraud and tested on real fraud (TSTR),
# MAGIC the mean Kolmogorov-Smirnov and Wasserstein distances per feature, how far the feature
# MAGIC correlations moved, and rows breaking a validity rule (a negative amount, a count that is
# MAGIC not whole, a flag that is not 0/1). Best two-sample AUC first.

# COMMAND ----------

from fraudspark.evaluation.leaderboard import oversampling_leaderboard

quality = oversampling_leaderboard(spark, config, training_set)
print(quality.round(3).to_string())

# COMMAND ----------

# MAGIC %md
# MAGIC The same figures in `fraud.oversampling_quality` (`feature = '*'` rows are over all
# MAGIC features), and the features each method reproduces worst:

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT training_set, method, generator_version, metric, round(value, 3) AS value,
# MAGIC        real_rows, synthetic_rows
# MAGIC FROM fraud.oversampling_quality
# MAGIC WHERE feature = '*'
# MAGIC   AND metric IN ('two_sample_auc', 'tstr_average_precision', 'invalid_rows')
# MAGIC ORDER BY training_set, metric, method

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT training_set, method, feature, round(value, 3) AS ks
# MAGIC FROM (SELECT *, row_number() OVER (PARTITION BY training_set, method
# MAGIC                                    ORDER BY value DESC) AS worst
# MAGIC       FROM fraud.oversampling_quality
# MAGIC       WHERE metric = 'ks' AND feature != '*')
# MAGIC WHERE worst <= 3
# MAGIC ORDER BY training_set, method, ks DESC

# COMMAND ----------

# MAGIC %md
# MAGIC ## What each augmented training set holds

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT training_set, method, is_synthetic, count(*) AS rows, sum(is_fraud) AS frauds,
# MAGIC        max(generator_version) AS generator_version
# MAGIC FROM fraud.augmented_training_sets
# MAGIC GROUP BY training_set, method, is_synthetic
# MAGIC ORDER BY training_set, method, is_synthetic

# COMMAND ----------

# MAGIC %md
# MAGIC ## Train the classifier on the GAN-augmented set and register it
# MAGIC An MLP on log-scaled, standardised features, exported as TorchScript with the table
# MAGIC version it read, registered as a new version of `fraud-classifier`.

# COMMAND ----------

from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.pipelines.train import register_classifier, train_classifier

classifier_config = ClassifierConfig(epochs=classifier_epochs, seed=seed)
classifier = train_classifier(spark, config, training_set, gan, training=classifier_config)
print(classifier.summary())
classifier_version = register_classifier(config, classifier)
print(f"registered fraud-classifier/{classifier_version}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The oversampling leaderboard
# MAGIC Quality is not the goal: detection is. The protocol's three weeks ending on `train_end`
# MAGIC (train on the first, skip a week while labels arrive, test on the last), the same two
# MAGIC classifiers (MLP, XGBoost) after each method, one row of `fraud.evaluations` per
# MAGIC (method, classifier, ratio, seed). One seed here, so each cell reads `value ± 0.000`;
# MAGIC `fraudspark evaluate --oversampling ... --classifiers mlp,gbt --ratios ... --seeds 3`
# MAGIC and `bench/oversampling.py` run several seeds for a real mean ± std and the paired
# MAGIC comparison of the best setting with `none` and SMOTE.

# COMMAND ----------

from fraudspark.evaluation.protocol import ProtocolWindow
from fraudspark.models.classifiers.gbt import GbtParams
from fraudspark.pipelines.evaluate import evaluate_oversampling, write_evaluations

window = ProtocolWindow(train_end - timedelta(days=20), train_days=7, delay_days=7, test_days=7)
evaluation = evaluate_oversampling(
    spark, config, window, ["none", "smote", gan, "diffusion"], seeds=[seed],
    ratios=[ratio], steps=steps, classifiers=["mlp", "gbt"],
    classifier=classifier_config, gbt=GbtParams(n_estimators=gbt_trees),
)  # fmt: skip
write_evaluations(spark, config, evaluation)
print(evaluation.leaderboard().to_string(index=False))

# COMMAND ----------

# MAGIC %md
# MAGIC The same leaderboard read back from `fraud.evaluations` (one module, one column list:
# MAGIC `fraudspark.evaluation.leaderboard`), best mean average precision first per classifier:

# COMMAND ----------

from fraudspark.evaluation.leaderboard import evaluation_rows, format_leaderboard, leaderboard

board = leaderboard(evaluation_rows(spark, config, evaluation.evaluation_id))
board = board.sort_values(["model_name", "average_precision_mean"], ascending=[True, False])
print(format_leaderboard(board).to_string(index=False))

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT model_name, oversampling, ratio, seed, round(auc_roc, 3) AS auc_roc,
# MAGIC        round(average_precision, 3) AS average_precision, round(cp_at_100, 3) AS cp_at_100,
# MAGIC        round(two_sample_auc, 3) AS two_sample_auc, invalid_rows,
# MAGIC        round(train_seconds, 1) AS train_seconds, train_rows, test_frauds
# MAGIC FROM fraud.evaluations
# MAGIC WHERE model_name LIKE 'classifier-%'
# MAGIC ORDER BY evaluated_at DESC, model_name, average_precision DESC
# MAGIC LIMIT 16
