"""spark-submit entry point for `fraudspark nightly` (see fraudspark.cli.nightly)."""

import sys

from fraudspark.cli.nightly import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
