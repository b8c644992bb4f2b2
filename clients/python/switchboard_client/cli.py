"""``switchboard-cli``: Switchboard from the shell.

The server is ``--url`` (or ``SWITCHBOARD_URL``; default
``http://127.0.0.1:8080``), the token ``--token`` (or ``SWITCHBOARD_TOKEN``).
``--json`` prints machine-readable output. Exit codes:

==  =========================================================
0   done
1   the server refused (not found, invalid field, conflict...)
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
    return parser


def _fail_for(error: SwitchboardError) -> Failure:
    if error.code in ("unauthorized", "forbidden"):
        return Failure(DENIED, f"{error.code}: {error.message}")
    if error.code in ("unavailable", "rate_limited"):
        return Failure(UNREACHABLE, f"{error.code}: {error.message}")
    where = f" (field {error.field})" if error.field else ""
    return Failure(REFUSED, f"{error.code}: {error.message}{where}")


async def _rest(args: argparse.Namespace, method: str, path: str) -> Any:
    base = args.url.removesuffix("/ws").rstrip("/")
    if base.startswith("ws"):  # ws:// -> http://, wss:// -> https://
        base = "http" + base[2:]
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            response = await http.request(method, path, headers=headers)
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


async def run(args: argparse.Namespace) -> None:
    try:
        if args.command == "status":
            await _status(args)
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
