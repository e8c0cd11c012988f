"""spark-submit entry point for `fraudspark generate`; the job lives in fraudspark.jobs.generate."""

import sys

from fraudspark.jobs.generate import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
