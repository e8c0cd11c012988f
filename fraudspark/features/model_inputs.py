"""Model inputs from feature-store rows: every feature a non-null double; and which features
each kind of model reads (the ``models:`` section of the configuration).

Training and scoring both go through :func:`model_inputs`, so they impute alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame

from fraudspark.config import Config
from fraudspark.features.definitions import FeatureKind, feature_fields
from fraudspark.features.transforms import RATIOS_BY_NAME, Ratio, raw_columns
from fraudspark.lakehouse.tables import sql_identifier

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
    # SQL text, one py4j call: built from Column objects, each of the ~80 features costs about
    # six py4j round trips, and training, scoring and evaluation call this many times.
    missing_value = f"CAST({MISSING_FEATURE_VALUE!r} AS DOUBLE)"
    return rows.selectExpr(
        *[
            f"coalesce(CAST({sql_identifier(name)} AS DOUBLE), {missing_value}) "
            f"AS {sql_identifier(name)}"
            if name in features
            else sql_identifier(name)
            for name in rows.columns
        ]
    )


@dataclass(frozen=True)
class ModelInputSpec:
    """The inputs of one model kind, checked against the feature definitions.

    ``features`` are store columns (with their declared ``kinds``), ``ratios`` derived inputs,
    ``transform`` whether the kind-driven :class:`~fraudspark.features.transforms.InputTransform`
    is fitted and exported with the model.
    """

    kind: str
    features: tuple[str, ...]
    kinds: dict[str, FeatureKind]
    ratios: tuple[Ratio, ...]
    transform: bool

    @property
    def raw_columns(self) -> list[str]:
        """The store columns the model reads: ``features`` and the ratios' operands."""
        return raw_columns(self.features, self.ratios)


def model_input_spec(config: Config, kind: str) -> ModelInputSpec:
    """The configured inputs of model ``kind`` (``models.<kind>`` in the configuration).

    Raises ValueError naming the unknown features (with the store's features), the unknown
    ratios (with the known ones) and the ratios whose operands the store lacks.
    """
    inputs = config.models.for_kind(kind)
    fields = feature_fields(config.features)
    kinds = {field.name: field.kind for field in fields}
    features = list(kinds) if inputs.features is None else list(inputs.features)
    problems = []
    unknown = [name for name in features if name not in kinds]
    if unknown:
        problems.append(f"unknown features {unknown} (the store's features: {list(kinds)})")
    unknown_ratios = [name for name in inputs.ratios if name not in RATIOS_BY_NAME]
    if unknown_ratios:
        problems.append(f"unknown ratios {unknown_ratios} (known: {list(RATIOS_BY_NAME)})")
    ratios = [RATIOS_BY_NAME[name] for name in inputs.ratios if name in RATIOS_BY_NAME]
    without = {
        ratio.name: [c for c in (ratio.numerator, ratio.denominator) if c not in kinds]
        for ratio in ratios
    }
    without = {name: columns for name, columns in without.items() if columns}
    if without:
        problems.append(f"ratios reading columns the store lacks: {without}")
    if ratios and not inputs.transform:
        problems.append("ratios need the input transform (transform: true)")
    if problems:
        raise ValueError(f"models.{kind}: {'; '.join(problems)}")
    return ModelInputSpec(
        kind,
        tuple(features),
        {name: kinds[name] for name in features},
        tuple(ratios),
        inputs.transform,
    )
