"""Kind-driven model inputs: transforms, ratios and robust scaling on hand-written rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fraudspark.features.transforms import DEFAULT_RATIOS, InputTransform, Ratio

KINDS = {
    "tx_amount": "amount",
    "cust_nb_tx_1d": "count",
    "cust_nb_tx_30d": "count",
    "cust_avg_amount_30d": "amount",
    "term_risk_7d": "risk",
    "tx_during_night": "flag",
}
ROWS = pd.DataFrame(
    {
        "tx_amount": [10.0, 50.0, 100.0, 0.0, 30.0],
        "cust_nb_tx_1d": [1, 2, 3, 1, 5],
        "cust_nb_tx_30d": [30, 60, 0, 15, 30],
        "cust_avg_amount_30d": [20.0, 50.0, np.nan, 10.0, 6.0],
        "term_risk_7d": [0.0, 0.5, 0.0, 0.25, 1.0],
        "tx_during_night": [0, 1, 0, 0, 1],
    }
)


def test_ratios_by_hand() -> None:
    amount_ratio = Ratio("r", "tx_amount", "cust_avg_amount_30d")
    # 10/20, 50/50, 100/NaN -> 1 (undefined), 0/10, 30/6
    np.testing.assert_array_equal(amount_ratio.compute(ROWS), [0.5, 1.0, 1.0, 0.0, 5.0])
    rate = Ratio("d", "cust_nb_tx_1d", "cust_nb_tx_30d", 1 / 30)
    # 1/(30/30), 2/(60/30), 3/0 -> 1, 1/(15/30), 5/(30/30)
    np.testing.assert_allclose(rate.compute(ROWS), [1.0, 1.0, 1.0, 2.0, 5.0])


def test_kinds_decide_the_transform_and_scaling() -> None:
    inputs = ["tx_amount", "cust_nb_tx_1d", "term_risk_7d", "tx_during_night"]
    ratio = Ratio("amount_over_avg", "tx_amount", "cust_avg_amount_30d")
    transform = InputTransform.fit(ROWS, KINDS, inputs, [ratio])
    assert transform.columns == [*inputs, "amount_over_avg"]
    assert transform.kinds == ("amount", "count", "risk", "flag", "ratio")
    # amount: log1p of [10, 50, 100, 0, 30]; median log1p(30), IQR log1p(50) - log1p(10).
    assert transform.center[0] == pytest.approx(math.log(31))
    assert transform.scale[0] == pytest.approx(math.log(51) - math.log(11))
    # count: log1p of [1, 2, 3, 1, 5]; quartiles log1p(1), log1p(3).
    assert transform.center[1] == pytest.approx(math.log(3))
    assert transform.scale[1] == pytest.approx(math.log(4) - math.log(2))
    # risk and flag pass through unscaled.
    assert list(transform.center[2:4]) == [0.0, 0.0] and list(transform.scale[2:4]) == [1.0, 1.0]
    matrix = transform.transform(ROWS)
    assert matrix[1, 0] == pytest.approx(
        (math.log(51) - math.log(31)) / (math.log(51) - math.log(11))
    )
    np.testing.assert_array_equal(matrix[:, 2], ROWS["term_risk_7d"])
    np.testing.assert_array_equal(matrix[:, 3], ROWS["tx_during_night"])
    # ratio: log of [0.5, 1, 1, 0 -> clipped to 1e-3, 5]; median log 1 = 0; IQR log 1 - log 0.5.
    assert transform.center[4] == pytest.approx(0.0)
    assert transform.scale[4] == pytest.approx(math.log(2))
    assert matrix[4, 4] == pytest.approx(math.log(5) / math.log(2))
    assert matrix[3, 4] == pytest.approx(math.log(1e-3) / math.log(2))


def test_a_constant_column_keeps_a_finite_scale() -> None:
    rows = pd.DataFrame({"tx_amount": [5.0, 5.0, 5.0, 5.0]})
    transform = InputTransform.fit(rows, KINDS, ["tx_amount"])
    assert transform.scale[0] == 1.0
    assert (transform.transform(rows) == 0).all()


def test_missing_values_become_zero_after_the_transform() -> None:
    transform = InputTransform.fit(ROWS, KINDS, ["cust_avg_amount_30d"])
    matrix = transform.transform(ROWS)
    assert matrix[2, 0] == 0.0 and np.isfinite(matrix).all()


def test_unknown_features_and_kinds_fail_with_their_names() -> None:
    with pytest.raises(ValueError, match="cust_nb_tx_99d"):
        InputTransform.fit(ROWS, KINDS, ["tx_amount", "cust_nb_tx_99d"])
    with pytest.raises(ValueError, match=r"without a declared kind.*tx_amount"):
        InputTransform.fit(ROWS, {}, ["tx_amount"])
    with pytest.raises(ValueError, match="unknown feature kinds"):
        InputTransform.fit(ROWS, {"tx_amount": "money"}, ["tx_amount"])
    with pytest.raises(ValueError, match="term_avg_amount_30d"):
        InputTransform.fit(ROWS, KINDS, ["tx_amount"], DEFAULT_RATIOS)


def test_the_exported_transform_reproduces_the_matrix_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(
        {
            "tx_amount": rng.gamma(2.0, 30.0, 500),
            "cust_nb_tx_1d": rng.poisson(2.0, 500),
            "cust_nb_tx_30d": rng.poisson(60.0, 500),
            "cust_avg_amount_30d": rng.gamma(2.0, 30.0, 500),
            "term_risk_7d": rng.random(500) / 7,
            "tx_during_night": rng.integers(0, 2, 500),
        }
    )
    ratios = [
        Ratio("a", "tx_amount", "cust_avg_amount_30d"),
        Ratio("b", "cust_nb_tx_1d", "cust_nb_tx_30d", 1 / 30),
    ]
    fitted = InputTransform.fit(rows, KINDS, list(KINDS), ratios)
    reloaded = InputTransform.from_json(fitted.to_json())
    assert reloaded.columns == fitted.columns
    assert fitted.transform(rows).tobytes() == reloaded.transform(rows).tobytes()
    with pytest.raises(ValueError, match="not an input transform"):
        InputTransform.from_dict({"format": "something else"})
