"""Run a Databricks source-format notebook (``# COMMAND ----------`` cells) outside Databricks.

Python cells run in one shared namespace; ``# MAGIC %sql`` cells run through ``spark.sql`` and
show their result; ``# MAGIC %md`` cells are text. Used by the tests so notebooks cannot rot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"
MAGIC = "# MAGIC"


@dataclass(frozen=True)
class Cell:
    kind: Literal["python", "sql", "md"]
    source: str


def parse_notebook(path: str | Path) -> list[Cell]:
    """Split a notebook into cells; raise ValueError if it is not in Databricks source format."""
    text = Path(path).read_text()
    if not text.startswith(HEADER):
        raise ValueError(f"{path}: not a Databricks notebook (first line must be {HEADER!r})")
    cells = []
    for chunk in text[len(HEADER) :].split(SEPARATOR):
        lines = chunk.strip("\n").splitlines()
        if not any(line.strip() for line in lines):
            continue
        if lines[0].startswith(MAGIC):
            body = [line[len(MAGIC) :].removeprefix(" ") for line in lines]
            magic, rest = body[0].split(maxsplit=1)[0], body[0].split(maxsplit=1)[1:]
            content = "\n".join(rest + body[1:])
            if magic == "%sql":
                cells.append(Cell("sql", content))
            elif magic == "%md":
                cells.append(Cell("md", content))
            else:
                raise ValueError(f"{path}: unsupported magic {magic!r}")
        else:
            cells.append(Cell("python", "\n".join(lines)))
    return cells


def run_notebook(path: str | Path, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute every cell in order; return the namespace (``spark`` must be defined by a cell)."""
    namespace = {} if namespace is None else namespace
    namespace.setdefault("__name__", "__notebook__")
    for number, cell in enumerate(parse_notebook(path), start=1):
        try:
            if cell.kind == "python":
                exec(compile(cell.source, f"{path}:cell{number}", "exec"), namespace)
            elif cell.kind == "sql":
                namespace["spark"].sql(cell.source).show(20, truncate=False)
        except Exception as exc:
            raise RuntimeError(f"{path}: cell {number} ({cell.kind}) failed: {exc}") from exc
    return namespace
