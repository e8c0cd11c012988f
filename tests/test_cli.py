"""The ``fraudspark`` command line: usage, dispatch, exit codes, one-line user errors, --help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

import fraudspark.cli
from fraudspark.cli import COMMANDS, main, usage

REPO = Path(__file__).resolve().parent.parent
CLI_MODULES = Path(fraudspark.cli.__file__).parent


def test_no_command_or_help_prints_the_usage_with_every_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in ([], ["--help"], ["-h"], ["help"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert out == usage() + "\n"
    lines = usage().splitlines()
    assert lines[0] == "usage: fraudspark <command> [options]   (fraudspark <command> --help)"
    listed = [line.split()[0] for line in lines[3:]]
    assert listed == list(COMMANDS)
    assert lines[3 + listed.index("promote")].endswith(
        "move a registered model's champion alias to a version"
    )


def test_every_command_module_is_listed_and_every_listed_module_exists() -> None:
    modules = {p.stem for p in CLI_MODULES.glob("*.py")} - {"__init__", "__main__", "common"}
    assert {module for module, _ in COMMANDS.values()} == modules


def test_an_unknown_command_exits_2_with_the_usage_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["scroe", "--date", "2025-02-01"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"fraudspark: unknown command 'scroe'\n\n{usage()}\n"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])

    assert exit_.value.code == 0
    words = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal width
    assert words.startswith(
        f"usage: fraudspark {command} [-h] [--conf CONF] [--lakehouse LAKEHOUSE]"
    )
    assert "--lakehouse LAKEHOUSE lakehouse root, overrides the config" in words


def test_a_bad_argument_is_argparses_usage_error_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["score", "--date", "2025-13-01"])

    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "fraudspark score: error: argument --date: not a date (YYYY-MM-DD): '2025-13-01'"
    )


def test_a_bad_configuration_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "bad.yaml"
    conf.write_text("spark: {master: 'local[2]', shuffle_partitionz: 4}\n")

    assert main(["promote", "--conf", str(conf), "fraud-ae", "1"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"fraudspark promote: error: {conf}: spark.shuffle_partitionz")


def _sql_argv(tmp_path: Path) -> list[str]:
    """``fraudspark sql`` with a small local configuration and a lakehouse under tmp_path."""
    conf = tmp_path / "test.yaml"
    conf.write_text("spark: {master: 'local[2]', shuffle_partitions: 4}\n")
    return ["sql", "--conf", str(conf), "--lakehouse", str(tmp_path / "lakehouse")]


def test_a_user_error_after_the_session_started_is_one_line_and_exit_1(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _sql_argv(tmp_path)

    assert main([*argv, "SELECT 1 AS one", "--output", str(tmp_path / "out.txt")]) == 1

    captured = capsys.readouterr()
    assert captured.err == (
        f"fraudspark sql: error: --output must end in .parquet or .csv, "
        f"got '{tmp_path / 'out.txt'}'\n"
    )
    assert not (tmp_path / "out.txt").exists()


def test_sql_output_is_one_file_of_the_whole_result(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _sql_argv(tmp_path)
    query = "SELECT id, id * 10 AS tens FROM range(3) UNION ALL SELECT 7, 70"
    csv, parquet = tmp_path / "out.csv", tmp_path / "out.parquet"
    csv.write_text("an earlier result\n")  # replaced

    assert main([*argv, query, "--output", str(csv)]) == 0
    assert main([*argv, query, "--output", str(parquet)]) == 0
    assert (
        main(
            [
                *argv,
                f"SELECT * FROM ({query}) WHERE id > 100",
                "--output",
                str(tmp_path / "none.csv"),
            ]
        )
        == 0
    )

    assert csv.is_file() and parquet.is_file()
    assert sorted(csv.read_text().splitlines()) == sorted(
        ["id,tens", "0,0", "1,10", "2,20", "7,70"]
    )
    assert sorted(pq.read_table(parquet).to_pylist(), key=lambda row: row["id"]) == [
        {"id": 0, "tens": 0}, {"id": 1, "tens": 10}, {"id": 2, "tens": 20}, {"id": 7, "tens": 70},
    ]  # fmt: skip
    assert (tmp_path / "none.csv").read_text() == "id,tens\n"  # no rows: the header alone
    # Nothing else is left beside them.
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("out", "none", ".")))
    assert left == ["none.csv", "out.csv", "out.parquet"]
    assert capsys.readouterr().out.count("wrote ") == 3


def test_the_module_entry_point_exits_1_without_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    environment = {**os.environ, "PYTHONPATH": str(REPO)}

    command = ["promote", "--conf", str(missing), "fraud-ae", "1"]

    done = subprocess.run(
        [sys.executable, "-m", "fraudspark.cli", *command],
        capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"fraudspark promote: error: {missing}: cannot read configuration: "
        "No such file or directory\n"
    )


def test_sql_registers_only_the_tables_its_query_names() -> None:
    from fraudspark.cli.sql import tables_named

    assert tables_named("SELECT count(*) FROM fraud.Transactions t JOIN fraud.scores s") == [
        "transactions",
        "scores",
    ]
    # A word that only contains a table name is not the table; no table named: all of them.
    assert tables_named("SELECT 1 AS transactions_seen") is None
    assert tables_named("SHOW TABLES IN fraud") is None
