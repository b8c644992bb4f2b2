"""WebSocket framing (server/protocol/frames.py), checked against RFC 6455 and wsproto.

Server -> client frames must be what an independent parser (wsproto's client
side) accepts; masked client -> server frames built by wsproto must come out of
our ``FrameDecoder`` intact, however the byte stream is chunked.
"""

from __future__ import annotations

import itertools
import struct
import tracemalloc
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol, Opcode

from server.protocol import frames as f
from server.protocol.frames import (
    HARD_LIMIT,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    PING_FRAME,
    Close,
    FrameDecoder,
    FrameError,
    Message,
    Ping,
    Pong,
    TooLarge,
    Violation,
    close_frame,
    encode_client_frame,
    encode_frame,
    mask_payload,
    text_frame,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MASK = b"\x37\xfa\x21\x3d"
ODD_MASK = b"\x01\x80\xff\x7e"


def client(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes = MASK) -> bytes:
    return encode_client_frame(opcode, payload, mask, fin=fin)


def wsproto_parse_as_client(data: bytes) -> list:
    """Frames that wsproto's client side reads from ``data`` (what a browser would see)."""
    proto = FrameProtocol(client=True, extensions=[])
    proto.receive_bytes(data)
    return list(proto.received_frames())


def naive_mask(payload: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# ---------------------------------------------------------------------------
# encode_frame: header forms


@pytest.mark.parametrize(
    ("n", "header_len", "len_byte", "ext"),
    [
        (0, 2, 0, b""),
        (1, 2, 1, b""),
        (125, 2, 125, b""),
        (126, 4, 126, struct.pack("!H", 126)),
        (127, 4, 126, struct.pack("!H", 127)),
        (65535, 4, 126, struct.pack("!H", 65535)),
        (65536, 10, 127, struct.pack("!Q", 65536)),
        (70001, 10, 127, struct.pack("!Q", 70001)),
    ],
)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_encode_frame_length_forms(
    n: int, header_len: int, len_byte: int, ext: bytes, opcode: int
) -> None:
    payload = bytes(i % 251 for i in range(n))
    frame = encode_frame(opcode, payload)
    assert len(frame) == header_len + n
    assert frame[0] == 0x80 | opcode  # FIN set, RSV clear
    assert frame[1] == len_byte  # MASK bit clear: servers never mask
    assert frame[2:header_len] == ext
    assert frame[header_len:] == payload


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 70001])
def test_text_frame_parsed_by_wsproto_client(n: int) -> None:
    text = ("é" * n)[: n // 2] + "a" * (n - 2 * (n // 2))  # UTF-8, exactly n bytes
    payload = text.encode()
    assert len(payload) == n
    (frame,) = wsproto_parse_as_client(text_frame(payload))
    assert frame.opcode is Opcode.TEXT
    assert frame.payload == text
    assert frame.frame_finished and frame.message_finished


@pytest.mark.parametrize("n", [0, 125, 126, 65535, 65536])
def test_binary_frame_parsed_by_wsproto_client(n: int) -> None:
    payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
    (frame,) = wsproto_parse_as_client(encode_frame(OP_BINARY, payload))
    assert frame.opcode is Opcode.BINARY
    assert frame.payload == payload
    assert frame.message_finished


def test_several_server_frames_parsed_in_sequence_by_wsproto() -> None:
    stream = (
        text_frame(b'{"type":"pong"}')
        + PING_FRAME
        + encode_frame(OP_PONG, b"abc")
        + text_frame(b"x" * 300)
        + close_frame(1001, "bye")
    )
    frames = wsproto_parse_as_client(stream)
    assert [(fr.opcode, fr.payload) for fr in frames] == [
        (Opcode.TEXT, '{"type":"pong"}'),
        (Opcode.PING, b""),
        (Opcode.PONG, b"abc"),
        (Opcode.TEXT, "x" * 300),
        (Opcode.CLOSE, (1001, "bye")),
    ]


@SETTINGS
@given(opcode=st.sampled_from([OP_TEXT, OP_BINARY]), text=st.text(max_size=400))
def test_encode_frame_roundtrip_through_wsproto(opcode: int, text: str) -> None:
    payload = text.encode()
    (frame,) = wsproto_parse_as_client(encode_frame(opcode, payload))
    assert frame.payload == (text if opcode == OP_TEXT else payload)
    assert frame.message_finished


def test_ping_frame_constant() -> None:
    assert PING_FRAME == b"\x89\x00"
    (frame,) = wsproto_parse_as_client(PING_FRAME)
    assert frame.opcode is Opcode.PING
    assert frame.payload == b""


# ---------------------------------------------------------------------------
# close_frame


def test_close_frame_code_and_reason() -> None:
    frame = close_frame(1000, "done")
    assert frame == b"\x88\x06\x03\xe8done"
    (parsed,) = wsproto_parse_as_client(frame)
    assert parsed.opcode is Opcode.CLOSE
    assert parsed.payload == (1000, "done")


def test_close_frame_without_reason() -> None:
    assert close_frame(4008) == b"\x88\x02\x0f\xa8"
    (parsed,) = wsproto_parse_as_client(close_frame(4008))
    assert parsed.payload == (4008, "")


@pytest.mark.parametrize("reason_len", [122, 123, 124, 125, 500])
def test_close_frame_reason_truncated_to_fit_125_bytes(reason_len: int) -> None:
    reason = "".join(chr(ord("a") + i % 26) for i in range(reason_len))
    frame = close_frame(1011, reason)
    assert frame[0] == 0x88
    assert frame[1] == 2 + min(reason_len, 123)  # never more than 125: 7-bit length form
    assert len(frame) == 2 + frame[1]
    assert frame[4:] == reason.encode()[:123]
    (parsed,) = wsproto_parse_as_client(frame)
    assert parsed.payload == (1011, reason[:123])


@pytest.mark.parametrize(
    "reason",
    [
        "é" * 100,  # 2-byte characters: 123 bytes would cut one in half
        "a" + "€" * 60,  # 3-byte characters
        "ab" + "😀" * 40,  # 4-byte characters
    ],
    ids=["2-byte", "3-byte", "4-byte"],
)
def test_close_frame_truncation_keeps_reason_valid_utf8(reason: str) -> None:
    # RFC 6455 5.5.1: the reason must stay UTF-8 when cut to fit 123 bytes,
    # or a conforming client fails the connection with 1007 instead.
    frame = close_frame(1000, reason)
    assert len(frame) <= 127
    body = frame[4:]
    assert reason.startswith(body.decode("utf-8"))
    (parsed,) = wsproto_parse_as_client(frame)
    assert parsed.payload[0] == 1000


def test_close_frame_multibyte_reason_that_fits_is_kept_whole() -> None:
    reason = "é" * 61  # 122 bytes
    (parsed,) = wsproto_parse_as_client(close_frame(1000, reason))
    assert parsed.payload == (1000, reason)


# ---------------------------------------------------------------------------
# masking and client frames


def test_mask_payload_known_vector() -> None:
    # RFC 6455 section 5.7: a masked "Hello".
    assert mask_payload(b"Hello", b"\x37\xfa\x21\x3d") == b"\x7f\x9f\x4d\x51\x58"
    assert encode_client_frame(OP_TEXT, b"Hello", b"\x37\xfa\x21\x3d") == bytes.fromhex(
        "818537fa213d7f9f4d5158"
    )


def test_mask_payload_empty() -> None:
    assert mask_payload(b"", MASK) == b""


@SETTINGS
@given(payload=st.binary(max_size=300), mask=st.binary(min_size=4, max_size=4))
def test_mask_payload_is_xor_with_the_repeated_key(payload: bytes, mask: bytes) -> None:
    masked = mask_payload(payload, mask)
    assert masked == naive_mask(payload, mask)
    assert mask_payload(masked, mask) == payload


@pytest.mark.parametrize("n", [0, 125, 126, 65535, 65536])
def test_encode_client_frame_is_read_by_wsproto_server(n: int) -> None:
    payload = bytes(i % 256 for i in range(n))
    frame = encode_client_frame(OP_BINARY, payload, ODD_MASK)
    assert frame[1] & 0x80  # MASK bit
    proto = FrameProtocol(client=False, extensions=[])
    proto.receive_bytes(frame)
    (parsed,) = proto.received_frames()
    assert parsed.opcode is Opcode.BINARY
    assert parsed.payload == payload


# ---------------------------------------------------------------------------
# FrameDecoder: basics


def test_decode_single_masked_text_frame() -> None:
    dec = FrameDecoder(1024)
    assert dec.receive(bytes.fromhex("818537fa213d7f9f4d5158")) == [Message(False, b"Hello")]
    assert dec.receive(b"") == []


def test_decode_binary_vs_text_flag() -> None:
    dec = FrameDecoder(1024)
    out = dec.receive(client(OP_BINARY, b"\x00\xff") + client(OP_TEXT, b"t"))
    assert out == [Message(True, b"\x00\xff"), Message(False, b"t")]


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_decode_empty_message(opcode: int) -> None:
    dec = FrameDecoder(1024)
    assert dec.receive(client(opcode, b"")) == [Message(opcode == OP_BINARY, b"")]
    # fragmented, every fragment empty
    stream = client(opcode, b"", fin=False) + client(OP_CONTINUATION, b"", fin=False)
    stream += client(OP_CONTINUATION, b"")
    assert dec.receive(stream) == [Message(opcode == OP_BINARY, b"")]


@pytest.mark.parametrize("n", [125, 126, 65535, 65536, 70001])
def test_decode_extended_lengths(n: int) -> None:
    payload = bytes(i % 253 for i in range(n))
    dec = FrameDecoder(1 << 20)
    assert dec.receive(client(OP_BINARY, payload, mask=ODD_MASK)) == [Message(True, payload)]


def test_decode_waits_for_a_whole_frame() -> None:
    frame = client(OP_TEXT, b"abcdefghij")
    dec = FrameDecoder(1024)
    for i in range(len(frame) - 1):
        assert dec.receive(frame[i : i + 1]) == []
    assert dec.receive(frame[-1:]) == [Message(False, b"abcdefghij")]


def test_decode_fragmented_message_with_interleaved_controls() -> None:
    dec = FrameDecoder(1024)
    stream = (
        client(OP_TEXT, b"hel", fin=False, mask=b"\x01\x02\x03\x04")
        + client(OP_PING, b"p1", mask=b"\x05\x06\x07\x08")
        + client(OP_CONTINUATION, b"lo, ", fin=False, mask=b"\x09\x0a\x0b\x0c")
        + client(OP_PONG, b"p2")
        + client(OP_PING, b"")
        + client(OP_CONTINUATION, b"", fin=False)
        + client(OP_CONTINUATION, b"world", mask=b"\xff\x00\xff\x00")
        + client(OP_TEXT, b"next")
    )
    assert dec.receive(stream) == [
        Ping(b"p1"),
        Pong(b"p2"),
        Ping(b""),
        Message(False, b"hello, world"),
        Message(False, b"next"),
    ]


def test_decode_fragmented_binary_keeps_binary_flag() -> None:
    dec = FrameDecoder(1024)
    stream = client(OP_BINARY, b"\x00", fin=False) + client(OP_CONTINUATION, b"\x01")
    assert dec.receive(stream) == [Message(True, b"\x00\x01")]


@pytest.mark.parametrize("split", range(1, 13))
def test_unmasking_with_payload_split_mid_mask(split: int) -> None:
    # 13-byte payload: every split point strictly inside the payload, so the second
    # chunk starts at every offset modulo 4 of the mask.
    payload = b"0123456789abc"
    frame = client(OP_TEXT, payload, mask=ODD_MASK)
    header = len(frame) - len(payload)
    dec = FrameDecoder(1024)
    assert dec.receive(frame[: header + split]) == []
    assert dec.receive(frame[header + split :]) == [Message(False, payload)]


def test_unmasking_with_payload_in_uneven_chunks() -> None:
    payload = bytes(range(200))
    frame = client(OP_BINARY, payload, mask=ODD_MASK)
    dec = FrameDecoder(1024)
    out: list[f.Received] = []
    i, step = 0, 1
    while i < len(frame):
        out += dec.receive(frame[i : i + step])
        i += step
        step = step % 7 + 1
    assert out == [Message(True, payload)]


def test_fragments_each_have_their_own_mask_offset() -> None:
    # The mask restarts at every frame, whatever the previous frame's length.
    dec = FrameDecoder(1024)
    stream = client(OP_TEXT, b"abc", fin=False, mask=ODD_MASK) + client(
        OP_CONTINUATION, b"defgh", mask=ODD_MASK
    )
    out: list[f.Received] = []
    for i in range(0, len(stream), 3):
        out += dec.receive(stream[i : i + 3])
    assert out == [Message(False, b"abcdefgh")]


# ---------------------------------------------------------------------------
# cross-check: wsproto client frames -> our decoder


def test_wsproto_client_frames_decoded() -> None:
    ws = FrameProtocol(client=True, extensions=[])
    stream = bytes(
        ws.send_data("héllo")
        + ws.send_data(b"\x00\x01\x02")
        + ws.send_data("frag", fin=False)
        + ws.ping(b"hb")
        + ws.send_data("ment", fin=False)
        + ws.pong(b"pp")
        + ws.send_data("ed")
        + ws.send_data("x" * 70000)
        + ws.send_data(b"")
        + ws.close(4000, "bye ✓")
    )
    dec = FrameDecoder(1 << 20)
    assert dec.receive(stream) == [
        Message(False, "héllo".encode()),
        Message(True, b"\x00\x01\x02"),
        Ping(b"hb"),
        Pong(b"pp"),
        Message(False, b"fragmented"),
        Message(False, b"x" * 70000),
        Message(True, b""),
        Close(4000, "bye ✓"),
    ]


def test_wsproto_close_without_code_decoded() -> None:
    ws = FrameProtocol(client=True, extensions=[])
    assert FrameDecoder(16).receive(bytes(ws.close())) == [Close(None, "")]


# A model of the stream: messages (split in fragments, with control frames
# after some fragments) and control frames between messages.


@dataclass(frozen=True)
class Msg:
    binary: bool
    fragments: tuple[bytes, ...]
    controls: tuple[tuple[int, bytes], ...]  # (fragment index, ping payload) pairs


control_payload = st.binary(max_size=20)


@st.composite
def messages(draw: st.DrawFn) -> Msg:
    binary = draw(st.booleans())
    payload = draw(st.binary(max_size=300) if binary else st.text(max_size=150).map(str.encode))
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=4)))
    bounds = [0, *cuts, len(payload)]
    fragments = tuple(payload[a:b] for a, b in itertools.pairwise(bounds))
    controls = tuple(
        draw(st.lists(st.tuples(st.integers(0, len(fragments) - 2), control_payload), max_size=3))
        if len(fragments) > 1
        else []
    )
    return Msg(binary, fragments, tuple(sorted(controls, key=lambda c: c[0])))


