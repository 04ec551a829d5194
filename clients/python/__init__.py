"""The Python client of the wire protocol."""
