"""`python -m loadtest`."""

import importlib.util
import sys
from typing import Final

# Module -> the distribution providing it; all come with the `loadtest` extra.
EXTRA_MODULES: Final = {"hdrh": "hdrhistogram", "psutil": "psutil", "matplotlib": "matplotlib"}
INSTALL_HINT: Final = "pip install 'roomserver[loadtest]'"


def missing_distributions() -> list[str]:
    """The extra's distributions that cannot be imported here."""
    return [
        distribution
        for module, distribution in EXTRA_MODULES.items()
        if importlib.util.find_spec(module) is None
    ]


if __name__ == "__main__":
    missing = missing_distributions()
    if missing:
        print(
            f"loadtest: {', '.join(missing)} not installed; the load generator needs the "
            f"loadtest extra: {INSTALL_HINT}",
            file=sys.stderr,
        )
        sys.exit(2)

    from loadtest.cli import main

    sys.exit(main())
