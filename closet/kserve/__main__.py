"""`python -m closet.kserve`: closet/kserve/server.py's command line."""

import sys

from closet.kserve.server import main

sys.exit(main())
