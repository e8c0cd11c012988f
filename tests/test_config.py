"""Configuration: defaults, overrides, environment expansion, errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudspark.config import (
    HANDBOOK_INPUTS,
    Config,
    ConfigError,
    ModelInputsConfig,
    ModelsConfig,
    load_config,
)
from fraudspark.features.model_inputs import model_input_spec

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


def test_model_inputs_per_kind_default_to_the_research_choice() -> None:
    config = load_config()
    assert config.models.mahalanobis.features == list(HANDBOOK_INPUTS)
    assert config.models.mahalanobis.ratios == []
    assert len(HANDBOOK_INPUTS) == 15
    for kind in ("ae", "vae", "rapp", "gbt"):
        inputs = config.models.for_kind(kind)
        assert inputs.features == list(HANDBOOK_INPUTS)
        assert inputs.ratios == [
            "amount_over_cust_avg_7d",
            "amount_over_cust_avg_30d",
            "cust_nb_tx_1d_over_daily_30d",
        ]
    assert config.models.mlp.features is None and not config.models.mlp.transform
    with pytest.raises(ValueError, match="one of"):
        config.models.for_kind("forest")


def test_unknown_model_inputs_fail_with_their_names() -> None:
    models = ModelsConfig(
        vae=ModelInputsConfig(features=["tx_amount", "tx_velocity"], ratios=["amount_over_x"])
    )
    config = Config(models=models)
    message = (
        r"models\.vae: unknown features \['tx_velocity'\] .*; "
        r"unknown ratios \['amount_over_x'\]"
    )
    with pytest.raises(ValueError, match=message):
        model_input_spec(config, "vae")
    # A ratio whose operands the store lacks (no 30-day terminal mean amount).
    config = Config(models=ModelsConfig(ae=ModelInputsConfig(ratios=["amount_over_term_avg_30d"])))
    with pytest.raises(ValueError, match=r"'amount_over_term_avg_30d': \['term_avg_amount_30d'\]"):
        model_input_spec(config, "ae")
    spec = model_input_spec(Config(), "rapp")
    assert spec.raw_columns == list(HANDBOOK_INPUTS)  # the ratios read Handbook columns only
    assert spec.kinds["term_risk_7d"] == "risk" and spec.kinds["cust_nb_tx_1d"] == "count"


def test_model_inputs_in_yaml_are_strict(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("models:\n  ae:\n    features: [tx_amount, tx_amount]\n")
    with pytest.raises(ConfigError, match=r"models\.ae\.features"):
        load_config(path)
