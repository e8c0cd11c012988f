"""Detection benchmark: every model on three data sources, under ``fraudspark evaluate``'s protocol.

    python bench/detection.py [--sources ours,handbook,sparkov] [--seeds 0,1,2]
        [--customers N --terminals N --days N] [--sparkov-cards N] [--epochs E]
        [--mlp-epochs E] [--trees N] [--models ...] [--out results.csv]

Sources (each a row block of the table):
- ``ours``: our simulator with ``conf/local.yaml``'s generator (all five fraud scenarios); full
  size 5,000 customers, 10,000 terminals, 75 days from 2025-01-01, training from day 45;
- ``handbook``: the Handbook-compatible preset (:mod:`fraudspark.simulate.handbook`: its
  generator parameters, its three scenarios); full size 5,000 / 10,000 / 183 days from
  2018-04-01, training from day 115 (2018-07-25);
- ``sparkov``: the third-party Sparkov sample ``../shared/data/sparkov-300cards-2023h1.csv.gz``
  read by ``bench/detection_research.py``'s loader (cc_num -> customer, merchant -> terminal;
  ``profile`` never read), training from 2023-05-01; CP@10 instead of CP@100 (300 cards).
``--customers/--terminals/--days`` shrink the simulated worlds (the training start moves to at
most ``days - 21``) and ``--sparkov-cards`` keeps the first N cards: tiny runs for checking the
script; the figures worth reporting come from the full size.

Features: the store's windowed and monthly features, computed in process by the same numpy code
the Spark job runs (``detection_research.featurise``), then the kind-driven input transform with
the four ratio features (``hb15r`` of the research: 15 Handbook features + ratios, robust
scaling fitted on genuine training rows). Protocol: train 7 days, 7-day label delay, test 7
days, test rows of customers known to be compromised left out. Anomaly scorers train on genuine
training rows; classifiers on all training rows.

Models, all in the same run: ``ae``, ``vae``, ``rapp-sap``, ``rapp-nap`` (fraudspark's scorers),
``mahalanobis`` (fraudspark's Ledoit-Wolf baseline), ``iforest`` (scikit-learn IsolationForest,
100 trees), ``rf`` (scikit-learn RandomForestClassifier, 100 trees, depth 20), ``gbt``
(fraudspark's XGBoost classifier), ``mlp`` (fraudspark's MLP classifier), and ``gbt+gen`` (the
GBT with the same seed's RaPP-NAP and VAE scores as two more inputs: the "generative
features"). Each row of the table: AUC ROC, AP, CP@k as mean ± std over the seeds, and the mean
training seconds (the machine's load is printed with it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import detection_research as research

from fraudspark.config import GeneratorConfig, load_config
from fraudspark.evaluation.protocol import ProtocolWindow
from fraudspark.features.transforms import DEFAULT_RATIOS, InputTransform
from fraudspark.models.anomaly.autoencoder import AutoencoderScorer
from fraudspark.models.anomaly.baselines import MahalanobisScorer
from fraudspark.models.anomaly.rapp import RappScorer
from fraudspark.models.anomaly.vae import VaeScorer
from fraudspark.models.classifiers.gbt import GbtClassifier, GbtParams
from fraudspark.models.classifiers.mlp import ClassifierConfig, MLPClassifier
from fraudspark.models.training import TrainingConfig
from fraudspark.simulate.generator import _Simulation
from fraudspark.simulate.handbook import handbook_config

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "fraudspark-bench-detection"
MODELS = (
    "ae",
    "vae",
    "rapp-sap",
    "rapp-nap",
    "mahalanobis",
    "iforest",
    "rf",
    "gbt",
    "mlp",
    "gbt+gen",
)


@dataclass(frozen=True)
class Source:
    name: str
    start: date
    days: int  # full size
    train_offset_days: int  # full size
    k: int  # CP@k


SOURCES = {
    "ours": Source("ours", date(2025, 1, 1), 75, 45, 100),
    "handbook": Source("handbook", date(2018, 4, 1), 183, 115, 100),
    "sparkov": Source("sparkov", date(2023, 1, 1), 181, 120, 10),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def simulated(params: GeneratorConfig, customers: int, terminals: int, days: int, start: date):
    """The simulator's payments drawn in this process (the rows the Spark generator writes)."""
    simulation = _Simulation.draw(
        params, customers=customers, terminals=terminals, days=days, seed=0
    )
    frame = simulation.payments(np.arange(customers, dtype=np.int64))
    midnight = datetime.combine(start, clock(), timezone.utc).replace(tzinfo=None)
    frame["tx_ts"] = pd.Timestamp(midnight) + pd.to_timedelta(frame["tx_seconds"], unit="s")
    frame["is_fraud"] = (frame["tx_fraud_scenario"] > 0).astype(np.int32)
    frame = frame.sort_values(["tx_ts", "tx_id"], ignore_index=True)
    return frame[["tx_ts", "customer_id", "terminal_id", "tx_amount", "is_fraud"]]


