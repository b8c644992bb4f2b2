"""web/static/ot.js against switchboard_ot: the same results on random cases.

Cases are made in Python with a fixed seed (texts with astral characters, ZWJ
emoji and combining marks; operations not necessarily in normal form), run
through ot.js in Chromium in one ``page.evaluate``, and compared with what
the Python module gives. The OT client is compared on scripted sessions: a
simulated server and another writer, acknowledgements, duplicate
acknowledgements and resends after a reconnect, each call's result checked.
"""

from __future__ import annotations

import random
from typing import Any

from switchboard_ot import (
    Op,
    OTClient,
    OTError,
    Outgoing,
    Selection,
    apply,
    check,
    compose,
    invert,
    lengths,
    normalize,
    transform,
    transform_index,
)

SEED = 20_260_611
PIECES = (
    *"abcxyz \n",
    "😀",  # one code point outside the BMP: two UTF-16 units
    "🔥",
    "👩‍🚒",  # woman firefighter: three code points (ZWJ), one glyph
    "🏳️‍🌈",  # four code points
    "👍🏽",  # emoji + skin tone modifier
    "𝔘",
    "漢",
    "e\u0301",  # e + combining acute
    "\u1112\u1161",  # decomposed Hangul
)

JS = """async (cases) => {
  const ot = await import("/static/ot.js");
  const attempt = (f) => {
    try {
      return { ok: f() };
    } catch (e) {
      if (e instanceof ot.OTError) return { error: true };
      throw e;
    }
  };
  const out = { apply: [], normalize: [], lengths: [], compose: [], transform: [], index: [],
                selection: [], invert: [], check: [], mismatch: [], units: [], clients: [] };
  for (const [doc, op] of cases.apply) {
    out.apply.push(ot.apply(doc, op));
    out.normalize.push(ot.normalize(op));
    out.lengths.push(ot.lengths(op));
    out.invert.push(ot.invert(op, doc));
  }
  for (const [a, b] of cases.compose) out.compose.push(ot.compose(a, b));
  for (const [a, b] of cases.transform) out.transform.push(ot.transform(a, b));
  for (const [i, op, own] of cases.index) out.index.push(ot.transformIndex(i, op, own));
  for (const [anchor, head, op, own] of cases.selection) {
    const s = new ot.Selection(anchor, head).transform(op, own);
    out.selection.push([s.anchor, s.head]);
  }
  for (const op of cases.check) out.check.push(attempt(() => ot.check(op)).error === true);
  for (const [kind, x, y] of cases.mismatch) {
    const f = { apply: () => ot.apply(x, y), compose: () => ot.compose(x, y), transform: () => ot.transform(x, y) }[kind];
    out.mismatch.push(attempt(f).error === true);
  }
  for (const [text, units] of cases.units) {
    const cp = ot.cpIndex(text, units);
    out.units.push([ot.cpLength(text), Array.from(text).length, cp, ot.unitIndex(text, cp), ot.cpSlice(text, 1, 3)]);
  }
  for (const script of cases.clients) {
    const results = [];
    let client = null;
    const shape = (o) => (o === null ? null : [o.rev, o.op, o.clientOpId]);
    for (const [call, arg] of script) {
      if (call === "init") { client = new ot.OTClient(arg[0], arg[1]); results.push(null); }
      else if (call === "local") results.push(shape(client.local(arg)));
      else if (call === "remote") results.push(client.remote(arg));
      else if (call === "ack") results.push(shape(client.ack(arg)));
      else if (call === "resend") results.push(shape(client.resend()));
      results.push([client.rev, client.text, client.state, client.buffer]);
    }
    out.clients.push(results);
  }
  return out;
}"""


def piece_text(rng: random.Random, most: int = 10) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, most)))


