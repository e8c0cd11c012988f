"""How realistic and how useful each oversampler's synthetic fraud rows are, outside Spark.

    PYTHONPATH=$PWD .venv/bin/python bench/oversampling_quality.py build --customers 2000 \\
        --days 66 --train-days 21 --out data/quality.npz
    FRAUDSPARK_TOKEN_KEY=<16+ bytes> PYTHONPATH=$PWD .venv/bin/python \\
        bench/oversampling_quality.py build \\
        --sparkov ../shared/data/sparkov-300cards-2023h1.csv.gz \\
        --train-days 60 --test-days 30 --out data/quality-sparkov.npz
    PYTHONPATH=$PWD .venv/bin/python bench/oversampling_quality.py measure \\
        --data data/quality.npz \\
        --methods none,smote,acgan,wgan-gp,diffusion --seeds 0,1,2
    PYTHONPATH=$PWD .venv/bin/python bench/oversampling_quality.py diagnose \\
        --data data/quality.npz --methods smote,wgan-gp,diffusion --seed 0
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

``diffusion@<preset>`` is the diffusion model conditioned on real profiles: the columns of the
context preset (``monthly``, ``monthly-and-7d``, ``monthly-and-1d``; see
``fraudspark.oversampling.diffusion.CONTEXT_PRESETS``) are copied from real training fraud rows
and only the others generated. Its rows are close to real ones in those columns by
construction: it is a model of p(payment | real profile, fraud). Two references that learn
nothing bound it: ``real-copy`` draws real training fraud rows with replacement (random
oversampling: the realism ceiling), ``real-swap@<preset>`` joins one real fraud row's context
columns to another's other columns, drawn independently (counts nested again): the AUC that
copying profiles alone gives, with no dependence between profile and payment.

With ``--identities`` generative models impose the exact identities of
:mod:`fraudspark.oversampling.structure` (``identities=True``; off by default). With
``--compare-identities`` they impose them and each model's rows are also decoded without them
(method ``<name> (no identities)``): the same trained model and sampling noise, decoded as the
default (``identities=False``) decodes them.

``diagnose`` (no Spark): for one seed, what tells each method's rows from the real fraud rows:
the share of real and synthetic rows obeying each identity the real rows obey, the point masses
(values >= 5 % of the real rows take exactly), and the two-sample AUC on all columns, on each
group of columns (``cust_*``, ``cust_month_*``, ``term_*``, ``term_month_*``, ``tx_*``), on each
column alone and with each column dropped; generative models also without the identities.

``timing``: training time of the diffusion model's defaults on random rows of the given shape.
Prints per-run rows and a markdown table of mean ± std over seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import tempfile
import time
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from fraudspark.oversampling import FeatureSchema, count_violations, make_oversampler
from fraudspark.oversampling.diffusion import context_columns, repair_nesting
from fraudspark.oversampling.modes import ModeSpecificTransform
from fraudspark.oversampling.structure import find_identities
from fraudspark.oversampling.tabular import TabularTransform

START = date(2025, 1, 1)
WARM_UP_DAYS = 31  # the longest window (30 days) plus one
SPARKOV_START = date(2023, 1, 1)  # the first day of ../shared/data's Sparkov sample
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
    start = START
    if args.sparkov:
        # The third-party sample, through its source mapping (conf/sources/sparkov.yaml).
        ingest_transactions(spark, config, args.sparkov, mapping="sparkov")
        start = SPARKOV_START
    else:
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
    train_start = start + timedelta(days=WARM_UP_DAYS)
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
    mode-specific normalisation and PacGAN packs of 8 (ACGAN: no packing). ``--identities``
    (implied by ``--compare-identities`` and by ``diagnose``) imposes the exact identities.
    ``diffusion@<preset>`` copies the preset's context columns from real fraud rows."""
    name, _, context = name.partition("@")
    method, _, variant = name.partition("+")
    params: dict[str, Any] = {"steps": args.steps} if args.steps else {}
    if getattr(args, "identities", False) or getattr(args, "compare_identities", False):
        params["identities"] = True
    if method in GAN_METHODS:
        if variant == "ctgan":
            params |= {"representation": "mode-specific", "pac": 1 if method == "acgan" else 8}
        return method, params
    if method.startswith("diffusion"):
        return method, params | ({"context": context} if context else {})
    return method, {}