def feature_table(source: Source, args: argparse.Namespace) -> tuple[pd.DataFrame, ProtocolWindow]:
    """The source's featurised payments (cached per size) and its protocol window."""
    if source.name == "sparkov":
        size = f"cards{args.sparkov_cards}"
        days = source.days
    else:
        days = args.days or source.days
        size = f"c{args.customers}-t{args.terminals}-d{days}"
    offset = min(source.train_offset_days, days - 21)
    if offset < 1:
        raise SystemExit(f"--days must be at least 22 for a 7+7+7-day protocol, got {days}")
    window = ProtocolWindow(source.start + timedelta(days=offset))
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{source.name}-{size}.parquet"
    if path.exists():
        return pd.read_parquet(path), window
    started = time.perf_counter()
    if source.name == "sparkov":
        payments = research.load_transactions("sparkov")
        if args.sparkov_cards:
            payments = payments[payments["customer_id"] < args.sparkov_cards]
            payments = payments.reset_index(drop=True)
    else:
        base = load_config(REPO / "conf" / "local.yaml").generator
        params = handbook_config(base) if source.name == "handbook" else base
        payments = simulated(params, args.customers, args.terminals, days, source.start)
    table = research.featurise(payments)
    table.to_parquet(path)
    log(f"{source.name}: {len(table)} rows featurised in {time.perf_counter() - started:.0f} s")
    return table, window


def run_source(source: Source, args: argparse.Namespace, seeds: list[int]) -> list[dict]:
    table, window = feature_table(source, args)
    train, test = research.split(table, window)
    genuine = train[train["is_fraud"] == 0]
    labels = train["is_fraud"].to_numpy()
    log(
        f"{source.name}: train {window.train_start}..{window.train_end} {len(train)} rows "
        f"({int(labels.sum())} frauds), test {window.test_start}..{window.test_end} "
        f"{len(test)} rows ({int(test['is_fraud'].sum())} frauds, "
        f"{test['customer_id'].nunique()} cards), CP@{source.k}"
    )
    if labels.sum() == 0 or test["is_fraud"].nunique() < 2:
        raise SystemExit(f"{source.name}: too small for the protocol (no frauds); enlarge it")
    columns = research.HB15
    kinds = {name: research.kind_of(name) for name in columns}
    transform = InputTransform.fit(genuine, kinds, columns, list(DEFAULT_RATIOS))
    names = transform.columns
    genuine_x, train_x, test_x = (transform.transform(f) for f in (genuine, train, test))
    # Neutral names: the MLP applies no second log1p to already transformed columns.
    neutral = [f"x{i}" for i in range(len(names))]
    models = args.models.split(",")
    rows: list[dict] = []

    def record(model: str, seed: int, scores: np.ndarray, seconds: float) -> None:
        rows.append(
            {
                "source": source.name,
                "model": model,
                "seed": seed,
                **research.metrics(test, np.asarray(scores, np.float64), source.k),
                "seconds": seconds,
            }
        )

    for seed in seeds:
        training = TrainingConfig(
            hidden_dims=(32, 16),
            latent_dim=4,
            epochs=args.epochs,
            early_stopping_patience=5,
            seed=seed,
        )
        generative: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if "ae" in models:
            started = time.perf_counter()
            ae = AutoencoderScorer(training=training).fit(genuine_x, names)
            record("ae", seed, ae.decision_function(test_x), time.perf_counter() - started)
        if {"rapp-sap", "rapp-nap", "gbt+gen"} & set(models):
            started = time.perf_counter()
            rapp = RappScorer(training=training).fit(genuine_x, names)
            seconds = time.perf_counter() - started
            outputs = rapp.score_outputs(test_x)
            for score in ("sap", "nap"):
                if f"rapp-{score}" in models:
                    record(f"rapp-{score}", seed, outputs[score], seconds)
            generative["nap"] = (rapp.decision_function(train_x), outputs["nap"])
        if {"vae", "gbt+gen"} & set(models):
            started = time.perf_counter()
            vae = VaeScorer(training=training).fit(genuine_x, names)
            seconds = time.perf_counter() - started
            vae_test = vae.decision_function(test_x)
            if "vae" in models:
                record("vae", seed, vae_test, seconds)
            generative["vae"] = (vae.decision_function(train_x), vae_test)
        if "mahalanobis" in models:
            started = time.perf_counter()
            maha = MahalanobisScorer(seed=seed).fit(genuine_x, names)
            seconds = time.perf_counter() - started
            record("mahalanobis", seed, maha.decision_function(test_x), seconds)
        if "iforest" in models:
            from sklearn.ensemble import IsolationForest

            started = time.perf_counter()
            forest = IsolationForest(n_estimators=100, random_state=seed, n_jobs=args.jobs)
            forest.fit(genuine_x)
            seconds = time.perf_counter() - started
            record("iforest", seed, -forest.score_samples(test_x), seconds)
        if "rf" in models:
            from sklearn.ensemble import RandomForestClassifier

            started = time.perf_counter()
            rf = RandomForestClassifier(
                n_estimators=100, max_depth=20, random_state=seed, n_jobs=args.jobs
            ).fit(train_x, labels)
            seconds = time.perf_counter() - started
            record("rf", seed, rf.predict_proba(test_x)[:, 1], seconds)
        params = GbtParams(n_estimators=args.trees, seed=seed, n_threads=args.jobs)
        if "gbt" in models:
            started = time.perf_counter()
            gbt = GbtClassifier(params).fit(train_x, labels, names)
            seconds = time.perf_counter() - started
            record("gbt", seed, gbt.predict_proba(test_x, names), seconds)
        if "gbt+gen" in models:
            # The generative features: this seed's RaPP-NAP and VAE scores, log1p'd.
            gen_names = [*names, "log1p_rapp_nap", "log1p_vae"]
            gen_train, gen_test = (
                np.column_stack(
                    [rows_x, *(np.log1p(np.maximum(generative[k][i], 0)) for k in ("nap", "vae"))]
                )
                for i, rows_x in enumerate((train_x, test_x))
            )
            started = time.perf_counter()
            gen = GbtClassifier(params).fit(gen_train, labels, gen_names)
            seconds = time.perf_counter() - started
            record("gbt+gen", seed, gen.predict_proba(gen_test, gen_names), seconds)
        if "mlp" in models:
            config = ClassifierConfig(epochs=args.mlp_epochs, seed=seed)
            started = time.perf_counter()
            mlp = MLPClassifier(config).fit(pd.DataFrame(train_x, columns=neutral), labels)
            seconds = time.perf_counter() - started
            scores = mlp.predict_proba(pd.DataFrame(test_x, columns=neutral))
            record("mlp", seed, scores, seconds)
        log(f"{source.name}: seed {seed} done")
    return rows