def random_op(rng: random.Random, doc: str, *, inserts: int = 4) -> Op:
    """A valid operation on ``doc``, not necessarily in normal form."""
    op: Op = []
    at, n = 0, len(doc)
    while at < n:
        kind = rng.choice("rrdi" if inserts else "rd")
        if kind == "i":
            op.append(piece_text(rng, 3) or "q")
            inserts -= 1
            continue
        size = rng.randint(1, n - at)
        op.append(size if kind == "r" else -size)
        at += size
    if inserts and rng.random() < 0.5:
        op.append(piece_text(rng, 3) or "!")
    return op


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def client_script(rng: random.Random) -> list[list[Any]]:
    """A session of one OTClient against a simulated server with another writer.

    Returns the calls made (``[call, argument]``); the results are recomputed
    by replaying them, so that the script holds only inputs.
    """
    server_text = piece_text(rng, 8)
    log: list[Op] = []  # the server's operations, as applied
    client = OTClient(0, server_text)
    script: list[list[Any]] = [["init", [0, server_text]]]
    in_flight: list[Outgoing] = []  # sent by the client, not yet at the server
    to_client: list[tuple[str, Any]] = []  # ("remote", op) or ("ack", rev), in order
    last_ack: int | None = None

    def sent(out: Outgoing | None) -> None:
        if out is not None:
            in_flight.append(out)

    def server_takes() -> None:
        out = in_flight.pop(0)
        op = out.op
        for earlier in log[out.rev :]:
            op = transform(op, earlier)[0]
        nonlocal server_text
        server_text = apply(server_text, op)
        log.append(op)
        to_client.append(("ack", len(log)))

    def deliver() -> None:
        nonlocal last_ack
        kind, value = to_client.pop(0)
        if kind == "remote":
            script.append(["remote", value])
            client.remote(value)
        else:
            script.append(["ack", value])
            sent(client.ack(value))
            last_ack = value

    for _ in range(rng.randint(10, 40)):
        roll = rng.random()
        if roll < 0.35:
            op = random_op(rng, client.text, inserts=2)
            script.append(["local", op])
            sent(client.local(op))
        elif roll < 0.55:
            op = random_op(rng, server_text, inserts=2)
            server_text = apply(server_text, op)
            log.append(op)
            to_client.append(("remote", op))
        elif roll < 0.7 and in_flight:
            server_takes()
        elif roll < 0.9 and to_client:
            deliver()
        elif roll < 0.95 and last_ack is not None:
            script.append(["ack", last_ack])  # confirmed again: ignored
            assert client.ack(last_ack) is None
        elif not any(kind == "ack" for kind, _ in to_client):
            # A reconnect before the server had the outstanding operation.
            in_flight.clear()
            script.append(["resend", None])
            sent(client.resend())
    while in_flight or to_client:
        if in_flight:
            server_takes()
        while to_client:
            deliver()
    assert client.text == server_text and client.rev == len(log)
    return script


def replay(script: list[list[Any]]) -> list[Any]:
    """What each call of the script gives in Python, as ot.js reports it."""
    results: list[Any] = []
    client: OTClient | None = None

    def shape(out: Outgoing | None) -> list[Any] | None:
        return None if out is None else [out.rev, out.op, out.client_op_id]

    for call, arg in script:
        if call == "init":
            client = OTClient(arg[0], arg[1])
            results.append(None)
        else:
            assert client is not None
            if call == "local":
                results.append(shape(client.local(arg)))
            elif call == "remote":
                results.append(client.remote(arg))
            elif call == "ack":
                results.append(shape(client.ack(arg)))
            else:
                results.append(shape(client.resend()))
        assert client is not None
        results.append([client.rev, client.text, client.state, client.buffer])
    return results


def make_cases(rng: random.Random) -> dict[str, list[Any]]:
    cases: dict[str, list[Any]] = {k: [] for k in ("apply", "compose", "transform", "index",
                                                    "selection", "check", "mismatch", "units",
                                                    "clients")}  # fmt: skip
    for _ in range(300):
        doc = piece_text(rng, 12)
        a = random_op(rng, doc)
        cases["apply"].append([doc, a])
        b = random_op(rng, apply(doc, a))
        cases["compose"].append([a, b])
        c = random_op(rng, doc)
        # The server and clients transform operations in normal form; any form must work.
        pair = [normalize(a), normalize(c)] if rng.random() < 0.7 else [a, c]
        cases["transform"].append(pair)
        for i in range(len(doc) + 1):
            cases["index"].append([i, a, rng.random() < 0.5])
        x, y = rng.randint(0, len(doc)), rng.randint(0, len(doc))
        cases["selection"].append([x, y, a, rng.random() < 0.5])
        text = piece_text(rng, 12) or "a"
        cases["units"].append([text, rng.randint(0, utf16_units(text))])
    cases["check"] = [
        [1, "a", -2], [0], [1, ""], [1.5], [True], [None], "abc", {"op": 1}, [], [["a"]],
        [2, -1, "x", 3], [-1, -1],
    ]  # fmt: skip
    cases["mismatch"] = [
        ["apply", "abc", [2]], ["apply", "😀", [2]], ["apply", "😀", [1]],
        ["compose", [1, "a"], [1]], ["compose", ["😀"], [1]],
        ["transform", [2], [3]], ["transform", ["x", 1], ["y", 2]],
    ]  # fmt: skip
    cases["clients"] = [client_script(rng) for _ in range(60)]
    return cases


