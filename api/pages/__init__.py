"""The operator pages: settings, sessions and outbox, server-rendered, calling the JSON API.

``api.pages.router`` serves the HTML (Jinja2 templates holding no data), the static JS/CSS they
load, and ``GET /v1/sandbox/messages`` (the outbox's authenticated window on the stand-in Graph
API). Everything a page shows comes from the token-protected JSON API, fetched by plain JS with
the token the operator typed into the sign-in form (kept in ``sessionStorage``).
"""

from api.pages.router import router

__all__ = ["router"]
