"""Honest outcomes: when the database does not confirm a write in time, callers
hear ``outcome_unknown`` (never "try again"), and a retry with the same
idempotency key gets the first answer and changes nothing. Every wait on the
database ends within its bound; readiness answers within a second.

Two ways to make the database misbehave, both real: a table lock held by
another session (a write sent and not confirmed, which commits once the lock
goes), and the server's own backends stopped with SIGSTOP (a database that
stops answering altogether)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from support import TIMEOUT, Api, eventually, open_ws, token

from server.config import Limits
from server.main import Server
from server.store import Store

pytestmark = pytest.mark.parametrize("limits", [Limits(database_seconds=1.0)])
ORG = "/api/v1/orgs/demo"


@contextlib.asynccontextmanager
async def events_locked(database_url: str, seconds: float) -> AsyncIterator[None]:
    """Another session holds ``events`` (no append can finish) for ``seconds``."""
    async with Store.open(database_url, size=2, bound=seconds + 30) as other:

        async def hold(conn: Any) -> None:
            async with conn.transaction():
                await conn.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
                await conn.execute(f"SELECT pg_sleep({seconds})")

        async def held() -> bool:
            return bool(
                await other.fetch(
                    "SELECT 1 FROM pg_locks WHERE relation = 'events'::regclass"
                    " AND mode = 'AccessExclusiveLock' AND granted"
                )
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: other.run(hold, write=False))
            await eventually(held, "the lock on events")
            yield


async def until_ok(api: Api, method: str, path: str, body: Any, key: str) -> Any:
    """Retry (as a client would) until the server can answer again."""

    async def answered() -> Any:
        answer = await api.request(method, path, body, headers={"Idempotency-Key": key})
        if answer.status_code < 500:
            return answer
        assert answer.json()["error"]["code"] in ("unavailable", "outcome_unknown")
        return None

    return await eventually(answered, f"{method} {path} to be answered")


async def test_an_unconfirmed_write_is_outcome_unknown_and_its_retry_changes_nothing(
    server: Server, api: Api, database_url: str
) -> None:
    change = {"status": "major_outage"}
    async with events_locked(database_url, 3.0):
        first = await api.request(
            "PATCH", f"{ORG}/services/api", change, headers={"Idempotency-Key": "k-1"}
        )
        assert first.status_code == 504, first.text
        error = first.json()["error"]
        assert error["code"] == "outcome_unknown" and "try again" not in error["message"]
    # Whether the database made it once the lock went (the first answer, kept
    # with it, comes back) or not (the retry makes it now), it is made once.
    retried = await until_ok(api, "PATCH", f"{ORG}/services/api", change, "k-1")
    assert retried.status_code == 200 and retried.json()["status"] == "major_outage"
    replayed = await api.request(
        "PATCH", f"{ORG}/services/api", change, headers={"Idempotency-Key": "k-1"}
    )
    assert replayed.status_code == 200 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == retried.json()
    history = (await api.ok("GET", f"{ORG}/audit?limit=200"))["data"]
    assert sum(1 for row in history if row["action"] == "service.update") == 1
    # The same key for another request is refused; a new key is a new change.
    other = await api.request(
        "PATCH",
        f"{ORG}/services/api",
        {"status": "operational"},
        headers={"Idempotency-Key": "k-1"},
    )
    assert other.status_code == 422 and other.json()["error"]["field"] == "idempotency_key"


async def test_a_retried_incident_is_made_once(server: Server, api: Api, database_url: str) -> None:
    body = {"name": "Database failover", "services": {"Database": "partial_outage"}}
    async with events_locked(database_url, 3.0):
        first = await api.request(
            "POST", f"{ORG}/incidents", body, headers={"Idempotency-Key": "incident-7"}
        )
        assert first.status_code == 504 and first.json()["error"]["code"] == "outcome_unknown"
    again = await until_ok(api, "POST", f"{ORG}/incidents", body, "incident-7")
    assert again.status_code == 201, again.text
    once_more = await api.request(
        "POST", f"{ORG}/incidents", body, headers={"Idempotency-Key": "incident-7"}
    )
    assert once_more.status_code == 201 and once_more.headers["Idempotent-Replayed"] == "true"
    assert once_more.json()["id"] == again.json()["id"]
    named = [
        i
        for i in (await api.ok("GET", f"{ORG}/incidents?limit=200"))["data"]
        if i["name"] == "Database failover"
    ]
    assert len(named) == 1


async def test_the_socket_says_outcome_unknown_and_replays_a_keyed_command(
    server: Server, database_url: str
) -> None:
    async with open_ws(server.base_url) as ws:
        await ws.hello(token("demo", "responder"))
        command = {
            "type": "command",
            "topic": "org:demo",
            "name": "service.update",
            "data": {"service": "api", "status": "degraded_performance"},
            "idempotency_key": "ws-1",
        }
        async with events_locked(database_url, 3.0):
            unknown = await ws.request(dict(command))
            assert unknown["type"] == "error" and unknown["code"] == "outcome_unknown", unknown

        async def acked() -> dict[str, Any] | None:
            answer = await ws.request(dict(command))
            if answer["type"] == "ack":
                return answer
            assert answer["code"] in ("unavailable", "outcome_unknown"), answer
            return None

        answer = await eventually(acked, "the command to be acknowledged")
        assert answer["result"]["status"] == "degraded_performance"
        replayed = await ws.request(dict(command))
        assert replayed["type"] == "ack" and replayed["replayed"] is True
        assert replayed["result"] == answer["result"]
        # Through REST, the same key and the same command: the same first answer.
    async with Api.open(server.base_url, token("demo", "responder")) as api:
        rest = await api.request(
            "PATCH",
            f"{ORG}/services/api",
            {"status": "degraded_performance"},
            headers={"Idempotency-Key": "ws-1"},
        )
    assert rest.status_code == 200 and rest.headers["Idempotent-Replayed"] == "true"


async def test_keys_on_other_writes_replay_or_say_what_is_known(server: Server, api: Api) -> None:
    body = {"kind": "slack", "name": "ops", "config": {"url": "https://hooks.example.test/x"}}
    made = await api.request(
        "POST", f"{ORG}/channels", body, headers={"Idempotency-Key": "channel-1"}
    )
    assert made.status_code == 201
    again = await api.request(
        "POST", f"{ORG}/channels", body, headers={"Idempotency-Key": "channel-1"}
    )
    assert again.status_code == 409 and "secret" in again.json()["error"]["message"]
    assert len((await api.ok("GET", f"{ORG}/channels"))["data"]) == 1
    room = {"org": "demo", "title": "Once"}
    first = await api.request("POST", "/api/v1/rooms", room, headers={"Idempotency-Key": "room-1"})
    second = await api.request("POST", "/api/v1/rooms", room, headers={"Idempotency-Key": "room-1"})
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    other = await api.request(
        "POST",
        "/api/v1/rooms",
        {"org": "demo", "title": "Twice"},
        headers={"Idempotency-Key": "room-1"},
    )
    assert other.status_code == 422
    bad = await api.request("POST", "/api/v1/rooms", room, headers={"Idempotency-Key": "a b"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "Idempotency-Key"


@contextlib.asynccontextmanager
async def backends_stopped(server: Server, database_url: str) -> AsyncIterator[None]:
    """The database stops answering (its server and the server's sessions get
    SIGSTOP), then comes back."""
    async with Store.open(database_url, size=1) as other:
        rows = await other.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
    pids = [row["pid"] for row in rows]
    assert pids
    # And the postmaster (their parent), so that no new session starts either.
    stat = await trio.Path(f"/proc/{pids[0]}/stat").read_text()
    pids.append(int(stat.rsplit(")", 1)[1].split()[1]))
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


async def test_readiness_and_every_wait_end_within_their_bounds_when_the_database_stalls(
    server: Server, api: Api, database_url: str
) -> None:
    async with trio.open_nursery() as nursery:  # every pooled connection opened
        for _ in range(16):
            nursery.start_soon(api.ok, "GET", f"{ORG}/audit")
    async with backends_stopped(server, database_url):
        with trio.fail_after(TIMEOUT):
            ready = await api.get("/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        assert "Traceback" not in ready.text
        with trio.fail_after(TIMEOUT):
            audit = await api.get(f"{ORG}/audit")
        assert audit.status_code == 503 and audit.json()["error"]["code"] == "unavailable"
        with trio.fail_after(TIMEOUT):
            write = await api.patch(f"{ORG}/services/api", {"status": "major_outage"})
        assert write.status_code in (503, 504), write.text
        async with open_ws(server.base_url) as ws:
            await ws.hello(token("demo", "responder"))
            with trio.fail_after(TIMEOUT):
                answer = await ws.command(
                    "demo", "service.update", {"service": "api", "status": "partial_outage"}
                )
            assert answer["code"] in ("unavailable", "outcome_unknown"), answer

    async def ready() -> bool:
        return (await api.get("/ready")).status_code == 200

    await eventually(ready, "the server to be ready again")
