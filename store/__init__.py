"""The database layer: settings, contacts, accounts and the reminder audit trail.

- ``db``: engine and sessionmaker factories (SQLite pragmas, ``BEGIN IMMEDIATE`` for writers).
- ``types``: the timezone-aware UTC datetime column type.
- ``models``: the SQLAlchemy ORM tables (the schema the migrations must match).
- ``records``: frozen dataclasses the rest of the service receives; never ORM objects.
- ``repository``: ``Store``, the keyword-only data-access API, including the never-duplicate
  reminder protocol (claim / finish / release) and delivery-status bookkeeping.
- ``errors``: the exceptions ``Store`` raises on purpose.
- ``migrate``: ``migrate(database_url)``, applying the Alembic migrations in ``migrations/`` at
  start-up (serialised by an advisory lock on PostgreSQL).

Nothing here is imported by workflow code: it performs I/O.
"""
