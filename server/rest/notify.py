"""Notifications over HTTP: channels, deliveries and subscribers (admins), and the
public sign-up of the status page.

Admin routes live under ``/api/v1/orgs/{org}`` and answer JSON. The public
routes live under ``/status/{org}``: they answer JSON to JSON requests and a
small HTML page to browsers (a form post, a link followed from an email), so
that the sign-up works from a plain ``<form>`` without JavaScript. Mail
clients' one-click unsubscribe (RFC 8058) is a POST to the unsubscribe link.

The routes reach the notifier through ``current_app.config["NOTIFIER"]``.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, current_app, request

from ..domain.model import iso
from ..domain.schema import parse
from ..errors import DomainError, RateLimited, ValidationError, retry_after
from ..notify import ChangeChannel, NewChannel, Notifier, SubscriberKind
from ..notify.deliveries import DELIVERY_STATUSES
from ..notify.records import Address, Url
from .access import caller
from .common import (
    client_ip,
    json_body,
    json_response,
    origin,
    parts,
    query_choice,
    query_int,
)
from .pages import offered
from .web import ASSETS, page_headers

bp = Blueprint("notify", __name__)

TEST_WAIT = 15.0  # seconds a test notification is waited for before answering 202


def _notifier() -> Notifier:
    found: Notifier = current_app.config["NOTIFIER"]
    return found


def _page_of(rows: list[Any], limit: int, path: str, key: Callable[[Any], str]) -> str | None:
    """The path of the next page, if there is one (rows holds one more than a page)."""
    if len(rows) <= limit:
        return None
    args = {k: v for k, v in request.args.items() if k not in ("after", "limit")}
    return f"{path}?{urlencode({**args, 'after': key(rows[limit - 1]), 'limit': limit})}"


# -- channels (admin) ------------------------------------------------------------------------


@bp.get("/api/v1/orgs/<org>/channels")
async def channels(org: str) -> Response:
    return json_response({"data": [c.to_dict() for c in await _notifier().channels(org)]})


@bp.post("/api/v1/orgs/<org>/channels")
async def create_channel(org: str) -> Response:
    who = caller()
    await parts().registry.org(org)  # NotFound for an organization that does not exist
    spec = parse(NewChannel, await json_body(), where="channel")
    channel, secret = await _notifier().create_channel(org, spec, origin(who))
    shown = channel.to_dict()
    if secret is not None:
        shown["secret"] = secret
    return json_response(shown, 201, {"Location": f"/api/v1/orgs/{org}/channels/{channel.id}"})


@bp.get("/api/v1/orgs/<org>/channels/<channel>")
async def show_channel(org: str, channel: str) -> Response:
    return json_response((await _notifier().channel(org, channel)).to_dict())


@bp.patch("/api/v1/orgs/<org>/channels/<channel>")
async def change_channel(org: str, channel: str) -> Response:
    who = caller()
    change = parse(ChangeChannel, await json_body(), where="channel")
    changed = await _notifier().change_channel(org, channel, change, origin(who))
    return json_response(changed.to_dict())


@bp.delete("/api/v1/orgs/<org>/channels/<channel>")
async def delete_channel(org: str, channel: str) -> Response:
    who = caller()
    await _notifier().delete_channel(org, channel, origin(who))
    return Response(b"", 204)


@bp.post("/api/v1/orgs/<org>/channels/<channel>/test")
async def test_channel(org: str, channel: str) -> Response:
    """Send a test message now; answer once it has been tried (202 if not yet)."""
    who = caller()
    await json_body(required=False)  # nothing to say, but nothing malformed either
    notifier = _notifier()
    delivery_id = await notifier.test_channel(org, channel, who.subject)
    delivery = await notifier.wait_attempted(org, delivery_id, TEST_WAIT)
    return json_response(delivery, 200 if delivery["attempts"] else 202)


# -- deliveries and subscribers (admin) ---------------------------------------------------------


@bp.get("/api/v1/orgs/<org>/deliveries")
async def deliveries(org: str) -> Response:
    """Newest first; ``?status=`` and ``?channel=`` filter, ``?after=<id>`` continues."""
    limit = query_int("limit", 50, 1, 200)
    status = query_choice("status", DELIVERY_STATUSES, "") if "status" in request.args else None
    channel = request.args.get("channel") or None
    if channel is not None:
        await _notifier().channel(org, channel)  # NotFound for one that does not exist
    after = request.args.get("after") or None
    rows = await _notifier().deliveries(
        org, status=status, channel=channel, after=after, limit=limit + 1
    )
    following = _page_of(rows, limit, f"/api/v1/orgs/{org}/deliveries", lambda r: r["id"])
    return json_response({"data": rows[:limit], "next": following})


@bp.get("/api/v1/orgs/<org>/deliveries/<delivery>")
async def show_delivery(org: str, delivery: str) -> Response:
    return json_response(await _notifier().delivery(org, delivery))


@bp.post("/api/v1/orgs/<org>/deliveries/<delivery>/retry")
async def retry_delivery(org: str, delivery: str) -> Response:
    """Try it again now; answer once it has been tried (202 if not yet)."""
    await json_body(required=False)
    notifier = _notifier()
    before = await notifier.delivery(org, delivery)
    await notifier.retry(org, delivery)
    after = await notifier.wait_attempted(org, delivery, TEST_WAIT)
    return json_response(after, 200 if after["attempts"] > before["attempts"] else 202)


def _subscriber_filters() -> tuple[str | None, SubscriberKind | None]:
    """``?q=`` (part of the address, any case) and ``?kind=email|webhook``."""
    search = request.args.get("q", "").strip()[:200] or None
    kinds = [k.value for k in SubscriberKind]
    kind = query_choice("kind", kinds, "") if "kind" in request.args else None
    return search, None if kind is None else SubscriberKind(kind)


@bp.get("/api/v1/orgs/<org>/subscribers")
async def subscribers(org: str) -> Response:
    """Newest first; ``?q=`` and ``?kind=`` filter, ``?after=<id>`` continues."""
    limit = query_int("limit", 50, 1, 200)
    after = request.args.get("after") or None
    search, kind = _subscriber_filters()
    found = await _notifier().subscriptions.page(org, after, limit + 1, search=search, kind=kind)
    following = _page_of(found, limit, f"/api/v1/orgs/{org}/subscribers", lambda s: s.id)
    return json_response({"data": [s.to_dict() for s in found[:limit]], "next": following})


@bp.get("/api/v1/orgs/<org>/subscribers/counts")
async def subscriber_counts(org: str) -> Response:
    return json_response(await _notifier().subscriptions.counts(org))


CSV_COLUMNS = ("id", "kind", "address", "confirmed", "confirmed_at", "created_at")


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula
    (``=``, ``+``, ``-``, ``@``, a tab or a return) is given a leading ``'``."""
    text = "" if value is None else iso(value) if isinstance(value, datetime) else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/api/v1/orgs/<org>/subscribers.csv")
