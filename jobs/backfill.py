"""spark-submit entry point for `fraudspark backfill` (see fraudspark.jobs.backfill)."""

import sys

from fraudspark.jobs.backfill import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
