"""``python -m sollol.sim``: the same as ``sollol sim``."""

import sys

from sollol.sim.cli import main

sys.exit(main())
