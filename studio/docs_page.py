"""The API's documentation page at /docs (Swagger UI over the OpenAPI schema) served from the swagger-ui-bundle
package, so that nothing is fetched from the internet (FastAPI's default page loads Swagger UI from a CDN)."""
from __future__ import annotations

from pathlib import Path

from fastapi.openapi.docs import get_swagger_ui_html
from swagger_ui_bundle import swagger_ui_path

ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}


def docs_html(openapi_url: str, assets_url: str, title: str) -> str:
    page = get_swagger_ui_html(openapi_url=openapi_url, title=f"{title} — API",
                               swagger_js_url=f"{assets_url}/swagger-ui-bundle.js",
                               swagger_css_url=f"{assets_url}/swagger-ui.css", swagger_favicon_url="data:,")
    return page.body.decode("utf-8")


def docs_asset(name: str) -> tuple[Path, str] | None:
    """(file, media type) of one of the page's two assets, or None: only the names in ASSETS are served."""
    if name not in ASSETS:
        return None
    return Path(str(swagger_ui_path)) / name, ASSETS[name]
