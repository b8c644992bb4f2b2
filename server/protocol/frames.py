"""WebSocket framing (RFC 6455), sans-IO.

Server-to-client frames are built once and written as they are to every
subscriber, so building one is a function from payload to bytes
(:func:`text_frame`, :func:`close_frame`).

Client-to-server frames go through :class:`FrameDecoder`: feed it bytes with
:meth:`~FrameDecoder.receive`, get back complete messages and control frames.
A message over the size limit is not buffered: the decoder reports
:class:`TooLarge` as soon as it knows and discards the rest as it arrives, so
the connection goes on. A violation of the framing rules ends the list with a
:class:`Violation` carrying the close code to send.

Text frames are not checked for UTF-8 here: the JSON decoder checks it and
answers ``invalid_json`` without closing, as for any other malformed message.

No extensions are negotiated (the reserved bits must be zero).
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from typing import Final

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA
_DATA_OPS = frozenset({OP_TEXT, OP_BINARY})
_CONTROL_OPS = frozenset({OP_CLOSE, OP_PING, OP_PONG})

# Close codes: RFC 6455 ones, and ours in the 4000-4999 private range. The
# table in docs/protocol.md is the reference for clients.
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001  # server shutting down
CLOSE_PROTOCOL_ERROR: Final = 1002  # broken framing
CLOSE_TOO_BIG: Final = 1009  # a frame longer than the hard limit
CLOSE_TRY_AGAIN: Final = 1013  # the server is at its connection limit
CLOSE_HEARTBEAT_TIMEOUT: Final = 4000  # nothing received for too long
CLOSE_REVOKED: Final = 4003  # the credentials were revoked or expired, or the membership changed
CLOSE_SLOW_CONSUMER: Final = 4008  # outbound backlog over its limit

_VALID_PEER_CLOSE = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame (what a server sends)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, n))
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def text_frame(payload: bytes) -> bytes:
    """A text frame carrying ``payload``, which must be UTF-8 (orjson's output is)."""
    return encode_frame(OP_TEXT, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    # Control frames carry at most 125 bytes: 2 for the code, 123 for the
    # reason, cut on a character boundary so that it stays valid UTF-8.
    raw = reason.encode()[:123].decode(errors="ignore").encode()
    return encode_frame(OP_CLOSE, struct.pack("!H", code) + raw)


PING_FRAME: Final = encode_frame(OP_PING, b"")


def mask_payload(payload: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte mask (masking and unmasking are the same)."""
    n = len(payload)
    if n == 0:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, sys.byteorder) ^ int.from_bytes(key, sys.byteorder)).to_bytes(
        n, sys.byteorder
    )


def encode_client_frame(opcode: int, payload: bytes, mask: bytes, *, fin: bool = True) -> bytes:
    """A masked frame, as a client sends it (for tests and benchmarks)."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        header = bytes((first, 0x80 | n))
    elif n < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    return header + mask + mask_payload(payload, mask)


# ---------------------------------------------------------------------------
# decoding


class FrameError(Exception):
    """The peer broke the framing rules; close with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    """A complete data message (text or binary), reassembled from its frames."""

    binary: bool
    payload: bytes


@dataclass(frozen=True, slots=True)
class TooLarge:
    """A data message passed the size limit; its bytes are being discarded.

    ``head`` is its first :data:`PEEK` bytes (fewer if it ended sooner), so
    that the refusal can name the request's ``id``.
    """

    binary: bool
    limit: int
    head: bytes = b""


@dataclass(frozen=True, slots=True)
class Ping:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Violation:
    """The peer broke the framing rules: close with ``code``. Always the last item."""

    code: int
    reason: str


Received = Message | TooLarge | Ping | Pong | Close | Violation

# Frames claiming more than this are not worth discarding: close instead.
HARD_LIMIT: Final = 1 << 30
PEEK: Final = 1024  # bytes of an oversized message kept, to name its id in the refusal


class FrameDecoder:
    """Incremental parser of masked client frames.

    A message is reassembled in one buffer, bounded by ``max_message``; bytes
    past the limit are dropped as they arrive. After a :class:`Violation` the
    decoder takes nothing more.
    """

    __slots__ = (
        "_buffer",
        "_discarding",
        "_failed",
        "_frame_fin",
        "_frame_left",
        "_frame_mask",
        "_frame_offset",
        "_frame_op",
        "_in_message",
        "_masked",
        "_message_binary",
        "_parts",
        "_peek",
        "_size",
        "max_message",
    )

    def __init__(self, max_message: int, *, masked: bool = True) -> None:
        """``masked``: what a server reads (clients mask); False to read a server's frames."""
        self.max_message = max_message
        self._masked = masked
        self._buffer = bytearray()
        self._in_message = False  # between the first and the final frame of a message
        self._message_binary = False
        self._parts = bytearray()  # the message so far, unmasked
        self._size = 0
        self._failed = False
        self._discarding = False
        self._peek: bytearray | None = None  # an oversized message's head, until told
        # the data frame whose payload is being read, if any
        self._frame_left = 0
        self._frame_op = -1
        self._frame_fin = False
        self._frame_mask = b""
        self._frame_offset = 0

    @property
    def held(self) -> int:
        """Bytes kept for what is not complete yet: input not parsed, the message
        reassembled so far, and the head of an oversized one until it is told."""
        return len(self._buffer) + len(self._parts) + len(self._peek or b"")

    def receive(self, data: bytes) -> list[Received]:
        """Feed bytes from the socket; return what they completed.

        Everything complete before a framing violation is returned, then the
        :class:`Violation` itself.
        """
        if self._failed:
            return []
        self._buffer += data
        out: list[Received] = []
        try:
            while True:
                if self._frame_op >= 0:
                    if not self._read_payload(out):
                        break
                elif not self._read_header(out):
                    break
        except FrameError as exc:
            self._failed = True
            self._buffer = bytearray()
            self._parts = bytearray()
            out.append(Violation(exc.code, exc.reason))
        return out

    def _read_header(self, out: list[Received]) -> bool:
        buf = self._buffer
        if len(buf) < 2:
            return False
        b0, b1 = buf[0], buf[1]
        if b0 & 0x70:
            raise FrameError(CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension")
        if bool(b1 & 0x80) != self._masked:
            side = (
                "client frames must be masked" if self._masked else "server frames are never masked"
            )
            raise FrameError(CLOSE_PROTOCOL_ERROR, side)
        fin, opcode, length = bool(b0 & 0x80), b0 & 0x0F, b1 & 0x7F
        offset = 2
        if length == 126:
            if len(buf) < 4:
                return False
            (length,) = struct.unpack_from("!H", buf, 2)
            offset = 4
            if length < 126:
                raise FrameError(CLOSE_PROTOCOL_ERROR, "length not in its shortest form")
        elif length == 127:
            if len(buf) < 10:
                return False
            (length,) = struct.unpack_from("!Q", buf, 2)
            offset = 10
            if length < 65536:
                raise FrameError(CLOSE_PROTOCOL_ERROR, "length not in its shortest form")
            if length >> 63:
                raise FrameError(CLOSE_PROTOCOL_ERROR, "the length's most significant bit is set")
        if self._masked:
            if len(buf) < offset + 4:
                return False
            mask = bytes(buf[offset : offset + 4])
            offset += 4
        else:
            mask = b"\x00\x00\x00\x00"

        if opcode in _CONTROL_OPS:
            if not fin or length > 125:
                raise FrameError(CLOSE_PROTOCOL_ERROR, "control frames must be whole and short")
            if len(buf) < offset + length:
                return False
            payload = mask_payload(bytes(buf[offset : offset + length]), mask)
            del buf[: offset + length]
            out.append(self._control(opcode, payload))
            return True
        if opcode == OP_CONTINUATION:
            if not self._in_message:
                raise FrameError(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
        elif opcode in _DATA_OPS:
            if self._in_message:
                raise FrameError(CLOSE_PROTOCOL_ERROR, "new message before the last one ended")
            self._in_message = True
            self._message_binary = opcode == OP_BINARY
            self._parts = bytearray()
            self._size = 0
            self._discarding = False
        else:
            raise FrameError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if length > HARD_LIMIT:
            raise FrameError(CLOSE_TOO_BIG, "frame too large")
        del buf[:offset]
        self._frame_op, self._frame_fin, self._frame_mask = opcode, fin, mask
        self._frame_left, self._frame_offset = length, 0
        self._size += length
        if not self._discarding and self._size > self.max_message:
            # Discarded from now on; its head is kept until the refusal is told.
            self._discarding = True
            self._peek = self._parts[:PEEK]
            self._parts = bytearray()
            self._tell_too_large(out, ending=False)
        return True

    def _tell_too_large(self, out: list[Received], *, ending: bool) -> None:
        peek = self._peek
        if peek is not None and (ending or len(peek) >= PEEK):
            out.append(TooLarge(self._message_binary, self.max_message, bytes(peek[:PEEK])))
            self._peek = None

    def _read_payload(self, out: list[Received]) -> bool:
        buf = self._buffer
        take = min(len(buf), self._frame_left)
        if take == 0 and self._frame_left:
            return False
        keep = self._parts if not self._discarding else self._peek
        if take and keep is not None:
            chunk = bytes(buf[: take if not self._discarding else min(take, PEEK)])
            # The mask applies from the frame's start: rotate it to where we are.
            shift = self._frame_offset % 4
            mask = self._frame_mask[shift:] + self._frame_mask[:shift]
            keep += mask_payload(chunk, mask)
            if self._discarding:
                self._tell_too_large(out, ending=False)
        del buf[:take]
        self._frame_left -= take
        self._frame_offset += take
        if self._frame_left:
            return False
        fin = self._frame_fin
        self._frame_op = -1
        if fin:
            self._in_message = False
            if not self._discarding:
                out.append(Message(self._message_binary, bytes(self._parts)))
            else:
                self._tell_too_large(out, ending=True)
            self._parts = bytearray()
            self._discarding = False
        return True

    @staticmethod
    def _control(opcode: int, payload: bytes) -> Received:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        if not payload:
            return Close(None, "")
        if len(payload) == 1:
            raise FrameError(CLOSE_PROTOCOL_ERROR, "close frame with a one-byte payload")
        (code,) = struct.unpack_from("!H", payload)
        if code not in _VALID_PEER_CLOSE and not 3000 <= code <= 4999:
            raise FrameError(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
        try:
            reason = payload[2:].decode()
        except UnicodeDecodeError:
            raise FrameError(1007, "close reason is not UTF-8") from None
        return Close(code, reason)
