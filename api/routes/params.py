"""What the routes' paths, queries and security share: ids, pages and the API key scheme."""

from typing import Annotated, Final

from litestar.params import Parameter

from protocol.ids import ID_MAX_LENGTH, ID_PATTERN

# The OpenAPI security requirement of every route that needs an API key.
API_KEY: Final[list[dict[str, list[str]]]] = [{"ApiKey": []}]

# Ids in paths follow the one id rule of protocol/ids.py, as on the wire.
TournamentId = Annotated[str, Parameter(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
PlayerId = Annotated[str, Parameter(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
SpinId = Annotated[
    str,
    Parameter(
        min_length=36,
        max_length=36,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    ),
]

Limit = Annotated[int, Parameter(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Parameter(ge=0, le=10**9, description="rows to skip")]