async def subscribers_csv(org: str) -> Response:
    """Every subscriber (``?q=`` and ``?kind=`` filter), newest first, as CSV."""
    search, kind = _subscriber_filters()
    found = await _notifier().subscriptions.page(org, None, None, search=search, kind=kind)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for subscriber in found:
        row = subscriber.to_dict()
        writer.writerow(
            [_cell(str(row[c]).lower() if c == "confirmed" else row[c]) for c in CSV_COLUMNS]
        )
    headers = {
        "Content-Disposition": f'attachment; filename="{org}-subscribers.csv"',
        "Cache-Control": "no-store",
    }
    return Response(out.getvalue(), 200, headers, content_type="text/csv; charset=utf-8")


@bp.delete("/api/v1/orgs/<org>/subscribers/<subscriber>")
async def remove_subscriber(org: str, subscriber: str) -> Response:
    who = caller()
    await _notifier().subscriptions.remove(org, subscriber, origin(who))
    return Response(b"", 204)


# -- the public sign-up ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignUp:
    email: Address | None = None
    webhook: Url | None = None

    def target(self) -> tuple[SubscriberKind, str]:
        if self.email is not None and self.webhook is not None:
            raise ValidationError("give an email or a webhook, not both", field="webhook")
        if self.webhook is not None:
            return SubscriberKind.WEBHOOK, self.webhook
        if self.email is None:
            raise ValidationError("the subscription needs an email (or a webhook)", field="email")
        return SubscriberKind.EMAIL, self.email.lower()


