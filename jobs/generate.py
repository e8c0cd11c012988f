"""spark-submit entry point for `fraudspark generate`; the job lives in fraudspark.cli.generate."""

import sys

from fraudspark.cli.generate import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
