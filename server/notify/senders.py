"""Sending one message: a signed webhook, a Slack-style message, or an email
(Apprise and PagerDuty have modules of their own).

A sender either returns the receiver's status code (the message was accepted)
or raises :class:`SendError`, which says why not and whether trying again
could help. Senders never touch the database: :mod:`.deliveries` decides what
to send and records what happened.

Webhooks are signed so that a receiver can tell them from forgeries and
replays::

    X-Switchboard-Timestamp: 1767225600
    X-Switchboard-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">

(:func:`verify` is the receiving side, for tests and for Python receivers.)
"""

from __future__ import annotations

import hashlib
import hmac
import html
import smtplib
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from enum import StrEnum
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from ..domain.schema import printable
from ..netguard import refusal

USER_AGENT = "Switchboard-Notifier/1"
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept a timestamp off by


class SendError(Exception):
    """The message was not accepted.

    ``permanent`` says that trying again cannot help (a configuration that is
    wrong, an address that does not exist); ``retry_after`` is the receiver's
    ``Retry-After``, in seconds, when it said one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """The mail server notifications are sent through (``host`` None: no email)."""

    host: str | None = None
    port: int = 587
    sender: str = "Switchboard <switchboard@localhost>"  # the From header
    starttls: bool = True  # upgrade a plain connection (port 587)
    ssl: bool = False  # TLS from the start (port 465); starttls is then moot
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)


# -- what a message says ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    """A notification in words: one line to headline it, paragraphs, a link."""

    subject: str
    paragraphs: tuple[str, ...]
    link: str
    link_text: str = "View the status page"


def _label(value: Any) -> str:
    return str(value or "").replace("_", " ").capitalize()


def _when(value: Any) -> str:
    """``2026-01-31T09:00:00.000Z`` as ``2026-01-31 09:00 UTC`` (as given if unreadable)."""
    if not isinstance(value, str):
        return "?"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _latest_update(entity: Mapping[str, Any]) -> str | None:
    updates = entity.get("updates")
    if isinstance(updates, list) and updates and isinstance(updates[-1], Mapping):
        body = updates[-1].get("body")
        return str(body) if body else None
    return None


_INCIDENT_SUBJECTS = {
    "incident.created": "New incident",
    "incident.updated": "Incident update",
    "incident.resolved": "Resolved",
}
_MAINTENANCE_SUBJECTS = {
    "maintenance.scheduled": "Scheduled maintenance",
    "maintenance.started": "Maintenance in progress",
    "maintenance.updated": "Maintenance update",
    "maintenance.completed": "Maintenance completed",
    "maintenance.cancelled": "Maintenance cancelled",
}


def render(
    org: str, event: str, payload: Mapping[str, Any], base_url: str, page: str | None = None
) -> Rendered:
    """What a notification of ``event`` says, for people (Slack, email); without
    characters no text may hold (an email header cannot carry a NUL that older
    versions let into a name). Its links go to ``page``, the organization's
    public page (``{base_url}/status/{org}`` unless said), and to the console
    at ``base_url``."""
    said = _render(org, event, payload, base_url, page or f"{base_url}/status/{org}")
    return Rendered(
        printable(said.subject),
        tuple(printable(p) for p in said.paragraphs),
        said.link,
        said.link_text,
    )


def _render(org: str, event: str, payload: Mapping[str, Any], base_url: str, page: str) -> Rendered:
    prefix = f"[{org}] "
    if event in _INCIDENT_SUBJECTS:
        incident = payload.get("incident")
        incident = incident if isinstance(incident, Mapping) else {}
        paragraphs = [f"Status: {_label(incident.get('status'))}"]
        if incident.get("impact"):
            paragraphs[0] += f" · impact: {_label(incident['impact'])}"
        if body := _latest_update(incident):
            paragraphs.append(body)
        link = f"{page}/incidents/{incident['id']}" if incident.get("id") else page
        subject = f"{prefix}{_INCIDENT_SUBJECTS[event]}: {incident.get('name', 'an incident')}"
        return Rendered(subject, tuple(paragraphs), link, "View the incident")
    if event in _MAINTENANCE_SUBJECTS:
        maintenance = payload.get("maintenance")
        maintenance = maintenance if isinstance(maintenance, Mapping) else {}
        paragraphs = [
            f"Scheduled from {_when(maintenance.get('scheduled_for'))}"
            f" to {_when(maintenance.get('scheduled_until'))}"
            f" · status: {_label(maintenance.get('status'))}"
        ]
        if body := _latest_update(maintenance):
            paragraphs.append(body)
        name = maintenance.get("name", "a maintenance")
        return Rendered(f"{prefix}{_MAINTENANCE_SUBJECTS[event]}: {name}", tuple(paragraphs), page)
    if event in _MONITOR_SUBJECTS:
        return _render_monitor(org, event, payload, base_url)
    if event in ("probe.offline", "probe.online"):
        return _probe_words(prefix, event, payload, page)
    if event == "test":
        message = str(payload.get("message") or "This is a test notification.")
        return Rendered(f"{prefix}Test notification", (message,), page)
    if event == "subscription.confirm":
        return Rendered(
            f"Confirm your subscription to {org}'s status updates",
            (
                f"Someone, hopefully you, asked to be notified of incidents and maintenances"
                f" on {org}'s status page. To confirm, open the link below.",
                "If it was not you, ignore this message: nothing more will be sent.",
            ),
            str(payload.get("confirm_url", page)),
            "Confirm the subscription",
        )
    return Rendered(f"{prefix}{event}", (), page)


_MONITOR_SUBJECTS = {
    "monitor.down": "is down",
    "monitor.degraded": "is degraded",
    "monitor.up": "is up again",
    "monitor.flapping": "is flapping",
    "monitor.stable": "is stable again",
}


def _render_monitor(org: str, event: str, payload: Mapping[str, Any], base_url: str) -> Rendered:
    monitor = payload.get("monitor")
    monitor = monitor if isinstance(monitor, Mapping) else {}
    service = payload.get("service")
    service = service if isinstance(service, Mapping) else {}
    name = monitor.get("name", "?")
    subject = f"[{org}] {service.get('name', 'A service')} {_MONITOR_SUBJECTS[event]} ({name})"
    paragraphs = []
    if payload.get("message"):
        paragraphs.append(str(payload["message"]))
    if payload.get("target"):
        paragraphs.append(f"Checks: {payload['target']}")
    regions = monitor.get("failing_regions") or []
    if regions and event != "monitor.up":
        paragraphs.append(f"Seen from: {', '.join(map(str, regions))}")
    if event == "monitor.up" and isinstance(payload.get("down_for_seconds"), int | float):
        paragraphs.append(f"It was down for {_duration(payload['down_for_seconds'])}.")
    elif monitor.get("verdict_since") and event != "monitor.stable":
        paragraphs.append(f"Since {_when(monitor['verdict_since'])}.")
    if event in ("monitor.flapping", "monitor.stable") and payload.get("changes"):
        paragraphs.append(
            f"{payload['changes']} changes within {payload.get('window_minutes', '?'):g} minutes."
            if isinstance(payload.get("window_minutes"), int | float)
            else f"{payload['changes']} changes."
        )
    if payload.get("after_maintenance"):
        paragraphs.append("Seen during the maintenance that just ended.")
    link = f"{base_url}/admin/{org}/services"
    return Rendered(subject, tuple(paragraphs), link, "Open the console")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{round(seconds)} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h"


PROBE_NAMES = 20  # monitors named in a probe's notification; the rest are counted


def _probe_words(prefix: str, event: str, payload: Mapping[str, Any], page: str) -> Rendered:
    region = payload.get("region", "?")
    monitors = payload.get("monitors")
    names = [
        str(m.get("name"))
        for m in (monitors if isinstance(monitors, list) else [])
        if isinstance(m, Mapping)
    ]
    shown = ", ".join(names[:PROBE_NAMES])
    more = f" and {len(names) - PROBE_NAMES} more" if len(names) > PROBE_NAMES else ""
    checked = f"It checks {shown}{more}." if names else ""
    if event == "probe.offline":
        heard = _when(payload.get("last_seen")) if payload.get("last_seen") else "never"
        said = (
            f"No result has come from the probe in {region} since {heard}. Until it"
            " reports again its region does not count towards any monitor's quorum."
        )
        subject = f"{prefix}Probe offline: {region}"
    else:
        said = f"The probe in {region} reports again; its region counts again."
        subject = f"{prefix}Probe back online: {region}"
    return Rendered(subject, tuple(p for p in (said, checked) if p), page)


def plain_text(rendered: Rendered, unsubscribe: str | None) -> str:
    parts = [*rendered.paragraphs, f"{rendered.link_text}: {rendered.link}"]
    if unsubscribe:
        parts.append(f"Unsubscribe: {unsubscribe}")
    return "\n\n".join(parts) + "\n"


def html_text(rendered: Rendered, unsubscribe: str | None) -> str:
    e = html.escape
    body = "".join(f"<p>{e(p)}</p>\n" for p in rendered.paragraphs)
    body += f'<p><a href="{e(rendered.link)}">{e(rendered.link_text)}</a></p>\n'
    if unsubscribe:
        body += f'<hr>\n<p><small><a href="{e(unsubscribe)}">Unsubscribe</a></small></p>\n'
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{e(rendered.subject)}</title></head>\n<body>\n{body}</body></html>\n"
    )


class Tone(StrEnum):
    """How bad the news is: a message's colour, Apprise's notification type,
    PagerDuty's severity."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    MAINTENANCE = "maintenance"
    INFO = "info"
    OK = "ok"


