"""The DuckDB side of ``bench/features.py --mode process``, as a lean fresh process.

    python bench/duckdb_process.py WINDOWED_SQL MONTHLY_SQL WINDOWED_OUT MONTHLY_OUT THREADS WORKDIR

It imports DuckDB and the standard library only (no pyspark, pandas or fraudspark, whose
imports cost seconds a plain DuckDB user does not pay), connects, runs the windowed query and
then the monthly one, each written as Parquet, and prints each query's seconds as one JSON line.
``bench/features.py`` writes the two SQL files and imports :func:`duckdb_connect` and
:func:`duckdb_run` from here, so both modes run the very same statements.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import duckdb


def duckdb_connect(threads: int, workdir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET temp_directory = '{workdir / 'duckdb_tmp'}'")
    return con


def duckdb_run(
    con: duckdb.DuckDBPyConnection, query: str, out: Path, partition_by: str = "tx_date"
) -> None:
    """``COPY (query) TO out`` as Parquet partitioned by ``partition_by`` (tx_date for the
    windowed features, entity_type for the monthly ones, as the Delta tables are)."""
    if out.exists():
        shutil.rmtree(out)
    con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet, PARTITION_BY ({partition_by}))")


def duckdb_process(
    windowed_query: str,
    monthly_query: str,
    windowed_out: str,
    monthly_out: str,
    threads: str,
    workdir: str,
) -> dict[str, float]:
    """Connect, run the windowed query and then the monthly one (file paths of SQL text),
    each written as Parquet; return each query's seconds."""
    con = duckdb_connect(int(threads), Path(workdir))
    seconds: dict[str, float] = {}
    for name, query_file, out, partition_by in (
        ("windowed", windowed_query, windowed_out, "tx_date"),
        ("monthly", monthly_query, monthly_out, "entity_type"),
    ):
        started = time.perf_counter()
        duckdb_run(con, Path(query_file).read_text(), Path(out), partition_by)
        seconds[name] = time.perf_counter() - started
    con.close()
    return seconds


def main(argv: list[str]) -> int:
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(duckdb_process(*argv)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
