"""Modules a job names are imported by a background thread while its session starts."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from fraudspark.cli.common import (
    MLFLOW_MODULES,
    NIGHT_MODULES,
    SCORING_MODULES,
    job_session,
    preload_modules,
)
from fraudspark.config import Config


def test_preload_imports_in_order_in_another_thread_and_skips_a_failing_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("preload_first", "preload_last"):
        (tmp_path / f"{name}.py").write_text(
            "import threading, time\n"
            "IMPORTED_BY = threading.current_thread().name\n"
            "IMPORTED_AT = time.monotonic()\n"
        )
    (tmp_path / "preload_broken.py").write_text("raise RuntimeError('broken on purpose')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("preload_first", "preload_broken", "preload_last"):
        monkeypatch.delitem(sys.modules, name, raising=False)

    thread = preload_modules(["preload_first", "preload_broken", "preload_last"])
    thread.join(timeout=30)

    assert not thread.is_alive()
    first, last = sys.modules["preload_first"], sys.modules["preload_last"]
    assert first.IMPORTED_BY == last.IMPORTED_BY == "fraudspark-preload"
    assert threading.current_thread().name != first.IMPORTED_BY
    assert first.IMPORTED_AT <= last.IMPORTED_AT
    # The failed import left nothing half-imported: the job's own import raises its error.
    assert "preload_broken" not in sys.modules
    with pytest.raises(RuntimeError, match="broken on purpose"):
        import preload_broken  # noqa: F401


@pytest.mark.parametrize("modules", [MLFLOW_MODULES, SCORING_MODULES, NIGHT_MODULES])
def test_every_preloaded_module_exists(modules: tuple[str, ...]) -> None:
    # A misspelt name would only be logged at debug level and cost the job its head start.
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    assert missing == []


def test_job_session_returns_after_its_warm_up_read_and_the_preload_thread(
    spark: SparkSession, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The job's own imports must not start while the thread still imports (see job_session).
    (tmp_path / "preload_slow.py").write_text("import time\ntime.sleep(1.0)\nDONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "preload_slow", raising=False)
    counted: list[int] = []

    session = job_session(
        config, preload=["preload_slow"], warm_up=lambda s: counted.append(s.range(3).count())
    )

    assert counted == [3]
    assert sys.modules["preload_slow"].DONE
    assert not [t for t in threading.enumerate() if t.name == "fraudspark-preload"]
    assert session.range(2).count() == 2