SENT = (
    "If the address can receive them, a confirmation is on its way."
    " Follow its link to start receiving updates."
)


async def _form_post() -> bool:
    """A browser's form, rather than JSON (which ``curl -d`` also labels a form)."""
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return False
    raw: str | bytes = await request.get_data(as_text=False)
    return not (raw if isinstance(raw, bytes) else raw.encode()).lstrip().startswith(b"{")


def _wants_html() -> bool:
    """A browser (or a mail client following a link), rather than a program."""
    if request.method == "POST" and request.mimetype == "application/json":
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best != "application/json"


def _page(
    title: str,
    message: str,
    status: int = 200,
    *,
    button: str | None = None,
    back: str | None = None,
) -> Response:
    """A small page of the status site: a heading, a message, maybe a one-button
    form, maybe a link back to the status page ``back``."""
    e = html.escape
    form = (
        f'<form method="post"><button type="submit">{e(button)}</button></form>\n' if button else ""
    )
    if back:
        form += f'<p><a href="{e(back)}">Back to the status page</a></p>\n'
    body = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{e(title)}</title>'
        f'<link rel="stylesheet" href="{e(ASSETS.url("switchboard.css"))}"></head>\n'
        f'<body><main class="notice"><h1>{e(title)}</h1>\n<p>{e(message)}</p>\n{form}'
        "</main></body></html>\n"
    )
    return Response(
        body,
        status,
        headers={**page_headers(frames=False), "Cache-Control": "no-store"},
        content_type="text/html; charset=utf-8",
    )


def _problem_page(error: DomainError | RateLimited, back: str | None = None) -> Response:
    status = error.http_status
    titles = {404: "Link not valid", 429: "Too many requests", 422: "Please check the form"}
    page = _page(titles.get(status, "Something is wrong"), error.message, status, back=back)
    if isinstance(error, RateLimited):
        page.headers["Retry-After"] = retry_after(error.retry_after)
    return page


@bp.post("/status/<org>/subscribe")
async def subscribe(org: str) -> Response:
    """``{email}`` or ``{webhook}`` (JSON, or a form); 202 whatever the address's state."""
    browser = await _form_post()
    try:
        notifier = _notifier()
        wait = notifier.subscribe_buckets.take(client_ip())
        if wait:
            raise RateLimited("too many sign-ups from this address; try again later", wait)
        handle = await parts().registry.org(org)  # NotFound for a page that does not exist
        if browser:
            form = await request.form
            body: dict[str, Any] = {k: v for k in ("email", "webhook") if (v := form.get(k))}
        else:
            body = await json_body()
        kind, address = parse(SignUp, body, where="subscription").target()
        if kind.value not in offered(handle.state, notifier):
            raise ValidationError(
                f"this status page does not offer {kind.value} updates", field=kind.value
            )
        await notifier.subscriptions.subscribe(org, kind, address)
    except (DomainError, RateLimited) as error:
        if browser:
            return _problem_page(error, back=f"/status/{org}" if error.http_status != 404 else None)
        raise
    if browser:
        title = "Check your inbox" if kind is SubscriberKind.EMAIL else "Check your webhook"
        return _page(title, SENT, 202, back=f"/status/{org}")
    return json_response({"status": "confirmation_sent", "message": SENT}, 202)


@bp.route("/status/<org>/subscribe/confirm/<token>", methods=["GET", "POST"])
async def confirm(org: str, token: str) -> Response:
    browser = _wants_html()
    try:
        subscriber = await _notifier().subscriptions.confirm(org, token)
    except DomainError as error:
        if browser:
            return _problem_page(error)
        raise
    message = f"You will be notified of incidents and maintenances on {org}'s status page."
    if browser:
        return _page("Subscription confirmed", message)
    return json_response({"status": "confirmed", "subscriber": subscriber.to_dict()})


