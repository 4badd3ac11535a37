"""`python -m orge` is the same as the `orge` command."""

import sys

from orge.cli import main

sys.exit(main())
