"""The committed JSON schema is the reviewable record of the wire: it must match the code."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from protocol.messages import CLIENT_TYPES, AnyClientMessage, AnyServerMessage
from protocol.schema import COMMITTED_SCHEMA, render


def tags_of(union: Any) -> dict[str, str]:
    """Struct class name -> its wire `type` tag, for every member of a tagged union."""
    return {cls.__name__: str(cls.__struct_config__.tag) for cls in get_args(union)}


CLIENT_TAGS = tags_of(AnyClientMessage)
SERVER_TAGS = tags_of(AnyServerMessage)


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(COMMITTED_SCHEMA.read_text(encoding="utf-8"))
    return schema


def test_render_matches_the_committed_schema() -> None:
    committed_text = COMMITTED_SCHEMA.read_text(encoding="utf-8")
    assert render() == committed_text, (
        f"{COMMITTED_SCHEMA} is out of date with protocol/messages.py. If the wire change is "
        "deliberate, run `make schema` and commit the result (and check PROTOCOL.md still holds)."
    )


def test_render_is_stable() -> None:
    assert render() == render()


def test_tags_are_known_and_distinct() -> None:
    """Guards the collection below: the unions really are tagged on `type`."""
    assert len(set(CLIENT_TAGS.values())) == len(CLIENT_TAGS) == 6
    assert len(set(SERVER_TAGS.values())) == len(SERVER_TAGS) == 16
    assert set(CLIENT_TAGS.values()) == CLIENT_TYPES
    assert {"room.join", "room.leave", "spin", "balance.get", "ping"} <= CLIENT_TYPES
    assert {"spin.result", "leaderboard.updated", "error", "pong"} <= set(SERVER_TAGS.values())
    assert not set(CLIENT_TAGS.values()) & set(SERVER_TAGS.values())


@pytest.mark.parametrize(
    ("section", "tags"),
    [("client_to_server", CLIENT_TAGS), ("server_to_client", SERVER_TAGS)],
)
def test_schema_section_maps_every_type_tag(
    committed: dict[str, Any], section: str, tags: dict[str, str]
) -> None:
    union = committed["properties"][section]
    assert union["discriminator"]["propertyName"] == "type"
    mapping = union["discriminator"]["mapping"]
    assert mapping == {tag: f"#/$defs/{name}" for name, tag in tags.items()}
    assert [ref["$ref"] for ref in union["anyOf"]] == [f"#/$defs/{name}" for name in tags]


@pytest.mark.parametrize("name", [*CLIENT_TAGS, *SERVER_TAGS])
def test_schema_definition_pins_the_type_tag(committed: dict[str, Any], name: str) -> None:
    tag = {**CLIENT_TAGS, **SERVER_TAGS}[name]
    definition = committed["$defs"][name]
    assert definition["properties"]["type"] == {"enum": [tag]}
    assert "type" in definition["required"]
