"""The local stack: ``python -m devstack`` (``make run``) starts and supervises everything.

Temporal dev server (Web UI, persistence file), the stand-in Graph API in sandbox mode, the
worker and the API, each a child process whose output is relayed with its name as prefix.
``devstack.plan`` turns the configuration into what to start, ``devstack.supervisor`` runs it,
``devstack.queries`` holds the Temporal Web UI visibility queries the README shows.
"""