#: The status page's colours (its light theme), so that a message looks like the page.
COLOURS: Mapping[Tone, str] = {
    Tone.CRITICAL: "#b3261e",
    Tone.MAJOR: "#b3410e",
    Tone.MINOR: "#8a5300",
    Tone.MAINTENANCE: "#1a5fb4",
    Tone.INFO: "#4f5761",
    Tone.OK: "#137333",
}

_IMPACT_TONES = {"critical": Tone.CRITICAL, "major": Tone.MAJOR, "minor": Tone.MINOR}
_VERDICT_TONES = {"down": Tone.CRITICAL, "degraded": Tone.MINOR, "up": Tone.OK}
_EVENT_TONES = {
    "maintenance.completed": Tone.OK,
    "maintenance.cancelled": Tone.INFO,
    "monitor.down": Tone.CRITICAL,
    "monitor.degraded": Tone.MINOR,
    "monitor.flapping": Tone.MAJOR,
    "monitor.up": Tone.OK,
    "probe.offline": Tone.MAJOR,
    "probe.online": Tone.OK,
}


def tone(event: str, payload: Mapping[str, Any]) -> Tone:
    """An incident's by its impact (ok once resolved), a maintenance's blue, a
    monitor's by its verdict."""
    if event.startswith("incident."):
        incident = payload.get("incident")
        incident = incident if isinstance(incident, Mapping) else {}
        if incident.get("status") in ("resolved", "postmortem"):
            return Tone.OK
        return _IMPACT_TONES.get(str(incident.get("impact")), Tone.INFO)
    if event == "monitor.stable":  # still again, as whatever it is now
        monitor = payload.get("monitor")
        verdict = monitor.get("verdict") if isinstance(monitor, Mapping) else None
        return _VERDICT_TONES.get(str(verdict), Tone.INFO)
    if event in _EVENT_TONES:
        return _EVENT_TONES[event]
    return Tone.MAINTENANCE if event.startswith("maintenance.") else Tone.INFO


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn treats these three as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SLACK_SECTION = 3000  # characters a Block Kit section's text may hold


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def slack_message(rendered: Rendered, colour: str) -> dict[str, Any]:
    """A Slack-format message: the headline as ``text``, the rest in one
    attachment with the colour of the news, as Block Kit ``blocks`` (what Slack
    shows) and as the attachment's ``text`` (what Mattermost, Rocket.Chat and
    Discord's Slack endpoint show; Slack shows the blocks instead)."""
    paragraphs = [_slack_escape(p) for p in rendered.paragraphs]
    link = f"<{rendered.link}|{_slack_escape(rendered.link_text)}>"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(p, SLACK_SECTION)}}
        for p in paragraphs
        if p.strip()
    ]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    fallback = " · ".join([rendered.subject, *rendered.paragraphs[:1]])
    return {
        "text": f"*{_slack_escape(rendered.subject)}*",
        "attachments": [
            {
                "color": colour,
                "fallback": _clip(fallback, SLACK_SECTION),
                "text": "\n".join([*paragraphs, link]),
                "mrkdwn_in": ["text"],
                "blocks": blocks,
            }
        ],
    }


