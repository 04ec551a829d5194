"""Rooms as actors on this node, and the registry that opens them."""
