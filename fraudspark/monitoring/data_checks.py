"""Operations data checks of a night's inputs: volume, quarantine share, unknown customers.

Pure functions over counts the nightly already has (no Spark, no table writes). Each check
compares one figure with a warn and a fail threshold from ``config.data_checks`` and returns a
:class:`CheckResult`; :func:`verdict` folds them into the night's status. The volume check
compares today's transaction count with the same weekday of the trailing weeks (card payments
have a strong weekly cycle), by the relative deviation from their median, as in control-chart
practice (the median resists one abnormal past week).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fraudspark.config import DataCheckConfig

Status = Literal["ok", "warn", "fail", "skipped"]


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, the measured value, the thresholds and the outcome."""

    name: str
    value: float | None
    warn: float
    fail: float
    status: Status
    message: str


@dataclass(frozen=True)
class NightInputStats:
    """What the night's ingest saw.

    ``read``: source rows; ``quarantined``: rows rejected; ``accepted``: rows written;
    ``unknown_customers``: accepted rows whose customer had no transaction before the day;
    ``same_weekday_history``: accepted rows on the same weekday of each trailing week, most
    recent first (shorter when the history is shorter); ``first_night``: nothing was stored
    before the day, so every customer is new and the unknown-customer check is skipped.
    """

    read: int
    quarantined: int
    accepted: int
    unknown_customers: int
    same_weekday_history: Sequence[int]
    first_night: bool = False


def _grade(name: str, value: float, warn: float, fail: float, what: str) -> CheckResult:
    status: Status = "fail" if value > fail else "warn" if value > warn else "ok"
    message = f"{name}: {what} (warn above {warn:g}, fail above {fail:g}): {status}"
    return CheckResult(name, value, warn, fail, status, message)


def volume_check(today: int, history: Sequence[int], config: DataCheckConfig) -> CheckResult:
    """|today / median(history) - 1|, graded by ``volume_warn`` and ``volume_fail``.

    ``history``: counts of the same weekday in the trailing weeks; only the first
    ``volume_weeks`` are used. Skipped with fewer than ``volume_min_weeks`` weeks or a zero
    median (nothing to compare with).
    """
    weeks = list(history[: config.volume_weeks])
    name = "volume"
    if len(weeks) < config.volume_min_weeks or statistics.median(weeks) == 0:
        return CheckResult(
            name, None, config.volume_warn, config.volume_fail, "skipped",
            f"{name}: {len(weeks)} comparable week(s) of history, "
            f"{config.volume_min_weeks} needed: skipped",
        )  # fmt: skip
    median = statistics.median(weeks)
    deviation = abs(today / median - 1)
    what = f"{today} transactions vs a median of {median:g} over {len(weeks)} week(s), {deviation:.1%} off"  # noqa: E501
    return _grade(name, deviation, config.volume_warn, config.volume_fail, what)


def share_check(name: str, part: int, whole: int, warn: float, fail: float, of: str) -> CheckResult:
    """``part / whole`` graded by ``warn`` and ``fail``; skipped when ``whole`` is 0."""
    if whole == 0:
        return CheckResult(name, None, warn, fail, "skipped", f"{name}: no {of}: skipped")
    share = part / whole
    return _grade(name, share, warn, fail, f"{part} of {whole} {of} ({share:.2%})")


def run_checks(stats: NightInputStats, config: DataCheckConfig) -> list[CheckResult]:
    """The three checks of a night: volume, quarantine share (of rows read), unknown-customer
    share (of rows accepted; skipped on the first night, when every customer is new)."""
    unknown = "unknown_customer_share"
    if stats.first_night:
        unknown_check = CheckResult(
            unknown, None, config.unknown_customer_share_warn,
            config.unknown_customer_share_fail, "skipped",
            f"{unknown}: no transaction before the day (first night): skipped",
        )  # fmt: skip
    else:
        unknown_check = share_check(
            unknown, stats.unknown_customers, stats.accepted,
            config.unknown_customer_share_warn, config.unknown_customer_share_fail,
            "accepted transactions",
        )  # fmt: skip
    return [
        volume_check(stats.accepted, stats.same_weekday_history, config),
        share_check(
            "quarantine_share", stats.quarantined, stats.read,
            config.quarantine_share_warn, config.quarantine_share_fail, "rows read",
        ),
        unknown_check,
    ]  # fmt: skip


def verdict(results: Sequence[CheckResult]) -> Status:
    """``fail`` if any check failed, else ``warn`` if any warned, else ``ok``."""
    statuses = {r.status for r in results}
    for status in ("fail", "warn"):
        if status in statuses:
            return status
    return "ok"