def _synthesize(
    method: str,
    seed: int,
    args: argparse.Namespace,
    features: list[str],
    fit_X: np.ndarray,
    fit_y: np.ndarray,
    X_train: np.ndarray,
    y_train: np.ndarray,
) -> tuple[np.ndarray, Any]:
    """Synthetic fraud rows of ``method`` fitted on ``fit_X``: as many as the ratio asks for
    (at least as many as the real frauds; SMOTE resamples the full training set instead), and
    the fitted generator (None for SMOTE and none)."""
    if method == "none":
        return np.empty((0, len(features))), None
    real = fit_X[fit_y == 1]
    n_normal = int(np.sum(y_train == 0))
    if method.startswith("real-"):  # the references that learn nothing (module docstring)
        n = max(int(args.ratio * n_normal) - len(real), len(real))
        rng = np.random.default_rng(seed + 1)
        rows = real[rng.integers(len(real), size=n)]
        name, _, preset = method.partition("@")
        if name == "real-swap":
            copied = context_columns(preset, features)
            rows[:, copied] = real[rng.integers(len(real), size=n)][:, copied]
            rows = repair_nesting(rows, FeatureSchema.from_names(features), copied)
        return rows, None
    base, params = method_params(method, args)
    sampler = make_oversampler(
        base, sampling_ratio=1.0, random_state=seed, feature_names=features, **params
    )
    sampler.fit_resample(fit_X, fit_y)
    wanted = int(args.ratio * n_normal) - len(real)
    if hasattr(sampler, "generator_"):
        synthetic: np.ndarray = sampler.generator_.sample(max(wanted, len(real)), seed=seed + 1)
        return synthetic, sampler.generator_
    smote = make_oversampler(
        "smote", sampling_ratio=args.ratio, random_state=seed, feature_names=features
    )
    synthetic = smote.fit_resample(X_train, y_train)[0][len(X_train) :]
    return synthetic, None


def _evaluate(
    synthetic: np.ndarray,
    real: np.ndarray,
    normal: np.ndarray,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    args: argparse.Namespace,
    seed: int,
) -> dict[str, float]:
    """two_sample_auc and tstr_ap (when there are synthetic rows) and augmented_ap."""
    row: dict[str, float] = {}
    if len(synthetic):
        row["two_sample_auc"] = _two_sample_auc(real, synthetic[: len(real)], seed)
        row["tstr_ap"] = _average_precision(
            np.vstack([synthetic, normal]),
            np.r_[np.ones(len(synthetic)), np.zeros(len(normal))],
            X_test,
            y_test,
            seed,
        )
    added = synthetic[: max(int(args.ratio * len(normal)) - len(real), 0)]
    row["augmented_ap"] = _average_precision(
        np.vstack([X_train, added]),
        np.r_[y_train, np.ones(len(added), dtype=np.int64)],
        X_test,
        y_test,
        seed,
    )
    return row


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
            began = time.perf_counter()
            synthetic, generator = _synthesize(
                method, seed, args, features, fit_X, fit_y, X_train, y_train
            )
            seconds = time.perf_counter() - began
            versions = {method: synthetic}
            if args.compare_identities and generator is not None:
                # The same model decoded as before identities were imposed (they change decoding
                # only: training and the sampling noise are the same).
                tabular = _tabular(generator)
                _set_tabular(generator, dataclasses.replace(tabular, identities=()))
                versions[f"{method} (no identities)"] = generator.sample(len(synthetic), seed + 1)
                _set_tabular(generator, tabular)
            for name, rows in versions.items():
                row: dict[str, Any] = {"method": name, "seed": seed, "fit_seconds": seconds}
                row.update(
                    _evaluate(rows, real, normal, X_train, y_train, X_test, y_test, args, seed)
                )
                row["invalid_rows"] = sum(
                    bool(sum(count_violations(line[None], schema).values())) for line in rows
                ) if method != "none" else float("nan")  # fmt: skip
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


def _tabular(generator: Any) -> TabularTransform:
    """The kind-based transform inside a fitted generator (GAN of either representation or
    diffusion): the one that imposes the identities."""
    transform = generator.transform
    tabular: TabularTransform = getattr(transform, "tabular", transform)
    return tabular


