"""spark-submit entry point for `fraudspark monitor` (see fraudspark.jobs.monitor)."""

import sys

from fraudspark.jobs.monitor import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
