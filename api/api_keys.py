"""Internal API keys: configured as SHA-256 hashes with scopes; 401 for a bad key, 403 for scope."""

import hashlib
import hmac

from api.errors import ApiError
from roomserver.config import ApiKeyConfig, ApiScope


class ApiKeys:
    """The configured keys."""

    def __init__(self, keys: tuple[ApiKeyConfig, ...]) -> None:
        """The keys of `api.keys` (and the sandbox's, in sandbox mode)."""
        self._keys = keys

    def authenticate(self, presented: str | None, scope: ApiScope) -> str:
        """The key's name, when it is known and has `scope`.

        Raises:
            ApiError: UNAUTHENTICATED (401) or FORBIDDEN (403).
        """
        if not presented:
            raise ApiError("UNAUTHENTICATED", "X-Api-Key header required")
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).hexdigest()
        found: ApiKeyConfig | None = None
        for key in self._keys:  # every key compared, in constant time
            if hmac.compare_digest(digest, key.key_sha256):
                found = key
        if found is None:
            raise ApiError("UNAUTHENTICATED", "unknown API key")
        if scope not in found.scopes:
            raise ApiError("FORBIDDEN", f"this key lacks the scope {scope}")
        return found.name
