"""Run a Databricks source-format notebook (``# COMMAND ----------`` cells) outside Databricks.

Python cells run in one shared namespace; ``# MAGIC %sql`` cells run through ``spark.sql`` and
show their result; ``# MAGIC %md`` cells are text. Used by the tests so notebooks cannot rot.

Notebook parameters are read with :func:`widget`: on Databricks a text widget (set in the
notebook's UI or by a job's parameters), elsewhere the value :func:`run_notebook` was given or
``FRAUDSPARK_<NAME>`` from the environment, else the notebook's default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"
MAGIC = "# MAGIC"


@dataclass(frozen=True)
class Cell:
    kind: Literal["python", "sql", "md"]
    source: str


@dataclass
class _Parameters:
    values: dict[str, str]
    read: set[str] = field(default_factory=set)


# The parameters of the notebook run_notebook is running (None outside it).
_RUNNING: ContextVar[_Parameters | None] = ContextVar("notebook_parameters", default=None)


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


def _databricks_widgets() -> Any:
    """``dbutils.widgets`` in a Databricks notebook, else None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    dbutils = shell.user_ns.get("dbutils") if shell is not None else None
    return getattr(dbutils, "widgets", None)


def widget(name: str, default: str, label: str | None = None) -> str:
    """A notebook parameter's value, as text (an empty default usually means "derive it").

    On Databricks: the text widget ``name`` (created with ``default`` on first use). Elsewhere:
    the value :func:`run_notebook` was given, else ``$FRAUDSPARK_<NAME>`` (upper case), else
    ``default``.
    """
    running = _RUNNING.get()
    if running is not None:
        running.read.add(name)
        if name in running.values:
            return running.values[name]
    else:
        widgets = _databricks_widgets()
        if widgets is not None:
            widgets.text(name, default, label or name)
            return str(widgets.get(name))
    return os.environ.get(f"FRAUDSPARK_{name.upper()}", default)


def run_notebook(
    path: str | Path,
    namespace: dict[str, Any] | None = None,
    parameters: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """Execute every cell in order; return the namespace (``spark`` must be defined by a cell).

    ``parameters`` set the notebook's :func:`widget` values; one the notebook never reads is an
    error (a typo would otherwise silently run the defaults).
    """
    namespace = {} if namespace is None else namespace
    namespace.setdefault("__name__", "__notebook__")
    running = _Parameters({name: str(value) for name, value in (parameters or {}).items()})
    token = _RUNNING.set(running)
    try:
        for number, cell in enumerate(parse_notebook(path), start=1):
            try:
                if cell.kind == "python":
                    exec(compile(cell.source, f"{path}:cell{number}", "exec"), namespace)
                elif cell.kind == "sql":
                    namespace["spark"].sql(cell.source).show(20, truncate=False)
            except Exception as exc:
                raise RuntimeError(f"{path}: cell {number} ({cell.kind}) failed: {exc}") from exc
    finally:
        _RUNNING.reset(token)
    unread = sorted(set(running.values) - running.read)
    if unread:
        raise ValueError(f"{path}: the notebook has no parameter {', '.join(unread)}")
    return namespace
