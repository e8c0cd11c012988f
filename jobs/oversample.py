"""spark-submit entry point for `fraudspark oversample` (fraudspark.jobs.oversample)."""

import sys

from fraudspark.jobs.oversample import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
