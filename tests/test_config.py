"""Configuration: defaults, overrides, environment expansion, errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudspark.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def test_shipped_configs_load() -> None:
    local = load_config(REPO / "conf" / "local.yaml")
    cluster = load_config(REPO / "conf" / "cluster.yaml")
    assert local.spark.master == "local[*]"
    assert local.features.minute_windows == [15, 30, 60]
    assert cluster.spark.master.startswith("spark://")


def test_lakehouse_override_and_env_expansion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lakehouse:\n  root: ${LH_ROOT}/lake\nfeatures:\n  label_delay_days: 3\n")
    monkeypatch.setenv("LH_ROOT", str(tmp_path))
    config = load_config(path)
    assert config.lakehouse_root == str(tmp_path / "lake")
    assert config.features.label_delay_days == 3
    assert config.features.customer_day_windows == [1, 7, 30]  # untouched default
    assert load_config(path, lakehouse="/data/lh").lakehouse_root == "/data/lh"


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("spark:\n  mastr: local[2]\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value)
    assert "spark.mastr" in str(error.value)


def test_bad_value_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("features:\n  minute_windows: [15, -30]\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: features\.minute_windows"):
        load_config(path)


def test_missing_environment_variable_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lakehouse:\n  root: ${FRAUDSPARK_SURELY_UNSET}\n")
    with pytest.raises(ConfigError, match="FRAUDSPARK_SURELY_UNSET"):
        load_config(path)
