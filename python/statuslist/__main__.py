"""``python -m statuslist`` runs the command line."""

import sys

from statuslist.cli import main

sys.exit(main())
