"""The interactive API documentation at ``/docs``, outside production only.

FastAPI's own ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from a CDN by major version
(``swagger-ui-dist@5``): whatever that resolves to today runs in the operator's browser, next to
the API token they paste, with no integrity check. So the app turns both off and, except in
production, serves this page instead: Swagger UI pinned to one exact release, each file with
its Subresource Integrity hash, so the browser refuses any other bytes. In production there is
no ``/docs`` at all (one less page to defend); ``/openapi.json`` stays everywhere, for clients
and for a Swagger UI run elsewhere.

The page still needs the CDN to be reachable (it fails closed offline: no docs, nothing else
breaks). To move to a newer Swagger UI, change the version and both hashes together: each hash
is ``sha384-`` + base64 of the SHA-384 of the file in the npm package ``swagger-ui-dist``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from core.config import Settings

DOCS_PATH = "/docs"
SWAGGER_UI_VERSION = "5.35.0"
SWAGGER_UI_BASE = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
SWAGGER_UI_JS = (
    f"{SWAGGER_UI_BASE}/swagger-ui-bundle.js",
    "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9",
)
SWAGGER_UI_CSS = (
    f"{SWAGGER_UI_BASE}/swagger-ui.css",
    "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
)


def docs_html(title: str, openapi_url: str) -> str:
    """The Swagger UI page for ``openapi_url``: pinned files, integrity-checked."""
    (js_url, js_hash), (css_url, css_hash) = SWAGGER_UI_JS, SWAGGER_UI_CSS
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API docs</title>
<link rel="stylesheet" href="{css_url}" integrity="{css_hash}" crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{js_url}" integrity="{js_hash}" crossorigin="anonymous"></script>
<script>
SwaggerUIBundle({{
  url: "{openapi_url}",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
  deepLinking: true
}});
</script>
</body>
</html>
"""


def install_docs(app: FastAPI, settings: Settings) -> None:
    """Serve ``/docs`` unless in production (create the app with ``docs_url=None``)."""
    if settings.environment == "production" or app.openapi_url is None:
        return
    html = docs_html(app.title, app.openapi_url)

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Referrer-Policy": "no-referrer"})
