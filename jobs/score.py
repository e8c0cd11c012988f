"""spark-submit entry point for `fraudspark score`; the job lives in fraudspark.jobs.score."""

import sys

from fraudspark.jobs.score import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