def _set_tabular(generator: Any, tabular: TabularTransform) -> None:
    transform = generator.transform
    if isinstance(transform, TabularTransform):
        generator.transform = tabular
    elif isinstance(transform, ModeSpecificTransform):  # frozen
        generator.transform = dataclasses.replace(transform, tabular=tabular)
    else:  # the diffusion transform
        transform.tabular = tabular


def _auc_table(real: np.ndarray, synthetic: np.ndarray, names: list[str], seed: int) -> str:
    """Two-sample AUC on all columns, on each group of columns (by entity; monthly profiles
    apart), on each column alone and with each column dropped."""
    overall = _two_sample_auc(real, synthetic, seed)
    lines = [f"  all {len(names)} columns: AUC {overall:.3f}"]
    groups: dict[str, list[int]] = {}  # cust / cust_month / term / term_month / tx
    for j, name in enumerate(names):
        entity = name.split("_", 1)[0]
        groups.setdefault(entity + ("_month" if "_month_" in name else ""), []).append(j)
    for group, columns in groups.items():
        auc = _two_sample_auc(real[:, columns], synthetic[:, columns], seed)
        lines.append(f"  {group}_* columns only ({len(columns)}): AUC {auc:.3f}")
    single = {
        name: _two_sample_auc(real[:, [j]], synthetic[:, [j]], seed) for j, name in enumerate(names)
    }
    dropped = {
        name: _two_sample_auc(np.delete(real, j, axis=1), np.delete(synthetic, j, axis=1), seed)
        for j, name in enumerate(names)
    }
    lines.append("  | column | AUC alone | AUC without it |")
    lines.append("  |---|---|---|")
    for name in sorted(names, key=lambda n: -single[n]):
        lines.append(f"  | {name} | {single[name]:.3f} | {dropped[name]:.3f} |")
    return "\n".join(lines)


def _identity_table(real: np.ndarray, synthetic: np.ndarray, schema: FeatureSchema) -> str:
    """For every candidate identity that the real rows obey: the share of rows it applies to
    and, of those, the share it holds on, real vs synthetic; then the point masses (a value
    that >= 5 % of the real rows take exactly) and the nesting of minute windows in day
    windows."""
    names = schema.names
    lines = [
        "  | identity | real applies | real holds | synthetic applies | synthetic holds |",
        "  |---|---|---|---|---|",
    ]

    def share(mask: np.ndarray, within: np.ndarray) -> str:
        return f"{mask[within].mean():.3f}" if within.any() else "-"

    everything_real = np.ones(len(real), dtype=bool)
    everything_synthetic = np.ones(len(synthetic), dtype=bool)
    for identity in find_identities(real, schema):
        applies_real, applies_synthetic = identity.applies(real), identity.applies(synthetic)
        lines.append(
            f"  | {identity.describe(names)} | {share(applies_real, everything_real)} | "
            f"{share(identity.holds(real), applies_real)} | "
            f"{share(applies_synthetic, everything_synthetic)} | "
            f"{share(identity.holds(synthetic), applies_synthetic)} |"
        )
    counts = {name: j for j, name in enumerate(names) if schema.columns[j].kind == "count"}
    for name, j in counts.items():  # cust_nb_tx_60m <= cust_nb_tx_1d: not a schema chain
        if name.endswith("_60m") and name[:-4] + "_1d" in counts:
            wide = counts[name[:-4] + "_1d"]
            lines.append(
                f"  | {name} <= {names[wide]} | 1 | {np.mean(real[:, j] <= real[:, wide]):.3f} "
                f"| 1 | {np.mean(synthetic[:, j] <= synthetic[:, wide]):.3f} |"
            )
    lines += ["", "  | point mass | real share | synthetic share |", "  |---|---|---|"]
    for j, name in enumerate(names):
        if schema.columns[j].kind == "flag":
            continue
        values, frequencies = np.unique(real[:, j], return_counts=True)
        for value, frequency in zip(values, frequencies, strict=True):
            if frequency >= 0.05 * len(real):
                lines.append(
                    f"  | {name} == {value:g} | {frequency / len(real):.3f} | "
                    f"{np.mean(synthetic[:, j] == value):.3f} |"
                )
    return "\n".join(lines)


