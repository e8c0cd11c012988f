"""spark-submit entry point for `fraudspark train-scorer` (fraudspark.jobs.train_scorer)."""

import sys

from fraudspark.jobs.train_scorer import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
