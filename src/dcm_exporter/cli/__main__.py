"""``python -m dcm_exporter.cli``."""

import sys

from dcm_exporter.cli import main

sys.exit(main())
