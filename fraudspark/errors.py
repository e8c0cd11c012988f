"""User errors: a bad night that is not a bug. ``cli`` prints their one-line message (no
traceback) and exits with their ``exit_code``."""

from __future__ import annotations

# sysexits.h EX_TEMPFAIL: "try again later"; a scheduler can retry on this code alone.
EXIT_NIGHT_LOCKED = 75
# sysexits.h EX_DATAERR: the input data was incorrect in some way.
EXIT_DATA_CHECK_FAILED = 65


class FraudsparkError(Exception):
    """An error the operator fixes (input, configuration, state); exit code 1 unless given."""

    exit_code: int = 1

    def __init__(self, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        # What the failing step measured; the nightly records it in fraud.runs' details.
        self.details = details


class NightLockedError(FraudsparkError):
    """Another night held the nightly lock for longer than ``nightly.lock_wait_seconds``."""

    exit_code = EXIT_NIGHT_LOCKED


class DataCheckError(FraudsparkError):
    """A night's input failed a data check (``config.data_checks``); the transactions are
    ingested, the night stops before labels."""

    exit_code = EXIT_DATA_CHECK_FAILED


class MissingTableError(FraudsparkError):
    """A table a command reads does not exist under the configured lakehouse root."""


class EmptyRangeError(FraudsparkError):
    """A date range asked of a table holds no rows (nothing is written)."""


class OutdatedTableError(FraudsparkError):
    """A table was written by an earlier fraudspark and lacks columns of the current schema;
    ``fraudspark migrate`` brings it up to date."""


class ModelFilesError(FraudsparkError):
    """A registered model version's files are missing or cannot be loaded."""
