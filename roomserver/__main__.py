"""`python -m roomserver`."""

import sys

from roomserver.cli import main

sys.exit(main())
