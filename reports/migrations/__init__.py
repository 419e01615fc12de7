"""Alembic migrations of the reports database (run by `implus reports migrate`)."""
