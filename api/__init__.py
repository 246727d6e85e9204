"""The HTTP layer: Meta's webhook, the management API, health and metrics (docs/http-api.md).

- ``app``: ``create_app()``, the app factory whose lifespan owns the Temporal client, the
  database engine and the httpx client; ``main()`` serves it with uvicorn.
- ``deps``: typed ``Annotated[..., Depends(...)]`` aliases through which routes reach them.
- ``routes``: one router per topic (health, webhooks, accounts, settings, sessions, reminders).
- ``ingest``: hands a parsed webhook to Temporal (signal-with-start) and the store.
- settings changes reach running sessions through ``workflows.settings_propagation``.
- ``schemas``: request and response models; ``errors``: the 503 mapping; ``metrics``: Prometheus.
"""