items = st.lists(
    st.one_of(
        messages(),
        st.tuples(st.sampled_from([OP_PING, OP_PONG]), control_payload),
    ),
    max_size=6,
)


def build(stream_items: list, masks: st.DataObject | None, limit: int) -> tuple[bytes, list]:
    """The wire bytes of ``stream_items`` and what the decoder must report."""
    out = bytearray()
    expected: list[f.Received] = []

    def mask() -> bytes:
        return masks.draw(st.binary(min_size=4, max_size=4)) if masks is not None else MASK

    for item in stream_items:
        if isinstance(item, tuple):
            op, payload = item
            out += client(op, payload, mask=mask())
            expected.append(Ping(payload) if op == OP_PING else Pong(payload))
            continue
        size, too_large, told = 0, False, False
        head = b"".join(item.fragments)[: f.PEEK]
        for i, fragment in enumerate(item.fragments):
            op = (OP_BINARY if item.binary else OP_TEXT) if i == 0 else OP_CONTINUATION
            last = i == len(item.fragments) - 1
            out += client(op, fragment, fin=last, mask=mask())
            size += len(fragment)
            too_large = too_large or size > limit
            # Told once its head is read (PEEK bytes, or the whole message).
            if too_large and not told and (size >= f.PEEK or last):
                told = True
                expected.append(TooLarge(item.binary, limit, head))
            for at, payload in item.controls:
                if at == i:
                    out += client(OP_PING, payload, mask=mask())
                    expected.append(Ping(payload))
        if not too_large:
            expected.append(Message(item.binary, b"".join(item.fragments)))
    return bytes(out), expected


