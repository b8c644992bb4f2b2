"""Apprise channels: one URL for any of the services Apprise knows (Discord,
Telegram, Microsoft Teams, ntfy, Gotify, Matrix, Pushover, plain JSON or form
posts, and many more).

The URL is the channel's secret: it usually holds the service's token. It is
checked with Apprise's own parsing when the channel is made or changed, and
what the admins see of it afterwards is :attr:`Parsed.masked`.

Apprise blocks (it uses ``requests``), so a message is sent on a worker
thread (``trio.to_thread.run_sync``, under the notifier's limiter); retries,
ordering and the record of outcomes stay the notifier's (Apprise's own retries
are left at none). Why Apprise failed is what it logged as a warning or an
error while sending, caught per message.

The network rule, as far as it can be applied:

* before sending, the host the URL names is resolved and checked, for the
  services that connect to a host of the URL (``json://``, ``form://``,
  ``xml://``, ntfy or Gotify on one's own host, Matrix, the SMTP server of
  ``mailto://``, ``rsyslog://``...); services with a fixed endpoint (Discord,
  Telegram...) name no host;
* while sending, every HTTP connection Apprise makes through ``requests`` is
  checked before it is made, at the address it is made to: redirects, fixed
  endpoints and names that resolve differently by then included;
* what is not checked: connections that are not HTTP (SMTP, syslog over UDP,
  and the like) past the first check, where they go once connected, and any
  proxy set in the environment, which is checked as the host connected to.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

import trio

from ..netguard import NetworkRule, Refused, resolve_blocking
from .senders import SendError, Tone

log = logging.getLogger(__name__)

REASON: Final = 300  # characters of Apprise's words kept as a delivery's error


@dataclass(frozen=True, slots=True)
class Parsed:
    """What Apprise makes of a URL."""

    service: str  # Apprise's name for the service: "Discord", "JSON"
    masked: str  # shown in its place: the scheme, and the host if it names one
    hosts: tuple[tuple[str, int], ...]  # where a message goes first, if the URL says


@dataclass
class _Capture:
    """What happened while one message was sent on this thread."""

    rule: NetworkRule | None = None
    said: list[str] = field(default_factory=list)
    refused: Refused | None = None


_CAPTURE: ContextVar[_Capture | None] = ContextVar("switchboard_apprise", default=None)


@contextmanager
def _capturing(rule: NetworkRule | None = None) -> Iterator[_Capture]:
    capture = _Capture(rule)
    token = _CAPTURE.set(capture)
    try:
        yield capture
    finally:
        _CAPTURE.reset(token)


class _Heard(logging.Handler):
    """Apprise's warnings and errors, kept for the message being sent on this thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        capture = _CAPTURE.get()
        if capture is None:
            return
        try:
            said = " ".join(record.getMessage().split())
        except Exception:  # a library's malformed log call: not a reason to fail
            said = str(record.msg)
        if said and said not in capture.said:
            capture.said.append(said)


_READY = threading.Lock()
_ready = False


def _setup() -> None:
    """Once: hear Apprise's logs, and put the rule between ``requests`` and its
    connections (a message's own rule; others' connections are let be)."""
    global _ready
    with _READY:
        if _ready:
            return
        import urllib3.util.connection as connection

        logging.getLogger("apprise").addHandler(_Heard())
        made = connection.create_connection

        def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
            capture = _CAPTURE.get()
            if capture is None or capture.rule is None:
                return made(address, *args, **kwargs)
            host, port = address
            try:
                addresses = resolve_blocking(capture.rule, host, port)
            except Refused as exc:
                capture.refused = exc
                raise ConnectionRefusedError(exc.message) from None
            last: OSError | None = None
            for found in addresses:
                try:
                    return made((str(found), port), *args, **kwargs)
                except OSError as exc:
                    last = exc
            assert last is not None
            raise last

        connection.create_connection = guarded
        _ready = True


def _asset() -> Any:
    import apprise

    return apprise.AppriseAsset(
        app_id="Switchboard",
        app_desc="Switchboard status notifications",
        storage_mode="memory",  # nothing written to disk
        secure_logging=True,  # tokens masked in what Apprise logs
        http_redirects=False,  # as for webhooks: configure the final URL
    )


