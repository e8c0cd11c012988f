"""Calendar arithmetic of the feature job: months, and the history a range of days needs."""

from __future__ import annotations

import math
from datetime import date, timedelta

from fraudspark.config import Config
from fraudspark.features.definitions import history_needed


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after (or before, if negative) ``day``'s month."""
    years, month = divmod(day.month - 1 + months, 12)
    return date(day.year + years, month + 1, 1)


def next_month(day: date) -> date:
    return add_months(day, 1)


def months_between(start: date, end: date) -> list[date]:
    """First days of the calendar months overlapping [start, end]."""
    months, month = [], month_start(start)
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def history_start(config: Config, start: date) -> date:
    """The first day an incremental run for ``start`` must read."""
    return start - timedelta(days=math.ceil(history_needed(config.features) / timedelta(days=1)))
