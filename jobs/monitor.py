"""spark-submit entry point for `fraudspark monitor` (see fraudspark.cli.monitor)."""

import sys

from fraudspark.cli.monitor import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
