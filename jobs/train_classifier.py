"""spark-submit entry point for `fraudspark train-classifier` (fraudspark.cli.train_classifier)."""

import sys

from fraudspark.cli.train_classifier import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
