"""The WebSocket edge: the only code that touches websockets."""
