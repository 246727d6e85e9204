"""The database layer: settings, contacts, accounts and the reminder audit trail.

- ``repository``: ``Store``, the one entry point, grouping the aggregates below.
- ``accounts``, ``settings``, ``contacts``, ``reminders``, ``tokens``: data access by aggregate;
  ``reminders`` holds the never-duplicate protocol (claim / finish / release) and applies status
  webhooks with the rules of ``core.delivery``.
- ``transactions``: the plumbing they share (short read/write transactions, dialect SQL,
  row → record).
- ``db``: engine and sessionmaker factories (SQLite pragmas, ``BEGIN IMMEDIATE`` for writers).
- ``types``: the timezone-aware UTC datetime column type.
- ``models``: the SQLAlchemy ORM tables (the schema the migrations must match).
- ``records``: frozen dataclasses the rest of the service receives; never ORM objects.
- ``errors``: the exceptions the store raises on purpose.
- ``migrate``: ``migrate(database_url)``, applying the Alembic migrations in ``migrations/`` at
  start-up (serialised by an advisory lock on PostgreSQL).

Nothing here is imported by workflow code: it performs I/O.
"""
