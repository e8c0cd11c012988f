"""spark-submit entry point for `fraudspark backfill` (see fraudspark.cli.backfill)."""

import sys

from fraudspark.cli.backfill import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
