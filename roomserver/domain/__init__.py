"""The rules, pure: no asyncio, no database, no sockets."""
