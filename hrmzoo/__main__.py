"""`python -m hrmzoo ...` (also the entry point for `torchrun -m hrmzoo`)."""

import sys

from hrmzoo.cli import main

sys.exit(main())
