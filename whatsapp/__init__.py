"""WhatsApp Cloud API: the send client, webhook models, signature check and a sandbox Graph API.

``errors``, ``webhook`` and ``signature`` are pure (no httpx, no I/O) so that workflow code and
the API can import them freely; ``client`` and ``sandbox`` do I/O and are imported where needed.
"""
