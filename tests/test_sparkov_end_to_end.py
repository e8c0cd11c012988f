"""The "your own data" walkthrough on a foreign dataset: the Sparkov sample of
../shared/data (beside the repository), ingested with the `sparkov` mapping,
featurised, a scorer and the MLP classifier trained (tiny epochs), a day scored and its scores
joined back to the source's own transaction ids.

By default the test writes a two-month slice (January and February 2023, by ``unix_time``) of
the file, to stay within a few minutes on two cores; ``FRAUDSPARK_SPARKOV_MONTHS=6`` runs the
whole file (135,013 payments).
"""

from __future__ import annotations

import gzip
import os
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fraudspark.config import Config
from fraudspark.lakehouse.io import read_table
from fraudspark.lakehouse.tables import QUARANTINE, SCORES, TRANSACTIONS
from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.pipelines.oversample import oversample_training_set
from fraudspark.pipelines.score import score_days
from fraudspark.pipelines.train import register_classifier, train_classifier, train_scorer
from fraudspark.pipelines.training_sets import build_training_set
from fraudspark.registry import CLASSIFIER_MODEL_NAME, MODEL_NAMES, register_model

SAMPLE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SAMPLE_FILE = "sparkov-300cards-2023h1.csv.gz"
FULL_ROWS = 135_013  # the sample's README
NOW = datetime(2023, 7, 1, tzinfo=timezone.utc)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def sample_path() -> Path:
    path = SAMPLE / SAMPLE_FILE
    assert path.exists(), f"{path} is missing: the test needs ../shared/data (its README)"
    return path


def write_slice(months: int, target: Path) -> list[list[str]]:
    """The sample's rows whose ``unix_time`` falls in the first ``months`` months of 2023,
    copied byte for byte under its header; returns them split into fields."""
    end = datetime(2023, 1 + months, 1, tzinfo=timezone.utc) if months < 12 else None
    cutoff = int(end.timestamp()) if end is not None else None
    kept: list[list[str]] = []
    with gzip.open(sample_path(), "rt", encoding="utf-8", newline="") as source:
        header = source.readline()
        with gzip.open(target, "wt", encoding="utf-8", newline="") as out:
            out.write(header)
            for line in source:
                fields = line.rstrip("\n").split("|")
                if cutoff is None or int(fields[6]) < cutoff:
                    out.write(line)
                    kept.append(fields)
    return kept


def test_sparkov_walkthrough(
    spark: SparkSession, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSPARK_TOKEN_KEY", "test-only-key-" + "k" * 24)
    months = int(os.environ.get("FRAUDSPARK_SPARKOV_MONTHS", "2"))
    source = tmp_path / "sparkov" / "part.csv.gz"
    source.parent.mkdir()
    rows = write_slice(months, source)
    if months >= 6:
        assert len(rows) == FULL_ROWS
    # What the file holds, independently of Spark: every row is well-formed, and a payment is
    # unique by trans_num and card, not by trans_num alone (the simulator draws it per profile
    # file; the mapping's tx_id_scope keeps the repeats apart).
    assert {len(r) for r in rows} == {15}
    assert len({(r[3], r[0]) for r in rows}) == len(rows) > len({r[3] for r in rows})

    report = ingest_transactions(spark, config, str(source), now=NOW, mapping="sparkov")
    assert (report.read, report.accepted, report.quarantined, report.present) == (
        len(rows), len(rows), 0, 0,
    )  # fmt: skip
    assert read_table(spark, config, QUARANTINE).count() == 0
    again = ingest_transactions(spark, config, str(source), now=NOW, mapping="sparkov")
    assert (again.read, again.accepted, again.quarantined, again.present) == (
        len(rows), 0, 0, len(rows),
    )  # fmt: skip
    transactions = read_table(spark, config, TRANSACTIONS)
    cards = {r[0] for r in rows}
    stored = transactions.agg(
        F.countDistinct("customer_id"), F.countDistinct("terminal_id"), F.sum("is_fraud")
    ).first()
    assert stored is not None
    assert tuple(stored) == (len(cards), len({r[10] for r in rows}), sum(int(r[9]) for r in rows))
    # No card number in clear anywhere in the table.
    clear = transactions.where(
        F.col("source_customer_id").isin(list(cards)) | F.to_json("extra").rlike("[0-9]{15,19}")
    )
    assert clear.count() == 0

    compute_features(spark, config)
    last = date(2023, months, 28) if months < 12 else date(2023, 6, 30)
    train_start, train_end = date(2023, months, 1), date(2023, months, 21)
    trained = train_scorer(
        spark, config, "ae", train_start, train_end, training=TrainingConfig(epochs=1, seed=1)
    )
    register_model(config, MODEL_NAMES["ae"], trained.artifact, trained.params)
    build_training_set(spark, config, "sparkov", train_start, train_end)
    oversample_training_set(spark, config, "sparkov", "smote", ratio=0.2, seed=0)
    classifier = train_classifier(
        spark, config, "sparkov", "smote",
        training=ClassifierConfig(hidden_dims=(16,), epochs=2, batch_size=256, seed=3),
    )  # fmt: skip
    register_classifier(config, classifier)

    day = [r for r in rows if datetime.fromtimestamp(int(r[6]), timezone.utc).date() == last]
    for model in (MODEL_NAMES["ae"], CLASSIFIER_MODEL_NAME):
        score_days(spark, config, model, last, last)
        scored = (
            read_table(spark, config, SCORES)
            .where((F.col("tx_date") == F.lit(last)) & (F.col("model_name") == model))
            .join(transactions.select("tx_id", "source_tx_id"), "tx_id")
        )
        # Every payment of the day scored once, named by the source's own trans_num (and card).
        named = [r["source_tx_id"].split("|")[0] for r in scored.collect()]
        assert sorted(named) == sorted(r[3] for r in day)
