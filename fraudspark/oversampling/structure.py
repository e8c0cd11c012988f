"""Exact identities between feature columns, found in the training rows and imposed on generated
ones.

Window features are computed from the same payments, so real rows obey identities that a model
generating every column on its own breaks by small offsets, and a tree telling synthetic from
real rows separates them (issue 14). Three kinds are looked for, among column pairs chosen by
name and kind (so they follow the configured windows), and kept only where the training rows
obey them (:data:`MIN_HOLDING_SHARE` of the rows they apply to, at least
:data:`MIN_APPLYING_ROWS` rows):

===============  ==========================================  ======================================
kind             columns                                     identity
===============  ==========================================  ======================================
``mean_of_one``  a count, the mean amount over the same      the mean is the amount when the count
                 window (same entity), an unwindowed amount  is 1 (windows include the payment:
                                                             ``cust_avg_amount_15m == tx_amount``
                                                             when ``cust_nb_tx_15m == 1``)
``equal_means``  the counts and mean amounts of two          equal counts, equal means (no payment
                 consecutive windows of one entity           between the two window starts)
``fraction``     a risk column and the count of its window   ``risk * count`` is a whole number of
                                                             frauds, so ``risk`` is ``k / count``
                                                             and 0 when the window is empty
===============  ==========================================  ======================================

:func:`impose` (run by every generator's decode path, after
:func:`~fraudspark.oversampling.tabular.make_valid`, when the generator was fitted with
``identities=True``) gives each group of columns that must be equal in a row their mean (the
least-squares projection: a generator's several estimates of one amount are pooled) and sets each
risk to the nearest ``k / count`` (which also puts the point mass of risk at exactly 0 back).
Counts are left as generated. Windows are ordered by length in minutes across units (``60m``
before ``1d``), so a ``60m`` and a ``1d`` mean can be linked.

**Off by default.** Measured on the Handbook-like benchmark (bench/oversampling_quality.py
``diagnose`` and ``measure --compare-identities``, issue 14): real fraud rows obey every identity
found; rows of WGAN-GP and of the diffusion model decoded without them obey 0-3 % of the
equalities; with them imposed 100 %, yet the two-sample AUC barely moves (WGAN-GP 0.997 ->
0.991, diffusion 0.955 -> 0.956 at 3,000 steps) because the rows are told apart by the joint
distribution of many columns (monthly profiles, near-deterministic relations between windows),
and the average precision of a classifier trained with the synthetic rows falls (they move onto
the real rows' manifold where they overlap genuine rows). Overwriting means with ``tx_amount``
instead of pooling did the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

if TYPE_CHECKING:
    from fraudspark.oversampling.tabular import FeatureSchema

IdentityKind = Literal["mean_of_one", "equal_means", "fraction"]
# An identity is kept when it holds on this share of the training rows it applies to ...
MIN_HOLDING_SHARE = 0.99
# ... and applies to at least this many of them.
MIN_APPLYING_ROWS = 5
# Equality up to float rounding (means are sums over counts, computed in Spark).
RTOL, ATOL = 1e-6, 1e-6
MINUTES = {"m": 1, "d": 24 * 60}


@dataclass(frozen=True)
class Identity:
    """One identity over columns by index (see the module table for ``columns``' order):

    * ``mean_of_one``: (count, mean, amount);
    * ``equal_means``: (narrower count, wider count, narrower mean, wider mean);
    * ``fraction``: (risk, count).
    """

    kind: IdentityKind
    columns: tuple[int, ...]

    def applies(self, rows: np.ndarray) -> np.ndarray:
        """Rows (n,) bool the identity constrains."""
        c = self.columns
        if self.kind == "mean_of_one":
            return np.asarray(rows[:, c[0]] == 1)
        if self.kind == "equal_means":
            return np.asarray(rows[:, c[0]] == rows[:, c[1]])
        return np.ones(len(rows), dtype=bool)

    def holds(self, rows: np.ndarray) -> np.ndarray:
        """Rows (n,) bool where the identity holds (vacuously where it does not apply)."""
        c = self.columns
        if self.kind == "mean_of_one":
            equal = np.isclose(rows[:, c[1]], rows[:, c[2]], rtol=RTOL, atol=ATOL)
        elif self.kind == "equal_means":
            equal = np.isclose(rows[:, c[2]], rows[:, c[3]], rtol=RTOL, atol=ATOL)
        else:
            risk, count = rows[:, c[0]], rows[:, c[1]]
            frauds = risk * count
            whole = np.isclose(frauds, np.round(frauds), rtol=0.0, atol=1e-6 * np.maximum(count, 1))
            equal = np.where(count > 0, whole, risk == 0)
        return np.asarray(equal | ~self.applies(rows))

    def impose_fraction(self, rows: np.ndarray) -> None:
        """``risk`` (in place) to the nearest ``k / count``, ``k`` whole in ``[0, count]``, and 0
        where the count is 0."""
        risk, count = rows[:, self.columns[0]], rows[:, self.columns[1]]
        frauds = np.clip(np.round(risk * count), 0.0, count)
        rows[:, self.columns[0]] = np.divide(
            frauds, count, out=np.zeros(len(rows)), where=count > 0
        )

    @property
    def equal_columns(self) -> tuple[int, int]:
        """The two columns an equality (``mean_of_one``, ``equal_means``) makes equal."""
        c = self.columns
        if self.kind == "mean_of_one":
            return c[1], c[2]
        if self.kind == "equal_means":
            return c[2], c[3]
        raise ValueError("a fraction is not an equality")

    def describe(self, names: Sequence[str]) -> str:
        """The identity in words, with column names (for reports)."""
        n = [names[index] for index in self.columns]
        if self.kind == "mean_of_one":
            return f"{n[1]} == {n[2]} when {n[0]} == 1"
        if self.kind == "equal_means":
            return f"{n[3]} == {n[2]} when {n[1]} == {n[0]}"
        return f"{n[0]} * {n[1]} whole (0 when {n[1]} == 0)"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": list(self.columns)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Identity:
        return cls(cast(IdentityKind, data["kind"]), tuple(int(c) for c in data["columns"]))


def _window(name: str) -> tuple[str, str, int] | None:
    """``cust_avg_amount_15m`` -> (entity ``cust``, stem ``cust_avg_amount``, 15 minutes)."""
    from fraudspark.oversampling.tabular import WINDOW_SUFFIX

    match = WINDOW_SUFFIX.match(name)
    if match is None:
        return None
    stem = match["stem"]
    return stem.split("_", 1)[0], stem, int(match["length"]) * MINUTES[match["unit"]]


def candidates(schema: FeatureSchema) -> list[Identity]:
    """Every identity the column names and kinds allow, in the order :func:`impose` applies
    them (the training rows then decide which hold: :func:`find_identities`)."""
    names = schema.names
    kinds = [column.kind for column in schema.columns]
    windows = [_window(name) for name in names]
    # (entity, minutes) -> column indices of that window, per kind
    counts: dict[tuple[str, int], list[int]] = {}
    means: dict[tuple[str, int], list[int]] = {}
    risks: dict[tuple[str, int], list[int]] = {}
    for index, (kind, window) in enumerate(zip(kinds, windows, strict=True)):
        if window is None:
            continue
        key = (window[0], window[2])
        if kind == "count":
            counts.setdefault(key, []).append(index)
        elif kind == "amount":
            means.setdefault(key, []).append(index)
        elif kind == "ratio":
            risks.setdefault(key, []).append(index)
    unwindowed_amounts = [
        index for index, (kind, w) in enumerate(zip(kinds, windows, strict=True))
        if kind == "amount" and w is None
    ]  # fmt: skip
    found: list[Identity] = []
    for (entity, minutes), mean_columns in sorted(means.items(), key=lambda item: item[0][1]):
        for count in counts.get((entity, minutes), []):
            for mean in mean_columns:
                found += [Identity("mean_of_one", (count, mean, a)) for a in unwindowed_amounts]
    # Consecutive windows of one entity that both have a count and a mean, narrower first.
    for entity in sorted({entity for entity, _ in means}):
        lengths = sorted(m for e, m in means if e == entity and (e, m) in counts)
        for narrow, wide in itertools.pairwise(lengths):
            found += [
                Identity("equal_means", (small_count, large_count, small_mean, large_mean))
                for small_count, large_count, small_mean, large_mean in itertools.product(
                    counts[(entity, narrow)],
                    counts[(entity, wide)],
                    means[(entity, narrow)],
                    means[(entity, wide)],
                )
                # the same measures over the two windows
                if _stem(names[small_count]) == _stem(names[large_count])
                and _stem(names[small_mean]) == _stem(names[large_mean])
            ]
    for key, risk_columns in sorted(risks.items(), key=lambda item: item[0][1]):
        for risk in risk_columns:
            found += [Identity("fraction", (risk, count)) for count in counts.get(key, [])]
    # Unwindowed risks (``term_month_fraud_rate``) over an unwindowed count of the same entity.
    for risk, (kind, window) in enumerate(zip(kinds, windows, strict=True)):
        if kind != "ratio" or window is not None:
            continue
        entity = names[risk].split("_", 1)[0]
        found += [
            Identity("fraction", (risk, count))
            for count, (other, w) in enumerate(zip(kinds, windows, strict=True))
            if other == "count" and w is None and names[count].split("_", 1)[0] == entity
        ]
    return found


def _stem(name: str) -> str:
    window = _window(name)
    return name if window is None else window[1]


def find_identities(rows: np.ndarray, schema: FeatureSchema) -> tuple[Identity, ...]:
    """The candidate identities that ``rows`` (n, d), valid training rows, obey; one
    ``fraction`` per risk column at most (the first that holds)."""
    rows = np.asarray(rows, dtype=np.float64)
    kept: list[Identity] = []
    constrained: set[int] = set()
    for identity in candidates(schema):
        if identity.kind == "fraction" and identity.columns[0] in constrained:
            continue
        applying = identity.applies(rows)
        if applying.sum() < MIN_APPLYING_ROWS:
            continue
        if identity.holds(rows)[applying].mean() >= MIN_HOLDING_SHARE:
            kept.append(identity)
            if identity.kind == "fraction":
                constrained.add(identity.columns[0])
    return tuple(kept)


def impose(rows: np.ndarray, identities: Sequence[Identity]) -> np.ndarray:
    """A copy of ``rows`` (n, d) that obeys ``identities``.

    Equalities first: in each row, the columns linked by the equalities that apply to it
    (``tx_amount``, ``cust_avg_amount_15m`` and ``term_avg_amount_15m`` when both 15-minute
    counts are 1) form groups, and each group takes its mean: the least-squares projection onto
    the equalities. A generator's estimates of one quantity are pooled, not overruled by one of
    them. Then each ``fraction`` rounds ``risk * count`` to the nearest whole number of frauds in
    ``[0, count]`` (risk 0 when the count is 0). Counts are never changed.
    """
    imposed = np.array(rows, dtype=np.float64)
    equalities = [identity for identity in identities if identity.kind != "fraction"]
    if equalities and len(imposed):
        edges = [(*identity.equal_columns, identity.applies(imposed)) for identity in equalities]
        # Each column's group label per row: the smallest column index it is linked to.
        label = np.tile(np.arange(imposed.shape[1]), (len(imposed), 1))
        for _ in range(len(edges)):  # a chain of k edges settles in k passes
            settled = True
            for a, b, where in edges:
                smallest = np.minimum(label[:, a], label[:, b])
                settled &= bool(np.all(label[where, a] == label[where, b]))
                label[where, a] = smallest[where]
                label[where, b] = smallest[where]
            if settled:
                break
        for group in np.unique(label):
            member = label == group
            size = member.sum(axis=1)
            mean = np.where(member, imposed, 0.0).sum(axis=1) / np.maximum(size, 1)
            imposed = np.where(member & (size > 1)[:, None], mean[:, None], imposed)
    for identity in identities:
        if identity.kind == "fraction":
            identity.impose_fraction(imposed)
    return imposed
