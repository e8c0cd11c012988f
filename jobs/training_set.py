"""spark-submit entry point for `fraudspark training-set` (see fraudspark.cli.training_set)."""

import sys

from fraudspark.cli.training_set import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
