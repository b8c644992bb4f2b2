"""``switchboard-cli``: Switchboard from the shell.

The server is ``--url`` (or ``SWITCHBOARD_URL``; default
``http://127.0.0.1:8080``), the token ``--token`` (or ``SWITCHBOARD_TOKEN``).
``--url``, ``--token``, ``--json`` and ``--timeout`` go before or after the
subcommand. Exit codes: see :data:`EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import httpx
import orjson

from . import __version__
from .client import Backoff, Event, Resync, connect
from .errors import (
    ConnectionLost,
    Forbidden,
    OutcomeUnknown,
    RateLimited,
    SwitchboardError,
    Unauthorized,
    Unavailable,
    error_from,
)

OK, REFUSED, USAGE, DENIED, UNREACHABLE, UNKNOWN = 0, 1, 2, 3, 4, 5

EXIT_CODES = """\
exit codes:
  0  done
  1  the server refused (not found, invalid field, conflict...), or a
     channel's test message could not be delivered
  2  wrong usage (a bad option, or a --url that is not one)
  3  not allowed: no token, a bad or revoked one, or a role too low
  4  the server cannot be reached or is unavailable (tail: gave up, see --retries)
  5  sent, but whether it was carried out is unknown (no answer in time): look before retrying

environment:
  SWITCHBOARD_URL    the server, e.g. https://status.example.com (default http://127.0.0.1:8080)
  SWITCHBOARD_TOKEN  the token to act with (an API token, sbt_...)
