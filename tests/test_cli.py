"""The command line: tokens, migrations, and its refusals."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import trio

from server.auth import Role, Tokens


def switchboard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_token_prints_a_token_the_server_accepts(tmp_path: Path) -> None:
    done = switchboard(
        "token", "--org", "demo", "--role", "responder", "--ttl", "2h", "--data-dir", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    secret = (tmp_path / "secret").read_text().strip()
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    principal = Tokens(secret).verify(done.stdout.strip())
    assert (principal.org, principal.role) == ("demo", Role.RESPONDER)
    claims = jwt.decode(done.stdout.strip(), secret, algorithms=["HS256"])
    assert 7100 <= claims["exp"] - claims["iat"] <= 7200
    again = switchboard("token", "--org", "*", "--role", "admin", "--data-dir", str(tmp_path))
    assert Tokens(secret).verify(again.stdout.strip()).org == "*"  # same secret, reused


def test_token_refuses_bad_roles_orgs_and_durations(tmp_path: Path) -> None:
    for args, needle in [
        (["--org", "demo", "--role", "king"], "unknown role"),
        (["--org", "Not A Slug", "--role", "admin"], "organization slug"),
        (["--org", "demo", "--role", "admin", "--ttl", "soon"], "duration"),
    ]:
        done = switchboard("token", *args, "--data-dir", str(tmp_path))
        assert done.returncode == 2 and needle in done.stderr, done.stderr


def test_a_probe_token_names_its_region_and_nothing_else(tmp_path: Path) -> None:
    done = switchboard("token", "--probe", "eu-west", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    secret = (tmp_path / "secret").read_text().strip()
    claims = jwt.decode(done.stdout.strip(), secret, algorithms=["HS256"])
    assert claims["typ"] == "probe" and claims["region"] == "eu-west" and "org" not in claims
    for args, needle in [
        (["--probe", "Not A Region"], "slug"),
        ([], "give --org and --role (or --probe REGION)"),
        (["--org", "demo"], "give --org and --role"),
    ]:
        refused = switchboard("token", *args, "--data-dir", str(tmp_path))
        assert refused.returncode == 2 and needle in refused.stderr, refused.stderr


def test_probe_and_serve_refuse_bad_flags_plainly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_TOKEN"}
    no_token = switchboard(
        "probe", "--region", "eu-west", "--server", "http://127.0.0.1:1", env=env
    )
    assert no_token.returncode == 2 and "give --token" in no_token.stderr
    bad_port = switchboard("serve", "--smtp-port", "twenty-five", "--data-dir", str(tmp_path))
    assert bad_port.returncode == 2 and "--smtp-port" in bad_port.stderr
    bad_org = switchboard("serve", "--default-org", "Not A Slug", "--data-dir", str(tmp_path))
    assert bad_org.returncode == 2 and "organization slug" in bad_org.stderr
    for half in (["--nats", "nats://127.0.0.1:1"], ["--node-id", "a"]):
        alone = switchboard("serve", *half, "--data-dir", str(tmp_path))
        assert alone.returncode == 2 and "--nats and --node-id go together" in alone.stderr


async def test_a_probe_with_a_refused_token_says_so(server) -> None:  # type: ignore[no-untyped-def]
    command = [sys.executable, "-m", "server", "probe", "--region", "eu-west"]
    command += ["--server", server.base_url, "--token", "not-a-token"]
    done = await trio.run_process(command, capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 1
    # (after the client's own log line saying that it gave up, and why)
    assert "\nswitchboard probe: unauthorized" in done.stderr.decode()


def test_migrate_applies_and_is_idempotent(database_url: str, tmp_path: Path) -> None:
    for _ in range(2):
        done = switchboard("migrate", "--database-url", database_url, "--data-dir", str(tmp_path))
        assert done.returncode == 0, done.stderr
        assert "migrations applied" in done.stdout


async def test_watch_prints_the_snapshot_then_events(server, api) -> None:  # type: ignore[no-untyped-def]
    import os

    import orjson
    import trio

    url = server.base_url.replace("http", "ws", 1) + "/ws"
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "server", "watch", "status:demo", "--url", url],
        stdout=subprocess.PIPE,
        env={**os.environ},
    )
    assert process.stdout is not None
    lines: list[dict[str, object]] = []
    buffer = b""

    async def next_line() -> dict[str, object]:
        nonlocal buffer
        with trio.fail_after(20):
            while b"\n" not in buffer:
                chunk = await process.stdout.receive_some()  # type: ignore[union-attr]
                assert chunk, "watch exited"
                buffer += chunk
        line, _, buffer = buffer.partition(b"\n")
        return orjson.loads(line)  # type: ignore[no-any-return]

    try:
        first = await next_line()
        assert first["type"] == "subscribed" and first["topic"] == "status:demo"
        await api.ok("PATCH", "/api/v1/orgs/demo/services/api", {"status": "partial_outage"})
        event = await next_line()
        assert event["type"] == "event" and event["name"] == "service.updated"
        lines.append(event)
    finally:
        process.terminate()
        await process.wait()
    assert lines


def test_watch_explains_a_refused_connection() -> None:
    done = switchboard("watch", "status:demo", "--url", "ws://127.0.0.1:9/ws")
    assert done.returncode == 1 and "cannot connect" in done.stderr


async def test_user_create_makes_someone_who_can_log_in(
    database_url: str,
    tmp_path: Path,
    config,
    nursery,  # type: ignore[no-untyped-def]
) -> None:
    import os

    import trio
    from support import Api

    from server.main import Server

    env = {**os.environ, "SWITCHBOARD_PASSWORD": "a long enough password"}
    args = ["--email", "First@Example.com", "--org", "demo", "--role", "owner"]
    common = ["--database-url", database_url, "--data-dir", str(tmp_path)]
    done = await trio.to_thread.run_sync(
        lambda: switchboard("user", "create", *args, *common, env=env)
    )
    assert done.returncode == 0, done.stderr
    assert "created user first@example.com" in done.stdout and "(owner of demo)" in done.stdout
    again = await trio.to_thread.run_sync(
        lambda: switchboard("user", "create", *args, *common, env=env)
    )
    assert again.returncode == 1 and "exists" in again.stderr
    weak = await trio.to_thread.run_sync(
        lambda: switchboard(
            "user",
            "create",
            "--email",
            "b@example.com",
            *common,
            env={**env, "SWITCHBOARD_PASSWORD": "short"},
        )
    )
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr
    server: Server = await nursery.start(Server(config).run)
    async with Api.open(server.base_url) as anon:
        granted = await anon.ok(
            "POST",
            "/api/v1/auth/login",
            {"email": "first@example.com", "password": "a long enough password"},
        )
    async with Api.open(server.base_url, granted["access_token"]) as first:
        assert (await first.ok("GET", "/api/v1/me"))["memberships"] == [
            {"org": "demo", "role": "owner"}
        ]
    await server.stop()


def user_command(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``switchboard user ...`` on the test's database, with a password that will do."""
    env = {**os.environ, "SWITCHBOARD_PASSWORD": "a long enough password"}
    common = ["--database-url", database_url, "--data-dir", str(data_dir)]
    return switchboard("user", *args, *common, env=env)