@st.composite
def wsproto_messages(draw: st.DrawFn) -> tuple[bool, list[str | bytes], list[tuple[int, bytes]]]:
    """A message as wsproto's send_data takes it: str fragments for text, bytes for binary."""
    binary = draw(st.booleans())
    whole: str | bytes = draw(st.binary(max_size=300) if binary else st.text(max_size=150))
    cuts = sorted(draw(st.lists(st.integers(0, len(whole)), max_size=4)))
    bounds = [0, *cuts, len(whole)]
    fragments = [whole[a:b] for a, b in itertools.pairwise(bounds)]
    pings = draw(
        st.lists(st.tuples(st.integers(0, len(fragments) - 1), control_payload), max_size=3)
    )
    return binary, fragments, sorted(pings, key=lambda p: p[0])


@SETTINGS
@given(
    stream_items=st.lists(
        st.one_of(
            wsproto_messages(), st.tuples(st.sampled_from([OP_PING, OP_PONG]), control_payload)
        ),
        max_size=6,
    )
)
def test_wsproto_masked_stream_decoded(stream_items: list) -> None:
    """Messages sent by wsproto's client (fresh random masks) decode as sent."""
    ws = FrameProtocol(client=True, extensions=[])
    wire = bytearray()
    expected: list[f.Received] = []
    for item in stream_items:
        if len(item) == 2:
            op, payload = item
            wire += ws.ping(payload) if op == OP_PING else ws.pong(payload)
            expected.append(Ping(payload) if op == OP_PING else Pong(payload))
            continue
        binary, fragments, pings = item
        for i, fragment in enumerate(fragments):
            wire += ws.send_data(fragment, fin=i == len(fragments) - 1)
            for at, payload in pings:
                if at == i and i < len(fragments) - 1:
                    wire += ws.ping(payload)
                    expected.append(Ping(payload))
        joined = b"".join(fragments) if binary else "".join(fragments).encode()
        expected.append(Message(binary, joined))
    dec = FrameDecoder(1 << 20)
    assert dec.receive(bytes(wire)) == expected


