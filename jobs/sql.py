"""spark-submit entry point for `fraudspark sql`; the job lives in fraudspark.jobs.sql."""

import sys

from fraudspark.jobs.sql import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
