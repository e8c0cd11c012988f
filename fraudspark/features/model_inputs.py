"""Model inputs from feature-store rows: every feature a non-null double.

Training and scoring both go through :func:`model_inputs`, so they impute alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

MISSING_FEATURE_VALUE = 0.0


def model_inputs(rows: DataFrame, feature_names: Sequence[str]) -> DataFrame:
    """``rows`` with every feature column a non-null double; null becomes 0.

    Nulls occur in the monthly columns when a month is missing, and the ``*_month_missing``
    indicator already tells the model, so 0 adds no false information. Training and scoring
    both go through here.
    """
    missing = [name for name in feature_names if name not in rows.columns]
    if missing:
        raise ValueError(f"the rows lack feature columns {missing}")
    features = set(feature_names)
    return rows.select(
        *[
            F.coalesce(F.col(name).cast("double"), F.lit(MISSING_FEATURE_VALUE)).alias(name)
            if name in features
            else F.col(name)
            for name in rows.columns
        ]
    )
