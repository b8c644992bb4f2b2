"""A postmortem is told as an incident update: webhooks carry its text, messages point at it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from server.domain import commands as c
from server.domain import rules
from server.notify.feed import notification_for
from server.notify.senders import render

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_publishing_and_revising_a_postmortem_are_told() -> None:
    ids = (f"id{n}" for n in itertools.count(1))
    ctx = c.Context(now=T0, author="alice", new_id=lambda: next(ids))
    state = rules.new_org(c.CreateOrg("demo", "Demo"), ctx).state
    told: list[tuple[str, dict[str, Any]]] = []
    commands = [
        c.CreateIncident(name="Slow checkout"),
        c.ResolveIncident(incident="id2"),
        c.WritePostmortem(incident="id2", body="# Why\n\nA full disk."),
        c.WritePostmortem(incident="id2", body="# Why\n\nA full disk, again."),
        c.WritePostmortem(incident="id2", body="# Why\n\nA full disk, again."),  # no news
    ]
    for minutes, cmd in enumerate(commands):
        later = c.Context(now=T0 + timedelta(minutes=minutes), author="alice", new_id=ctx.new_id)
        decision = rules.decide(state, cmd, later)
        state = decision.state
        told += [n for e in decision.events if (n := notification_for(e)) is not None]
    names = [name for name, _ in told]
    assert names == [
        "incident.created",
        "incident.resolved",
        "incident.updated",
        "incident.updated",
    ]
    first, revised = (payload["incident"] for _, payload in told[2:])
    assert first["postmortem"]["body"] == "# Why\n\nA full disk."
    assert revised["postmortem"]["body"] == "# Why\n\nA full disk, again."
    said = render("demo", "incident.updated", told[3][1], "https://status.example.com")
    assert said.paragraphs == (
        "Status: Postmortem · impact: None",
        "The postmortem has been revised.",
    )
    assert said.link == "https://status.example.com/status/demo/incidents/id2"