async def test_user_operator_opens_the_servers_own_doors_to_a_login(
    database_url: str, tmp_path: Path, config: Any, nursery: trio.Nursery
) -> None:
    from support import Api

    from server.main import Server

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return user_command(database_url, tmp_path, *args)

    made = await trio.to_thread.run_sync(
        lambda: run("create", "--email", "ops@example.com", "--operator")
    )
    assert made.returncode == 0 and "a server operator" in made.stdout, made.stderr
    plain = await trio.to_thread.run_sync(lambda: run("create", "--email", "dev@example.com"))
    assert plain.returncode == 0, plain.stderr
    unknown = await trio.to_thread.run_sync(lambda: run("operator", "--email", "no@example.com"))
    assert unknown.returncode == 1 and "no user with email" in unknown.stderr

    async def doors() -> dict[str, tuple[bool, int]]:
        """Each user's ``server_operator`` and what GET /api/v1/monitoring answers them."""
        server: Server = await nursery.start(Server(config).run)
        seen = {}
        async with Api.open(server.base_url) as anon:
            for email in ("ops@example.com", "dev@example.com"):
                login = {"email": email, "password": "a long enough password"}
                granted = await anon.ok("POST", "/api/v1/auth/login", login)
                async with Api.open(server.base_url, granted["access_token"]) as user:
                    me = await user.ok("GET", "/api/v1/me")
                    status = (await user.get("/api/v1/monitoring")).status_code
                    seen[email] = (me["server_operator"], status)
        await server.stop()
        return seen

    assert await doors() == {"ops@example.com": (True, 200), "dev@example.com": (False, 403)}
    for args in (("--email", "ops@example.com", "--off"), ("--email", "DEV@example.com")):
        done = await trio.to_thread.run_sync(functools.partial(run, "operator", *args))
        assert done.returncode == 0, done.stderr
    assert await doors() == {"ops@example.com": (False, 403), "dev@example.com": (True, 200)}
