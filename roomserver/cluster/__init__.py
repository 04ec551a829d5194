"""How a room's frames reach its members on every node."""