@SETTINGS
@given(stream_items=items, data=st.data())
def test_arbitrary_chunking_gives_the_same_items(stream_items: list, data: st.DataObject) -> None:
    wire, expected = build(stream_items, data, limit=1 << 20)
    whole = FrameDecoder(1 << 20).receive(wire)
    assert whole == expected

    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(wire) - 1)), max_size=30))))
    chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=False)]
    assert b"".join(chunks) == wire
    dec = FrameDecoder(1 << 20)
    chunked: list[f.Received] = []
    for chunk in chunks:
        chunked += dec.receive(chunk)
    assert chunked == whole
    assert dec.held == 0


@SETTINGS
@given(stream_items=items, limit=st.integers(0, 200), data=st.data())
def test_arbitrary_chunking_with_a_size_limit(
    stream_items: list, limit: int, data: st.DataObject
) -> None:
    wire, expected = build(stream_items, data, limit=limit)
    step = data.draw(st.integers(1, 17))
    dec = FrameDecoder(limit)
    out: list[f.Received] = []
    for i in range(0, len(wire), step):
        out += dec.receive(wire[i : i + step])
    assert out == expected
    assert FrameDecoder(limit).receive(wire) == expected


def test_one_byte_chunks_of_a_mixed_stream() -> None:
    stream_items = [
        Msg(False, (b"ab", b"", b"cdefg"), ((0, b"x"), (1, b""))),
        (OP_PONG, b"zz"),
        Msg(True, (bytes(range(130)),), ()),
        Msg(False, (b"",), ()),
    ]
    wire, expected = build(stream_items, None, limit=1 << 20)
    dec = FrameDecoder(1 << 20)
    out: list[f.Received] = []
    for i in range(len(wire)):
        out += dec.receive(wire[i : i + 1])
    assert out == expected == FrameDecoder(1 << 20).receive(wire)
    assert len(out) == 6


