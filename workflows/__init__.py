"""Temporal workflows: orchestration only, no I/O (see ``conversation`` and ``names``)."""
