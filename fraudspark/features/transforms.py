"""Model inputs from declared feature kinds: log1p, ratios, robust scaling; exportable as JSON.

Each feature has a *kind* that decides its transform (pure numpy/pandas, no Spark):

- ``amount`` and ``count``: ``log1p`` (heavy right tails; a 5x amount becomes a shift of log 5);
- ``ratio``: ``log`` of the ratio, clipped to ``[RATIO_MIN, RATIO_MAX]`` (1 means "as usual";
  double and half are equally far from it);
- ``risk`` (a fraud share in [0, 1]), ``flag`` (0/1) and ``missing`` (a missing-value indicator):
  unchanged.

Ratios are derived columns declared as ``numerator / (denominator * denominator_scale)``, e.g. the
amount over the customer's 30-day mean amount, or the 1-day count over the 30-day daily rate
(``cust_nb_tx_1d / (cust_nb_tx_30d / 30)``). An undefined ratio (zero, missing or non-finite
denominator) is 1, "as usual".

After the transform, amount, count and ratio columns are robust-scaled: minus the median, over
the interquartile range (Tukey; scikit-learn's ``RobustScaler`` with its default quantiles),
both fitted on the training rows only (pass genuine rows). A column whose IQR is 0 is scaled by
its standard deviation, and by 1 if that is 0 too. Risk, flag and missing columns are not scaled.

:class:`InputTransform` holds everything fitted; :meth:`InputTransform.to_json` and
:meth:`InputTransform.from_json` round-trip it exactly (floats are written with ``repr``
precision), so a scoring process rebuilds the same matrix bit for bit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from fraudspark.features.definitions import FEATURE_KINDS, FeatureKind

__all__ = ["FEATURE_KINDS", "FeatureKind", "InputTransform", "Ratio"]
LOG1P_KINDS = frozenset({"amount", "count"})
SCALED_KINDS = frozenset({"amount", "count", "ratio"})
RATIO_MIN, RATIO_MAX = 1e-3, 1e3
TRANSFORM_FORMAT = "fraudspark.input_transform/1"


@dataclass(frozen=True)
class Ratio:
    """A derived input ``name = numerator / (denominator * denominator_scale)``."""

    name: str
    numerator: str
    denominator: str
    denominator_scale: float = 1.0

    def compute(self, frame: pd.DataFrame) -> np.ndarray:
        """The ratio per row (float64); 1 where the denominator is 0, missing or not finite."""
        numerator = frame[self.numerator].to_numpy(dtype=np.float64, na_value=np.nan)
        denominator = (
            frame[self.denominator].to_numpy(dtype=np.float64, na_value=np.nan)
            * self.denominator_scale
        )
        defined = np.isfinite(denominator) & (denominator != 0) & np.isfinite(numerator)
        out = np.ones(len(frame), dtype=np.float64)
        np.divide(numerator, denominator, out=out, where=defined)
        return out


# The ratios that carry the fraud signal in the detection research (issue 13).
DEFAULT_RATIOS: tuple[Ratio, ...] = (
    Ratio("amount_over_cust_avg_7d", "tx_amount", "cust_avg_amount_7d"),
    Ratio("amount_over_cust_avg_30d", "tx_amount", "cust_avg_amount_30d"),
    Ratio("cust_nb_tx_1d_over_daily_30d", "cust_nb_tx_1d", "cust_nb_tx_30d", 1 / 30),
    Ratio("amount_over_term_avg_30d", "tx_amount", "term_avg_amount_30d"),
)

RATIOS_BY_NAME: dict[str, Ratio] = {ratio.name: ratio for ratio in DEFAULT_RATIOS}


def raw_columns(inputs: Sequence[str], ratios: Sequence[Ratio]) -> list[str]:
    """``inputs``, then the ratios' numerators and denominators not among them (first use)."""
    names = list(inputs)
    for ratio in ratios:
        for column in (ratio.numerator, ratio.denominator):
            if column not in names:
                names.append(column)
    return names


def _transformed(values: np.ndarray, kind: str) -> np.ndarray:
    if kind in LOG1P_KINDS:
        # Negative amounts or counts do not occur; clip so that a bad row cannot give NaN.
        logged: np.ndarray = np.log1p(np.maximum(values, 0.0))
        return logged
    if kind == "ratio":
        ratio: np.ndarray = np.log(np.clip(values, RATIO_MIN, RATIO_MAX))
        return ratio
    return values


