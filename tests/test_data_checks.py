"""The night's input checks on hand-computed figures (no Spark)."""

from __future__ import annotations

import pytest

from fraudspark.config import DataCheckConfig
from fraudspark.monitoring.data_checks import (
    NightInputStats,
    run_checks,
    share_check,
    verdict,
    volume_check,
)

CONFIG = DataCheckConfig()  # volume 0.3/0.6, quarantine 0.01/0.05, unknown 0.05/0.2, 4 weeks


def test_volume_is_compared_with_the_median_of_the_same_weekday() -> None:
    # Median of 1000, 1100, 900, 5000 is 1050 (the outlier week does not move it): 1360 is
    # 29.5% above it, under the warn line.
    history = [1000, 1100, 900, 5000]
    under = volume_check(1360, history, CONFIG)
    assert under.value == pytest.approx(310 / 1050)
    assert under.status == "ok"
    assert volume_check(1400, history, CONFIG).status == "warn"  # 33.3% above
    dropped = volume_check(300, history, CONFIG)  # 71.4% below
    assert dropped.value == pytest.approx(1 - 300 / 1050)
    assert dropped.status == "fail"
    assert "300 transactions vs a median of 1050 over 4 week(s), 71.4% off" in dropped.message


def test_volume_uses_only_the_configured_weeks_and_needs_enough_history() -> None:
    # Only the 4 most recent weeks count: the fifth (10) would pull the median down.
    assert volume_check(1000, [1000, 1000, 1000, 1000, 10], CONFIG).value == 0
    skipped = volume_check(1000, [1000], CONFIG)
    assert skipped.status == "skipped" and skipped.value is None
    assert skipped.message == "volume: 1 comparable week(s) of history, 2 needed: skipped"
    assert volume_check(1000, [0, 0], CONFIG).status == "skipped"


def test_shares_are_graded_by_their_thresholds() -> None:
    assert share_check("q", 1, 100, 0.01, 0.05, "rows read").status == "ok"  # 1% is not above
    assert share_check("q", 2, 100, 0.01, 0.05, "rows read").status == "warn"
    failed = share_check("q", 6, 100, 0.01, 0.05, "rows read")
    assert failed.status == "fail" and failed.value == 0.06
    assert (
        failed.message == "q: 6 of 100 rows read (6.00%) (warn above 0.01, fail above 0.05): fail"
    )
    assert share_check("q", 0, 0, 0.01, 0.05, "rows read").status == "skipped"


def test_a_night_fails_if_any_check_fails_and_warns_if_any_warns() -> None:
    quiet = NightInputStats(
        read=1000, quarantined=5, accepted=995, unknown_customers=10,
        same_weekday_history=[1000, 980],
    )  # fmt: skip
    results = run_checks(quiet, CONFIG)
    assert [(r.name, r.status) for r in results] == [
        ("volume", "ok"),
        ("quarantine_share", "ok"),
        ("unknown_customer_share", "ok"),
    ]
    assert verdict(results) == "ok"
    # 80 of 995 accepted rows from unknown customers: 8.04%, a warning.
    new_customers = NightInputStats(1000, 5, 995, 80, [1000, 980])
    assert verdict(run_checks(new_customers, CONFIG)) == "warn"
    # Half the rows quarantined: the quarantine check fails; 500 accepted against a median of
    # 990 is 49.5% off, a volume warning.
    broken_feed = NightInputStats(1000, 500, 500, 0, [1000, 980])
    statuses = [r.status for r in run_checks(broken_feed, CONFIG)]
    assert statuses == ["warn", "fail", "ok"]
    assert verdict(run_checks(broken_feed, CONFIG)) == "fail"
    assert verdict([]) == "ok"


def test_the_first_night_skips_the_unknown_customer_check() -> None:
    # Nothing stored before the day: every customer is new, which says nothing of the feed.
    first = NightInputStats(1000, 0, 1000, 1000, [], first_night=True)
    results = run_checks(first, CONFIG)
    assert [(r.name, r.status) for r in results] == [
        ("volume", "skipped"),
        ("quarantine_share", "ok"),
        ("unknown_customer_share", "skipped"),
    ]
    assert results[2].message == (
        "unknown_customer_share: no transaction before the day (first night): skipped"
    )
    assert verdict(results) == "ok"
