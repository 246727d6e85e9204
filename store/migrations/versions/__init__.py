"""Alembic revisions, oldest first; each one frozen once released."""
