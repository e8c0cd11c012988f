"""String entity keys in the windowed-feature kernel: exact codes, same features as integers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fraudspark.config import FeatureConfig
from fraudspark.features.definitions import customer_windows
from fraudspark.features.windowed import entity_codes, entity_window_features


def test_string_keys_get_codes_equal_exactly_where_keys_are_equal() -> None:
    keys = pa.chunked_array([["a9f0", "fraud_Kirlin and Sons"], ["a9f0", "A9F0", "a9f0 "]])
    assert entity_codes(keys).tolist() == [0, 1, 0, 2, 3]
    assert entity_codes(pa.chunked_array([[7, 3, 7]])).tolist() == [7, 3, 7]


def test_string_keyed_features_equal_integer_keyed_ones() -> None:
    names = pa.chunked_array([["card_b", "card_a", "card_b", "card_a"]])
    integers = np.array([2, 1, 2, 1], np.int64)
    ts = np.array([0, 60, 120, 180], np.int64) * 1_000_000
    amount = np.array([10.0, 20.0, 30.0, 40.0])
    fraud = np.zeros(4)
    spec = customer_windows(FeatureConfig())
    by_name = entity_window_features(entity_codes(names), ts, amount, fraud, spec)
    by_int = entity_window_features(integers, ts, amount, fraud, spec)
    assert by_name["cust_avg_amount_1d"].tolist() == [10.0, 20.0, 20.0, 30.0]
    for column, values in by_int.items():
        assert by_name[column].tolist() == values.tolist()