# ---------------------------------------------------------------------------
# size limit


def header_only(opcode: int, n: int, *, fin: bool = True) -> bytes:
    """A client frame's header (with mask) claiming ``n`` payload bytes."""
    return client(opcode, b"\x00" * n, fin=fin)[: -n or None]


def test_message_at_the_limit_is_delivered() -> None:
    dec = FrameDecoder(10)
    assert dec.receive(client(OP_TEXT, b"0123456789")) == [Message(False, b"0123456789")]


def test_too_large_reported_once_its_head_is_read() -> None:
    """Not from the header alone: the refusal names the request's id, so the
    first PEEK bytes are read first (the rest is discarded as it comes)."""
    dec = FrameDecoder(10)
    payload = b'{"id": 7, "type": "doc.op"' + b" " * 3000
    frame = client(OP_TEXT, payload)
    header = len(frame) - len(payload)
    assert dec.receive(frame[: header + 100]) == []
    assert dec.receive(frame[header + 100 : header + f.PEEK]) == [
        TooLarge(False, 10, payload[: f.PEEK])
    ]
    assert dec.receive(frame[header + f.PEEK :]) == []
    assert dec.held == 0


@pytest.mark.parametrize("binary", [False, True])
def test_too_large_discarded_then_next_message_decodes(binary: bool) -> None:
    dec = FrameDecoder(10)
    frame = client(OP_BINARY if binary else OP_TEXT, b"x" * 50)
    out = dec.receive(frame[:10])
    for i in range(10, len(frame), 7):
        out += dec.receive(frame[i : i + 7])
    assert out == [TooLarge(binary, 10, b"x" * 50)]  # told at its end: it is shorter than PEEK
    assert dec.receive(client(OP_TEXT, b"ok")) == [Message(False, b"ok")]


