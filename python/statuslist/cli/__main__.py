"""``python -m statuslist.cli`` runs the command line (as ``python -m statuslist`` does)."""

import sys

from statuslist.cli import main

sys.exit(main())
