"""SMOTE on a training set with fewer minority rows than k + 1."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from imblearn.over_sampling import SMOTE

from fraudspark.oversampling.smote import SMOTEOversampler, TooFewMinorityRowsError


def test_three_frauds_lower_k_to_two_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.zeros(40, dtype=np.int64)
    y[[5, 17, 33]] = 1
    sampler = SMOTEOversampler(sampling_ratio=0.5, random_state=1)
    with caplog.at_level(logging.WARNING):
        X_res, y_res = sampler.fit_resample(X, y)
    assert sampler.k_neighbors_ == 2
    assert "3 minority rows (rows [5, 17, 33])" in caplog.text
    # Same synthetic rows as imbalanced-learn's SMOTE with k = 2 (before making them valid:
    # no schema here, so make_valid leaves plain floats as they are).
    X_ref, y_ref = SMOTE(sampling_strategy=0.5, k_neighbors=2, random_state=1).fit_resample(X, y)
    assert y_res.tolist() == y_ref.tolist()
    assert int(y_res.sum()) == 18  # 36 genuine rows x 0.5
    np.testing.assert_allclose(X_res, X_ref)


def test_one_fraud_is_an_error_naming_the_row() -> None:
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.zeros(10, dtype=np.int64)
    y[7] = 1
    with pytest.raises(TooFewMinorityRowsError, match=r"has 1: row\(s\) \[7\]"):
        SMOTEOversampler(random_state=0).fit_resample(X, y)