def python_check(op: Any) -> bool:
    try:
        check(op)
    except OTError:
        return True
    return False


def python_mismatch(kind: str, x: Any, y: Any) -> bool:
    try:
        {"apply": apply, "compose": compose, "transform": transform}[kind](x, y)
    except OTError:
        return True
    return False


def test_ot_js_gives_the_same_results_as_the_server(web_server: Any, page: Any) -> None:
    cases = make_cases(random.Random(SEED))
    page.goto(f"{web_server.url}/status/demo")
    js = page.evaluate(JS, cases)

    for (doc, op), text, norm, lens, inv in zip(
        cases["apply"], js["apply"], js["normalize"], js["lengths"], js["invert"], strict=True
    ):
        assert text == apply(doc, op), (doc, op)
        assert norm == normalize(op), op
        assert tuple(lens) == lengths(op), op
        assert inv == invert(op, doc), (doc, op)
        assert apply(text, inv) == doc
    for (a, b), composed in zip(cases["compose"], js["compose"], strict=True):
        assert composed == compose(a, b), (a, b)
    for (a, b), pair in zip(cases["transform"], js["transform"], strict=True):
        a2, b2 = transform(a, b)
        assert pair == [a2, b2], (a, b)
    # TP1 with what ot.js gave: both orders reach the same text.
    for (a, b), (a2, b2), (doc, _) in zip(
        cases["transform"], js["transform"], cases["apply"], strict=True
    ):
        assert apply(apply(doc, a), b2) == apply(apply(doc, b), a2), (doc, a, b)
    for (i, op, own), moved in zip(cases["index"], js["index"], strict=True):
        assert moved == transform_index(i, op, own=own), (i, op, own)
    for (x, y, op, own), sel in zip(cases["selection"], js["selection"], strict=True):
        expected = Selection(x, y).transform(op, own=own)
        assert sel == [expected.anchor, expected.head]
    assert js["check"] == [python_check(op) for op in cases["check"]]
    assert js["mismatch"] == [python_mismatch(*case) for case in cases["mismatch"]]
    # "😀" is one character: an operation counting it once fits, twice does not.
    assert js["mismatch"] == [True, True, False, True, False, True, True]
    for (text, units), (cp_length, array_length, cp, back, sliced) in zip(
        cases["units"], js["units"], strict=True
    ):
        assert cp_length == array_length == len(text)
        assert cp == code_points_in(text, units)
        assert utf16_units(text[:cp]) == back
        assert sliced == text[1:3]
    for script, results in zip(cases["clients"], js["clients"], strict=True):
        assert results == replay(script), script


def code_points_in(text: str, units: int) -> int:
    """How many characters start before UTF-16 offset ``units`` (a pair cut in two counts)."""
    n = offset = 0
    for c in text:
        if offset >= units:
            break
        n += 1
        offset += 2 if ord(c) > 0xFFFF else 1
    return n


def test_the_editor_turns_textarea_changes_into_operations_in_code_points(
    web_server: Any, page: Any
) -> None:
    """room.js's diff: old and new textarea values (and where the caret ended,
    in UTF-16 units) into one operation that the server applies to the old text."""
    rng = random.Random(SEED + 1)
    pieces = ("a", "b", "😀", "😁", "🔥", "\u200d", "👩", "\n")  # 😀 and 😁 share a high surrogate
    cases = []
    for _ in range(2000):
        old = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        new = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        cases.append([old, new, rng.randint(0, utf16_units(new))])
    # Typing in a run of equal characters: the caret, after what was typed, says where.
    cases.append(["aaaa", "aaaaa", 2])  # typed at 1
    cases.append(["😀😀", "😀😀😀", 2])  # typed at 0 (the caret is after one emoji: 2 units)
    page.goto(f"{web_server.url}/status/demo")
    ops = page.evaluate(
        """async (cases) => {
          const { diff } = await import("/static/room.js");
          return cases.map(([old, now, caret]) => diff(old, now, caret));
        }""",
        cases,
    )
    for (old, new, _), op in zip(cases, ops, strict=True):
        assert apply(old, op) == new, (old, new, op)
        assert op == normalize(op)
        assert sum(1 for c in op if isinstance(c, str)) <= 1
    assert ops[-2] == [1, "a", 3]
    assert ops[-1] == ["😀", 2]
