"""spark-submit entry point for `fraudspark oversample` (fraudspark.cli.oversample)."""

import sys

from fraudspark.cli.oversample import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
