"""spark-submit entry point for `fraudspark maintain` (see fraudspark.cli.maintain)."""

import sys

from fraudspark.cli.maintain import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
