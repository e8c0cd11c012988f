"""User errors: a bad night that is not a bug. ``cli`` prints their one-line message (no
traceback) and exits with their ``exit_code``."""

from __future__ import annotations

# sysexits.h EX_TEMPFAIL: "try again later"; a scheduler can retry on this code alone.
EXIT_NIGHT_LOCKED = 75


class FraudsparkError(Exception):
    """An error the operator fixes (input, configuration, state); exit code 1 unless given."""

    exit_code: int = 1


class NightLockedError(FraudsparkError):
    """Another night held the nightly lock for longer than ``nightly.lock_wait_seconds``."""

    exit_code = EXIT_NIGHT_LOCKED
