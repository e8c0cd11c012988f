"""Scoring benchmark: the Spark scoring job against one plain Python process, same model and rows.

    python bench/scoring.py [--rows 5M] [--workdir DIR] [--repeat N] [--arrow-batch 10000]

Data: ``--rows`` feature-store rows with the store's columns and types (random values; the
monthly columns null in about 10% of rows, as for customers without a month), written once by
Spark as a Delta table partitioned by ``tx_date`` (30 days) and as plain Parquet, cached under
``--workdir``. Model: RaPP (NAP, SAP beside it; the default 32-16-4 network) trained on 50,000
of the rows, exported as TorchScript + JSON.

Timed in one run, on the same cores (session start-up, data generation and training not timed):

* **Spark job**: read the Delta rows, :func:`score_feature_rows` (``mapInArrow``, the model
  loaded once per partition from broadcast bytes, one torch thread per task), then
  :func:`write_scores`: the MERGE into an empty ``fraud.scores`` that ``fraudspark score`` does.
* **Spark, Delta append**: the same scoring written by a plain Delta overwrite, partitioned by
  ``tx_date`` as ``fraud.scores`` is (no MERGE; Delta's MERGE also repartitions its output by
  the partition column before writing, a shuffle the append does not do).
* **Plain process**: a fresh ``python`` process reads the Parquet with pyarrow in batches of
  ``--arrow-batch`` rows, scores them with :func:`score_arrow_batches` (the kernel of the Spark
  job) and writes Parquet; once with one torch thread and once with one per core (on a busy
  machine one thread is far faster: intra-op threads spin while waiting for each other). Timed
  inside that process from the first read to the closed output file; the ratios use the faster.
* **UDF styles** (Spark, output discarded by the ``noop`` sink): ``mapInArrow``,
  ``mapInPandas`` with :meth:`LoadedScorer.score`, and an iterator ``pandas_udf`` over a struct
  of the features, each loading the model once per partition.

Prints rows/s of each and the ratio Spark job / plain process. The 1-minute load average is
printed before each timing: other processes share the machine's cores.

Whole-process mode (what a user gets), on a real lakehouse with a registered model, e.g. the
one ``bench/nightly.py --prepare-only`` builds (5.4M transactions, ``fraud-rapp`` registered):

    python bench/scoring.py --mode process --lakehouse DIR/lakehouse --start 2025-01-01 \
        --end 2025-06-16 [--model fraud-rapp] [--repeat 2]

* **fraudspark**: ``fraudspark score --model M --start S --end E`` as a fresh process, from fork
  to exit: session start, the feature-store read (transactions joined with the windowed and
  monthly features), the model loaded once per partition, the write of ``fraud.scores`` and the
  printed alerts. The range's rows of the model are deleted from ``fraud.scores`` before each
  run (untimed), so every run is the first scoring of those days.
* **plain process**: a fresh ``python`` process, fork to exit, imports included: the same
  rows, already joined (exported once to Parquet, untimed), the same exported model, the
  scoring kernel, Parquet out; one torch thread and one per core, the faster counts.

The ratio plain / fraudspark by wall time is the issue's figure (target >= 0.5 on 5M rows).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import torch
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.functions import pandas_udf
from timing import log, measure, parse_size, run_process

from fraudspark.config import Config, load_config
from fraudspark.features.model_inputs import model_inputs
from fraudspark.features.store import feature_rows, model_feature_columns
from fraudspark.models.anomaly.base import export_artifact, load_scorer
from fraudspark.models.anomaly.rapp import RappScorer
from fraudspark.models.artifact import ModelArtifact
from fraudspark.models.batch_scoring import score_arrow_batches, score_feature_rows, scored_schema
from fraudspark.models.training import TrainingConfig
from fraudspark.pipelines.score import write_scores
from fraudspark.registry import registered_artifact
from fraudspark.session import build_spark

REPO = Path(__file__).resolve().parent.parent
START = date(2025, 3, 1)
DAYS = 30
PASSTHROUGH = ["tx_id", "tx_ts", "tx_date", "customer_id", "terminal_id"]
TRAIN_ROWS = 50_000


@dataclass
class Timing:
    """Median wall and CPU seconds of the runs of one variant."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def timed(label: str, rows: int, action: Callable[[], None], timing: Timing) -> None:
    """Run ``action`` once; record its wall time and the CPU time of this process tree
    (bench/timing.py: Spark's JVM and Python workers included)."""
    _, sample = measure(label, action, quiet=True)
    record(label, rows, timing, sample.wall_s, sample.cpu_s, sample.load_before)


