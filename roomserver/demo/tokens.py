"""Tokens for sandbox players, signed with the configured key as the Casino System signs them.

`roomserver token` prints one; the demo lobby's `GET /sandbox/token` hands one to its page.
"""

from roomserver.config import AuthConfig
from roomserver.gateway.tokens import issue_token
from roomserver.services.sandbox import sandbox_player


def sandbox_token(auth: AuthConfig, player_id: str, *, ttl_s: int | None = None) -> str:
    """A token for `player_id` with its seeded name, currency and self-exclusion.

    An id that is not a seeded player gets an EUR token named after the id (load tests).
    """
    player = sandbox_player(player_id)
    return issue_token(
        auth,
        player_id=player.player_id,
        name=player.name,
        currency=player.currency,
        self_excluded=player.self_excluded,
        ttl_s=ttl_s,
    )
