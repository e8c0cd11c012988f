"""Detection research outside Spark: model inputs, RaPP-NAP, Mahalanobis and GBT on two sources.

    python bench/detection_research.py --source handbook|sparkov [--seeds 0,1,2] [--epochs 40]
        [--sets raw,hb15,hb15r,all_r] [--models ae,gbt,...]

Sources: ``handbook`` = the Handbook-compatible preset of our simulator (seed 0, in-process);
``sparkov`` = ../shared/data/sparkov-300cards-2023h1.csv.gz (cc_num -> customer, merchant ->
terminal, unix_time -> ts, amt, is_fraud; ``profile`` is never read). Features are the store's
windowed features computed by :func:`fraudspark.features.windowed.entity_window_features` (the
same numpy code the Spark job runs) plus the terminal's 30-day mean amount; no monthly features.

Protocol of ``fraudspark evaluate``: train 7 days, 7-day delay, test 7 days; anomaly scorers
train on the genuine training rows (known frauds out), classifiers on all training rows; test
rows of customers known to be compromised are left out. Metrics: AUC ROC, AP (scikit-learn),
CP@k (k = 100 for the Handbook-like data, 10 for the 300 Sparkov cards).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudspark.config import FeatureConfig
from fraudspark.evaluation.protocol import (
    ProtocolWindow,
    card_precision_at_k,
    exclude_known_compromised,
)
from fraudspark.features.definitions import (
    Window,
    WindowSpec,
    customer_windows,
    terminal_windows,
)
from fraudspark.features.transforms import DEFAULT_RATIOS, InputTransform
from fraudspark.features.windowed import entity_window_features
from fraudspark.models.anomaly.rapp import RappScorer, rapp_differences
from fraudspark.models.training import TrainingConfig

# The third-party sample beside the repository (../shared/data) and a cache in the temp dir.
SPARKOV = Path(__file__).resolve().parents[2] / "shared" / "data" / "sparkov-300cards-2023h1.csv.gz"
CACHE = Path(tempfile.gettempdir()) / "fraudspark-detection-research"
SOURCES = {
    # source: (protocol window, CP@k)
    "handbook": (ProtocolWindow(date(2018, 7, 25)), 100),
    "sparkov": (ProtocolWindow(date(2023, 5, 1)), 10),
}
HB15 = [
    "tx_amount", "tx_during_weekend", "tx_during_night",
    "cust_nb_tx_1d", "cust_avg_amount_1d", "cust_nb_tx_7d", "cust_avg_amount_7d",
    "cust_nb_tx_30d", "cust_avg_amount_30d",
    "term_nb_tx_1d", "term_risk_1d", "term_nb_tx_7d", "term_risk_7d",
    "term_nb_tx_30d", "term_risk_30d",
]  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def kind_of(name: str) -> str:
    if name in ("tx_during_weekend", "tx_during_night"):
        return "flag"
    if name.endswith("_missing"):
        return "missing"
    if name.endswith("_fraud_rate"):
        return "risk"
    if name.endswith(("_nb_tx", "_nb_counterparties")):
        return "count"
    if name.endswith(("_avg_amount", "_std_amount")):
        return "amount"
    if "_nb_tx_" in name:
        return "count"
    if "_risk_" in name:
        return "risk"
    if name.endswith("_missing"):
        return "missing"
    if name == "tx_amount" or "_avg_amount_" in name:
        return "amount"
    raise ValueError(f"no kind for {name}")


def load_transactions(source: str) -> pd.DataFrame:
    if source == "handbook":
        from fraudspark.simulate.handbook import handbook_transactions_pandas

        frame = handbook_transactions_pandas(seed=0)
        return frame[["tx_ts", "customer_id", "terminal_id", "tx_amount", "is_fraud"]]
    raw = pd.read_csv(
        SPARKOV,
        sep="|",
        usecols=["cc_num", "unix_time", "amt", "is_fraud", "merchant"],
        dtype={"cc_num": str, "merchant": str},
    )
    return pd.DataFrame(
        {
            "tx_ts": pd.to_datetime(raw["unix_time"], unit="s"),
            "customer_id": pd.factorize(raw["cc_num"])[0].astype(np.int64),
            "terminal_id": pd.factorize(raw["merchant"])[0].astype(np.int64),
            "tx_amount": raw["amt"].astype(np.float64),
            "is_fraud": raw["is_fraud"].astype(np.int32),
        }
    ).sort_values("tx_ts", kind="stable", ignore_index=True)


def featurise(frame: pd.DataFrame) -> pd.DataFrame:
    config = FeatureConfig()
    ts = frame["tx_ts"].to_numpy("datetime64[us]").astype(np.int64)
    amount = frame["tx_amount"].to_numpy(np.float64)
    fraud = frame["is_fraud"].to_numpy(np.float64)
    out = frame.copy()
    out["tx_date"] = out["tx_ts"].dt.date
    out["tx_during_weekend"] = out["tx_ts"].dt.dayofweek.isin([5, 6]).astype(np.int32)
    out["tx_during_night"] = (out["tx_ts"].dt.hour <= 6).astype(np.int32)
    specs = [
        ("customer_id", customer_windows(config)),
        ("terminal_id", terminal_windows(config)),
        # The terminal's own mean amount (not yet a store column; the monthly one is close).
        ("terminal_id", WindowSpec("terminal", (Window(30 * 24 * 60),), ())),
    ]
    for key, spec in specs:
        columns = entity_window_features(frame[key].to_numpy(np.int64), ts, amount, fraud, spec)
        for name, values in columns.items():
            out[name] = values
    for key, prefix in (("customer_id", "cust"), ("terminal_id", "term")):
        out = add_monthly(out, key, prefix, config)
    return out


def add_monthly(out: pd.DataFrame, key: str, prefix: str, config: FeatureConfig) -> pd.DataFrame:
    """The store's monthly columns in pandas: month m's values visible in months m+1..m+1+2
    (the youngest wins), terminals' fraud rate over labels known a delay before month end."""
    month = out["tx_ts"].dt.year * 12 + out["tx_ts"].dt.month - 1
    visible = pd.to_datetime({"year": (month + 1) // 12, "month": (month + 1) % 12 + 1, "day": 1})
    known = out["tx_ts"] <= visible - pd.Timedelta(days=config.label_delay_days)
    work = pd.DataFrame(
        {
            key: out[key],
            "m": month,
            "amount": out["tx_amount"],
            "other": out["terminal_id" if key == "customer_id" else "customer_id"],
            "known": known.astype(int),
            "kfraud": (known & (out["is_fraud"] == 1)).astype(int),
        }
    )
    monthly = (
        work.groupby([key, "m"])
        .agg(
            nb_tx=("amount", "size"),
            avg_amount=("amount", "mean"),
            std_amount=("amount", lambda a: a.std(ddof=0)),
            nb_counterparties=("other", "nunique"),
            known=("known", "sum"),
            kfraud=("kfraud", "sum"),
        )
        .reset_index()
    )
    measures = ["nb_tx", "avg_amount", "std_amount", "nb_counterparties"]
    if prefix == "term":
        monthly["fraud_rate"] = np.where(
            monthly["known"] > 0, monthly["kfraud"] / monthly["known"].clip(lower=1), 0.0
        )
        measures.append("fraud_rate")
    candidates = []
    for age in range(1, config.monthly_staleness_months + 2):
        shifted = monthly[[key, "m", *measures]].copy()
        shifted["m"] = shifted["m"] + age
        shifted["age"] = age
        candidates.append(shifted)
    best = pd.concat(candidates).sort_values("age").drop_duplicates([key, "m"])
    best = best.rename(columns={m: f"{prefix}_month_{m}" for m in measures})
    merged = out.assign(m=month.to_numpy()).merge(
        best.drop(columns="age"), on=[key, "m"], how="left"
    )
    merged[f"{prefix}_month_missing"] = merged[f"{prefix}_month_nb_tx"].isna().astype(int)
    return merged.drop(columns="m")


def feature_table(source: str) -> pd.DataFrame:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{source}-v2.parquet"
    if path.exists():
        return pd.read_parquet(path)
    started = time.perf_counter()
    table = featurise(load_transactions(source))
    table.to_parquet(path)
    log(f"{source}: {len(table)} rows featurised in {time.perf_counter() - started:.0f} s")
    return table


def split(table: pd.DataFrame, window: ProtocolWindow) -> tuple[pd.DataFrame, pd.DataFrame]:
    dates = pd.to_datetime(table["tx_date"])
    train = table[
        (dates >= pd.Timestamp(window.train_start)) & (dates <= pd.Timestamp(window.train_end))
    ]
    test = table[
        (dates >= pd.Timestamp(window.test_start)) & (dates <= pd.Timestamp(window.test_end))
    ]
    known_by = window.test_end - timedelta(days=window.delay_days + 1)
    frauds = table[
        (table["is_fraud"] == 1)
        & (dates >= pd.Timestamp(window.train_start))
        & (dates <= pd.Timestamp(known_by))
    ][["customer_id", "tx_date"]]
    return train.reset_index(drop=True), exclude_known_compromised(
        test, frauds, window
    ).reset_index(drop=True)


def metrics(test: pd.DataFrame, scores: np.ndarray, k: int) -> dict[str, float]:
    labels = test["is_fraud"].to_numpy()
    frame = test[["customer_id", "tx_date", "is_fraud"]].assign(score=scores)
    cp, _ = card_precision_at_k(frame, "score", k)
    return {
        "auc": float(roc_auc_score(labels, scores)),
        "ap": float(average_precision_score(labels, scores)),
        "cp": cp,
    }


def feature_set(name: str, table: pd.DataFrame) -> tuple[list[str], bool, list]:
    """(input columns, transformed?, ratios)."""
    everything = [
        c
        for c in table.columns
        if c
        not in ("tx_ts", "tx_date", "customer_id", "terminal_id", "is_fraud", "term_avg_amount_30d")
    ]
    return {
        "raw": (everything, False, []),
        "hb15raw": (HB15, False, []),
        "hb15": (HB15, True, []),
        "hb15r": (HB15, True, list(DEFAULT_RATIOS)),
        "all_r": (everything, True, list(DEFAULT_RATIOS)),
    }[name]


def inputs_for(name: str, train: pd.DataFrame, test: pd.DataFrame, genuine: pd.DataFrame):
    columns, transformed, ratios = feature_set(name, train)
    if not transformed:
        return (
            np.nan_to_num(train[columns].to_numpy(np.float64)),
            np.nan_to_num(test[columns].to_numpy(np.float64)),
            np.nan_to_num(genuine[columns].to_numpy(np.float64)),
            columns,
        )
    transform = InputTransform.fit(genuine, {c: kind_of(c) for c in columns}, columns, ratios)
    return (
        transform.transform(train),
        transform.transform(test),
        transform.transform(genuine),
        transform.columns,
    )


def nap_scores(
    train_d: np.ndarray, test_d: np.ndarray, *, rtol: float = 1e-6, block_norm=None
) -> np.ndarray:
    if block_norm is not None:
        train_d, test_d = train_d / block_norm, test_d / block_norm
    mean = train_d.mean(axis=0)
    _, s, vt = np.linalg.svd(train_d - mean, full_matrices=False)
    kept = s >= rtol * s[0]
    return ((((test_d - mean) @ vt[kept].T) / s[kept]) ** 2).sum(axis=1)


def rapp_family(genuine_x, test_x, seed, epochs, hidden, latent):
    """One autoencoder; reconstruction error, SAP and NAP variants from it."""
    training = TrainingConfig(
        hidden_dims=hidden, latent_dim=latent, epochs=epochs, early_stopping_patience=5, seed=seed
    )
    started = time.perf_counter()
    scorer = RappScorer(training=training).fit(genuine_x)
    seconds = time.perf_counter() - started
    network = scorer.scoring_module_.network
    std = scorer.standardiser_
    g = torch.from_numpy(std.transform(genuine_x))
    t = torch.from_numpy(std.transform(test_x))
    with torch.no_grad():
        rec = ((network(t) - t) ** 2).sum(dim=1).numpy()
    n_layers = len(hidden) + 2
    results = {"ae": rec}
    layer_sets = {
        "all": list(range(n_layers)),
        "hidden": list(range(1, n_layers)),
        "no_input": list(range(1, n_layers)),
        "input_hidden": list(range(0, n_layers - 1)),
    }
    widths = [genuine_x.shape[1], *hidden, latent]
    for lname, layers in layer_sets.items():
        if lname == "no_input":
            continue
        gd = rapp_differences(network, g, layers).numpy()
        td = rapp_differences(network, t, layers).numpy()
        results[f"sap_{lname}"] = (td**2).sum(axis=1)
        for rtol in (1e-6, 1e-2, 1e-1) if lname == "all" else (1e-6,):
            results[f"nap_{lname}_r{rtol:g}"] = nap_scores(gd, td, rtol=rtol)
        if lname != "all":
            continue
        # Each layer's block divided by its training RMS difference: layers weigh the same.
        bounds = np.cumsum([0, *[widths[i] for i in layers]])
        norm = np.concatenate(
            [
                np.full(
                    bounds[j + 1] - bounds[j],
                    np.sqrt((gd[:, bounds[j] : bounds[j + 1]] ** 2).sum(axis=1).mean()) + 1e-12,
                )
                for j in range(len(layers))
            ]
        )
        for rtol in (1e-6, 1e-2):
            results[f"napbn_{lname}_r{rtol:g}"] = nap_scores(gd, td, rtol=rtol, block_norm=norm)
    return results, seconds, scorer.training_metrics_


def mahalanobis(genuine_x, test_x, estimator):
    from sklearn.covariance import EmpiricalCovariance, LedoitWolf, MinCovDet

    est = {
        "mcd": lambda: MinCovDet(random_state=0, support_fraction=0.9),
        "lw": LedoitWolf,
        "emp": EmpiricalCovariance,
    }[estimator]()
    rows = genuine_x
    if estimator == "mcd" and len(rows) > 20000:
        rows = rows[np.random.default_rng(0).choice(len(rows), 20000, replace=False)]
    started = time.perf_counter()
    est.fit(rows)
    return est.mahalanobis(test_x), time.perf_counter() - started


def gbt(kind, train_x, train_y, test_x, seed, params):
    started = time.perf_counter()
    if kind == "lgbm":
        import lightgbm as lgb

        model = lgb.LGBMClassifier(random_state=seed, verbose=-1, n_jobs=2, **params)
    elif kind == "xgb":
        import xgboost as xgb

        model = xgb.XGBClassifier(random_state=seed, n_jobs=2, tree_method="hist", **params)
    elif kind == "rf":
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(random_state=seed, n_jobs=2, **params)
    model.fit(train_x, train_y)
    return model.predict_proba(test_x)[:, 1], time.perf_counter() - started


GBT_PARAMS = {
    "xgb_d3": ("xgb", {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1}),
    "xgb_d6": ("xgb", {"n_estimators": 100, "max_depth": 6, "learning_rate": 0.1}),
    "xgb_d6_300": (
        "xgb",
        {
            "n_estimators": 300,
            "max_depth": 6,
            "learning_rate": 0.05,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
        },
    ),
    "xgb_d4_500": (
        "xgb",
        {
            "n_estimators": 500,
            "max_depth": 4,
            "learning_rate": 0.03,
            "subsample": 0.8,
            "colsample_bytree": 0.6,
            "min_child_weight": 5,
        },
    ),
    "lgbm_31": ("lgbm", {"n_estimators": 100, "num_leaves": 31, "learning_rate": 0.1}),
    "lgbm_15_300": (
        "lgbm",
        {
            "n_estimators": 300,
            "num_leaves": 15,
            "learning_rate": 0.05,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.8,
            "min_child_samples": 20,
        },
    ),
    "rf": ("rf", {"n_estimators": 100, "max_depth": 20}),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", default="handbook")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--sets", default="raw,hb15,hb15r")
    parser.add_argument("--models", default="rapp,maha,gbt")
    parser.add_argument("--hidden", default="32,16")
    parser.add_argument("--latent", type=int, default=4)
    parser.add_argument("--gbt", default=",".join(GBT_PARAMS))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    window, k = SOURCES[args.source]
    table = feature_table(args.source)
    train, test = split(table, window)
    genuine = train[train["is_fraud"] == 0]
    log(
        f"{args.source}: train {len(train)} rows ({int(train['is_fraud'].sum())} frauds), "
        f"test {len(test)} rows ({int(test['is_fraud'].sum())} frauds), "
        f"{test['customer_id'].nunique()} test cards, CP@{k}"
    )
    seeds = [int(s) for s in args.seeds.split(",")]
    hidden = tuple(int(h) for h in args.hidden.split(","))
    models = args.models.split(",")
    rows = []

    def record(fs, model, seed, scores, seconds):
        row = {
            "source": args.source,
            "set": fs,
            "model": model,
            "seed": seed,
            **metrics(test, scores, k),
            "seconds": seconds,
        }
        rows.append(row)

    for fs in args.sets.split(","):
        train_x, test_x, genuine_x, names = inputs_for(fs, train, test, genuine)
        log(f"set {fs}: {len(names)} inputs")
        if "rapp" in models:
            for seed in seeds:
                results, seconds, tm = rapp_family(
                    genuine_x, test_x, seed, args.epochs, hidden, args.latent
                )
                for model, scores in results.items():
                    record(fs, model, seed, scores, seconds)
                log(
                    f"  rapp seed {seed}: {seconds:.0f} s, epochs {tm.get('epochs_run')}, "
                    f"best {tm.get('best_epoch')}"
                )
        if "vae" in models:
            from fraudspark.models.anomaly.vae import VaeScorer

            for seed in seeds:
                started = time.perf_counter()
                training = TrainingConfig(
                    hidden_dims=hidden,
                    latent_dim=args.latent,
                    epochs=args.epochs,
                    early_stopping_patience=5,
                    seed=seed,
                )
                vae = VaeScorer(training=training).fit(genuine_x)
                record(
                    fs, "vae", seed, vae.decision_function(test_x), time.perf_counter() - started
                )
        if "maha" in models:
            for estimator in ("emp", "lw", "mcd") if "mcd" in models else ("emp", "lw"):
                scores, seconds = mahalanobis(genuine_x, test_x, estimator)
                record(fs, f"maha_{estimator}", 0, scores, seconds)
        if "iforest" in models:
            from sklearn.ensemble import IsolationForest

            for seed in seeds:
                started = time.perf_counter()
                forest = IsolationForest(n_estimators=100, random_state=seed, n_jobs=2).fit(
                    genuine_x
                )
                record(
                    fs,
                    "iforest",
                    seed,
                    -forest.score_samples(test_x),
                    time.perf_counter() - started,
                )
        if "gbt_gen" in models:
            # Generative feature: the Mahalanobis (Ledoit-Wolf) distance fitted on genuine rows.
            from sklearn.covariance import LedoitWolf

            lw = LedoitWolf().fit(genuine_x)
            gen_train = np.column_stack([train_x, np.log1p(lw.mahalanobis(train_x))])
            gen_test = np.column_stack([test_x, np.log1p(lw.mahalanobis(test_x))])
            y = train["is_fraud"].to_numpy()
            for name in args.gbt.split(","):
                kind, params = GBT_PARAMS[name]
                for seed in seeds:
                    scores, seconds = gbt(kind, gen_train, y, gen_test, seed, params)
                    record(fs, name + "+maha", seed, scores, seconds)
        if "gbt" in models:
            y = train["is_fraud"].to_numpy()
            for name in args.gbt.split(","):
                kind, params = GBT_PARAMS[name]
                for seed in seeds:
                    scores, seconds = gbt(kind, train_x, y, test_x, seed, params)
                    record(fs, name, seed, scores, seconds)
        done = pd.DataFrame(rows)
        summary = (
            done[done["set"] == fs]
            .groupby(["set", "model"], sort=False)[["auc", "ap", "cp", "seconds"]]
            .agg(["mean", "std"])
        )
        print(summary.to_string(float_format="{:.3f}".format), flush=True)
    if args.out:
        pd.DataFrame(rows).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
