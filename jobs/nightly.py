"""spark-submit entry point for `fraudspark nightly` (see fraudspark.jobs.nightly)."""

import sys

from fraudspark.jobs.nightly import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
