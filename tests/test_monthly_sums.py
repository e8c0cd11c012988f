"""The monthly features' per-partition kernel: sums and distinct counterparties per (entity,
month), whichever sort it takes (one composite key, or lexsort for ids spread too wide)."""

from __future__ import annotations

import numpy as np
import pytest

from fraudspark.features.monthly import month_sums
from fraudspark.features.windowed import amount_micro_units


@pytest.mark.parametrize("id_offset", [0, 2**62], ids=["composite-key", "lexsort"])
def test_month_sums_per_entity_and_month(id_offset: int) -> None:
    entity = np.array([5, 5, 5, 7, 5, 7], np.int64) + id_offset
    month = np.array([0, 0, 1, 0, 0, 0], np.int32)
    counterparty = np.array([1, 1, 2, 1, 3, 1], np.int64) + id_offset
    terms = np.array([[1, 10], [1, 20], [1, 40], [1, 80], [1, 160], [1, 320]], np.int64)
    keys, months, sums = month_sums(entity, month, counterparty, terms)
    got = {
        (int(k) - id_offset, int(m)): s.tolist() for k, m, s in zip(keys, months, sums, strict=True)
    }
    # (5, 0): rows 0, 1, 4, counterparties {1, 3}; (5, 1): row 2; (7, 0): rows 3, 5, {1}.
    assert got == {(5, 0): [3, 190, 2], (5, 1): [1, 40, 1], (7, 0): [2, 400, 1]}


def test_amount_micro_units_round_half_to_even_and_refuse_what_they_cannot_hold() -> None:
    # x 1e6 these are exactly 0.5, 1.5 and 2.5: half to even gives 0, 2, 2 (as Spark's rint).
    got = amount_micro_units(np.array([0.0000005, 0.0000015, 0.0000025, 12.34]))
    assert got.tolist() == [0, 2, 2, 12_340_000]
    for bad in (-0.01, 1e13, np.nan):
        with pytest.raises(OverflowError, match="cannot be summed exactly"):
            amount_micro_units(np.array([1.0, bad]))
