"""The JSON schema of the wire, generated from the message types.

`python -m protocol.schema > protocol/wire_schema.json` refreshes the committed copy; a test
fails when the two differ, so every wire change shows in review.
"""

import sys
from pathlib import Path
from typing import Any, Final

import msgspec

from protocol.messages import AnyClientMessage, AnyServerMessage

COMMITTED_SCHEMA: Final = Path(__file__).with_name("wire_schema.json")


def wire_schema() -> dict[str, Any]:
    """The schema of every client and server message, as one JSON Schema document."""
    (client, server), components = msgspec.json.schema_components(
        (AnyClientMessage, AnyServerMessage), ref_template="#/$defs/{name}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "roomserver wire protocol v1",
        "$defs": components,
        "properties": {"client_to_server": client, "server_to_client": server},
    }


def render() -> str:
    """The schema as the stable text that is committed."""
    return msgspec.json.format(msgspec.json.encode(wire_schema()), indent=2).decode() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
