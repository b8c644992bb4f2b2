"""Two nodes sharing one database and one NATS: a command reaching the node
that does not run its organization is carried out by the one that does, and
answered exactly as that node answers it."""

from __future__ import annotations

import pytest
from conftest import Node

from server.actors.mailbox import Replay
from server.actors.ownership import Elsewhere
from server.auth import Origin
from server.domain import commands as c
from server.errors import NotFound, OutcomeUnknown, PeerError, Unavailable
from server.store.receipts import Receipt

ORIGIN = Origin("token", "t1", "deploy-bot", "10.0.0.9")


async def owned_by_a(nodes: dict[str, Node]) -> None:
    a = nodes["a"].registry
    await a.create_org(c.CreateOrg("acme", "Acme"), "tester")
    await a.execute("acme", c.CreateService(name="API"), "tester")


async def test_a_command_sent_to_the_other_node_is_carried_out_by_the_owner(
    nodes: dict[str, Node],
) -> None:
    await owned_by_a(nodes)
    result = await nodes["b"].registry.execute(
        "acme", c.CreateService(name="Web"), "someone", ORIGIN
    )
    handle = await nodes["a"].registry.org("acme")
    assert {s.name for s in handle.state.services.values()} == {"API", "Web"}
    made = handle.state.services[result["id"]]
    assert result["name"] == made.name == "Web"
    assert [h.following for h in nodes["b"].registry.running()] == [True]  # b only follows
    audit = await nodes["a"].store.fetch(
        "SELECT actor, ip, action FROM audit_log WHERE org = 'acme' AND action = 'service.create'"
        " ORDER BY at"
    )
    assert {"actor": "deploy-bot", "ip": "10.0.0.9", "action": "service.create"} in audit


async def test_the_owners_refusal_is_told_as_it_was(nodes: dict[str, Node]) -> None:
    await owned_by_a(nodes)
    command = c.parse_command("service.update", {"service": "nope", "status": "major_outage"})
    with pytest.raises(PeerError) as at_a:
        await nodes["a"].registry.execute("acme", command, "someone")
    with pytest.raises(PeerError) as at_b:
        await nodes["b"].registry.execute("acme", command, "someone")
    assert isinstance(at_a.value, NotFound)
    assert at_b.value.to_dict() == at_a.value.to_dict()
    assert at_b.value.http_status == 404


async def test_an_idempotent_command_is_replayed_through_either_node(
    nodes: dict[str, Node],
) -> None:
    await owned_by_a(nodes)
    receipt = Receipt("token:t1", "deploy-4711", "f" * 64)
    command = c.CreateService(name="Web")
    first = await nodes["b"].registry.execute("acme", command, "x", ORIGIN, receipt)
    again = await nodes["a"].registry.execute("acme", command, "x", ORIGIN, receipt)
    once_more = await nodes["b"].registry.execute("acme", command, "x", ORIGIN, receipt)
    assert isinstance(again, Replay) and isinstance(once_more, Replay)
    assert again.answer == once_more.answer == first


async def test_an_owner_that_does_not_answer_is_unavailable_not_a_hang(
    nodes: dict[str, Node],
) -> None:
    """The owner no longer answers on the bus (its node died; its lease has not
    run out yet): nothing is done, and the sender says so at once rather than
    after the bound (that would be outcome_unknown)."""
    await owned_by_a(nodes)
    a = nodes["a"]
    a.router_scope.cancel()
    await a.router_done.wait()
    await a.router.bus.flush()  # the NATS server has a's unsubscription
    with pytest.raises(Unavailable) as told:
        await nodes["b"].registry.execute("acme", c.CreateService(name="Web"), "x")
    assert not isinstance(told.value, OutcomeUnknown)
    assert "Web" not in {s.name for s in (await a.registry.org("acme")).state.services.values()}


async def test_a_forwarded_command_is_not_forwarded_again(nodes: dict[str, Node]) -> None:
    """Sent to a node as forwarded, a command for an organization it does not
    run is refused there (unavailable, naming the owner), never sent on."""
    await owned_by_a(nodes)
    with pytest.raises(Elsewhere) as told:
        await nodes["b"].registry.execute("acme", c.CreateService(name="Web"), "x", forwarded=True)
    assert told.value.owner == "a"


async def test_a_command_for_an_owner_that_let_go_runs_where_the_organization_is_now(
    nodes: dict[str, Node],
) -> None:
    """The owner stopped (its leases released) before the other node's
    follower noticed: the command is not refused, it runs on the node that
    takes the organization over, once."""
    await owned_by_a(nodes)
    a, b = nodes["a"], nodes["b"]
    await b.registry.org("acme")  # b follows a
    a.router_scope.cancel()
    await a.router_done.wait()
    await a.registry.shutdown()  # lets its leases go
    result = await b.registry.execute("acme", c.CreateService(name="Web"), "x")
    handle = await b.registry.org("acme")
    assert not handle.following
    assert [s.name for s in handle.state.services.values()].count("Web") == 1
    assert handle.state.services[result["id"]].name == "Web"
