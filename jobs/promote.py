"""spark-submit entry point for `fraudspark promote`; the job lives in fraudspark.jobs.promote."""

import sys

from fraudspark.jobs.promote import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
