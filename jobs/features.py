"""spark-submit entry point for `fraudspark features`; the job lives in fraudspark.jobs.features."""

import sys

from fraudspark.jobs.features import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