def record(label: str, rows: int, timing: Timing, wall: float, cpu: float, load: float) -> None:
    timing.wall.append(wall)
    timing.cpu.append(cpu)
    log(
        f"{label}: {wall:.1f} s wall, {cpu:.1f} CPU-s, {rows / wall:,.0f} rows/s, "
        f"{rows / cpu:,.0f} rows/CPU-s (load {load:.2f})"
    )


def synthetic_rows(spark: SparkSession, config: Config, rows: int) -> DataFrame:
    """Feature-store rows with the store's columns and types and random values."""
    columns = [
        F.col("id").alias("tx_id"),
        F.date_add(F.lit(START), (F.col("id") % DAYS).cast("int")).alias("tx_date"),
        (F.col("id") * 7919 % 5000).alias("customer_id"),
        (F.col("id") * 104729 % 10000).alias("terminal_id"),
        (F.rand(1) < 0.1).cast("int").alias("cust_month_missing"),
        (F.rand(2) < 0.1).cast("int").alias("term_month_missing"),
    ]
    frame = spark.range(rows).select(*columns)
    frame = frame.withColumn(
        "tx_ts",
        F.to_timestamp(F.col("tx_date")) + F.make_dt_interval(secs=F.rand(3) * 86_399),
    )
    for seed, name in enumerate(model_feature_columns(config), start=10):
        if name.endswith("_missing"):
            continue
        integer = any(part in name for part in ("nb_", "during"))
        value = (F.rand(seed) * 8).cast("int") if integer else F.exp(F.randn(seed) + 3)
        if "_month_" in name:
            missing = "cust_month_missing" if name.startswith("cust") else "term_month_missing"
            value = F.when(F.col(missing) == 0, value)
        frame = frame.withColumn(name, value)
    return frame.select(*PASSTHROUGH, *model_feature_columns(config))


def prepare(spark: SparkSession, config: Config, workdir: Path, rows: int) -> tuple[Path, Path]:
    """The Delta and Parquet copies of the rows, written once per size."""
    root = workdir / f"rows-{rows}"
    delta, parquet = root / "features_delta", root / "features_parquet"
    if (root / "done").exists():
        log(f"reusing {root}")
        return delta, parquet
    shutil.rmtree(root, ignore_errors=True)
    frame = synthetic_rows(spark, config, rows)
    frame.write.format("delta").partitionBy("tx_date").save(str(delta))
    spark.read.format("delta").load(str(delta)).write.parquet(str(parquet))
    (root / "done").touch()
    return delta, parquet


def train_model(spark: SparkSession, config: Config, delta: Path) -> ModelArtifact:
    features = model_feature_columns(config)
    rows = spark.read.format("delta").load(str(delta))
    sample = model_inputs(rows.limit(TRAIN_ROWS), features).select(*features).toPandas()
    scorer = RappScorer(training=TrainingConfig(epochs=5, seed=0)).fit(sample)
    return export_artifact(scorer)