def diagnose(args: argparse.Namespace) -> None:
    """What gives synthetic fraud rows away: per-column and drop-one two-sample AUCs and the
    share of rows obeying each identity of :mod:`fraudspark.oversampling.structure`, for each
    method's rows as decoded (identities imposed) and, for generative methods, the same model's
    rows decoded without the identities (what the code gave before they were imposed)."""
    torch.set_num_threads(1)
    data = np.load(args.data)
    features = [str(name) for name in data["features"]]
    X_train, y_train = data["X_train"], data["y_train"]
    schema = FeatureSchema.from_names(features)
    real, normal = X_train[y_train == 1], X_train[y_train == 0]
    seed = args.seed
    rng = np.random.default_rng(seed)
    context = normal[rng.choice(len(normal), args.normals_per_fraud * len(real), False)]
    fit_X = np.vstack([real, context])
    fit_y = np.r_[np.ones(len(real)), np.zeros(len(context))].astype(np.int64)
    kept = find_identities(real, schema)
    print(f"{len(real)} real fraud rows; identities holding on them: {len(kept)}", flush=True)
    for method in args.methods.split(","):
        base, params = method_params(method, args)
        sampler = make_oversampler(
            base, sampling_ratio=1.0, random_state=seed, feature_names=features, **params
        )
        began = time.perf_counter()
        resampled, _ = sampler.fit_resample(fit_X, fit_y)
        versions = {"as decoded": resampled[len(fit_X) :][: len(real)]}
        if hasattr(sampler, "generator_"):
            generator = sampler.generator_
            versions["as decoded"] = generator.sample(len(real), seed=seed + 1)
            tabular = _tabular(generator)
            _set_tabular(generator, dataclasses.replace(tabular, identities=()))
            versions["without identities"] = generator.sample(len(real), seed=seed + 1)
            _set_tabular(generator, tabular)
        print(f"\n## {method} (seed {seed}, fit {time.perf_counter() - began:.0f} s)", flush=True)
        for version, synthetic in versions.items():
            print(f"\n### {method}, {version}\n", flush=True)
            print(_identity_table(real, synthetic, schema), flush=True)
            print(_auc_table(real, synthetic, features, seed), flush=True)


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
    built.add_argument(
        "--sparkov",
        help="build from this Sparkov CSV (e.g. ../shared/data/sparkov-300cards-2023h1.csv.gz) "
        "instead of simulating (its card numbers are tokenized: set FRAUDSPARK_TOKEN_KEY); "
        "--customers and --days are then unused",
    )
    measured = commands.add_parser("measure")
    measured.add_argument("--data", required=True)
    measured.add_argument("--methods", default="none,smote,acgan,wgan-gp,diffusion")
    measured.add_argument("--seeds", default="0,1,2")
    measured.add_argument("--ratio", type=float, default=0.1)
    measured.add_argument("--normals-per-fraud", type=int, default=10)
    measured.add_argument(
        "--steps", type=int, default=0, help="every GAN's and diffusion's steps; 0: the default"
    )
    measured.add_argument(
        "--identities", action="store_true", help="generative models impose the identities"
    )
    measured.add_argument(
        "--compare-identities",
        action="store_true",
        help="impose the identities and also report the same rows decoded without them",
    )
    diagnosed = commands.add_parser("diagnose")
    diagnosed.add_argument("--data", required=True)
    diagnosed.add_argument("--methods", default="smote,wgan-gp,diffusion")
    diagnosed.add_argument("--seed", type=int, default=0)
    diagnosed.add_argument("--ratio", type=float, default=0.1)
    diagnosed.add_argument("--normals-per-fraud", type=int, default=10)
    diagnosed.add_argument("--steps", type=int, default=0, help="0: the default")
    diagnosed.set_defaults(identities=True)
    timed = commands.add_parser("timing")
    timed.add_argument("--frauds", type=int, default=3000)
    timed.add_argument("--features", type=int, default=40)
    timed.add_argument("--normals-per-fraud", type=int, default=10)
    timed.add_argument("--steps", type=int, default=0, help="0: the default")
    timed.add_argument("--sample-rows", type=int, default=20_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # One OpenMP thread for the boosting (fraudspark.oversampling.quality's reason: on 2 busy
    # cores more threads mostly wait for each other).
    with threadpool_limits(limits=1, user_api="openmp"):
        {"build": build, "measure": measure, "diagnose": diagnose, "timing": timing}[args.command](
            args
        )


if __name__ == "__main__":
    main()
