"""``python -m benchmarks.throughput``: see ``benchmarks.throughput.cli``."""

import sys

from benchmarks.throughput.cli import main

sys.exit(main())
