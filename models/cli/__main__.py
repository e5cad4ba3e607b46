"""`python -m models.cli`: the `radsynth` command (torchrun starts training ranks this way)."""

import sys

from models.cli import main

sys.exit(main())
