"""What a valid feature row is, and the invertible transform GANs are trained in.

A column's validity kind follows its declared feature kind
(:func:`fraudspark.features.definitions.declared_kind`), so the rules follow configuration: with
minute windows ``[15, 30, 60]`` the columns ``cust_nb_tx_15m``, ``cust_nb_tx_30m``,
``cust_nb_tx_60m`` form one nested chain, whatever the list says.

==========  ============================================  ====================================
kind        declared feature kinds                        valid values
==========  ============================================  ====================================
``flag``    ``flag``, ``missing``                         0 or 1
``count``   ``count`` (``cust_nb_tx_7d``)                 integers >= 0, and no larger than
                                                          the same count over a longer window
``ratio``   ``risk`` (``term_risk_30d``)                  in [0, 1]
``amount``  ``amount`` (``tx_amount``)                    >= 0 (skewed: modelled in log space)
``real``    a derived ``ratio``, or a column not declared any finite number
==========  ============================================  ====================================
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np

from fraudspark.features.definitions import FeatureKind, declared_kind
from fraudspark.oversampling.structure import Identity, find_identities, impose

# Validity kinds (see the module table).
ColumnKind = Literal["flag", "count", "ratio", "amount", "real"]
VALIDITY_KINDS: dict[FeatureKind, ColumnKind] = {
    "flag": "flag",
    "missing": "flag",
    "count": "count",
    "risk": "ratio",
    "amount": "amount",
    "ratio": "real",
}


def validity_kind(name: str) -> ColumnKind:
    """The validity kind of a column from its declared feature kind; ``real`` if undeclared."""
    kind = declared_kind(name)
    return "real" if kind is None else VALIDITY_KINDS[kind]


# `cust_nb_tx_15m` -> stem `cust_nb_tx`, window 15 minutes; day and minute windows nest separately.
WINDOW_SUFFIX = re.compile(r"^(?P<stem>.+)_(?P<length>\d+)(?P<unit>[md])$")


@dataclass(frozen=True)
class ColumnSpec:
    """One feature column: its kind and, for a windowed count, the same count one window shorter."""

    name: str
    kind: ColumnKind
    narrower: int | None = None  # column index of the count it must not be smaller than


@dataclass(frozen=True)
class FeatureSchema:
    """The column-kind description the validity rules and the transform are driven by."""

    columns: tuple[ColumnSpec, ...]

    @classmethod
    def from_names(cls, names: Sequence[str]) -> FeatureSchema:
        """Kinds from the declared feature kinds; counts sharing a stem and unit form nested
        chains."""
        kinds = [validity_kind(name) for name in names]
        chains: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for index, (name, kind) in enumerate(zip(names, kinds, strict=True)):
            window = WINDOW_SUFFIX.match(name)
            if kind == "count" and window:
                key = (window["stem"], window["unit"])
                chains.setdefault(key, []).append((int(window["length"]), index))
        narrower: dict[int, int] = {}
        for members in chains.values():
            ordered = [index for _, index in sorted(members)]
            narrower.update(zip(ordered[1:], ordered[:-1], strict=True))
        return cls(
            tuple(
                ColumnSpec(name, kind, narrower.get(index))
                for index, (name, kind) in enumerate(zip(names, kinds, strict=True))
            )
        )

    @classmethod
    def unnamed(cls, n_features: int) -> FeatureSchema:
        """Columns without names: all ``real``, no rules beyond being finite."""
        return cls(tuple(ColumnSpec(f"x{index}", "real") for index in range(n_features)))

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def indices(self, kind: ColumnKind) -> list[int]:
        return [index for index, column in enumerate(self.columns) if column.kind == kind]

    def nested_pairs(self) -> list[tuple[int, int]]:
        """(narrower, wider) column pairs, narrower ones first along every chain."""
        pairs = [
            (column.narrower, index)
            for index, column in enumerate(self.columns)
            if column.narrower is not None
        ]
        return sorted(pairs, key=lambda pair: self._depth(pair[1]))

    def _depth(self, index: int) -> int:
        depth, narrower = 0, self.columns[index].narrower
        while narrower is not None:
            depth, narrower = depth + 1, self.columns[narrower].narrower
        return depth

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"name": column.name, "kind": column.kind, "narrower": column.narrower}
            for column in self.columns
        ]

    @classmethod
    def from_json(cls, columns: list[dict[str, Any]]) -> FeatureSchema:
        return cls(
            tuple(
                ColumnSpec(entry["name"], cast(ColumnKind, entry["kind"]), entry["narrower"])
                for entry in columns
            )
        )


def count_violations(rows: np.ndarray, schema: FeatureSchema) -> dict[str, int]:
    """Cells breaking each validity rule (all zero for a valid matrix), for quality reports."""
    rows = np.asarray(rows, dtype=np.float64)
    flags, counts = rows[:, schema.indices("flag")], rows[:, schema.indices("count")]
    ratios, amounts = (
        rows[:, schema.indices("ratio")],
        rows[:, schema.indices("amount")],
    )
    pairs = schema.nested_pairs()
    narrower = rows[:, [small for small, _ in pairs]]
    wider = rows[:, [large for _, large in pairs]]
    # NaN compares false everywhere, so it is counted once, under non_finite.
    return {
        "non_finite": int(np.sum(~np.isfinite(rows))),
        "flag_not_binary": int(np.sum((flags != 0) & (flags != 1) & np.isfinite(flags))),
        "count_not_natural": int(
            np.sum(((counts < 0) | (counts != np.round(counts))) & np.isfinite(counts))
        ),
        "ratio_outside_unit": int(np.sum((ratios < 0) | (ratios > 1))),
        "amount_negative": int(np.sum(amounts < 0)),
        "window_not_nested": int(np.sum(narrower > wider)),
    }


def make_valid(rows: np.ndarray, schema: FeatureSchema) -> np.ndarray:
    """The nearest valid rows: flags thresholded at 0.5, counts rounded, bounds clipped.

    Rounding is monotone, so counts that were nested before rounding stay nested; the running
    maximum along each chain repairs any that were not.
    """
    valid = np.array(rows, dtype=np.float64)
    flags, counts = schema.indices("flag"), schema.indices("count")
    valid[:, flags] = (valid[:, flags] >= 0.5).astype(np.float64)
    valid[:, counts] = np.maximum(np.round(valid[:, counts]), 0.0)
    valid[:, schema.indices("ratio")] = np.clip(valid[:, schema.indices("ratio")], 0.0, 1.0)
    valid[:, schema.indices("amount")] = np.maximum(valid[:, schema.indices("amount")], 0.0)
    for small, large in schema.nested_pairs():
        valid[:, large] = np.maximum(valid[:, large], valid[:, small])
    return valid


@dataclass(frozen=True)
class TabularTransform:
    """Feature rows <-> the standardised space a GAN is trained in.

    Amounts become ``log1p(amount)``; a windowed count becomes ``log1p`` of its increment over the
    next shorter window, so nested windows stay nested after inversion; then every column is
    standardised. The inverse clips to the training range in that space (a wild sample cannot
    overflow ``expm1``) and ends with :func:`make_valid`, so every generated row is valid, then
    imposes ``identities`` (:mod:`~fraudspark.oversampling.structure`; found in the training rows
    by :meth:`fit` when asked, none by default): generated rows then obey the exact identities
    between columns that real ones obey (a mean is the amount when its count is 1, a risk is a
    whole number of frauds over its count, ...). Every generator (GANs of either representation,
    diffusion) decodes through here.
    """

    schema: FeatureSchema
    center: np.ndarray
    scale: np.ndarray
    low: np.ndarray
    high: np.ndarray
    identities: tuple[Identity, ...] = ()

    @classmethod
    def fit(
        cls, rows: np.ndarray, schema: FeatureSchema, *, identities: bool = False
    ) -> TabularTransform:
        """Fit on valid ``rows`` (n, d); with ``identities``, also find the identities they obey
        (imposed on decoding; off by default, see :mod:`~fraudspark.oversampling.structure`)."""
        unscaled = _unscaled(rows, schema)
        center, scale = unscaled.mean(axis=0), unscaled.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)  # a constant column stays constant
        standard = (unscaled - center) / scale
        found = find_identities(make_valid(rows, schema), schema) if identities else ()
        return cls(schema, center, scale, standard.min(axis=0), standard.max(axis=0), found)

    @property
    def n_outputs(self) -> int:
        """Width of a generator's output in this space: one value per column."""
        return len(self.schema.columns)

    def transform(self, rows: np.ndarray) -> np.ndarray:
        standard: np.ndarray = (_unscaled(rows, self.schema) - self.center) / self.scale
        return standard

    def inverse_transform(self, standard: np.ndarray) -> np.ndarray:
        unscaled = np.clip(standard, self.low, self.high) * self.scale + self.center
        rows = unscaled.copy()
        rows[:, self.schema.indices("amount")] = np.expm1(rows[:, self.schema.indices("amount")])
        counts = self.schema.indices("count")
        rows[:, counts] = np.maximum(np.expm1(rows[:, counts]), 0.0)
        for (
            small,
            large,
        ) in self.schema.nested_pairs():  # increments back to running totals
            rows[:, large] += rows[:, small]
        return impose(make_valid(rows, self.schema), self.identities)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "standard",
            "schema": self.schema.to_json(),
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "identities": [identity.to_json() for identity in self.identities],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TabularTransform:
        """The transform :meth:`to_json` wrote; an archive written before identities existed
        (no ``identities`` key) decodes as it did then."""
        center, scale, low, high = (
            np.asarray(data[key], dtype=np.float64) for key in ("center", "scale", "low", "high")
        )
        identities = tuple(Identity.from_json(entry) for entry in data.get("identities", []))
        return cls(FeatureSchema.from_json(data["schema"]), center, scale, low, high, identities)


def _unscaled(rows: np.ndarray, schema: FeatureSchema) -> np.ndarray:
    """Rows in model space before standardising: log amounts, log count increments."""
    rows = np.asarray(rows, dtype=np.float64)
    unscaled = rows.copy()
    amounts = schema.indices("amount")
    unscaled[:, amounts] = np.log1p(np.maximum(rows[:, amounts], 0.0))
    for index in schema.indices("count"):
        narrower = schema.columns[index].narrower
        increment = rows[:, index] - (0.0 if narrower is None else rows[:, narrower])
        unscaled[:, index] = np.log1p(np.maximum(increment, 0.0))
    return unscaled
