"""The few side-API calls the generator makes: create its rooms, ask who publishes them."""

import json
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

SANDBOX_API_KEY = "sandbox-internal-key"
SIDE_API_PORT = 8766
# Straight to the side API, never through an HTTP(S)_PROXY from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SideApiError(Exception):
    """The side API refused a call."""


def default_api_url(ws_url: str) -> str:
    """The side API beside a WebSocket URL: same host, the default side-API port."""
    host = urlsplit(ws_url).hostname or "127.0.0.1"
    return f"http://{host}:{SIDE_API_PORT}"


def create_rooms(api_url: str, api_key: str, count: int, prefix: str, stake: int) -> list[str]:
    """Create (or find again: the same idempotency key) `count` hop-on/hop-off rooms."""
    rooms = []
    for number in range(1, count + 1):
        body = {
            "kind": "hop_on_off",
            "name": f"Load test room {number}",
            "game_id": "fruit-3",
            "currency": "EUR",
            "buy_in": 0,
            # Enough chips that no run drains a player.
            "starting_chips": 1_000_000_000,
            "min_stake": stake,
            "max_stake": max(stake, 10_000),
            "max_players": 1_000_000,
            "scoring": "total_win",
            "leaderboard_size": 10,
        }
        reply = _post(f"{api_url}/internal/tournaments", api_key, body, f"{prefix}-room-{number}")
        rooms.append(str(reply["tournament_id"]))
    return rooms


def room_tickers(api_url: str, api_key: str, rooms: tuple[str, ...]) -> dict[str, str]:
    """Each room's ticker (the node publishing its frames), as its status names it.

    Best effort: a room whose status cannot be read, or that has no ticker, is left out.
    """
    tickers: dict[str, str] = {}
    for room in rooms:
        request = urllib.request.Request(
            f"{api_url}/internal/tournaments/{quote(room, safe='')}/status",
            headers={"X-Api-Key": api_key},
        )
        try:
            with _OPENER.open(request, timeout=5) as response:
                owner = json.loads(response.read()).get("owner_node")
        except (OSError, ValueError):
            continue
        if isinstance(owner, str):
            tickers[room] = owner
    return tickers


def _post(
    url: str, api_key: str, body: dict[str, object], idempotency_key: str
) -> dict[str, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Api-Key": api_key,
            "X-Idempotency-Key": idempotency_key,
        },
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=30) as response:
            reply: dict[str, object] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise SideApiError(
            f"{url}: HTTP {exc.code}: {exc.read()[:300].decode(errors='replace')}"
        ) from None
    except OSError as exc:
        raise SideApiError(f"{url}: {exc}") from None
    return reply
