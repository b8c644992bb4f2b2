"""``switchboard serve | token | migrate``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import logging
import os
import re
import resource
import signal
import sys
import warnings
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import trio

from . import __version__
from .auth import ALL_ORGS, Role, Tokens, load_secret
from .config import Config, parse_limits
from .domain.commands import SLUG_PATTERN
from .netguard import DEFAULT_RULE, NetworkRule

log = logging.getLogger("switchboard")


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([smhd])", text)
    if match is None:
        raise argparse.ArgumentTypeError("a duration like 30m, 12h or 90d")
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    return timedelta(**{units[match[2]]: int(match[1])})


def _org(text: str) -> str:
    if text != ALL_ORGS and re.fullmatch(SLUG_PATTERN, text) is None:
        raise argparse.ArgumentTypeError("an organization slug, or '*' for every organization")
    return text


def _slug(text: str) -> str:
    if re.fullmatch(SLUG_PATTERN, text) is None:
        raise argparse.ArgumentTypeError(
            "an organization slug (lowercase letters, digits, hyphens)"
        )
    return text


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _networks(text: str) -> str:
    try:
        NetworkRule.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="Real-time status pages.")
    parser.add_argument("--version", action="version", version=f"switchboard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, help="data folder (default .switchboard)")

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8080; 0 picks one)")
    data_flags(serve)
    serve.add_argument(
        "--database-url",
        help="PostgreSQL URL (also DATABASE_URL); default: the embedded server in the data folder",
    )
    serve.add_argument("--public-url", help="how clients reach this server (for links)")
    serve.add_argument(
        "--default-org",
        metavar="SLUG",
        type=_slug,
        help="serve this organization's public page at the root of every host name no "
        "organization claimed (also SWITCHBOARD_DEFAULT_ORG)",
    )
    serve.add_argument(
        "--nats",
        action="append",
        default=[],
        help="a NATS server URL to join other nodes through (repeat for a cluster; also "
        "SWITCHBOARD_NATS, comma-separated); needs --node-id",
    )
    serve.add_argument(
        "--node-id", help="this node's name among the nodes (also SWITCHBOARD_NODE_ID)"
    )
    serve.add_argument(
        "--demo", action="store_true", help="create the demo organization if missing"
    )
    serve.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a limit, e.g. --limit edits_per_second=200 (also SWITCHBOARD_LIMITS)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a proxy (address or network) whose X-Forwarded-For is believed; repeatable "
        "(also SWITCHBOARD_TRUSTED_PROXIES)",
    )
    serve.add_argument(
        "--oidc",
        type=Path,
        help="JSON file of external identity providers to accept tokens from (also SWITCHBOARD_OIDC)",
    )
    serve.add_argument(
        "--region",
        help="the name of the region the server's own uptime probe checks from (default local)",
    )
    serve.add_argument(
        "--no-probe",
        action="store_true",
        help="do not run uptime checks here (remote probes and heartbeats still work)",
    )
    serve.add_argument(
        "--smtp-host", help="mail server for notifications (also SWITCHBOARD_SMTP_HOST)"
    )
    serve.add_argument("--smtp-port", type=int, help="its port (default 587)")
    serve.add_argument("--smtp-from", help="the From of notification email")
    serve.add_argument(
        "--smtp-user", help="login at the mail server (password: SWITCHBOARD_SMTP_PASSWORD)"
    )
    serve.add_argument("--smtp-ssl", action="store_true", help="TLS from the start (port 465)")
    serve.add_argument(
        "--no-smtp-starttls", action="store_true", help="do not upgrade the mail connection"
    )
    serve.add_argument(
        "--allow-private-webhooks",
        action="store_true",
        help="let subscribers' webhooks point at private addresses",
    )
    serve.add_argument(
        "--check-networks",
        metavar="RULE",
        type=_networks,
        help="where monitors' checks and notification channels may connect: "
        "'public,private' (the default; with --demo also loopback), 'any', networks, '!' to refuse one "
        "(also SWITCHBOARD_CHECK_NETWORKS)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    token = sub.add_parser("token", help="print an API token")
    token.add_argument("--org", type=_org, help="organization slug, or '*'")
    token.add_argument("--role", type=_role, help="viewer|responder|admin|owner")
    token.add_argument(
        "--probe", metavar="REGION", type=_org, help="a token for `switchboard probe` in REGION"
    )
    token.add_argument("--ttl", type=_duration, help="lifetime, e.g. 12h or 90d (default: none)")
    token.add_argument("--subject", help="who the token speaks for (shown in timelines)")
    data_flags(token)

    probe = sub.add_parser("probe", help="check the server's monitors from this machine's region")
    probe.add_argument(
        "--region", required=True, type=_org, help="this probe's region, e.g. eu-west"
    )
    probe.add_argument(
        "--server", required=True, help="the server's URL, e.g. https://status.example.com"
    )
    probe.add_argument(
        "--token",
        default=os.environ.get("SWITCHBOARD_TOKEN"),
        help="a probe token (switchboard token --probe REGION; also SWITCHBOARD_TOKEN)",
    )
    probe.add_argument("--concurrency", type=int, default=1_000, help="checks at once (1000)")
    probe.add_argument(
        "--check-networks",
        metavar="RULE",
        type=_networks,
        default=os.environ.get("SWITCHBOARD_CHECK_NETWORKS", DEFAULT_RULE),
        help="where this probe's checks may connect (default 'public,private'; "
        "also SWITCHBOARD_CHECK_NETWORKS)",
    )
    probe.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    watch = sub.add_parser("watch", help="print a topic's snapshot and events as JSON lines")
    watch.add_argument("topic", help="status:<org> or org:<org>")
    watch.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="the server's WebSocket URL")
    watch.add_argument(
        "--token",
        default=os.environ.get("SWITCHBOARD_TOKEN"),
        help="a token, for org: topics (also SWITCHBOARD_TOKEN)",
    )
    watch.add_argument("--since", type=int, help="resume after this seq")

    user = sub.add_parser("user", help="manage people who log in")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    create = user_sub.add_parser(
        "create", help="create a user (the password is read from SWITCHBOARD_PASSWORD or asked)"
    )
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="", help="display name (default: from the email)")
    create.add_argument("--org", type=_org, help="make them a member of this organization")
    create.add_argument("--role", type=_role, default=Role.OWNER, help="their role (default owner)")
    create.add_argument(
        "--operator", action="store_true", help="one of the server's operators (see user operator)"
    )
    data_flags(create)
    create.add_argument("--database-url", help="PostgreSQL URL (also DATABASE_URL)")
    operator = user_sub.add_parser(
        "operator",
        help="make a user one of the server's operators, who read what the server does"
        " (its probes, its audit log) and create organizations; read at the server's next start",
    )
    operator.add_argument("--email", required=True)
    operator.add_argument("--off", action="store_true", help="no longer an operator")
    data_flags(operator)
    operator.add_argument("--database-url", help="PostgreSQL URL (also DATABASE_URL)")

    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    data_flags(migrate)
    migrate.add_argument("--database-url", help="PostgreSQL URL (also DATABASE_URL)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "watch":
        from .watch import watch

        try:
            return trio.run(watch, args.url, args.topic, args.token, args.since)
        except KeyboardInterrupt:
            return 130
        except OSError as exc:
            print(f"switchboard watch: cannot connect to {args.url}: {exc}", file=sys.stderr)
            return 1
    if args.command == "probe":
        return _probe(args)
    if args.command == "token":
        config = Config.from_env(data_dir=args.data_dir)
        tokens = Tokens(load_secret(config.data_dir, config.secret))
        if args.probe:
            print(tokens.issue_probe(args.probe, ttl=args.ttl))
            return 0
        if args.org is None or args.role is None:
            print("switchboard token: give --org and --role (or --probe REGION)", file=sys.stderr)
            return 2
        print(tokens.issue(args.org, args.role, subject=args.subject, ttl=args.ttl))
        return 0
    logging.basicConfig(
        level=getattr(logging, getattr(args, "log_level", "info").upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The embedded server's own start-up narration is too chatty for INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # pgserver asks platformdirs for a runtime folder, which containers lack.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    if args.command == "migrate":
        config = Config.from_env(data_dir=args.data_dir, database_url=args.database_url)
        return trio.run(_migrate, config)
    if args.command == "user":
        config = Config.from_env(data_dir=args.data_dir, database_url=args.database_url)
        if args.user_command == "operator":
            return trio.run(_set_operator, config, args)
        password = os.environ.get("SWITCHBOARD_PASSWORD") or getpass.getpass("Password: ")
        return trio.run(_create_user, config, args, password)
    config = Config.from_env(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        database_url=args.database_url,
        public_url=args.public_url,
        default_org=args.default_org,
        demo=args.demo or None,
        trusted_proxies=tuple(args.trusted_proxy) or None,
        oidc_file=args.oidc,
        region=args.region,
        probe=False if args.no_probe else None,
        smtp_host=args.smtp_host,
        smtp_port=args.smtp_port,
        smtp_from=args.smtp_from,
        smtp_user=args.smtp_user,
        smtp_ssl=args.smtp_ssl or None,
        smtp_starttls=False if args.no_smtp_starttls else None,
        allow_private_webhooks=args.allow_private_webhooks or None,
        check_networks=args.check_networks,
        nats=tuple(args.nats) or None,
        node_id=args.node_id,
    )
    if bool(config.nats) != bool(config.node_id):
        print("switchboard serve: --nats and --node-id go together", file=sys.stderr)
        return 2
    try:
        for pair in args.limit:
            config = dataclasses.replace(config, limits=parse_limits(pair, config.limits))
    except ValueError as exc:
        print(f"switchboard serve: {exc}", file=sys.stderr)
        return 2
    try:
        trio.run(_serve, config)
    except KeyboardInterrupt:
        return 130
    return 0


async def _migrate(config: Config) -> int:
    from .store import Store, embedded_dsn

    dsn = config.database_url
    if dsn is None:
        dsn = await trio.to_thread.run_sync(embedded_dsn, config.data_dir)
    async with Store.open(dsn):
        pass  # opening applies them
    print("migrations applied")
    return 0


async def _create_user(config: Config, args: argparse.Namespace, password: str) -> int:
    from .errors import DomainError

    async with _directory(config) as directory:
        roles = {args.org: args.role} if args.org else {}
        try:
            user = await directory.create_user(
                args.email, args.name, password, roles, None, operator=args.operator
            )
        except DomainError as exc:
            print(f"switchboard user create: {exc.message}", file=sys.stderr)
            return 1
    where = f" ({args.role} of {args.org})" if args.org else ""
    operator = ", a server operator" if args.operator else ""
    print(f"created user {user.email} with id {user.id}{where}{operator}")
    return 0


async def _set_operator(config: Config, args: argparse.Namespace) -> int:
    from .errors import DomainError

    async with _directory(config) as directory:
        try:
            user = await directory.set_operator(args.email, not args.off, None)
        except DomainError as exc:
            print(f"switchboard user operator: {exc.message}", file=sys.stderr)
            return 1
    now = "no longer" if args.off else "now"
    print(f"{user.email} is {now} a server operator (from the server's next start)")
    return 0


@contextlib.asynccontextmanager
async def _directory(config: Config) -> AsyncIterator[Any]:
    """The directory of the configured database, loaded."""
    from .identity import Directory
    from .store import Store, embedded_dsn

    dsn = config.database_url
    if dsn is None:
        dsn = await trio.to_thread.run_sync(embedded_dsn, config.data_dir)
    async with Store.open(dsn) as store:
        directory = Directory(
            store, Tokens(load_secret(config.data_dir, config.secret)), config.limits
        )
        await directory.load()
        yield directory


def _probe(args: argparse.Namespace) -> int:
    from .monitoring.probe import Probe
    from .monitoring.remote import RemoteProbe

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    if not args.token:
        print("switchboard probe: give --token (or SWITCHBOARD_TOKEN)", file=sys.stderr)
        return 2
    _raise_open_files_limit()
    probe = RemoteProbe(
        args.server,
        args.token,
        args.region,
        concurrency=args.concurrency,
        probe=Probe(NetworkRule.parse(args.check_networks)),
    )
    try:
        trio.run(probe.run)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a refused token, an unreachable server: say it plainly
        print(f"switchboard probe: {exc}", file=sys.stderr)
        return 1
    return 0


def _raise_open_files_limit() -> None:
    """Every WebSocket is a file descriptor: take the hard limit, not the soft one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.info("open files limit raised from %d to %d", soft, hard)


