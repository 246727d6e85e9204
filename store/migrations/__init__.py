"""Alembic migrations of the store schema (``env.py``, ``versions/``); see ``store.migrate``."""