@dataclass(frozen=True)
class InputTransform:
    """A fitted transform: raw feature columns (and ratios) to one float64 model-input matrix.

    ``columns`` are the output columns in order (``inputs`` first, then the ratios' names);
    ``kinds`` gives each output column's kind; ``center`` and ``scale`` the robust scaling
    (0 and 1 for unscaled kinds).
    """

    inputs: tuple[str, ...]
    ratios: tuple[Ratio, ...]
    kinds: tuple[str, ...]
    center: np.ndarray
    scale: np.ndarray

    @property
    def columns(self) -> list[str]:
        return [*self.inputs, *(ratio.name for ratio in self.ratios)]

    @property
    def raw_columns(self) -> list[str]:
        """The raw feature columns :meth:`transform` reads: ``inputs``, then the ratios'
        numerators and denominators not among them, in order of first use."""
        return raw_columns(self.inputs, self.ratios)

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        kinds: Mapping[str, str],
        inputs: Sequence[str],
        ratios: Sequence[Ratio] = (),
    ) -> InputTransform:
        """Fit on training rows (``frame``: raw feature columns, genuine rows only).

        ``kinds`` maps every name in ``inputs`` to a kind of :data:`FEATURE_KINDS`. Raises
        ValueError naming unknown features, features without a kind, or unknown kinds.
        """
        missing = [name for name in inputs if name not in frame.columns]
        missing += [
            column
            for ratio in ratios
            for column in (ratio.numerator, ratio.denominator)
            if column not in frame.columns
        ]
        if missing:
            raise ValueError(f"unknown features (not in the rows): {sorted(set(missing))}")
        without_kind = [name for name in inputs if name not in kinds]
        if without_kind:
            raise ValueError(f"features without a declared kind: {without_kind}")
        bad = {name: kinds[name] for name in inputs if kinds[name] not in FEATURE_KINDS}
        if bad:
            raise ValueError(f"unknown feature kinds {bad}; expected one of {FEATURE_KINDS}")
        if len(frame) == 0:
            raise ValueError("cannot fit a transform on zero rows")
        all_kinds = (*(kinds[name] for name in inputs), *("ratio" for _ in ratios))
        unscaled = cls(
            tuple(inputs),
            tuple(ratios),
            all_kinds,
            np.zeros(len(all_kinds)),
            np.ones(len(all_kinds)),
        )
        matrix = unscaled.transform(frame)
        center = np.zeros(len(all_kinds))
        scale = np.ones(len(all_kinds))
        for index, kind in enumerate(all_kinds):
            if kind not in SCALED_KINDS:
                continue
            column = matrix[:, index]
            q1, median, q3 = np.quantile(column, [0.25, 0.5, 0.75])
            spread = q3 - q1
            if spread <= 0:
                spread = float(column.std())
            center[index] = median
            scale[index] = spread if spread > 0 else 1.0
        return cls(tuple(inputs), tuple(ratios), all_kinds, center, scale)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The model-input matrix, shape (rows, len(columns)), float64.

        Missing values (NaN) in an input column become 0 after the transform (the missing
        indicator, when declared, tells the model).
        """
        absent = [name for name in self.inputs if name not in frame.columns]
        if absent:
            raise ValueError(f"the rows lack feature columns {absent}")
        raw = [frame[name].to_numpy(dtype=np.float64, na_value=np.nan) for name in self.inputs]
        raw += [ratio.compute(frame) for ratio in self.ratios]
        matrix = np.empty((len(frame), len(raw)), dtype=np.float64)
        for index, (values, kind) in enumerate(zip(raw, self.kinds, strict=True)):
            matrix[:, index] = _transformed(values, kind)
        scaled: np.ndarray = (matrix - self.center) / self.scale
        scaled[~np.isfinite(scaled)] = 0.0
        return scaled

    def transform_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """:meth:`transform` as a DataFrame named by :attr:`columns` (index kept)."""
        return pd.DataFrame(self.transform(frame), columns=self.columns, index=frame.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TRANSFORM_FORMAT,
            "inputs": list(self.inputs),
            "ratios": [
                {
                    "name": r.name,
                    "numerator": r.numerator,
                    "denominator": r.denominator,
                    "denominator_scale": r.denominator_scale,
                }
                for r in self.ratios
            ],
            "kinds": list(self.kinds),
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
        }

    def to_json(self) -> str:
        """JSON text; Python writes floats with the shortest repr that reads back exactly."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputTransform:
        if data.get("format") != TRANSFORM_FORMAT:
            raise ValueError(f"not an input transform ({TRANSFORM_FORMAT}): {data.get('format')}")
        return cls(
            tuple(cast(list[str], data["inputs"])),
            tuple(Ratio(**ratio) for ratio in data["ratios"]),
            tuple(cast(list[str], data["kinds"])),
            np.asarray(data["center"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
        )

    @classmethod
    def from_json(cls, text: str) -> InputTransform:
        return cls.from_dict(json.loads(text))
