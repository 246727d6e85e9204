"""End-to-end tests: a real Temporal dev server, the worker, the API and the stand-in Graph API
over HTTP on loopback, on SQLite and on PostgreSQL."""
