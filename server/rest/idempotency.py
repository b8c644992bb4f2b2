"""``Idempotency-Key`` on the REST writes that are not an organization's commands.

An organization's command keeps its key's receipt in the same statement as its
events (see :class:`server.actors.org.OrgActor`), so a retry is always told the
first answer. Every other write (members, tokens, invitations, channels,
rooms...) reserves its key before it runs and fills the receipt in with its
answer afterwards:

* a retry after the answer was kept gets it again (``Idempotent-Replayed``);
* a retry while the first is still running gets ``409 conflict``;
* a retry of a request whose answer was never kept (the server stopped, the
  database failed in between) gets ``504 outcome_unknown``: read back first;
* a key reused for another request gets ``422 invalid_field``.

An answer that held a secret shown once (a new token, an invitation's link, a
channel's signing secret) is not kept: its retry gets ``409`` saying so.
Writes that failed for want of the server (``503``) free the key.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from quart import Response, g, request
from quart_trio import QuartTrio

from ..errors import Conflict, OutcomeUnknown, ValidationError
from ..store import receipts as sql
from .access import access, caller
from .common import parts, receipt_for

WRITES: Final = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# Routes whose answer holds a secret that is shown once and never stored.
SECRET_ANSWERS: Final = frozenset(
    {
        ("POST", "/api/v1/orgs/<org>/tokens"),
        ("POST", "/api/v1/orgs/<org>/invitations"),
        ("POST", "/api/v1/orgs/<org>/channels"),
    }
)


def install(app: QuartTrio) -> None:
    app.before_request(reserve)
    app.after_request(complete)


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now, now - timedelta(hours=parts().config.limits.idempotency_hours)


async def reserve() -> Response | None:
    g.receipt = None
    entry = access()
    if (
        request.method not in WRITES
        or entry is None
        or entry.kind == "public"
        or entry.command is not None  # the organization's actor keeps those
    ):
        return None
    body = await request.get_data(as_text=False)
    assert isinstance(body, bytes)
    receipt = receipt_for(
        caller(), request.method, request.full_path, hashlib.sha256(body).hexdigest()
    )
    if receipt is None:
        return None
    now, since = _window()
    held = await sql.reserve(parts().store, receipt, now, since)
    if held is None:
        g.receipt = receipt
        return None
    if held.fingerprint != receipt.fingerprint:
        raise ValidationError(
            "this idempotency key was used for another request; use a new key",
            field="Idempotency-Key",
        )
    if held.status is None:
        running = now - held.created_at < timedelta(
            seconds=2 * parts().config.limits.database_seconds
        )
        if running:
            raise Conflict("a request with this idempotency key is still running")
        raise OutcomeUnknown(
            "a request with this idempotency key was begun and its outcome is unknown:"
            " read back before acting, then use a new key"
        )
    if held.answer is None:
        raise Conflict("this request was carried out already; its answer held a secret, shown once")
    g.replayed = True
    body_out = b"" if held.answer == "" else orjson.dumps(held.answer)
    kind = None if held.answer == "" else "application/json"
    return Response(body_out, held.status, content_type=kind)


async def complete(response: Response) -> Response:
    receipt = g.get("receipt")
    if receipt is None:
        return response
    g.receipt = None
    store = parts().store
    if response.status_code == 504:
        return response  # its outcome is unknown: the receipt says so to a retry
    if response.status_code >= 500:
        await sql.release(store, receipt)
        return response
    answer: Any = None
    rule = request.url_rule
    if (request.method, rule.rule if rule else "") not in SECRET_ANSWERS:
        raw = await response.get_data(as_text=False)
        answer = orjson.loads(raw) if raw else ""
    await sql.complete(store, receipt, response.status_code, answer)
    return response
