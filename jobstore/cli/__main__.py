"""``python -m jobstore.cli`` runs the ``jobman`` command."""
import sys

from . import main

sys.exit(main())