def summary(results: pd.DataFrame) -> str:
    """Markdown table: per source and model, mean ± std over seeds and mean training seconds."""
    lines = [
        "| source | model | AUC ROC | AP | CP@k | k | training s |",
        "|---|---|---|---|---|---|---|",
    ]
    for (source, model), group in results.groupby(["source", "model"], sort=False):
        cells = [
            f"{group[m].mean():.3f} ± {group[m].std(ddof=1) if len(group) > 1 else 0.0:.3f}"
            for m in ("auc", "ap", "cp")
        ]
        k = SOURCES[str(source)].k
        lines.append(
            f"| {source} | {model} | {' | '.join(cells)} | {k} | {group['seconds'].mean():.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sources", default="ours,handbook,sparkov")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=0, help="0: each source's full length")
    parser.add_argument("--sparkov-cards", type=int, default=0, help="0: all 300 cards")
    parser.add_argument("--epochs", type=int, default=40, help="anomaly scorers (early stop 5)")
    parser.add_argument("--mlp-epochs", type=int, default=ClassifierConfig.epochs)
    parser.add_argument("--trees", type=int, default=GbtParams.n_estimators)
    parser.add_argument("--jobs", type=int, default=2, help="threads for sklearn and XGBoost")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default=None, help="CSV of every (source, model, seed) row")
    args = parser.parse_args()
    unknown = set(args.models.split(",")) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown models {sorted(unknown)}: choose from {list(MODELS)}")
    torch.set_num_threads(1)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    log(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {vars(args)}")
    rows = []
    for name in args.sources.split(","):
        rows += run_source(SOURCES[name], args, seeds)
    results = pd.DataFrame(rows)
    if args.out:
        results.to_csv(args.out, index=False)
    print(f"\nmean ± std over seeds {seeds}; load average {os.getloadavg()[0]:.1f}")
    print(summary(results))


if __name__ == "__main__":
    main()