def test_too_large_reported_once_and_continuations_discarded() -> None:
    dec = FrameDecoder(10)
    stream = (
        client(OP_TEXT, b"x" * 20, fin=False)
        + client(OP_CONTINUATION, b"y" * 20, fin=False)
        + client(OP_PING, b"still here")
        + client(OP_CONTINUATION, b"z" * 20)
        + client(OP_TEXT, b"after")
    )
    assert dec.receive(stream) == [
        Ping(b"still here"),
        TooLarge(False, 10, b"x" * 20 + b"y" * 20 + b"z" * 20),
        Message(False, b"after"),
    ]


def test_limit_crossed_by_a_later_fragment() -> None:
    dec = FrameDecoder(10)
    assert dec.receive(client(OP_BINARY, b"12345", fin=False)) == []
    assert dec.receive(client(OP_CONTINUATION, b"6789a", fin=False)) == []  # exactly 10
    assert dec.held == 10  # still buffering: within the limit
    assert dec.receive(header_only(OP_CONTINUATION, 1, fin=False)) == []
    assert dec.held == 10  # given up on: only its head is kept, for the refusal
    assert dec.receive(b"\x00") == []
    told = dec.receive(client(OP_CONTINUATION, b"end"))
    assert len(told) == 1 and isinstance(told[0], TooLarge) and told[0].binary
    assert told[0].head[:10] == b"123456789a" and told[0].head.endswith(b"end")
    assert dec.receive(client(OP_BINARY, b"next")) == [Message(True, b"next")]


def test_every_too_large_message_reported() -> None:
    dec = FrameDecoder(3)
    stream = client(OP_TEXT, b"long") + client(OP_BINARY, b"long!") + client(OP_TEXT, b"ok")
    assert dec.receive(stream) == [
        TooLarge(False, 3, b"long"),
        TooLarge(True, 3, b"long!"),
        Message(False, b"ok"),
    ]


def test_zero_limit_allows_only_empty_messages() -> None:
    dec = FrameDecoder(0)
    assert dec.receive(client(OP_TEXT, b"") + client(OP_TEXT, b"a")) == [
        Message(False, b""),
        TooLarge(False, 0, b"a"),
    ]


def test_discarding_does_not_accumulate_memory() -> None:
    limit = 1024
    dec = FrameDecoder(limit)
    payload = b"\xaa" * (4 << 20)
    frame = client(OP_BINARY, payload, fin=False)
    chunk = 4096
    out = dec.receive(frame[:chunk])
    assert out == [TooLarge(True, limit, payload[: f.PEEK])]
    for i in range(chunk, len(frame), chunk):
        assert dec.receive(frame[i : i + chunk]) == []
        assert dec.held <= chunk  # what came, discarded as it comes
    assert dec.held == 0
    # a second huge fragment of the same message: still discarded, nothing new reported
    assert dec.receive(header_only(OP_CONTINUATION, 1 << 20)) == []
    for _ in range(256):
        assert dec.receive(b"\x00" * chunk) == []
    assert dec.held == 0
    assert dec.receive(client(OP_TEXT, b"fine")) == [Message(False, b"fine")]


