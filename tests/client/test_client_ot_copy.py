"""The client package carries its own copy of the OT functions: it must not drift."""

from __future__ import annotations

import inspect

import switchboard_client.ot as client_ot

import server.protocol.ot as server_ot


def test_the_client_ot_is_the_servers() -> None:
    shared = [
        name
        for name, value in vars(client_ot).items()
        if (inspect.isfunction(value) or inspect.isclass(value))
        and getattr(value, "__module__", "") == client_ot.__name__
    ]
    assert {"apply", "compose", "transform", "normalize", "OTClient", "Selection"} <= set(shared)
    for name in shared:
        assert inspect.getsource(getattr(client_ot, name)) == inspect.getsource(
            getattr(server_ot, name)
        ), name
