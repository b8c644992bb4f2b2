"""``switchboard-cli``: Switchboard from the shell.

The server is ``--url`` (or ``SWITCHBOARD_URL``; default
``http://127.0.0.1:8080``), the token ``--token`` (or ``SWITCHBOARD_TOKEN``).
``--json`` prints machine-readable output. Exit codes:

==  =========================================================
0   done
1   the server refused (not found, invalid field, conflict...), or a
    channel's test message could not be delivered
2   wrong usage
3   not allowed: no token, a bad one, or a role too low
4   the server cannot be reached or is unavailable
==  =========================================================
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import trio

from .client import Backoff, Event, Resync, connect
from .errors import ConnectionLost, SwitchboardError

OK, REFUSED, USAGE, DENIED, UNREACHABLE = 0, 1, 2, 3, 4


class Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = code
        self.message = message


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard-cli", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("SWITCHBOARD_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("SWITCHBOARD_TOKEN"))
    parser.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="command", required=True)

    status = sub.add_parser("status", help="an organization's overall status and services")
    status.add_argument("org")

    tail = sub.add_parser("tail", help="print live events (Ctrl+C to stop)")
    tail.add_argument("topic", help="status:<org>, org:<org> or room:<id>")
    tail.add_argument("--since", type=int, help="start after this seq")
    tail.add_argument("--count", type=int, help="stop after this many events")

    service = sub.add_parser("service", help="services").add_subparsers(
        dest="action", required=True
    )
    set_ = service.add_parser("set", help="set a service's status")
    set_.add_argument("org")
    set_.add_argument("service", help="its name or id")
    set_.add_argument("status", help="operational, degraded_performance, partial_outage, ...")

    incident = sub.add_parser("incident", help="incidents").add_subparsers(
        dest="action", required=True
    )
    create = incident.add_parser("create", help="open an incident")
    create.add_argument("org")
    create.add_argument("name")
    create.add_argument("--body", default="")
    create.add_argument("--impact")
    create.add_argument("--status")
    create.add_argument("--service", action="append", default=[], metavar="NAME=STATUS")
    update = incident.add_parser("update", help="post an update")
    update.add_argument("org")
    update.add_argument("incident")
    update.add_argument("--body")
    update.add_argument("--status")
    resolve = incident.add_parser("resolve", help="resolve an incident")
    resolve.add_argument("org")
    resolve.add_argument("incident")
    resolve.add_argument("--body")

    maintenance = sub.add_parser("maintenance", help="maintenances").add_subparsers(
        dest="action", required=True
    )
    schedule = maintenance.add_parser("schedule", help="schedule a maintenance")
    schedule.add_argument("org")
    schedule.add_argument("name")
    schedule.add_argument("--start", required=True, help="RFC 3339 time")
    schedule.add_argument("--end", required=True, help="RFC 3339 time")
    schedule.add_argument("--service", action="append", default=[], metavar="NAME")
    schedule.add_argument("--body", default="")
    cancel = maintenance.add_parser("cancel", help="cancel a maintenance")
    cancel.add_argument("org")
    cancel.add_argument("maintenance")

    room = sub.add_parser("room", help="shared notes").add_subparsers(dest="action", required=True)
    cat = room.add_parser("cat", help="print a room's text")
    cat.add_argument("room")
    cat.add_argument("--rev", type=int, help="as it was at this revision")
    edit = room.add_parser("edit", help="change a room's text (live, alongside others)")
    edit.add_argument("room")
    how = edit.add_mutually_exclusive_group(required=True)
    how.add_argument("--append", metavar="TEXT")
    how.add_argument("--prepend", metavar="TEXT")
    how.add_argument("--set", metavar="TEXT", help="replace the whole text")

    _monitor_parsers(sub)
    channel = sub.add_parser("channel", help="notification channels (admins)").add_subparsers(
        dest="action", required=True
    )
    channel.add_parser("list", help="an organization's channels").add_argument("org")
    test = channel.add_parser("test", help="send a test message and say how it went")
    test.add_argument("org")
    test.add_argument("channel", help="its id or name")
    return parser


def _monitor_parsers(sub: Any) -> None:
    monitor = sub.add_parser("monitor", help="uptime monitors").add_subparsers(
        dest="action", required=True
    )
    monitor.add_parser("list", help="an organization's monitors and verdicts").add_argument("org")
    create = monitor.add_parser("create", help="make a monitor")
    create.add_argument("org")
    create.add_argument("name")
    create.add_argument("--service", required=True, help="the service it watches")
    create.add_argument("--kind", default="http", choices=["http", "tcp", "tls", "heartbeat"])
    create.add_argument("--url", dest="target_url", help="http: what to request")
    create.add_argument("--host", help="tcp, tls: where to connect")
    create.add_argument("--port", type=int, help="tcp, tls: the port (tls: 443)")
    create.add_argument("--spec", help="more of the kind's settings, as a JSON object")
    create.add_argument("--interval", type=int, help="seconds between checks (30)")
    create.add_argument("--region", action="append", default=[], help="check from there only")
    create.add_argument("--quorum", type=int, help="regions that must agree it is down (1)")
    create.add_argument("--policy", choices=["status", "incident", "none"])
    create.add_argument("--paused", action="store_true", help="make it paused")
    for verb, words in (("pause", "stop checking"), ("resume", "check again")):
        one = monitor.add_parser(verb, help=words)
        one.add_argument("org")
        one.add_argument("monitor", help="its id or name")
    check = monitor.add_parser("check", help="check now from the server's region")
    check.add_argument("org")
    check.add_argument("monitor", help="its id or name")
    results = monitor.add_parser("results", help="its latest results, newest first")
    results.add_argument("org")
    results.add_argument("monitor", help="its id or name")
    results.add_argument("--limit", type=int, default=20)
    uptime = monitor.add_parser("uptime", help="its uptime over 24 h, 7, 30 and 90 days")
    uptime.add_argument("org")
    uptime.add_argument("monitor", help="its id or name")


def _fail_for(error: SwitchboardError) -> Failure:
    if error.code in ("unauthorized", "forbidden"):
        return Failure(DENIED, f"{error.code}: {error.message}")
    if error.code in ("unavailable", "rate_limited"):
        return Failure(UNREACHABLE, f"{error.code}: {error.message}")
    where = f" (field {error.field})" if error.field else ""
    return Failure(REFUSED, f"{error.code}: {error.message}{where}")


def _http_base(args: argparse.Namespace) -> str:
    base: str = args.url.removesuffix("/ws").rstrip("/")
    if base.startswith("ws"):  # ws:// -> http://, wss:// -> https://
        base = "http" + base[2:]
    return base


async def _rest(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    base = _http_base(args)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            response = await http.request(
                method,
                path,
                headers=headers,
                content=None if body is None else orjson.dumps(body),
            )
    except httpx.HTTPError as exc:
        raise Failure(UNREACHABLE, f"cannot reach {base}: {exc}") from None
    body = response.json() if response.content else {}
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise _fail_for(
            SwitchboardError(
                error.get("code", "http_error"),
                error.get("message", response.text),
                error.get("field"),
            )
        )
    return body


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


def _connected(args: argparse.Namespace) -> Any:
    return connect(args.url, args.token, backoff=Backoff(max_attempts=2))


async def _tail(args: argparse.Namespace) -> None:
    async with _connected(args) as client:
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
            beat = f"{_http_base(args)}/api/v1/heartbeat/{made['heartbeat_token']}"
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
    try:
        if args.command == "status":
            await _status(args)
        elif args.command == "monitor":
            await _monitor(args)
        elif args.command == "channel":
            await _channel(args)
        elif args.command == "tail":
            await _tail(args)
        elif args.command == "room":
            await _room(args)
        else:
            await _client_command(args)
    except SwitchboardError as exc:
        raise _fail_for(exc) from None
    except (ConnectionLost, OSError) as exc:
        raise Failure(UNREACHABLE, f"cannot reach {args.url}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        trio.run(run, args)
    except Failure as failure:
        print(f"switchboard-cli: {failure.message}", file=sys.stderr)
        return failure.exit_code
    except KeyboardInterrupt:
        return 130
    return OK


if __name__ == "__main__":
    raise SystemExit(main())
