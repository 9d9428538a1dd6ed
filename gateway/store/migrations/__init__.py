"""Alembic migrations of the hookgate database (run with `hookgate migrate`)."""