def test_hard_limit_sized_frame_is_discarded_not_refused() -> None:
    dec = FrameDecoder(1024)
    header = struct.pack("!BBQ", 0x82, 0x80 | 127, HARD_LIMIT) + MASK
    assert dec.receive(header) == []  # no violation: it is discarded as it comes
    told = dec.receive(b"\x00" * f.PEEK)
    assert len(told) == 1 and isinstance(told[0], TooLarge) and told[0].binary
    assert len(told[0].head) == f.PEEK


def test_open_message_of_empty_fragments_does_not_grow_memory() -> None:
    # Zero-length fragments never count against max_message, so they must not
    # cost memory either: a stream of them would otherwise grow without bound.
    dec = FrameDecoder(1024)
    empty = client(OP_CONTINUATION, b"", fin=False)
    assert dec.receive(client(OP_TEXT, b"", fin=False)) == []
    batch = empty * 1000
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(100):
            dec.receive(batch)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 64 * 1024, f"decoder grew by {after - before} bytes"


# ---------------------------------------------------------------------------
# protocol errors


def raises(
    data: bytes, code: int = 1002, *, prefix: bytes = b"", limit: int = 1 << 20
) -> Violation:
    """Feeding ``data`` ends in a Violation with ``code``, and the decoder then takes nothing."""
    dec = FrameDecoder(limit)
    if prefix:
        dec.receive(prefix)
    out = dec.receive(data)
    assert out, "expected a Violation"
    violation = out[-1]
    assert isinstance(violation, Violation), out
    assert violation.code == code, violation
    assert violation.reason
    assert dec.receive(client(OP_TEXT, b"after")) == []  # failed for good
    return violation


def test_unmasked_client_frame_refused() -> None:
    raises(encode_frame(OP_TEXT, b"hi"))
    raises(text_frame(b""))
    raises(PING_FRAME)


def test_unmasked_frame_refused_from_its_first_two_bytes() -> None:
    raises(encode_frame(OP_TEXT, b"hi")[:2])


@pytest.mark.parametrize("bit", [0x40, 0x20, 0x10, 0x70])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_PING, OP_CONTINUATION])
def test_reserved_bits_refused(bit: int, opcode: int) -> None:
    frame = bytearray(client(opcode, b"abc"))
    frame[0] |= bit
    raises(
        bytes(frame), prefix=client(OP_TEXT, b"", fin=False) if opcode == OP_CONTINUATION else b""
    )


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcode_refused(opcode: int) -> None:
    err = raises(client(opcode, b"x"))
    assert hex(opcode) in err.reason


def test_continuation_without_a_message_refused() -> None:
    raises(client(OP_CONTINUATION, b"x"))
    raises(client(OP_CONTINUATION, b"x", fin=False))
    # ...also once the previous message has ended
    raises(client(OP_CONTINUATION, b"x"), prefix=client(OP_TEXT, b"done"))


@pytest.mark.parametrize("second", [OP_TEXT, OP_BINARY])
def test_new_data_frame_while_a_message_is_open_refused(second: int) -> None:
    raises(client(second, b"b"), prefix=client(OP_TEXT, b"a", fin=False))
    raises(client(second, b"b"), prefix=client(OP_BINARY, b"a", fin=False))


def test_new_data_frame_while_a_discarded_message_is_open_refused() -> None:
    raises(client(OP_TEXT, b"b"), prefix=client(OP_TEXT, b"toolong", fin=False), limit=2)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_fragmented_control_frame_refused(opcode: int) -> None:
    raises(client(opcode, b"", fin=False))


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
@pytest.mark.parametrize("n", [126, 200, 65536])
def test_control_frame_over_125_bytes_refused(opcode: int, n: int) -> None:
    payload = b"\x03\xe8" + b"a" * (n - 2)
    raises(client(opcode, payload))


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG])
def test_control_frame_of_125_bytes_accepted(opcode: int) -> None:
    out = FrameDecoder(16).receive(client(opcode, b"p" * 125))
    assert out == [Ping(b"p" * 125) if opcode == OP_PING else Pong(b"p" * 125)]


