"""What every route needs: the server's parts, JSON in and out, tokens, paging."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
from quart import Response, current_app, request

from ..actors.gateway import Gateway
from ..actors.registry import Registry
from ..auth import Origin, Principal
from ..config import Config
from ..domain.schema import convert
from ..errors import AuthError, BadJson, PeerError, ValidationError
from ..identity import Authenticator
from ..protocol.messages import IdempotencyKey
from ..ratelimit import Network, client_address
from ..store import Store
from ..store.receipts import Receipt, fingerprint, scope_of

T = TypeVar("T")

MAX_PAGE = 200
DEFAULT_PAGE = 50


@dataclass(frozen=True, slots=True)
class Parts:
    """The server's parts, as the routes see them."""

    config: Config
    registry: Registry
    gateway: Gateway
    auth: Authenticator
    store: Store
    base_url: str
    trusted_proxies: tuple[Network, ...] = ()
    monitoring: Any = None  # server.monitoring.service.Monitoring, when it runs
    notifier: Any = None  # server.notify.Notifier, when it runs
    runtime: Callable[[], dict[str, Any]] | None = None  # the process's own figures
    bus: Any = None  # server.cluster.bus.Bus, among several nodes
    metrics: Any = None  # server.metrics.Metrics: what GET /metrics shows
    hosts: Any = None  # server.rest.hosts.Hosts: which host names serve which organization


def parts() -> Parts:
    found: Parts = current_app.config["SWITCHBOARD"]
    return found


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return json_response({"error": error}, status, headers)


def peer_error_response(error: PeerError) -> Response:
    """The answer to a request that ``error`` refused."""
    return error_response(
        error.http_status, error.code, error.message, error.field, error.http_headers()
    )


async def json_body(*, required: bool = True) -> dict[str, Any]:
    """The request's JSON object body (any content type: curl's -d is welcome)."""
    raw = await request.get_data(as_text=False)
    if not raw.strip():
        if required:
            raise ValidationError("the request needs a JSON object body")
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadJson(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    return body


async def principal() -> Principal | None:
    """Who is asking, from ``Authorization: Bearer <token>``; None if nobody said."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <token>'")
    return await parts().auth.verify(token.strip())


def idempotency_key() -> str | None:
    """The request's ``Idempotency-Key`` header, checked; None if it has none."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    key: str = convert(IdempotencyKey, raw, where="Idempotency-Key")
    return key


def receipt_for(who: Principal, *parts: Any) -> Receipt | None:
    """The receipt of a keyed request by ``who`` asking ``parts``; None unkeyed."""
    key = idempotency_key()
    if key is None:
        return None
    return Receipt(scope_of(who.kind, who.id), key, fingerprint(*parts))


def client_ip() -> str:
    """The client's address (behind trusted proxies, from X-Forwarded-For)."""
    peer = request.remote_addr or "?"
    return client_address(peer, request.headers.get("X-Forwarded-For"), parts().trusted_proxies)


def origin(who: Principal) -> Origin:
    return Origin.of(who, client_ip())


def query_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"query parameter {name} must be an integer", field=name) from None
    if not low <= value <= high:
        raise ValidationError(
            f"query parameter {name} must be between {low} and {high}", field=name
        )
    return value


def query_choice(name: str, choices: Sequence[str], default: str) -> str:
    value = request.args.get(name, default)
    if value not in choices:
        raise ValidationError(
            f"query parameter {name} must be one of {', '.join(choices)}", field=name
        )
    return value


def page_window() -> tuple[int, int]:
    """``?limit=&offset=``, checked."""
    return query_int("limit", DEFAULT_PAGE, 1, MAX_PAGE), query_int("offset", 0, 0, 10**9)


def paginate(
    items: Iterable[T], render: Callable[[T], Any], total: int | None = None
) -> dict[str, Any]:
    """``{"data": [...], "page": {limit, offset, total, next}}`` from ``?limit=&offset=``.

    ``items`` are all of them, or the first ``offset + limit`` of ``total``."""
    limit, offset = page_window()
    everything = list(items)
    total = len(everything) if total is None else total
    window = everything[offset : offset + limit]
    following = None
    if offset + limit < total:
        args = {**request.args.to_dict(), "limit": limit, "offset": offset + limit}
        following = f"{request.path}?{urlencode(args)}"
    return {
        "data": [render(item) for item in window],
        "page": {"limit": limit, "offset": offset, "total": total, "next": following},
    }
