"""The in-process presence of a single node."""

from roomserver.cluster.presence import Presence


class LocalPresence(Presence):
    """`Presence` in process memory; a room without connections takes no memory."""

    def __init__(self) -> None:
        """Create an empty presence."""
        # room -> player -> the player's connection ids in the room.
        self._rooms: dict[str, dict[str, set[str]]] = {}

    async def add(self, room_id: str, player_id: str, connection_id: str) -> bool:
        """Record a connection; True when the player came online."""
        players = self._rooms.setdefault(room_id, {})
        connections = players.get(player_id)
        if connections is None:
            players[player_id] = {connection_id}
            return True
        connections.add(connection_id)
        return False

    async def remove(self, room_id: str, player_id: str, connection_id: str) -> bool:
        """Forget a connection; True when the player went offline."""
        players = self._rooms.get(room_id)
        if players is None:
            return False
        connections = players.get(player_id)
        if connections is None or connection_id not in connections:
            return False
        connections.remove(connection_id)
        if connections:
            return False
        del players[player_id]
        if not players:
            del self._rooms[room_id]
        return True

    async def count(self, room_id: str) -> int:
        """Distinct players online in the room."""
        return len(self._rooms.get(room_id, ()))

    async def is_online(self, room_id: str, player_id: str) -> bool:
        """Whether the player has a connection to the room."""
        return player_id in self._rooms.get(room_id, {})
