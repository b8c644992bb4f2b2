"""Serving ``web/``: its templates, its static files, and the headers pages carry.

Static files are read once and served from memory. Pages link to them as
``/static/<name>?v=<hash of the content>``; such a request is cached for a
year (``immutable``), since a new content has a new link. A request without
the matching ``v`` (a module a script imports, say) is revalidated with its
ETag.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from quart import Blueprint, Response, request
from quart_trio import QuartTrio

from ..domain.schema import printable
from . import markdown, render

WEB = Path(os.environ.get("SWITCHBOARD_WEB", Path(__file__).resolve().parents[2] / "web"))

TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

bp = Blueprint("assets", __name__)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gz: bytes
    etag: str
    content_type: str


class Assets:
    """Everything under ``web/static``, loaded at start-up."""

    def __init__(self, root: Path) -> None:
        self.files: dict[str, Asset] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file():
                body = path.read_bytes()
                kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
                name = path.relative_to(root).as_posix()
                etag = hashlib.sha256(body).hexdigest()[:16]
                gz = gzip.compress(body, 9)
                self.files[name] = Asset(body, gz, etag, kind or "application/octet-stream")

    def url(self, name: str) -> str:
        return f"/static/{name}?v={self.files[name].etag}"


ASSETS = Assets(WEB / "static")


@bp.get("/static/<path:name>")
async def static_file(name: str) -> Response:
    asset = ASSETS.files.get(name)
    if asset is None:
        return Response("not found\n", 404, content_type="text/plain; charset=utf-8")
    if request.args.get("v") == asset.etag:
        cache = "public, max-age=31536000, immutable"
    else:
        cache = "public, max-age=0, must-revalidate"
    headers = {"ETag": f'"{asset.etag}"', "Cache-Control": cache}
    if request.if_none_match.contains(asset.etag):
        return Response(b"", 304, headers)
    content_type = asset.content_type
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    return compressed(asset.body, asset.gz, headers, content_type)


def compressed(body: bytes, gz: bytes, headers: dict[str, str], content_type: str) -> Response:
    """``body``, or ``gz`` (its gzip) when the client takes it."""
    headers = {**headers, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        body = gz
    return Response(body, 200, headers, content_type=content_type)


def _rfc822(moment: datetime | str) -> str:
    return format_datetime(_moment(moment).astimezone(UTC), usegmt=True)


def _atomtime(moment: datetime | str) -> str:
    return _moment(moment).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _moment(moment: datetime | str) -> datetime:
    return datetime.fromisoformat(moment) if isinstance(moment, str) else moment


# Pages allow scripts, styles and connections from their own origin only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'"
)


def page_headers(*, frames: bool = True, images: str | None = None) -> dict[str, str]:
    """A page's headers; ``images``: one more origin its images may come from
    (an organization's logo), checked by the caller to be a plain origin."""
    csp = CSP if images is None else CSP.replace("img-src 'self'", f"img-src 'self' {images}")
    headers = {
        "Content-Security-Policy": csp + ("" if frames else "; frame-ancestors 'none'"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    return headers


def _printable(value: Any) -> Any:
    """Every value a template writes, without characters no text may hold (data
    stored before they were refused must not make a feed invalid XML)."""
    if isinstance(value, str):
        cleaned = printable(value)
        return value if cleaned is value else type(value)(cleaned)  # Markup stays Markup
    return value


@pass_context
def _when(context: Context, moment: datetime | str | None) -> str:
    """``when``, in the page's ``time_zone`` (an organization's), else UTC."""
    return render.when(moment, context.get("time_zone") or "UTC")


def install(app: QuartTrio) -> None:
    """Templates from ``web/templates``, their filters, and the static route."""
    app.template_folder = str(WEB / "templates")
    env: Any = app.jinja_env
    env.trim_blocks = True
    env.lstrip_blocks = True
    env.finalize = _printable
    env.globals.update(static=ASSETS.url, L=render.LABELS)
    env.filters.update(
        when=_when,
        services_named=render.services_named,
        rfc822=_rfc822,
        atomtime=_atomtime,
        markdown=markdown.render,
    )
    app.register_blueprint(bp)
