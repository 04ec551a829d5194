"""A room's members on this node, and its stream's frames written to them.

Frames the broker delivers in one turn of the event loop are written to each member at the end
of that turn, all of them in one write: a burst of frames costs a member one write (one system
call), not one each. Before the members change (a join completes, a member leaves, the room
closes) what waits is written first, so each member gets each frame exactly once, in order.

A member joining reads the stream's position, then is sent its snapshot and, after it, the
frames delivered meanwhile that the snapshot does not cover (`joining`).
"""

import asyncio
import logging
from collections.abc import Iterable

from protocol.codes import CloseReason
from protocol.framing import text_frame
from roomserver.cluster.broker import StreamPosition
from roomserver.rooms.member import Member

log = logging.getLogger(__name__)


class Fanout:
    """The members of one room on this node and the delivery of the room's frames to them."""

    def __init__(self, room_id: str) -> None:
        """No members yet."""
        self._room_id = room_id
        self.members: dict[str, Member] = {}
        # Sessions between reading the stream and receiving their reply: frames delivered
        # meanwhile wait here, and those after the reply's `seq` follow it.
        self.joining: dict[Member, list[tuple[int, bytes]]] = {}
        # The position of the last frame delivered, to see the stream break (Redis lost it,
        # or the history could not fill a gap): members cannot be told what they missed then.
        self._delivered: StreamPosition | None = None
        # Frames delivered in this turn of the event loop, not yet written.
        self._outgoing: list[bytes] = []

    def deliver(self, position: StreamPosition, frame: bytes) -> None:
        """Take the stream's next frame: written to the members at the end of this turn."""
        last, self._delivered = self._delivered, position
        if last is not None and (
            position.epoch != last.epoch or position.offset != last.offset + 1
        ):
            self._stream_broke(last, position)
            return
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self.write_out)
        self._outgoing.append(frame)
        for pending in self.joining.values():
            pending.append((position.offset, frame))

    def write_out(self) -> None:
        """Write the frames delivered since the last call to every member, one write each."""
        frames, self._outgoing = self._outgoing, []
        if not frames:
            return
        if len(frames) == 1:
            frame = frames[0]
            wire = text_frame(frame)
            for member in self.members.values():
                member.send(frame, wire)
            return
        wire = b"".join(map(text_frame, frames))
        for member in self.members.values():
            member.send_batch(frames, wire)

    def admit(self, player_id: str, member: Member, seq: int, first: Iterable[bytes]) -> None:
        """Make a joining member a member: `first` (its reply, missed frames), then what followed.

        `seq` is the last offset the reply covers.
        """
        # Frames of this turn not yet written are in this member's list too: the members get
        # them now, before it is one of them.
        self.write_out()
        for frame in first:
            member.send(frame)
        for offset, frame in self.joining[member]:
            if offset > seq:
                member.send(frame)
        self.members[player_id] = member

    def remove(self, member: Member) -> bool:
        """Take `member` out of the room (when it is the player's current connection)."""
        if self.members.get(member.player_id) is not member:
            return False
        self.write_out()
        del self.members[member.player_id]
        return True

    def _stream_broke(self, last: StreamPosition, position: StreamPosition) -> None:
        """The stream jumped from `last` to `position`: members rejoin and resume from history.

        A member that saw `last` cannot be given what lies between; closing its connection
        makes the client rejoin with `since_seq`, and the rejoin answers with what the stream
        still holds or a fresh snapshot (`recovered: false`), never a silent gap.
        """
        log.warning(
            "room %s: stream broke between %s and %s; members rejoin", self._room_id, last, position
        )
        for member in list(self.members.values()) + list(self.joining):
            member.close(CloseReason.STREAM_BROKEN)
