"""The reports package's errors; each message says what to do next."""

from __future__ import annotations


class ReportsError(Exception):
    """Base of every reports error."""


class DatabaseUnavailable(ReportsError):
    """The reports database cannot be reached or used."""


class NotMigrated(ReportsError):
    """The database has no reports schema, or an older one."""


class BadPeriod(ReportsError, ValueError):
    """A report was asked for with a wrong date range, interval or time zone."""