# -- webhooks --------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` keyed with ``secret``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    signature: str,
    timestamp: str,
    body: bytes,
    *,
    tolerance: float = SIGNATURE_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether a webhook is genuine and fresh (what a receiver should check)."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


def webhook_headers(
    delivery_id: str, event: str, body: bytes, secret: str | None, now: float | None = None
) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Switchboard-Event": event,
        "X-Switchboard-Delivery": delivery_id,
        "X-Switchboard-Timestamp": timestamp,
    }
    if secret:
        headers["X-Switchboard-Signature"] = sign(secret, timestamp, body)
    return headers


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP date: rare enough to wait our own backoff instead


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: Mapping[str, str]) -> int:
    """POST ``body``; its 2xx status, else SendError (redirects are not followed).

    What a refusal says is its status line and nothing of its body: the
    receiver may be something other than it claims, and what it answers is
    shown to the channel's admins.
    """
    try:
        async with client.stream("POST", url, content=body, headers=dict(headers)) as response:
            status = response.status_code
            if 200 <= status < 300:
                return status
    except httpx.TimeoutException:
        raise SendError(f"no answer from {_host(url)} in time") from None
    except httpx.HTTPError as exc:
        if (refused := refusal(exc)) is not None:
            raise SendError(refused.message, permanent=True) from None
        raise SendError(f"could not reach {_host(url)}: {_reason(exc)}") from None
    message = f"HTTP {status} {_phrase(status)}".rstrip()
    if 300 <= status < 400:
        message += " (redirects are not followed: configure the final URL)"
    # A redirect will not go away by itself, and 410 says the endpoint is gone
    # for good; anything else may be passing (a deploy, an overload).
    permanent = 300 <= status < 400 or status == 410
    raise SendError(
        message, status_code=status, permanent=permanent, retry_after=_retry_after(response)
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _reason(exc: httpx.HTTPError) -> str:
    """A transport error in a few words (never text the peer sent: a protocol
    error's message may quote what the receiver wrote)."""
    if isinstance(exc, httpx.ConnectError):
        return (str(exc) or "the connection failed")[:120]  # the resolver's or the OS's words
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the receiver did not speak HTTP properly"
    return type(exc).__name__


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


# -- email -----------------------------------------------------------------------------


def build_email(
    smtp: SmtpSettings,
    to: Sequence[str],
    rendered: Rendered,
    *,
    delivery_id: str,
    event: str,
    unsubscribe: str | None = None,
) -> EmailMessage:
    """A text and HTML message; with ``unsubscribe``, the one-click headers (RFC 8058)."""
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(to)
    message["Subject"] = " ".join(rendered.subject.split())  # a header is one line
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(smtp.sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(idstring=delivery_id, domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Switchboard-Event"] = event
    message["X-Switchboard-Delivery"] = delivery_id
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(plain_text(rendered, unsubscribe))
    message.add_alternative(html_text(rendered, unsubscribe), subtype="html")
    return message


async def send_email(smtp: SmtpSettings, message: EmailMessage) -> int:
    """Hand ``message`` to the mail server (in a thread: smtplib blocks)."""
    if not smtp.enabled:
        raise SendError("email is not configured on this server (no SMTP host)", permanent=True)
    return await trio.to_thread.run_sync(_send_blocking, smtp, message, abandon_on_cancel=True)


def _send_blocking(smtp: SmtpSettings, message: EmailMessage) -> int:
    assert smtp.host is not None
    try:
        client: smtplib.SMTP
        if smtp.ssl:
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.starttls and not smtp.ssl:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        text = "; ".join(f"{who}: {code}" for who, (code, _) in exc.recipients.items())
        raise SendError(
            f"the mail server refused {text}",
            status_code=max(codes, default=None),
            permanent=all(code >= 500 for code in codes),
        ) from None
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        raise SendError(
            f"SMTP {exc.smtp_code}: {reply}".strip(),
            status_code=exc.smtp_code,
            permanent=exc.smtp_code >= 500,
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"could not send through {smtp.host}:{smtp.port}: {exc}") from None
    return 250
