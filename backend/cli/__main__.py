"""`python -m backend.cli`: what the `ner-backend` script runs."""

import sys

from . import main

sys.exit(main())
