"""The documentation names what the code has: every config key, every environment variable."""

import re
from pathlib import Path
from typing import Any

import msgspec

from roomserver.config import ENV_OVERRIDES, Config

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = ROOT / "docs" / "configuration.md"


def _config_keys(struct: type[Any], prefix: str = "") -> list[str]:
    keys = []
    for field in msgspec.structs.fields(struct):
        name = f"{prefix}{field.name}"
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            keys.extend(_config_keys(field.type, f"{name}."))
        else:
            keys.append(name)
    return keys


def _documented_keys() -> set[str]:
    text = CONFIGURATION.read_text()
    return set(re.findall(r"^\| `([a-z_]+\.[a-z_.]+)`", text, flags=re.MULTILINE))


def test_every_config_key_is_documented() -> None:
    documented = _documented_keys()
    # A row may document two keys of one section ("`a.x` / `a.y`").
    text = CONFIGURATION.read_text()
    missing = [key for key in _config_keys(Config) if f"`{key}`" not in text]
    assert documented, "the configuration table was not found"
    assert missing == []


def test_no_documented_key_is_unknown() -> None:
    known = set(_config_keys(Config))
    unknown = sorted(key for key in _documented_keys() if key not in known)
    assert unknown == []


def test_every_environment_variable_is_documented() -> None:
    text = CONFIGURATION.read_text()
    for variable, (section, key) in ENV_OVERRIDES.items():
        assert f"| `{variable}` | `{section}.{key}` |" in text, variable