"""

DEFAULT_URL = "http://127.0.0.1:8080"


class Failure(Exception):
    """Ends the command with ``exit_code`` and ``message`` on stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = code
        self.message = message


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 2 with the reason, as argparse does, and say where to look."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _common() -> argparse.ArgumentParser:
    """The options every subcommand takes too (after it): no defaults here,
    so that one given before the subcommand is not overwritten."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument("--url", default=argparse.SUPPRESS, help="the server (env SWITCHBOARD_URL)")
    group.add_argument(
        "--token", default=argparse.SUPPRESS, help="the token (env SWITCHBOARD_TOKEN)"
    )
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    group.add_argument(
        "--timeout",
        type=float,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="the longest a request may wait, reconnecting included (default 15)",
    )
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(
        prog="switchboard-cli",
        description="Switchboard from the shell: status, services, incidents, maintenances,"
        " shared notes and live events.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def leaf(parent: Any, name: str, help: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = parent.add_parser(
            name,
            help=help,
            description=help,
            parents=[common],
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return made

    def group(name: str, help: str) -> Any:
        return sub.add_parser(name, help=help, description=help).add_subparsers(
            dest="action", required=True, parser_class=_Parser
        )

    status = leaf(sub, "status", "an organization's overall status and services")
    status.add_argument("org")

    tail = leaf(sub, "tail", "print live events (Ctrl+C to stop); reconnects on its own")
    tail.add_argument("topic", help="status:<org>, org:<org> or room:<id>")
    tail.add_argument("--since", type=int, help="start after this seq")
    tail.add_argument("--count", type=int, help="stop after this many events")
    tail.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help="give up (exit 4) after N failed reconnection attempts in a row"
        " (default: never; 0: as soon as the connection is lost)",
    )

    service = group("service", "services")
    listed = leaf(service, "list", "list the services, with their ids")
    listed.add_argument("org")
    set_ = leaf(service, "set", "set a service's status")
    set_.add_argument("org")
    set_.add_argument("service", help="its name or id")
    set_.add_argument("status", help="operational, degraded_performance, partial_outage, ...")

    incident = group("incident", "incidents")
    listed = leaf(incident, "list", "list the active incidents, with their ids")
    listed.add_argument("org")
    listed.add_argument("--all", action="store_true", help="resolved ones too")
    create = leaf(incident, "create", "open an incident")
    create.add_argument("org")
    create.add_argument("name")
    create.add_argument("--body", default="")
    create.add_argument("--impact")
    create.add_argument("--status")
    create.add_argument("--service", action="append", default=[], metavar="NAME=STATUS")
    update = leaf(incident, "update", "post an update")
    update.add_argument("org")
    update.add_argument("incident")
    update.add_argument("--body")
    update.add_argument("--status")
    resolve = leaf(incident, "resolve", "resolve an incident")
    resolve.add_argument("org")
    resolve.add_argument("incident")
    resolve.add_argument("--body")

    maintenance = group("maintenance", "maintenances")
    listed = leaf(maintenance, "list", "list the open maintenances, with their ids")
    listed.add_argument("org")
    listed.add_argument("--all", action="store_true", help="those over too")
    schedule = leaf(maintenance, "schedule", "schedule a maintenance")
    schedule.add_argument("org")
    schedule.add_argument("name")
    schedule.add_argument("--start", required=True, help="RFC 3339 time")
    schedule.add_argument("--end", required=True, help="RFC 3339 time")
    schedule.add_argument("--service", action="append", default=[], metavar="NAME")
    schedule.add_argument("--body", default="")
    cancel = leaf(maintenance, "cancel", "cancel a maintenance")
    cancel.add_argument("org")
    cancel.add_argument("maintenance")

    room = group("room", "shared notes")
    cat = leaf(room, "cat", "print a room's text")
    cat.add_argument("room")
    cat.add_argument("--rev", type=int, help="as it was at this revision")
    edit = leaf(room, "edit", "change a room's text (live, alongside others)")
    edit.add_argument("room")
    how = edit.add_mutually_exclusive_group(required=True)
    how.add_argument("--append", metavar="TEXT")
    how.add_argument("--prepend", metavar="TEXT")
    how.add_argument("--set", metavar="TEXT", help="replace the whole text")

    monitor = group("monitor", "uptime monitors")
    leaf(monitor, "list", "an organization's monitors and verdicts").add_argument("org")
    create = leaf(monitor, "create", "make a monitor")
    create.add_argument("org")
    create.add_argument("name")
    create.add_argument("--service", required=True, help="the service it watches")
    create.add_argument("--kind", default="http", help="http (the default), tcp, tls, heartbeat...")
    create.add_argument("--target", dest="target_url", help="http: the URL to request")
    create.add_argument("--host", help="tcp, tls: where to connect")
    create.add_argument("--port", type=int, help="tcp, tls: the port (tls: 443)")
    create.add_argument("--spec", help="more of the kind's settings, as a JSON object")
    create.add_argument("--interval", type=int, help="seconds between checks (30)")
    create.add_argument("--region", action="append", default=[], help="check from there only")
    create.add_argument("--quorum", type=int, help="regions that must agree it is down (1)")
    create.add_argument("--policy", choices=["status", "incident", "none"])
    create.add_argument("--paused", action="store_true", help="make it paused")
    for verb, words in (("pause", "stop checking"), ("resume", "check again")):
        one = leaf(monitor, verb, words)
        one.add_argument("org")
        one.add_argument("monitor", help="its id or name")
    check = leaf(monitor, "check", "check now from the server's region")
    check.add_argument("org")
    check.add_argument("monitor", help="its id or name")
    results = leaf(monitor, "results", "its latest results, newest first")
    results.add_argument("org")
    results.add_argument("monitor", help="its id or name")
    results.add_argument("--limit", type=int, default=20)
    uptime = leaf(monitor, "uptime", "its uptime over 24 h, 7, 30 and 90 days")
    uptime.add_argument("org")
    uptime.add_argument("monitor", help="its id or name")

    channel = group("channel", "notification channels (admins)")
    leaf(channel, "list", "an organization's channels").add_argument("org")
    test = leaf(channel, "test", "send a test message and say how it went")
    test.add_argument("org")
    test.add_argument("channel", help="its id or name")
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with the environment's defaults, checked (exits 2 if wrong)."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.url = getattr(args, "url", None) or os.environ.get("SWITCHBOARD_URL") or DEFAULT_URL
    args.token = getattr(args, "token", None) or os.environ.get("SWITCHBOARD_TOKEN")
    args.json = getattr(args, "json", False)
    args.timeout = getattr(args, "timeout", None) or 15.0
    problem = _url_problem(args.url)
    if problem:
        parser.error(f"--url {args.url!r}: {problem}")
    if args.timeout <= 0:
        parser.error("--timeout must be more than 0 seconds")
    return args


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a server's address (None: it can)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (it raises for a port that is not one)
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return "give an http://, https://, ws:// or wss:// URL"
    if not parts.hostname:
        return "it names no host"
    return None


def _fail_for(error: SwitchboardError) -> Failure:
    where = f" (field {error.field})" if error.field else ""
    text = f"{error.code}: {error.message}{where}"
    if isinstance(error, Unauthorized | Forbidden):
        return Failure(DENIED, text)
    if isinstance(error, OutcomeUnknown):
        return Failure(UNKNOWN, text)
    if isinstance(error, ConnectionLost | Unavailable | RateLimited):
        return Failure(UNREACHABLE, text)
    return Failure(REFUSED, text)


def _base(url: str) -> str:
    base = url.rstrip("/").removesuffix("/ws")
    if base.startswith("ws"):  # ws:// -> http://, wss:// -> https://
        base = "http" + base[2:]
    return base


async def _rest(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    base = _base(args.url)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=args.timeout) as http:
            response = await http.request(
                method,
                path,
                headers=headers,
                content=None if body is None else orjson.dumps(body),
            )
    except httpx.HTTPError as exc:
        raise Failure(UNREACHABLE, f"cannot reach {base}: {exc or type(exc).__name__}") from None
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    if response.status_code >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            error = {"code": f"http_{response.status_code}", "message": response.text[:200]}
        raise _fail_for(error_from(error))
    return body


async def _rest_list(args: argparse.Namespace, path: str) -> list[dict[str, Any]]:
    """Every item of a paged list."""
    items: list[dict[str, Any]] = []
    next_path: str | None = path
    while next_path:
        page = await _rest(args, "GET", next_path)
        items.extend(page["data"])
        next_path = (page.get("page") or {}).get("next")
    return items


def _out(args: argparse.Namespace, value: Any, text: str) -> None:
    if args.json:
        print(orjson.dumps(value).decode(), flush=True)
    else:
        print(text, flush=True)


async def _status(args: argparse.Namespace) -> None:
    summary = await _rest(args, "GET", f"/status/{args.org}/api/v2/summary.json")
    lines = [f"{summary['page']['name']}: {summary['status']['description']}"]
    for service in summary["components"]:
        if not service.get("group"):
            lines.append(f"  {service['name']:<28} {service['status']}")
    for incident in summary["incidents"]:
        lines.append(f"  incident: {incident['name']} ({incident['status']})")
    _out(args, summary, "\n".join(lines))


def _table(rows: list[tuple[str, ...]], empty: str) -> str:
    if not rows:
        return empty
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


async def _list(args: argparse.Namespace) -> None:
    org = f"/api/v1/orgs/{args.org}"
    rows: list[tuple[str, ...]]
    if args.command == "service":
        items = await _rest_list(args, f"{org}/services?limit=200")
        rows = [(s["id"], s["status"], s["name"]) for s in items]
        empty = "no services"
    elif args.command == "incident":
        status = "all" if args.all else "active"
        items = await _rest_list(args, f"{org}/incidents?status={status}&limit=200")
        rows = [(i["id"], i["status"], i["impact"], i["name"]) for i in items]
        empty = "no incidents" if args.all else "no active incidents"
    else:
        status = "all" if args.all else "open"
        items = await _rest_list(args, f"{org}/maintenances?status={status}&limit=200")
        rows = [
            (m["id"], m["status"], f"{m['scheduled_for']} - {m['scheduled_until']}", m["name"])
            for m in items
        ]
        empty = "no maintenances" if args.all else "no open maintenances"
    _out(args, items, _table(rows, empty))


def _services(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, status = item.partition("=")
        if not sep:
            raise Failure(USAGE, f"--service needs NAME=STATUS, not {item!r}")
        out[name] = status
    return out


async def _client_command(args: argparse.Namespace) -> None:
    fields: dict[str, Any]
    if args.command == "service":
        name, fields = "service.update", {"service": args.service, "status": args.status}
    elif args.command == "incident" and args.action == "create":
        name = "incident.create"
        fields = {"name": args.name, "body": args.body, "services": _services(args.service)}
        fields.update({k: v for k, v in (("impact", args.impact), ("status", args.status)) if v})
    elif args.command == "incident":
        name = f"incident.{args.action}"
        fields = {"incident": args.incident}
        fields.update({k: v for k, v in vars(args).items() if k in ("body", "status") and v})
    elif args.action == "schedule":
        name = "maintenance.schedule"
        fields = {
            "name": args.name,
            "scheduled_for": args.start,
            "scheduled_until": args.end,
            "services": args.service,
            "body": args.body,
        }
    else:
        name, fields = "maintenance.cancel", {"maintenance": args.maintenance}
    async with _connected(args) as client:
        result = await client.command(args.org, name, **fields)
    ident = result.get("id", "") if isinstance(result, dict) else ""
    _out(args, result, f"{name}: done {ident}".rstrip())


def _connected(args: argparse.Namespace, *, retries: int | None = 2) -> Any:
    return connect(
        args.url,
        args.token,
        backoff=Backoff(max_attempts=retries),
        connect_timeout=min(args.timeout, 10.0),
        attempt_timeout=min(args.timeout, 10.0),
        request_timeout=args.timeout,
    )


async def _tail(args: argparse.Namespace) -> None:
    async with _connected(args, retries=args.retries) as client:
        events = await client.subscribe(args.topic, since=args.since)
        seen = 0
        async for item in events:
            if isinstance(item, Resync):
                _out(
                    args,
                    {"resync": item.seq, "snapshot": item.snapshot},
                    f"(resynchronized at {item.seq})",
                )
                continue
            assert isinstance(item, Event)
            _out(
                args,
                {
                    "topic": item.topic,
                    "seq": item.seq,
                    "name": item.name,
                    "data": item.data,
                    "at": item.at,
                },
                f"{item.seq:>6} {item.name} {orjson.dumps(item.data).decode()}",
            )
            seen += 1
            if args.count is not None and seen >= args.count:
                return


async def _room(args: argparse.Namespace) -> None:
    if args.action == "cat":
        query = f"?rev={args.rev}" if args.rev is not None else ""
        body = await _rest(args, "GET", f"/api/v1/rooms/{args.room}/text{query}")
        _out(args, body, body["text"])
        return
    async with _connected(args) as client:
        room = await client.join_room(args.room, name="switchboard-cli")
        if args.append is not None:
            await room.insert(len(room.text), args.append)
        elif args.prepend is not None:
            await room.insert(0, args.prepend)
        else:
            await room.replace(0, len(room.text), args.set)
        await room.flush()
        _out(args, {"room": args.room, "rev": room.rev, "text": room.text}, f"rev {room.rev}")


def _segment(ref: str) -> str:
    return quote(ref, safe="")


def _monitor_path(args: argparse.Namespace, tail: str = "") -> str:
    return f"/api/v1/orgs/{_segment(args.org)}/monitors/{_segment(args.monitor)}{tail}"


def _spec(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if args.spec:
        try:
            spec = orjson.loads(args.spec)
        except orjson.JSONDecodeError as exc:
            raise Failure(USAGE, f"--spec is not JSON: {exc}") from None
        if not isinstance(spec, dict):
            raise Failure(USAGE, "--spec must be a JSON object")
    given = {"url": args.target_url, "host": args.host, "port": args.port}
    spec.update({k: v for k, v in given.items() if v is not None})
    return spec


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


async def _monitor(args: argparse.Namespace) -> None:
    org = f"/api/v1/orgs/{_segment(args.org)}/monitors"
    if args.action == "list":
        listed: dict[str, Any] = {"data": []}
        following: str | None = f"{org}?limit=200"
        while following:
            page = await _rest(args, "GET", following)
            listed["data"].extend(page["data"])
            following = page["page"]["next"]
        lines = []
        for mon in listed["data"]:
            target = mon["spec"].get("url") or mon["spec"].get("host") or ""
            state = "paused" if mon["paused"] else mon["verdict"]
            lines.append(f"{mon['id']}  {mon['name']:<24} {mon['kind']:<9} {state:<8} {target}")
        _out(args, listed, "\n".join(lines) or "(no monitors)")
    elif args.action == "create":
        body: dict[str, Any] = {"name": args.name, "service": args.service, "kind": args.kind}
        body["spec"] = _spec(args)
        optional = {"interval": args.interval, "quorum": args.quorum, "policy": args.policy}
        body.update({k: v for k, v in optional.items() if v is not None})
        if args.region:
            body["regions"] = args.region
        if args.paused:
            body["paused"] = True
        made = await _rest(args, "POST", org, body)
        text = f"monitor.create: done {made['id']}"
        if made.get("heartbeat_token"):
            beat = f"{_base(args.url)}/api/v1/heartbeat/{made['heartbeat_token']}"
            text += f"\nheartbeat URL (shown once): {beat}"
        _out(args, made, text)
    elif args.action in ("pause", "resume"):
        changed = await _rest(
            args, "PATCH", _monitor_path(args), {"paused": args.action == "pause"}
        )
        _out(args, changed, f"monitor.update: {args.action}d {changed.get('id', '')}".rstrip())
    elif args.action == "check":
        checked = await _rest(args, "POST", _monitor_path(args, "/check"), {})
        words = f" ({checked['error']})" if checked.get("error") else ""
        _out(
            args,
            checked,
            f"{checked['outcome']} from {checked['region']} in {_ms(checked['latency_ms'])}{words}",
        )
    elif args.action == "results":
        listed = await _rest(args, "GET", _monitor_path(args, f"/results?limit={args.limit}"))
        lines = [
            f"{r['at']}  {r['region']:<10} {r['outcome']:<8} {_ms(r['latency_ms']):>9}"
            + (f"  {r['message']}" if r.get("message") else "")
            for r in listed["data"]
        ]
        _out(args, listed, "\n".join(lines) or "(no results yet)")
    else:
        report = await _rest(args, "GET", _monitor_path(args, "/uptime"))
        lines = [f"verdict: {report['verdict']}"]
        for window, figures in report["windows"].items():
            shown = "no data" if figures["uptime"] is None else f"{figures['uptime']:.3f}%"
            lines.append(f"  {window:<4} {shown:>9}  ({figures['checks']} checks)")
        _out(args, report, "\n".join(lines))


async def _channel(args: argparse.Namespace) -> None:
    path = f"/api/v1/orgs/{_segment(args.org)}/channels"
    listed = await _rest(args, "GET", path)
    if args.action == "list":
        lines = [
            f"{ch['id']}  {ch['name']:<24} {ch['kind']:<8}"
            + (" (disabled)" if ch["disabled"] else "")
            for ch in listed["data"]
        ]
        _out(args, listed, "\n".join(lines) or "(no channels)")
        return
    folded = args.channel.casefold()
    found = next(
        (ch for ch in listed["data"] if folded in (ch["id"].casefold(), ch["name"].casefold())),
        None,
    )
    if found is None:
        raise Failure(REFUSED, f"not_found: there is no channel {args.channel!r} (field channel)")
    delivery = await _rest(args, "POST", f"{path}/{_segment(found['id'])}/test", {})
    if delivery["status"] == "sent":
        _out(args, delivery, f"sent to {found['name']} ({delivery['id']})")
    elif not delivery["attempts"]:
        _out(args, delivery, f"queued for {found['name']}, not tried yet ({delivery['id']})")
    else:
        if args.json:
            _out(args, delivery, "")
        raise Failure(
            REFUSED, f"the test message to {found['name']} failed: {delivery['last_error']}"
        )


async def run(args: argparse.Namespace) -> None:
    """Carry out the parsed command; :class:`Failure` says how it failed."""
    action: Callable[[argparse.Namespace], Awaitable[None]]
    if args.command == "status":
        action = _status
    elif args.command == "tail":
        action = _tail
    elif args.command == "room":
        action = _room
    elif args.command == "monitor":
        action = _monitor
    elif args.command == "channel":
        action = _channel
    elif getattr(args, "action", None) == "list":
        action = _list
    else:
        action = _client_command
    try:
        await action(args)
    except SwitchboardError as exc:
        raise _fail_for(exc) from None
    except OSError as exc:
        raise Failure(UNREACHABLE, f"cannot reach {args.url}: {exc}") from None


class _Stderr(logging.Handler):
    """The client's news (reconnecting, giving up) as ``switchboard-cli: ...`` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            return  # the failure itself is told once, on the way out
        print(f"switchboard-cli: {record.getMessage()}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """The ``switchboard-cli`` command: its exit code."""
    args = parse(argv)
    log = logging.getLogger("switchboard_client")
    log.addHandler(_Stderr())
    # A tail says when it reconnects and resumes; other commands only when it goes wrong.
    log.setLevel(logging.INFO if args.command == "tail" else logging.WARNING)
    log.propagate = False
    try:
        anyio.run(run, args)
    except Failure as failure:
        print(f"switchboard-cli: {failure.message}", file=sys.stderr)
        return failure.exit_code
    except KeyboardInterrupt:
        return 130
    return OK


if __name__ == "__main__":
    raise SystemExit(main())
