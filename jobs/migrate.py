"""spark-submit entry point for `fraudspark migrate` (see fraudspark.cli.migrate)."""

import sys

from fraudspark.cli.migrate import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