async def _serve(config: Config) -> None:
    from .main import Server

    _raise_open_files_limit()
    server = Server(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        if config.demo:
            from .seed import seed_demo_owner

            assert server.auth is not None
            await seed_demo_owner(server.auth.directory, config.data_dir)
        _banner(server)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                server.request_stop()
                break
        await server.stop()
        nursery.cancel_scope.cancel()


def _demo_login(config: Config) -> list[str]:
    from .seed import demo_login

    login = demo_login(config.data_dir)
    if login is None:
        return []
    return [f"  Log in:     {login[0]} / {login[1]}  (at /admin, or POST /api/v1/auth/login)"]


def _banner(server: object) -> None:
    from .main import Server

    assert isinstance(server, Server)
    assert server.tokens is not None
    base = server.base_url
    ws = base.replace("http", "ws", 1)
    config = server.config
    lines = [
        f"switchboard: listening on {base}",
        "",
        f"  Switchboard {__version__} is running.",
        f"  Open:       {base}/",
    ]
    if config.demo:
        token = server.tokens.issue("demo", Role.ADMIN, subject="demo-admin")
        lines += [
            f"  Status:     {base}/status/demo",
            f"  Console:    {base}/admin",
            f"  Status API: {base}/status/demo/api/v2/summary.json",
            f'  WebSocket:  {ws}/ws  (send {{"type":"subscribe","topic":"status:demo"}})',
            f"  Token:      export TOKEN={token}",
            *_demo_login(config),
            '  Try:        curl -X PATCH -H "Authorization: Bearer $TOKEN" '
            f'-d \'{{"status":"major_outage"}}\' {base}/api/v1/orgs/demo/services/api',
        ]
    where = (
        "embedded PostgreSQL in " + str(config.data_dir / "pg")
        if not config.database_url
        else "DATABASE_URL"
    )
    lines += [f"  Database:   {where}", "  Stop:       Ctrl+C", ""]
    print("\n".join(lines), flush=True)
    sys.stdout.flush()