def pandas_styles(
    rows: DataFrame, artifact: ModelArtifact, features: list[str]
) -> dict[str, DataFrame]:
    """The same scoring as ``mapInPandas`` and as an iterator ``pandas_udf``."""
    schema = scored_schema(rows, features, artifact.metadata["score_columns"])
    shared = rows.sparkSession.sparkContext.broadcast((artifact.model_bytes, artifact.metadata))
    inputs = model_inputs(rows, features)
    passthrough = [name for name in rows.columns if name not in features]

    def score_frames(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        torch.set_num_threads(1)
        scorer = load_scorer(ModelArtifact(*shared.value))
        for frame in frames:
            scored = scorer.score(frame[features])
            yield pd.concat([frame[passthrough], scored], axis=1)

    # A pandas_udf's struct result is nullable throughout.
    result_type = T.StructType(
        [T.StructField(f.name, f.dataType) for f in schema.fields if f.name not in passthrough]
    )

    @pandas_udf(result_type)
    def score_struct(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        torch.set_num_threads(1)
        scorer = load_scorer(ModelArtifact(*shared.value))
        for frame in batches:
            yield scorer.score(frame[features]).reset_index(drop=True)

    return {
        "mapInPandas": inputs.mapInPandas(score_frames, schema),
        "pandas_udf (iterator)": inputs.select(
            *passthrough, score_struct(F.struct(*features)).alias("scored")
        ).select(*passthrough, "scored.*"),
    }


def plain_process(
    parquet: Path, model_dir: Path, output: Path, threads: int, batch_rows: int
) -> dict[str, float]:
    """Run :func:`plain_worker` in a fresh Python process; returns its timings."""
    command = [sys.executable, __file__, "plain", str(parquet), str(model_dir), str(output)]
    command += [str(threads), str(batch_rows)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def plain_worker(parquet: str, model_dir: str, output: str, threads: str, batch_rows: str) -> None:
    """Parquet in, the Spark job's scoring kernel, Parquet out; prints JSON timings."""
    from fraudspark.models.batch_scoring import ATTRIBUTION_COLUMNS

    torch.set_num_threads(int(threads))
    started, cpu_started = time.perf_counter(), time.process_time()
    artifact = ModelArtifact.read(model_dir)
    dataset = ds.dataset(parquet, format="parquet")
    names = [
        *PASSTHROUGH,
        *artifact.metadata["score_columns"],
        *ATTRIBUTION_COLUMNS,
    ]
    rows = 0
    writer: pq.ParquetWriter | None = None
    batches = dataset.to_batches(batch_size=int(batch_rows))
    for batch in score_arrow_batches(batches, artifact, names):
        if writer is None:
            writer = pq.ParquetWriter(output, batch.schema)
        writer.write_batch(batch)
        rows += batch.num_rows
    if writer is not None:
        writer.close()
    timings = {
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(timings))


def prepare_process(args: argparse.Namespace, work: Path) -> tuple[Path, Path, int]:
    """The range's feature-store rows as Parquet and the model's export, once (untimed)."""
    parquet, model_dir, marker = work / "rows.parquet", work / "model", work / "rows.json"
    if marker.exists():
        log(f"reusing {work}")
        return parquet, model_dir, int(json.loads(marker.read_text())["rows"])
    shutil.rmtree(work, ignore_errors=True)
    config = load_config(args.conf, lakehouse=args.lakehouse)
    spark = build_spark(config, register=False)
    try:
        rows = feature_rows(spark, config, args.start, args.end).select(
            *PASSTHROUGH, *model_feature_columns(config)
        )
        rows.write.parquet(str(parquet))
        registered_artifact(config, args.model).artifact.write(model_dir)
        count = spark.read.parquet(str(parquet)).count()
    finally:
        spark.stop()
    marker.write_text(json.dumps({"rows": count}))
    return parquet, model_dir, count


def clear_scores(conf: str, lakehouse: str, model: str, start: str, end: str) -> None:
    """Delete the model's rows of ``start``..``end`` from fraud.scores (a fresh session)."""
    from delta.tables import DeltaTable

    from fraudspark.lakehouse.tables import SCORES, table_path

    config = load_config(conf, lakehouse=lakehouse)
    spark = build_spark(config, register=False)
    name = registered_artifact(config, model).name
    path = table_path(config, SCORES)
    if DeltaTable.isDeltaTable(spark, path):
        DeltaTable.forPath(spark, path).delete(
            f"model_name = '{name}' AND tx_date >= '{start}' AND tx_date <= '{end}'"
        )
    spark.stop()


def process_mode(args: argparse.Namespace) -> None:
    """fraudspark score against a plain Python process, each a fresh OS process (docstring)."""
    work = Path(args.workdir) / f"process-{args.start}-{args.end}"
    parquet, model_dir, rows = prepare_process(args, work)
    env = dict(os.environ, PYTHONPATH=str(REPO), TZ="UTC")
    cores = os.cpu_count() or 1
    runs: dict[str, Timing] = {}
    for round_number in range(1, args.repeat + 1):
        log(f"round {round_number} of {args.repeat}: {rows:,} rows, {args.start} .. {args.end}")
        run_process(
            "clear fraud.scores (untimed)",
            [sys.executable, __file__, "clear", args.conf, args.lakehouse, args.model,
             str(args.start), str(args.end)],
            env=env,
        )  # fmt: skip
        command = [
            sys.executable, "-m", "fraudspark.cli", "score", "--model", args.model,
            "--start", str(args.start), "--end", str(args.end),
            "--conf", args.conf, "--lakehouse", args.lakehouse,
        ]  # fmt: skip
        run = run_process("fraudspark score (fresh process)", command, env=env)
        label = "fraudspark score: Delta -> features -> model -> fraud.scores"
        timing = runs.setdefault(label, Timing())
        record(label, rows, timing, run.sample.wall_s, run.sample.cpu_s, run.sample.load_before)
        for threads in sorted({1, cores}):
            output = work / "plain-output.parquet"
            command = [sys.executable, __file__, "plain", str(parquet), str(model_dir)]
            command += [str(output), str(threads), str(args.arrow_batch)]
            run = run_process(f"plain process, {threads} thread(s)", command, env=env)
            label = f"plain process, {threads} torch thread(s): Parquet -> kernel -> Parquet"
            timing = runs.setdefault(label, Timing())
            sample = run.sample
            record(label, rows, timing, sample.wall_s, sample.cpu_s, sample.load_before)
    print(f"\n# python bench/scoring.py {' '.join(sys.argv[1:])}")
    print(f"rows: {rows:,}; medians of {args.repeat} rounds; each run a fresh process")
    print(f"{'run':<66} {'wall s':>7} {'rows/s':>10} {'CPU s':>7}")
    for label, timing in runs.items():
        print(
            f"{label:<66} {timing.wall_median:>7.1f} {rows / timing.wall_median:>10,.0f} "
            f"{timing.cpu_median:>7.1f}"
        )
    ours = next(timing for label, timing in runs.items() if label.startswith("fraudspark"))
    plain = min(
        (timing for label, timing in runs.items() if label.startswith("plain")),
        key=lambda t: t.wall_median,
    )
    ratio = plain.wall_median / ours.wall_median
    verdict = "met" if ratio >= 0.5 else "MISSED"
    print(
        f"fraudspark score: {ratio:.2f}x the plain process by wall time (target >= 0.5: {verdict})"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "plain":
        plain_worker(*sys.argv[2:7])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "clear":
        clear_scores(*sys.argv[2:7])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["warm", "process"], default="warm")
    parser.add_argument("--rows", default="5M", help="warm mode: synthetic rows")
    parser.add_argument(
        "--workdir", default=str(Path(tempfile.gettempdir()) / "fraudspark-bench-scoring")
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--arrow-batch", type=int, default=10_000, help="maxRecordsPerBatch")
    parser.add_argument("--skip-styles", action="store_true", help="skip the UDF-style runs")
    parser.add_argument("--lakehouse", help="process mode: a lakehouse with a registered model")
    parser.add_argument("--model", default="fraud-rapp", help="process mode: the model to score")
    parser.add_argument("--start", type=date.fromisoformat, help="process mode: first day")
    parser.add_argument("--end", type=date.fromisoformat, help="process mode: last day")
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    args = parser.parse_args()
    if args.mode == "process":
        if not (args.lakehouse and args.start and args.end):
            parser.error("--mode process needs --lakehouse, --start and --end")
        process_mode(args)
        return
    rows, workdir = parse_size(args.rows), Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    config = load_config(REPO / "conf" / "local.yaml", lakehouse=str(workdir / "lakehouse"))
    spark = build_spark(config)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.arrow_batch))
    cores = spark.sparkContext.defaultParallelism
    log(f"{rows:,} rows, {config.spark.master} ({cores} cores), arrow batch {args.arrow_batch}")
    delta, parquet = prepare(spark, config, workdir, rows)
    artifact = train_model(spark, config, delta)
    model_dir = artifact.write(workdir / "model")
    features = model_feature_columns(config)
    source = spark.read.format("delta").load(str(delta))
    scored = score_feature_rows(source, artifact, features)

    def spark_job() -> None:
        output = config.with_lakehouse(str(workdir / "job-output"))
        shutil.rmtree(output.lakehouse_root, ignore_errors=True)
        inserted = write_scores(spark, output, scored, "fraud-rapp", 1, START, date(2025, 3, 30))
        assert inserted == rows, (inserted, rows)

    def spark_append() -> None:
        output = str(workdir / "append-output")
        shutil.rmtree(output, ignore_errors=True)
        scored.write.format("delta").mode("overwrite").partitionBy("tx_date").save(output)

    variants: dict[str, Callable[[], None]] = {
        "Spark job: Delta -> mapInArrow -> MERGE fraud.scores": spark_job,
        "Spark: Delta -> mapInArrow -> Delta append": spark_append,
    }
    if not args.skip_styles:
        styles = {"mapInArrow": scored, **pandas_styles(source, artifact, features)}
        for name, frame in styles.items():
            variants[f"UDF style {name}, noop sink"] = lambda frame=frame: (
                frame.write.format("noop").mode("overwrite").save()
            )
    plain_labels = {
        threads: f"plain process, {threads} torch thread(s): Parquet -> kernel -> Parquet"
        for threads in sorted({1, cores})
    }
    timings = {label: Timing() for label in [*variants, *plain_labels.values()]}

    # Start every Python worker (and import torch there) before timing anything.
    warm_up = source.limit(20_000).repartition(cores)
    score_feature_rows(warm_up, artifact, features).write.format("noop").mode("overwrite").save()
    for round_number in range(1, args.repeat + 1):  # rounds interleave the variants
        log(f"round {round_number} of {args.repeat}")
        for label, action in variants.items():
            timed(label, rows, action, timings[label])
        for threads, label in plain_labels.items():
            load = os.getloadavg()[0]
            output = workdir / "plain-output.parquet"
            result = plain_process(parquet, model_dir, output, threads, args.arrow_batch)
            assert result["rows"] == rows, result
            record(label, rows, timings[label], result["seconds"], result["cpu_seconds"], load)

    print(f"\nrows: {rows:,}; cores: {cores}; arrow batch: {args.arrow_batch}")
    print(f"medians of {args.repeat} interleaved rounds")
    print(f"{'run':<66} {'wall s':>7} {'rows/s':>10} {'CPU s':>7} {'rows/CPU-s':>11}")
    for label, timing in timings.items():
        print(
            f"{label:<66} {timing.wall_median:>7.1f} {rows / timing.wall_median:>10,.0f} "
            f"{timing.cpu_median:>7.1f} {rows / timing.cpu_median:>11,.0f}"
        )
    plain = min((timings[label] for label in plain_labels.values()), key=lambda t: t.wall_median)
    for label in list(variants)[:2]:
        spark_timing = timings[label]
        print(
            f"{label.split(':')[0]} {label.split(':')[1].strip()}: "
            f"{plain.wall_median / spark_timing.wall_median:.2f}x the plain process by wall time, "
            f"{plain.cpu_median / spark_timing.cpu_median:.2f}x by CPU time"
        )


if __name__ == "__main__":
    main()