def test_close_with_one_byte_payload_refused() -> None:
    raises(client(OP_CLOSE, b"\x03"))


@pytest.mark.parametrize("code", [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_invalid_close_codes_refused(code: int) -> None:
    err = raises(client(OP_CLOSE, struct.pack("!H", code)))
    assert str(code) in err.reason
    raises(client(OP_CLOSE, struct.pack("!H", code) + b"why"))


@pytest.mark.parametrize(
    "code",
    [
        1000,
        1001,
        1002,
        1003,
        1007,
        1008,
        1009,
        1010,
        1011,
        1012,
        1013,
        1014,
        3000,
        3999,
        4000,
        4008,
        4999,
    ],
)
def test_valid_close_codes_accepted(code: int) -> None:
    dec = FrameDecoder(16)
    assert dec.receive(client(OP_CLOSE, struct.pack("!H", code))) == [Close(code, "")]
    assert dec.receive(client(OP_CLOSE, struct.pack("!H", code) + "ok ✓".encode())) == [
        Close(code, "ok ✓")
    ]


@pytest.mark.parametrize("reason", [b"\xff", b"ok\xc3", b"\xed\xa0\x80", b"\xc0\xaf"])
def test_close_reason_not_utf8_is_1007(reason: bytes) -> None:
    raises(client(OP_CLOSE, b"\x03\xe8" + reason), code=1007)


def test_close_parsing() -> None:
    dec = FrameDecoder(16)
    assert dec.receive(client(OP_CLOSE, b"")) == [Close(None, "")]
    assert dec.receive(client(OP_CLOSE, b"\x03\xe9going")) == [Close(1001, "going")]
    reason = "r" * 123
    assert dec.receive(client(OP_CLOSE, b"\x0f\xa0" + reason.encode())) == [Close(4000, reason)]


def test_close_between_fragments_is_reported() -> None:
    dec = FrameDecoder(64)
    stream = client(OP_TEXT, b"part", fin=False) + client(OP_CLOSE, b"\x03\xe8")
    assert dec.receive(stream) == [Close(1000, "")]


@pytest.mark.parametrize("length", [HARD_LIMIT + 1, 1 << 40, (1 << 63) - 1])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_frame_over_hard_limit_is_1009(length: int, opcode: int) -> None:
    header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length) + MASK
    raises(header, code=1009)  # from the header alone


@pytest.mark.parametrize("length", [1 << 63, (1 << 64) - 1])
def test_a_64_bit_length_with_its_top_bit_set_is_a_protocol_error(length: int) -> None:
    raises(struct.pack("!BBQ", 0x81, 0x80 | 127, length) + MASK)


@pytest.mark.parametrize(
    "header",
    [
        struct.pack("!BBH", 0x81, 0x80 | 126, 5),  # 16-bit form for a 7-bit length
        struct.pack("!BBH", 0x81, 0x80 | 126, 125),
        struct.pack("!BBQ", 0x81, 0x80 | 127, 5),  # 64-bit form for small lengths
        struct.pack("!BBQ", 0x81, 0x80 | 127, 65535),
    ],
)
def test_lengths_must_use_their_shortest_form(header: bytes) -> None:
    raises(header + MASK)


def test_continuation_over_hard_limit_is_1009() -> None:
    header = struct.pack("!BBQ", 0x80 | OP_CONTINUATION, 0x80 | 127, HARD_LIMIT + 1) + MASK
    raises(header, code=1009, prefix=client(OP_TEXT, b"a", fin=False))


def test_items_before_a_violation_in_the_same_chunk_are_kept() -> None:
    dec = FrameDecoder(64)
    out = dec.receive(
        client(OP_TEXT, b"fine") + client(OP_CLOSE, b"\x03\xe8") + encode_frame(OP_TEXT, b"bad")
    )
    assert out[:2] == [Message(False, b"fine"), Close(1000, "")]
    assert isinstance(out[2], Violation) and out[2].code == 1002
    assert len(out) == 3


def test_frame_error_attributes() -> None:
    err = FrameError(1009, "too big")
    assert (err.code, err.reason, str(err)) == (1009, "too big", "too big")