def _instantiate(url: str) -> Any:
    """Apprise's plugin for ``url``; ValueError saying why there is none."""
    _setup()
    import apprise
    import apprise.plugins

    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme:
        raise ValueError("must be an Apprise URL (service://...), e.g. json://hooks.example/notify")
    with _capturing() as capture:
        try:
            plugin = apprise.Apprise.instantiate(url, asset=_asset(), suppress_exceptions=False)
        except Exception as exc:
            capture.said.insert(0, " ".join(str(exc).split()))
            plugin = None
    if plugin is not None:
        return plugin
    if scheme in ("http", "https"):
        raise ValueError(
            "is not the URL of a service Apprise knows (Apprise takes some services' own"
            " https:// URLs, like Slack's and Discord's; for a plain webhook use json://"
            " or a webhook channel)"
        )
    if scheme not in apprise.plugins.N_MGR:  # the registry of the services it knows
        raise ValueError(f"names no service Apprise knows ({scheme}://)")
    why = "; ".join(capture.said) or "Apprise could not read it"
    raise ValueError(f"is not a {scheme}:// URL Apprise can use: {why}"[:REASON])


def _parsed(plugin: Any) -> Parsed:
    scheme = str(plugin.url(privacy=True)).partition("://")[0]
    secure = bool(getattr(plugin, "secure", False))
    port = plugin.port if isinstance(plugin.port, int) else None
    host = plugin.host if "host" in getattr(plugin, "template_tokens", {}) else None
    hosts: list[tuple[str, int]] = []
    if isinstance(host, str) and host:
        hosts.append((host, port or (443 if secure else 80)))
        shown = f"[{host}]" if ":" in host else host
        masked = f"{scheme}://{shown}{f':{port}' if port else ''}/…"
    else:
        masked = f"{scheme}://…"
    smtp = getattr(plugin, "smtp_host", None)
    if isinstance(smtp, str) and smtp:  # mail goes to its SMTP server, not the domain
        hosts = [(smtp, port or 25)]
    return Parsed(str(plugin.service_name), masked, tuple(hosts))


def parse(url: str) -> Parsed:
    """What Apprise makes of ``url`` (blocking: Apprise loads its plugins on
    first use); ValueError saying why it cannot be used."""
    return _parsed(_instantiate(url))


_TYPES = {
    Tone.CRITICAL: "failure",
    Tone.MAJOR: "failure",
    Tone.MINOR: "warning",
    Tone.OK: "success",
}


def _send_blocking(url: str, title: str, body: str, mood: Tone, rule: NetworkRule) -> None:
    try:
        plugin = _instantiate(url)
    except ValueError as exc:
        raise SendError(f"the Apprise URL {exc}", permanent=True) from None
    for host, port in _parsed(plugin).hosts:
        try:
            resolve_blocking(rule, host, port)
        except Refused as exc:
            raise SendError(exc.message, permanent=True) from None
        except OSError as exc:
            raise SendError(f"could not resolve {host}: {exc}"[:REASON]) from None
    with _capturing(rule) as capture:
        sent = plugin.notify(
            body=body, title=title, notify_type=_TYPES.get(mood, "info"), body_format="text"
        )
    if capture.refused is not None:
        raise SendError(capture.refused.message, permanent=True)
    if not sent:
        said = "; ".join(capture.said) or "it gave no reason"
        raise SendError(f"{plugin.service_name} did not take the message: {said}"[:REASON])


async def check(url: str, limiter: trio.CapacityLimiter | None = None) -> Parsed:
    """:func:`parse`, off the trio thread."""
    return await trio.to_thread.run_sync(parse, url, limiter=limiter, abandon_on_cancel=True)


async def send(
    url: str,
    title: str,
    body: str,
    mood: Tone,
    rule: NetworkRule,
    limiter: trio.CapacityLimiter,
) -> None:
    """Send through Apprise, on a worker thread; SendError saying why not.

    A send that takes too long for the caller is abandoned: its thread ends
    on its own (Apprise's timeouts), holding ``limiter`` until then.
    """
    await trio.to_thread.run_sync(
        _send_blocking, url, title, body, mood, rule, limiter=limiter, abandon_on_cancel=True
    )
