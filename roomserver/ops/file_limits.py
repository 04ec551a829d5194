"""The open-file limit of the node process: every connection is a file descriptor.

Linux distributions start processes with a soft limit of 1,024 open files and a much higher
hard limit; a node left at the soft limit refuses connections at about a thousand players. The
node raises its soft limit to the hard one at start, as far as the system lets a process do.
"""

import logging
import resource

log = logging.getLogger(__name__)


def raise_open_file_limit() -> int:
    """Raise the soft limit on open files to the hard limit; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        log.warning("open files limited to %d (could not raise to %d)", soft, hard)
        return soft
    return hard