@bp.get("/status/<org>/unsubscribe/<token>")
async def unsubscribe_page(org: str, token: str) -> Response:
    """Ask first: link checkers and prefetchers follow links, and must not unsubscribe."""
    browser = _wants_html()
    try:
        subscribed = await _notifier().subscriptions.check_unsubscribe(org, token)
    except DomainError as error:
        if browser:
            return _problem_page(error)
        raise
    if not browser:
        return json_response({"subscribed": subscribed, "unsubscribe": "POST to this URL"})
    if not subscribed:
        return _page("Unsubscribed", f"You no longer receive {org}'s status updates.")
    return _page(
        "Unsubscribe?",
        f"Stop receiving notifications from {org}'s status page?",
        button="Unsubscribe",
    )


@bp.post("/status/<org>/unsubscribe/<token>")
async def unsubscribe(org: str, token: str) -> Response:
    """Unsubscribe (also the one-click POST of mail clients, whatever its body)."""
    browser = _wants_html()
    try:
        was = await _notifier().subscriptions.unsubscribe(org, token)
    except DomainError as error:
        if browser:
            return _problem_page(error)
        raise
    if browser:
        return _page("Unsubscribed", f"You no longer receive {org}'s status updates.")
    return json_response({"status": "unsubscribed" if was else "already_unsubscribed"})


# -- OpenAPI ----------------------------------------------------------------------------------


def openapi_paths(
    op: Callable[..., dict[str, Any]],
    path_params: Callable[..., list[dict[str, Any]]],
    query: Callable[[str, dict[str, Any], str], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """The admin routes' OpenAPI entries, built with :mod:`.openapi`'s helpers."""
    org = path_params("org")
    channel = path_params("org", "channel")
    page = [
        query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size"),
        query("after", {"type": "string"}, "continue after this id"),
    ]
    status = query("status", {"type": "string", "enum": list(DELIVERY_STATUSES)}, "filter")
    found = [
        query("q", {"type": "string"}, "part of the address, any case"),
        query("kind", {"type": "string", "enum": [k.value for k in SubscriberKind]}, "filter"),
    ]
    return {
        "/api/v1/orgs/{org}/channels": {
            "get": op("Notification channels (admin)", params=org),
            "post": op("Add a notification channel (admin)", body=NewChannel, ok="201", params=org),
        },
        "/api/v1/orgs/{org}/channels/{channel}": {
            "get": op("One notification channel (admin)", params=channel),
            "patch": op(
                "Change a notification channel (admin)", body=ChangeChannel, params=channel
            ),
            "delete": op("Remove a notification channel (admin)", ok="204", params=channel),
        },
        "/api/v1/orgs/{org}/channels/{channel}/test": {
            "post": op("Send a test notification (admin)", params=channel),
        },
        "/api/v1/orgs/{org}/deliveries": {
            "get": op(
                "Deliveries, newest first (admin)",
                params=[*org, *page, status, query("channel", {"type": "string"}, "its channel")],
            ),
        },
        "/api/v1/orgs/{org}/deliveries/{delivery}": {
            "get": op("One delivery (admin)", params=path_params("org", "delivery")),
        },
        "/api/v1/orgs/{org}/deliveries/{delivery}/retry": {
            "post": op("Try a delivery again now (admin)", params=path_params("org", "delivery")),
        },
        "/api/v1/orgs/{org}/subscribers": {
            "get": op("Public subscribers, newest first (admin)", params=[*org, *page, *found]),
        },
        "/api/v1/orgs/{org}/subscribers/counts": {
            "get": op("How many subscribers of each kind (admin)", params=org),
        },
        "/api/v1/orgs/{org}/subscribers.csv": {
            "get": op("Every subscriber, as CSV (admin)", params=[*org, *found]),
        },
        "/api/v1/orgs/{org}/subscribers/{subscriber}": {
            "delete": op(
                "Remove a subscriber (admin)", ok="204", params=path_params("org", "subscriber")
            ),
        },
    }
