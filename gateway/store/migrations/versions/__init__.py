"""Alembic revisions, loaded by path; a package only so that it is installed."""
