"""spark-submit entry point for `fraudspark train-scorer` (fraudspark.cli.train_scorer)."""

import sys

from fraudspark.cli.train_scorer import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
