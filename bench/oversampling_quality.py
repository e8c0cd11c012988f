"""How realistic and how useful each oversampler's synthetic fraud rows are, outside Spark.

    PYTHONPATH=$PWD .venv/bin/python bench/oversampling_quality.py build --customers 2000 \\
        --days 66 --train-days 21 --out data/quality.npz
    PYTHONPATH=$PWD .venv/bin/python bench/oversampling_quality.py measure \\
        --data data/quality.npz \\
        --methods none,smote,acgan,wgan-gp,diffusion --seeds 0,1,2
    PYTHONPATH=$PWD .venv/bin/python bench/oversampling_quality.py timing --frauds 3000 \\
        --features 40 --steps 3000

``build`` (Spark, once): simulates a world, ingests it, computes the features and saves the
model inputs of the training days and of the test days (``train_days + delay_days`` later, the
Fraud Detection Handbook's protocol) to an ``.npz`` file.

``measure`` (no Spark): per method and seed, fits the oversampler on the training days' fraud
rows plus ``--normals-per-fraud`` normal rows per fraud (what the oversampling job gives it),
draws as many synthetic rows as there are real frauds, and reports

* ``two_sample_auc``: a gradient-boosted classifier (scikit-learn's HistGradientBoosting),
  5-fold cross-validated, telling synthetic from real fraud rows (0.5: indistinguishable);
* ``tstr_ap``: trained on synthetic fraud + the training days' normal rows, average precision
  on the *test days* (train on synthetic, test on real);
* ``augmented_ap``: the same classifier trained on all real training rows plus synthetic fraud
  up to ``--ratio``, average precision on the test days (``none``: real rows only);
* ``invalid_rows`` and ``fit_seconds`` (fit + sampling, one torch thread as in the job).

``timing``: training time of the diffusion model's defaults on random rows of the given shape.
Prints per-run rows and a markdown table of mean ± std over seeds.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch

from fraudspark.oversampling import FeatureSchema, count_violations, make_oversampler

START = date(2025, 1, 1)
WARM_UP_DAYS = 31  # the longest window (30 days) plus one
GAN_METHODS = {"gan", "cgan", "wgan", "wgan-gp", "wcgan", "acgan"}


def build(args: argparse.Namespace) -> None:
    from fraudspark.config import GeneratorConfig, load_config
    from fraudspark.features.model_inputs import model_inputs
    from fraudspark.features.store import current_versions, feature_rows, model_feature_columns
    from fraudspark.pipelines.features import compute_features
    from fraudspark.pipelines.ingest import ingest_transactions
    from fraudspark.session import build_spark
    from fraudspark.simulate.generator import generate_transactions, write_raw

    directory = tempfile.mkdtemp(prefix="bench-quality-")
    config = load_config(lakehouse=f"{directory}/lakehouse")
    spark = build_spark(config)
    began = time.perf_counter()
    scale = args.customers / 5000  # the simulator's fraud rates are for 5,000 customers
    defaults = GeneratorConfig()
    rates = GeneratorConfig(
        compromised_terminals_per_day=defaults.compromised_terminals_per_day * scale,
        compromised_customers_per_day=defaults.compromised_customers_per_day * scale,
    )
    world = generate_transactions(
        spark,
        rates,
        customers=args.customers,
        terminals=2 * args.customers,
        days=args.days,
        start_date=START,
        seed=1,
    )
    write_raw(world, f"{directory}/raw", "parquet")
    ingest_transactions(spark, config, f"{directory}/raw", "parquet")
    compute_features(spark, config)
    features = model_feature_columns(config)
    versions = current_versions(spark, config)
    train_start = START + timedelta(days=WARM_UP_DAYS)
    train_end = train_start + timedelta(days=args.train_days - 1)
    test_start = train_end + timedelta(days=args.delay_days + 1)
    test_end = test_start + timedelta(days=args.test_days - 1)

    def matrix(start: date, end: date) -> pd.DataFrame:
        rows = model_inputs(feature_rows(spark, config, start, end, versions), features)
        frame: pd.DataFrame = (
            rows.where("is_fraud IS NOT NULL").select("is_fraud", *features).toPandas()
        )
        return frame

    train, test = matrix(train_start, train_end), matrix(test_start, test_end)
    np.savez_compressed(
        args.out,
        features=np.array(features),
        X_train=train[features].to_numpy(np.float64),
        y_train=train["is_fraud"].to_numpy(np.int64),
        X_test=test[features].to_numpy(np.float64),
        y_test=test["is_fraud"].to_numpy(np.int64),
    )
    print(
        f"built in {time.perf_counter() - began:.0f} s: train {train_start}..{train_end} "
        f"{len(train)} rows ({int(train['is_fraud'].sum())} frauds), test {test_start}..{test_end} "
        f"{len(test)} rows ({int(test['is_fraud'].sum())} frauds), {len(features)} features "
        f"-> {args.out}"
    )


def _classifier(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=200, random_state=seed)


def _two_sample_auc(real: np.ndarray, synthetic: np.ndarray, seed: int) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rows = np.vstack([real, synthetic])
    labels = np.r_[np.zeros(len(real)), np.ones(len(synthetic))]
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(
        cross_val_score(_classifier(seed), rows, labels, cv=folds, scoring="roc_auc").mean()
    )


def _average_precision(
    X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, seed: int
) -> float:
    from sklearn.metrics import average_precision_score

    model = _classifier(seed).fit(X, y)
    return float(average_precision_score(y_test, model.predict_proba(X_test)[:, 1]))


def method_params(name: str, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """``wgan-gp`` is the GAN's original representation; ``wgan-gp+ctgan`` adds CTGAN's
    mode-specific normalisation and PacGAN packs of 8 (ACGAN: no packing)."""
    method, _, variant = name.partition("+")
    if method in GAN_METHODS:
        params: dict[str, Any] = {"steps": args.steps} if args.steps else {}
        if variant == "ctgan":
            params |= {"representation": "mode-specific", "pac": 1 if method == "acgan" else 8}
        return method, params
    if method == "diffusion" and args.steps:
        return method, {"steps": args.steps}
    return method, {}


def measure(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)  # as in the oversampling job
    data = np.load(args.data)
    features = [str(name) for name in data["features"]]
    X_train, y_train = data["X_train"], data["y_train"]
    X_test, y_test = data["X_test"], data["y_test"]
    schema = FeatureSchema.from_names(features)
    real = X_train[y_train == 1]
    normal = X_train[y_train == 0]
    print(
        f"train {len(X_train)} rows ({len(real)} frauds), test {len(X_test)} rows "
        f"({int(y_test.sum())} frauds), {len(features)} features; threads 1; "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = []
    for method in args.methods.split(","):
        for seed in (int(seed) for seed in args.seeds.split(",")):
            rng = np.random.default_rng(seed)
            context = normal[rng.choice(len(normal), args.normals_per_fraud * len(real), False)]
            fit_X = np.vstack([real, context])
            fit_y = np.r_[np.ones(len(real)), np.zeros(len(context))].astype(np.int64)
            row: dict[str, Any] = {"method": method, "seed": seed}
            began = time.perf_counter()
            if method == "none":
                synthetic = np.empty((0, len(features)))
            else:
                base, params = method_params(method, args)
                sampler = make_oversampler(
                    base, sampling_ratio=1.0, random_state=seed, feature_names=features, **params
                )
                resampled, _ = sampler.fit_resample(fit_X, fit_y)
                synthetic = resampled[len(fit_X) :]
                wanted = int(args.ratio * len(normal)) - len(real)
                if hasattr(sampler, "generator_"):
                    synthetic = sampler.generator_.sample(max(wanted, len(real)), seed=seed + 1)
                else:  # SMOTE: resample the full training set to the ratio
                    smote = make_oversampler(
                        "smote",
                        sampling_ratio=args.ratio,
                        random_state=seed,
                        feature_names=features,
                    )
                    synthetic = smote.fit_resample(X_train, y_train)[0][len(X_train) :]
            row["fit_seconds"] = time.perf_counter() - began
            if method != "none":
                evaluated = synthetic[: len(real)]
                row["two_sample_auc"] = _two_sample_auc(real, evaluated, seed)
                row["tstr_ap"] = _average_precision(
                    np.vstack([synthetic, normal]),
                    np.r_[np.ones(len(synthetic)), np.zeros(len(normal))],
                    X_test,
                    y_test,
                    seed,
                )
                row["invalid_rows"] = sum(
                    bool(sum(count_violations(line[None], schema).values())) for line in synthetic
                )
            added = synthetic[: max(int(args.ratio * len(normal)) - len(real), 0)]
            row["augmented_ap"] = _average_precision(
                np.vstack([X_train, added]),
                np.r_[y_train, np.ones(len(added), dtype=np.int64)],
                X_test,
                y_test,
                seed,
            )
            print(row, flush=True)
            results.append(row)
    table = pd.DataFrame(results)
    columns = [c for c in ("two_sample_auc", "tstr_ap", "augmented_ap", "invalid_rows",
                           "fit_seconds") if c in table]  # fmt: skip
    grouped = table.groupby("method", sort=False)[columns]
    means, spreads = grouped.mean(), grouped.std().fillna(0.0)
    print("\n| method | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for method in means.index:
        cells = [
            ""
            if np.isnan(means.loc[method, c])
            else f"{means.loc[method, c]:.3f} ± {spreads.loc[method, c]:.3f}"
            for c in columns
        ]
        print(f"| {method} | " + " | ".join(cells) + " |")


def timing(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n_normal = args.normals_per_fraud * args.frauds
    X = rng.normal(size=(args.frauds + n_normal, args.features))
    y = np.r_[np.ones(args.frauds), np.zeros(n_normal)].astype(np.int64)
    params = {"steps": args.steps} if args.steps else {}
    # A ratio that adds a tenth of the frauds: the fit dominates, sampling is timed below.
    ratio = 1.1 * args.frauds / n_normal
    sampler = make_oversampler("diffusion", random_state=0, sampling_ratio=ratio, **params)
    began = time.perf_counter()
    sampler.fit_resample(X, y)
    fitted = time.perf_counter() - began
    began = time.perf_counter()
    sampler.generator_.sample(args.sample_rows, seed=0)  # type: ignore[attr-defined]
    sampled = time.perf_counter() - began
    n_synthetic = int(ratio * n_normal) - args.frauds
    print(
        f"diffusion {sampler.get_params()['steps']} steps on {args.frauds} frauds + {n_normal} "
        f"normal rows x {args.features} features: fit_resample {fitted:.0f} s (incl. sampling "
        f"{n_synthetic} rows); sampling {args.sample_rows} rows {sampled:.1f} s; one torch thread; "
        f"load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    built = commands.add_parser("build")
    built.add_argument("--customers", type=int, default=2000)
    built.add_argument("--days", type=int, default=66)
    built.add_argument("--train-days", type=int, default=21)
    built.add_argument("--delay-days", type=int, default=7)
    built.add_argument("--test-days", type=int, default=7)
    built.add_argument("--out", required=True)
    measured = commands.add_parser("measure")
    measured.add_argument("--data", required=True)
    measured.add_argument("--methods", default="none,smote,acgan,wgan-gp,diffusion")
    measured.add_argument("--seeds", default="0,1,2")
    measured.add_argument("--ratio", type=float, default=0.1)
    measured.add_argument("--normals-per-fraud", type=int, default=10)
    measured.add_argument(
        "--steps", type=int, default=0, help="every GAN's and diffusion's steps; 0: the default"
    )
    timed = commands.add_parser("timing")
    timed.add_argument("--frauds", type=int, default=3000)
    timed.add_argument("--features", type=int, default=40)
    timed.add_argument("--normals-per-fraud", type=int, default=10)
    timed.add_argument("--steps", type=int, default=0, help="0: the default")
    timed.add_argument("--sample-rows", type=int, default=20_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    {"build": build, "measure": measure, "timing": timing}[args.command](args)


if __name__ == "__main__":
    main()
