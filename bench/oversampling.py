"""The oversampling leaderboard on the Handbook-like preset: every method x {MLP, XGBoost}.

Full run (the issue's benchmark; hours on 2 cores, run it on a quiet machine):

    PYTHONPATH=$PWD .venv/bin/python bench/oversampling.py

Tiny run (every code path in minutes):

    PYTHONPATH=$PWD .venv/bin/python bench/oversampling.py --customers 200 --days 50 \\
        --train-start 2018-05-02 --train-days 3 --delay-days 2 --test-days 3 --seeds 0,1 \\
        --steps 20 --classifier-epochs 2 --gbt-trees 20 --methods none,smote,gan,diffusion

Simulates the Handbook-like world (:mod:`fraudspark.simulate.handbook`: 5,000 customers, 10,000
terminals, 183 days from 2018-04-01 by default) into a temporary lakehouse, ingests it and
computes its features. Stage 1: every method x classifier at ratio ``--ratio`` (0.05) x seeds,
through :func:`fraudspark.pipelines.evaluate.evaluate_oversampling` (what ``fraudspark evaluate
--oversampling ... --classifiers mlp,gbt`` runs). Stage 2: the ratios ``--more-ratios`` (0.02,
0.1) for the two methods with the best mean AP (``none`` aside, it has no ratio) and for SMOTE,
the baseline of the paired comparison. Every row is written to ``fraud.evaluations``; the
leaderboard is then read back from that table (:mod:`fraudspark.evaluation.leaderboard`: mean
± std over seeds) and printed as markdown, followed by the paired comparison of the best
(method, classifier, ratio) with ``none`` and SMOTE for the same classifier and ratio.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from datetime import date, timedelta

import pandas as pd

from fraudspark.config import load_config
from fraudspark.evaluation.leaderboard import (
    compare_best,
    evaluation_rows,
    format_leaderboard,
    leaderboard,
)
from fraudspark.evaluation.protocol import ProtocolWindow
from fraudspark.models.classifiers.gbt import GbtParams
from fraudspark.models.classifiers.mlp import ClassifierConfig
from fraudspark.oversampling import OVERSAMPLERS
from fraudspark.pipelines.evaluate import evaluate_oversampling, write_evaluations
from fraudspark.pipelines.features import compute_features
from fraudspark.pipelines.ingest import ingest_transactions
from fraudspark.session import build_spark
from fraudspark.simulate.generator import write_raw
from fraudspark.simulate.handbook import HANDBOOK_WORLD, World, generate_handbook_transactions

# The detection issue's protocol window on the Handbook-like world (bench/detection_research.py).
HANDBOOK_TRAIN_START = date(2018, 7, 25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=HANDBOOK_WORLD.customers)
    parser.add_argument("--terminals", type=int, help="default: 2 x customers")
    parser.add_argument("--days", type=int, default=HANDBOOK_WORLD.days)
    parser.add_argument("--train-start", type=date.fromisoformat, default=HANDBOOK_TRAIN_START)
    parser.add_argument("--train-days", type=int, default=7)
    parser.add_argument("--delay-days", type=int, default=7)
    parser.add_argument("--test-days", type=int, default=7)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(OVERSAMPLERS))
    parser.add_argument("--classifiers", default="mlp,gbt")
    parser.add_argument("--ratio", type=float, default=0.05)
    parser.add_argument("--more-ratios", default="0.02,0.1", help="'' skips stage 2")
    parser.add_argument("--steps", type=int, help="default: config oversampling.steps")
    parser.add_argument("--classifier-epochs", type=int, default=ClassifierConfig.epochs)
    parser.add_argument("--gbt-trees", type=int, default=GbtParams.n_estimators)
    parser.add_argument("--simulation-seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    methods = args.methods.split(",")
    classifiers = args.classifiers.split(",")
    more_ratios = [float(r) for r in args.more_ratios.split(",") if r]
    world = World(
        customers=args.customers,
        terminals=args.terminals or 2 * args.customers,
        days=args.days,
        start_date=HANDBOOK_WORLD.start_date,
    )
    window = ProtocolWindow(args.train_start, args.train_days, args.delay_days, args.test_days)
    last_day = world.start_date + timedelta(days=world.days - 1)
    if window.test_end > last_day or (window.train_start - world.start_date).days < 31:
        parser.error(
            f"the window {window.train_start} .. {window.test_end} must start 31 days (warm "
            f"windows) after {world.start_date} and end by {last_day}"
        )

    directory = tempfile.mkdtemp(prefix="bench-oversampling-")
    config = load_config(lakehouse=f"{directory}/lakehouse")
    spark = build_spark(config)
    began = time.perf_counter()
    payments = generate_handbook_transactions(spark, seed=args.simulation_seed, world=world)
    write_raw(payments, f"{directory}/raw", "parquet")
    ingest_transactions(spark, config, f"{directory}/raw", "parquet")
    compute_features(spark, config)
    print(
        f"Handbook-like world: {world.customers} customers, {world.terminals} terminals, "
        f"{world.days} days, built in {time.perf_counter() - began:.0f} s; train "
        f"{window.train_start} .. {window.train_end}, test {window.test_start} .. "
        f"{window.test_end}; seeds {seeds}",
        flush=True,
    )
    settings = {
        "steps": args.steps,
        "classifiers": classifiers,
        "classifier": ClassifierConfig(epochs=args.classifier_epochs),
        "gbt": GbtParams(n_estimators=args.gbt_trees),
    }
    began = time.perf_counter()
    first = evaluate_oversampling(
        spark, config, window, methods, seeds, ratios=[args.ratio], **settings
    )
    write_evaluations(spark, config, first)
    print(f"stage 1 (ratio {args.ratio}) in {time.perf_counter() - began:.0f} s", flush=True)
    rows = first.rows()
    ranked = (
        rows[rows["oversampling"] != "none"]
        .groupby(["oversampling", "model_name"])["average_precision"]
        .mean()
        .groupby(level="oversampling")
        .max()
        .sort_values(ascending=False)
    )
    again = list(dict.fromkeys([*ranked.index[:2], *(["smote"] if "smote" in methods else [])]))
    if more_ratios and again:
        began = time.perf_counter()
        second = evaluate_oversampling(
            spark, config, window, again, seeds, ratios=more_ratios, **settings
        )
        write_evaluations(spark, config, second)
        print(
            f"stage 2 ({', '.join(again)} at ratios {more_ratios}) in "
            f"{time.perf_counter() - began:.0f} s",
            flush=True,
        )
    # The leaderboard read back from fraud.evaluations: the table-reading path.
    written = evaluation_rows(spark, config, first.evaluation_id)
    board = leaderboard(written)
    board = board.sort_values(["model_name", "average_precision_mean"], ascending=[True, False])
    print()
    print(markdown_table(format_leaderboard(board)))
    print()
    try:
        print(compare_best(written).summary())
    except ValueError as error:
        print(f"no paired comparison: {error}")


def markdown_table(frame: pd.DataFrame) -> str:
    lines = [
        "| " + " | ".join(frame.columns) + " |",
        "|---" * len(frame.columns) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in frame.to_numpy()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
