"""A room's text while it is live: cheap to edit where it was last edited.

Operations are those of :mod:`switchboard_ot`, the operational transform the
server shares with the bundled client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from switchboard_ot import Component, OTError

from ..errors import RoomError

CHUNK: Final = 512  # code points; chunks are split at twice this (measured: bench/trace_replay.py)


class TooLong(RoomError):
    """Applying the operation would make the text longer than allowed."""

    def __init__(self, max_length: int) -> None:
        super().__init__(
            "document_too_large", f"the document may hold at most {max_length} characters"
        )


class TextBuffer:
    """A document as a list of chunks, cheap to edit where it was last edited.

    Applying an operation to a Python ``str`` copies the whole document; here
    an edit copies one chunk. The last edited chunk is remembered, since typing
    mostly happens next to the previous keystroke.
    """

    __slots__ = ("_at", "_chunks", "_index", "_length", "_text")

    def __init__(self, text: str = "") -> None:
        self._chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
        self._length = len(text)
        self._index = 0  # the chunk last edited...
        self._at = 0  # ...and where it starts in the document
        self._text: str | None = text

    def __len__(self) -> int:
        return self._length

    def __str__(self) -> str:
        if self._text is None:
            self._text = "".join(self._chunks)
        return self._text

    @property
    def chunks(self) -> tuple[str, ...]:
        """The pieces the text is kept in, in order: none longer than twice
        CHUNK, none empty unless it is the only one."""
        return tuple(self._chunks)

    def apply(self, op: Sequence[Component], *, max_length: int | None = None) -> None:
        """Apply an operation, or raise (changing nothing).

        OTError when the operation does not cover the text exactly;
        :class:`TooLong` when the result would pass ``max_length`` and be longer
        than the text is now (an edit that shrinks an oversized text is fine).
        """
        # The edits as (position in the original, deleted, inserted), made from
        # the last to the first so that positions stay valid. Typing makes one
        # edit per operation; that case allocates nothing but the edit.
        first: tuple[int, int, str] | None = None
        more: list[tuple[int, int, str]] | None = None
        at = target = 0
        for c in op:
            if isinstance(c, str):
                target += len(c)
                last = more[-1] if more else first
                if last is not None and last[0] + last[1] == at:
                    last = (last[0], last[1], last[2] + c)
                else:
                    if last is not None:
                        more = more or [last]
                    last = (at, 0, c)
            elif c > 0:
                at += c
                target += c
                continue
            else:
                last = more[-1] if more else first
                if last is not None and last[0] + last[1] == at:
                    last = (last[0], last[1] - c, last[2])
                else:
                    if last is not None:
                        more = more or [last]
                    last = (at, -c, "")
                at -= c
            if more:
                if more[-1][0] == last[0]:
                    more[-1] = last
                else:
                    more.append(last)
            else:
                first = last
        if at != self._length:
            raise OTError(
                f"the operation covers {at} characters but the document has {self._length}"
            )
        if max_length is not None and target > max_length and target > at:
            raise TooLong(max_length)
        if more:
            for pos, gone, text in reversed(more):
                self._splice(pos, gone, text)
        elif first is not None:
            self._splice(*first)
        self._length = target
        self._text = None

    def _locate(self, pos: int) -> tuple[int, int]:
        """(chunk index, its start) of the chunk holding ``pos`` (or ending at it)."""
        chunks, index, start = self._chunks, self._index, self._at
        while pos < start:
            index -= 1
            start -= len(chunks[index])
        while pos > start + len(chunks[index]) and index + 1 < len(chunks):
            start += len(chunks[index])
            index += 1
        return index, start

    def _splice(self, pos: int, gone: int, text: str) -> None:
        chunks = self._chunks
        index, start = self._locate(pos)
        offset = pos - start
        chunk = chunks[index]
        if offset + gone <= len(chunk):
            chunk = chunk[:offset] + text + chunk[offset + gone :]
            chunks[index] = chunk
        else:
            # The deletion runs past this chunk: take in the following ones.
            last = index
            tail = chunk
            while offset + gone > len(tail):
                last += 1
                tail += chunks[last]
            chunk = tail[:offset] + text + tail[offset + gone :]
            chunks[index : last + 1] = [chunk]
        if len(chunk) > 2 * CHUNK:
            chunks[index : index + 1] = [chunk[i : i + CHUNK] for i in range(0, len(chunk), CHUNK)]
        elif not chunk and len(chunks) > 1:
            del chunks[index]
            if index == len(chunks):
                index -= 1
                start -= len(chunks[index])
        self._index, self._at = index, start
